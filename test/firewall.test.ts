/**
 * `paqet firewall`: rule generation (pure), backend choice, the idempotent runners against a fake
 * netfilter, and the CLI's show output and exit codes. No root needed; the real kernel is exercised
 * in firewall-netns.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  chooseBackend,
  runIptables,
  runNft,
  showText,
  targetFromConfig,
  targetFromPort,
  type Exec,
  type Target,
} from "../src/cli/firewall.ts";
import { isPaqetError } from "../src/lib/errors.ts";
import { formatNft, formatStep, iptablesSteps, nftScript, portRules, RANDOM_PORT_EXPLANATION, shellQuote } from "../src/lib/firewall.ts";
import { runPaqet } from "./helpers/cli.ts";

const ROOT = join(import.meta.dir, "..");
const FIX = join(ROOT, "test", "fixtures", "conf");

const paqet = (...args: string[]) => runPaqet(args);

function withConfig<T>(yaml: string, fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "pqfw-"));
  try {
    const path = join(dir, "c.yaml");
    writeFileSync(path, yaml);
    return fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CLIENT_FIXED = (port: number, v6 = false) => `role: client
socks5: [{listen: "127.0.0.1:1080"}]
network:
  interface: eth0
  ipv4: {addr: "192.0.2.10:${port}", router_mac: "02:00:5e:10:00:01"}
${v6 ? `  ipv6: {addr: "[2001:db8::10]:${port}", router_mac: "02:00:5e:10:00:01"}\n` : ""}server: {addr: "203.0.113.5:47000"}
transport: {protocol: kcp, kcp: {key: k}}
`;

describe("rule generation", () => {
  test("the three README rules for a port, in apply order", () => {
    expect(portRules(47000).map((r) => [r.table, r.chain, ...r.spec].join(" "))).toEqual([
      "raw PREROUTING -p tcp --dport 47000 -j NOTRACK",
      "raw OUTPUT -p tcp --sport 47000 -j NOTRACK",
      "mangle OUTPUT -p tcp --sport 47000 --tcp-flags RST RST -j DROP",
    ]);
  });

  test("IPv4 apply: check with -C, append with -A, iptables only", () => {
    const steps = iptablesSteps("apply", { ports: [9999], families: [4] });
    expect(steps.map((s) => s.check.join(" "))).toEqual([
      "iptables -w -t raw -C PREROUTING -p tcp --dport 9999 -j NOTRACK",
      "iptables -w -t raw -C OUTPUT -p tcp --sport 9999 -j NOTRACK",
      "iptables -w -t mangle -C OUTPUT -p tcp --sport 9999 --tcp-flags RST RST -j DROP",
    ]);
    for (const s of steps) expect(s.change.join(" ")).toBe(s.check.join(" ").replace(" -C ", " -A "));
  });

  test("IPv4 + IPv6: ip6tables gets the same rules; remove is the exact reverse with -D", () => {
    const plan = { ports: [443, 8443], families: [4, 6] as const };
    const apply = iptablesSteps("apply", plan);
    const remove = iptablesSteps("remove", plan);
    expect(apply.length).toBe(12);
    expect(apply.filter((s) => s.check[0] === "ip6tables").length).toBe(6);
    expect(apply.slice(6).map((s) => s.check.slice(1).join(" "))).toEqual(apply.slice(0, 6).map((s) => s.check.slice(1).join(" ")));
    expect(remove.map((s) => s.check)).toEqual([...apply].reverse().map((s) => s.check));
    for (const s of remove) expect(s.change).toContain("-D");
  });

  test("a bad port or family is refused with a paqet error", () => {
    for (const port of [0, 65536, 1.5, -1]) {
      let caught: unknown;
      try {
        iptablesSteps("apply", { ports: [port], families: [4] });
      } catch (err) {
        caught = err;
      }
      expect(isPaqetError(caught) && caught.code === "FW_BAD_PORT").toBe(true);
    }
    expect(() => nftScript("apply", { ports: [1], families: [5 as 4] })).toThrow(/not 4 or 6/);
  });

  test("shell form: apply is `check || change`, remove `check && change`, quoting only where needed", () => {
    const [a] = iptablesSteps("apply", { ports: [9999], families: [4] });
    const [r] = iptablesSteps("remove", { ports: [9999], families: [4] });
    expect(formatStep("apply", a!)).toBe(
      "iptables -w -t raw -C PREROUTING -p tcp --dport 9999 -j NOTRACK 2>/dev/null || iptables -w -t raw -A PREROUTING -p tcp --dport 9999 -j NOTRACK",
    );
    expect(formatStep("remove", r!)).toStartWith("iptables -w -t mangle -C OUTPUT");
    expect(formatStep("remove", r!)).toContain(" && iptables -w -t mangle -D OUTPUT");
    expect(shellQuote(["a b", "it's", "--x=1"])).toBe(`'a b' 'it'\\''s' --x=1`);
  });

  test("nft: one table per family and port, replaced atomically; remove deletes it whether or not it exists", () => {
    const apply = nftScript("apply", { ports: [9999], families: [4, 6] });
    for (const fam of ["ip", "ip6"]) {
      expect(apply).toContain(`add table ${fam} paqet_9999\ndelete table ${fam} paqet_9999\ntable ${fam} paqet_9999 {`);
    }
    expect(apply.match(/tcp dport 9999 notrack/g)?.length).toBe(2);
    expect(apply.match(/tcp sport 9999 notrack/g)?.length).toBe(2);
    expect(apply.match(/tcp sport 9999 tcp flags & rst == rst drop/g)?.length).toBe(2);
    expect(apply).toContain("type filter hook prerouting priority -300;");
    expect(nftScript("remove", { ports: [9999], families: [4] })).toBe("add table ip paqet_9999\ndelete table ip paqet_9999\n");
    expect(formatNft("remove", { ports: [9999], families: [4] })).toBe("nft -f - <<'EOF'\nadd table ip paqet_9999\ndelete table ip paqet_9999\nEOF\n");
  });
});

describe("targets", () => {
  test("server: its network port, IPv4 only", () => {
    const t = targetFromConfig(join(FIX, "go-aes-server.yaml"));
    expect(t.kind === "rules" && t.plan).toEqual({ ports: [9999], families: [4] });
  });

  test("client with port 0: no rules, and the reason", () => {
    const t = targetFromConfig(join(FIX, "go-aes-client.yaml"));
    expect(t.kind).toBe("none");
    expect(t.kind === "none" && t.why).toEqual(RANDOM_PORT_EXPLANATION);
  });

  test("client with a fixed port (and IPv6): rules for that port, both families", () => {
    const t = withConfig(CLIENT_FIXED(40000, true), targetFromConfig);
    expect(t.kind === "rules" && t.plan).toEqual({ ports: [40000], families: [4, 6] });
  });

  test("--port: IPv4 unless --ipv6; only 1-65535", () => {
    const t = targetFromPort("9999", false);
    expect(t.kind === "rules" && t.plan).toEqual({ ports: [9999], families: [4] });
    const t6 = targetFromPort("9999", true);
    expect(t6.kind === "rules" && t6.plan.families).toEqual([4, 6]);
    for (const bad of ["0", "65536", "80x", "", "-1"]) expect(() => targetFromPort(bad, false)).toThrow(/1-65535/);
  });
});

describe("backend choice", () => {
  const tools = (...names: string[]) => ({ has: (n: string) => names.includes(n) });
  const v4 = { ports: [1], families: [4] as const };
  const v46 = { ports: [1], families: [4, 6] as const };

  test("iptables first, nft when it is the only tool, nothing when neither", () => {
    expect(chooseBackend(v4, tools("iptables", "nft"))).toBe("iptables");
    expect(chooseBackend(v4, tools("nft"))).toBe("nft");
    expect(chooseBackend(v46, tools("iptables", "nft"))).toBe("nft");
    expect(chooseBackend(v46, tools("iptables", "ip6tables"))).toBe("iptables");
    expect(chooseBackend(v4, tools())).toBeUndefined();
  });

  test("--backend forces a tool, and fails when that one is missing", () => {
    expect(chooseBackend(v4, tools("iptables", "nft"), "nft")).toBe("nft");
    expect(chooseBackend(v4, tools("iptables"), "nft")).toBeUndefined();
    expect(chooseBackend(v46, tools("iptables", "nft"), "iptables")).toBeUndefined();
  });
});

/** A netfilter stand-in: a set of rules keyed by tool, table, chain and spec; answers -C/-A/-D like iptables. */
function fakeNetfilter() {
  const rules: string[] = [];
  const calls: string[] = [];
  const exec: Exec = (argv) => {
    calls.push(argv.join(" "));
    const op = argv.find((a) => a === "-C" || a === "-A" || a === "-D");
    const key = argv.filter((a) => a !== op && a !== "-w").join(" ");
    const has = rules.includes(key);
    if (op === "-C") return { status: has ? 0 : 1, stderr: has ? "" : "iptables: Bad rule (does a matching rule exist in that chain?)." };
    if (op === "-A") {
      rules.push(key);
      return { status: 0, stderr: "" };
    }
    if (op === "-D" && has) {
      rules.splice(rules.indexOf(key), 1);
      return { status: 0, stderr: "" };
    }
    return { status: 1, stderr: "iptables: Bad rule" };
  };
  return { rules, calls, exec };
}

describe("idempotent runners (fake netfilter)", () => {
  const plan = { ports: [9999], families: [4, 6] as const };

  test("apply adds each rule once; a second apply changes nothing; remove takes them all; a second remove is a no-op", () => {
    const nf = fakeNetfilter();
    expect(runIptables("apply", plan, nf.exec)).toEqual({ changed: iptablesSteps("apply", plan).map((s) => shellQuote(s.change)), unchanged: 0 });
    expect(nf.rules.length).toBe(6);
    expect(runIptables("apply", plan, nf.exec)).toEqual({ changed: [], unchanged: 6 });
    expect(nf.rules.length).toBe(6);
    expect(runIptables("remove", plan, nf.exec).changed.length).toBe(6);
    expect(nf.rules).toEqual([]);
    expect(runIptables("remove", plan, nf.exec)).toEqual({ changed: [], unchanged: 6 });
  });

  test("apply completes a partial set (a rule a user added by hand is kept, not duplicated)", () => {
    const nf = fakeNetfilter();
    nf.rules.push("iptables -t raw PREROUTING -p tcp --dport 9999 -j NOTRACK");
    const r = runIptables("apply", { ports: [9999], families: [4] }, nf.exec);
    expect(r.unchanged).toBe(1);
    expect(r.changed.length).toBe(2);
    expect(nf.rules.length).toBe(3);
  });

  test("a check that fails for another reason (no table, lock) stops with the command and its error", () => {
    const exec: Exec = () => ({ status: 3, stderr: "iptables v1.8.9: can't initialize iptables table `raw': Table does not exist\nPerhaps iptables or your kernel needs to be upgraded." });
    expect(() => runIptables("apply", plan, exec)).toThrow(
      "iptables -w -t raw -C PREROUTING -p tcp --dport 9999 -j NOTRACK failed: iptables v1.8.9: can't initialize iptables table `raw': Table does not exist",
    );
  });

  test("a failing change is reported with its command", () => {
    const nf = fakeNetfilter();
    const exec: Exec = (argv) => (argv.includes("-A") ? { status: 4, stderr: "iptables: Permission denied (you must be root)." } : nf.exec(argv));
    expect(() => runIptables("apply", { ports: [9999], families: [4] }, exec)).toThrow(/-A PREROUTING .* failed: iptables: Permission denied/);
  });

  test("nft: the script goes to `nft -f -` on stdin; its failure is one line", () => {
    const seen: { argv: readonly string[]; stdin?: string }[] = [];
    const ok: Exec = (argv, stdin) => {
      seen.push({ argv, stdin });
      return { status: 0, stderr: "" };
    };
    runNft("apply", plan, ok);
    expect(seen[0]!.argv).toEqual(["nft", "-f", "-"]);
    expect(seen[0]!.stdin).toBe(nftScript("apply", plan));
    const bad: Exec = () => ({ status: 1, stderr: "/dev/stdin:5:5-11: Error: Could not process rule: No such file or directory\n..." });
    expect(() => runNft("remove", plan, bad)).toThrow(/^nft -f - failed: \/dev\/stdin:5:5-11: Error: Could not process rule/);
  });
});

describe("paqet firewall (CLI)", () => {
  test("show --port prints exactly the commands apply and remove run", async () => {
    const r = await paqet("firewall", "show", "--port", "9999");
    expect(r.code).toBe(0);
    const plan = { ports: [9999], families: [4] as const };
    const commands = r.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(commands).toEqual([...iptablesSteps("apply", plan).map((s) => formatStep("apply", s)), ...iptablesSteps("remove", plan).map((s) => formatStep("remove", s))]);
    expect(r.stdout).toContain("# paqet firewall rules for port 9999 (IPv4)");
  });

  test("show -c with a server config: rules for its network port; with ipv6 both tools", async () => {
    const r = await paqet("firewall", "show", "-c", join(FIX, "go-aes-server.yaml"));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("iptables -w -t raw -A PREROUTING -p tcp --dport 9999 -j NOTRACK");
    expect(r.stdout).not.toContain("ip6tables");
    const dir = mkdtempSync(join(tmpdir(), "pqfw-"));
    try {
      writeFileSync(join(dir, "c.yaml"), CLIENT_FIXED(40000, true));
      const r6 = await paqet("firewall", "show", "-c", join(dir, "c.yaml"));
      expect(r6.stdout).toContain("ip6tables -w -t mangle -A OUTPUT -p tcp --sport 40000 --tcp-flags RST RST -j DROP");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("show for a client with port 0 explains why there are no rules (exit 0)", async () => {
    const r = await paqet("firewall", "show", "-c", join(FIX, "go-aes-client.yaml"));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("no rules for client");
    expect(r.stdout).toContain("draws a new random");
    expect(r.stdout).not.toContain("iptables -w");
  });

  test("show --backend nft prints the nft script", async () => {
    const r = await paqet("firewall", "show", "--port", "9999", "--ipv6", "--backend", "nft");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(formatNft("apply", { ports: [9999], families: [4, 6] }));
    expect(r.stdout).toContain(formatNft("remove", { ports: [9999], families: [4, 6] }));
  });

  test("usage errors exit 2 with one Error line", async () => {
    for (const args of [
      ["firewall"],
      ["firewall", "flush", "--port", "1"],
      ["firewall", "show", "--port", "0"],
      ["firewall", "show", "--port", "1", "-c", "x.yaml"],
      ["firewall", "show", "--ipv6"],
      ["firewall", "show", "--port", "1", "--backend", "pf"],
    ]) {
      const r = await paqet(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr.split("\n")[0]).toStartWith("Error: ");
    }
  });

  test("a config that does not load: one line, exit 1", async () => {
    const r = await paqet("firewall", "show", "-c", "/nonexistent/paqet.yaml");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("paqet firewall: failed to parse configuration: open /nonexistent/paqet.yaml: no such file or directory\n");
  });

  test("apply without root: one clear line, exit 1, nothing run", async () => {
    if (process.getuid?.() !== 0) {
      const r = await paqet("firewall", "apply", "--port", "9999");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("apply needs root");
      return;
    }
    // As root: drop to nobody for this one run when setpriv exists (util-linux).
    const setpriv = Bun.which("setpriv", { PATH: `${process.env.PATH}:/usr/bin:/bin` });
    if (!setpriv) return;
    const proc = Bun.spawn([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "src/main.ts", "firewall", "apply", "--port", "9999"], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, HOME: "/tmp", BUN_INSTALL_CACHE_DIR: "/tmp/pqfw-bun-cache" },
    });
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    if (/EACCES|permission denied/i.test(stderr) && !stderr.includes("needs root")) return; // the checkout is not readable by nobody
    expect(code).toBe(1);
    expect(stderr).toBe("paqet firewall: apply needs root (it changes the kernel's netfilter tables); run it with sudo, or see the commands with `paqet firewall show`\n");
  });

  test("showText for a no-rules target is comments only", () => {
    const t: Target = { kind: "none", label: "client c.yaml", why: ["a", "b"] };
    expect(showText(t, "nft")).toBe("# paqet firewall: no rules for client c.yaml\n# a\n# b\n");
  });
});
