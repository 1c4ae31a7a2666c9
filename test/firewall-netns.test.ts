/**
 * `paqet firewall apply|remove` against the real kernel, inside a private network namespace (its
 * netfilter tables are its own, so the host's rules are never touched). Privileged: skipped with
 * the reason unless root and `ip netns` works.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { netnsSkipReason } from "./helpers/netns.ts";

const ROOT = join(import.meta.dir, "..");
const skip = netnsSkipReason() ?? (Bun.which("iptables", { PATH: `${process.env.PATH}:/usr/sbin:/sbin` }) ? undefined : "iptables is not installed");

function inNs(ns: string, argv: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(["ip", "netns", "exec", ns, ...argv], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The rule lines (`-A ...`) of one table, for iptables or ip6tables. */
function rules(ns: string, table: string, tool = "iptables"): string[] {
  const r = inNs(ns, [tool, "-w", "-t", table, "-S"]);
  if (r.code !== 0) throw new Error(`${tool} -t ${table} -S: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l.startsWith("-A "));
}

const RAW_V4 = ["-A PREROUTING -p tcp -m tcp --dport 9999 -j NOTRACK", "-A OUTPUT -p tcp -m tcp --sport 9999 -j NOTRACK"];
const MANGLE = ["-A OUTPUT -p tcp -m tcp --sport 9999 --tcp-flags RST RST -j DROP"];

describe.skipIf(skip !== undefined)(`firewall in a private namespace ${skip ? `(skipped: ${skip})` : ""}`, () => {
  const ns = `pqfw${randomBytes(3).toString("hex")}`;
  const paqet = (...args: string[]) => inNs(ns, [process.execPath, "src/main.ts", "firewall", ...args]);
  let dir = "";

  beforeAll(() => {
    const r = spawnSync(["ip", "netns", "add", ns], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr.toString()}`);
    dir = mkdtempSync(join(tmpdir(), "pqfw-"));
  });

  afterAll(() => {
    spawnSync(["ip", "netns", "del", ns], { stderr: "ignore" });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("apply --port adds the three rules; a second apply adds nothing; remove takes them; a second remove is a no-op", () => {
    expect(rules(ns, "raw")).toEqual([]);
    const first = paqet("apply", "--port", "9999");
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    expect(rules(ns, "raw")).toEqual(RAW_V4);
    expect(rules(ns, "mangle")).toEqual(MANGLE);
    expect(rules(ns, "raw", "ip6tables")).toEqual([]);

    const second = paqet("apply", "--port", "9999");
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("0 changed, 3 already so");
    expect(rules(ns, "raw")).toEqual(RAW_V4);
    expect(rules(ns, "mangle")).toEqual(MANGLE);

    expect(paqet("remove", "--port", "9999").code).toBe(0);
    expect(rules(ns, "raw")).toEqual([]);
    expect(rules(ns, "mangle")).toEqual([]);
    const again = paqet("remove", "--port", "9999");
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("0 changed, 3 already so");
  });

  test("remove leaves other ports' rules alone", () => {
    expect(paqet("apply", "--port", "9999").code).toBe(0);
    expect(paqet("apply", "--port", "8888").code).toBe(0);
    expect(paqet("remove", "--port", "9999").code).toBe(0);
    expect(rules(ns, "raw")).toEqual(RAW_V4.map((r) => r.replace("9999", "8888")));
    expect(paqet("remove", "--port", "8888").code).toBe(0);
    expect(rules(ns, "raw")).toEqual([]);
  });

  test("-c with a config that has ipv6: iptables and ip6tables rules for its port", () => {
    const path = join(dir, "server.yaml");
    writeFileSync(
      path,
      `role: server
listen: {addr: ":9999"}
network:
  ipv4: {addr: ":9999"}
  ipv6: {addr: "[]:9999"}
transport: {protocol: kcp, kcp: {key: k}}
`,
    );
    const r = paqet("apply", "-c", path);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(rules(ns, "raw")).toEqual(RAW_V4);
    expect(rules(ns, "raw", "ip6tables")).toEqual(RAW_V4);
    expect(rules(ns, "mangle", "ip6tables")).toEqual(MANGLE);
    expect(paqet("apply", "-c", path).stdout).toContain("0 changed, 6 already so");
    expect(paqet("remove", "-c", path).code).toBe(0);
    expect(rules(ns, "raw")).toEqual([]);
    expect(rules(ns, "mangle", "ip6tables")).toEqual([]);
  });

  test("--backend nft: one table per family, applying twice keeps one, remove deletes it", () => {
    if (!Bun.which("nft", { PATH: `${process.env.PATH}:/usr/sbin:/sbin` })) return;
    const tables = () => inNs(ns, ["nft", "list", "tables"]).stdout.split("\n").filter((l) => l.includes("paqet_"));
    expect(paqet("apply", "--port", "9999", "--ipv6", "--backend", "nft").code).toBe(0);
    expect(paqet("apply", "--port", "9999", "--ipv6", "--backend", "nft").code).toBe(0);
    expect(tables()).toEqual(["table ip paqet_9999", "table ip6 paqet_9999"]);
    const listed = inNs(ns, ["nft", "list", "table", "ip", "paqet_9999"]).stdout;
    expect(listed.match(/notrack/g)?.length).toBe(2);
    expect(listed).toContain("tcp sport 9999 tcp flags & rst == rst drop");
    expect(paqet("remove", "--port", "9999", "--ipv6", "--backend", "nft").code).toBe(0);
    expect(tables()).toEqual([]);
    expect(paqet("remove", "--port", "9999", "--ipv6", "--backend", "nft").code).toBe(0);
  });
});
