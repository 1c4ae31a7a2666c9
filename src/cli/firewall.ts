/**
 * `paqet firewall apply|remove|show [-c CONFIG | --port P [--ipv6]] [--backend iptables|nft]`
 *
 * The NOTRACK and RST-drop rules Go paqet's README asks operators to add by hand (paqet-app.md
 * §3.8), for the raw-socket port of a config: the server's port, or a client's fixed port. A client
 * with port 0 has no fixed port, so there is nothing to write rules for (the explanation is printed).
 * `show` prints the exact commands apply/remove run (no root needed); apply and remove are
 * idempotent (`-C` before `-A`/`-D`; nft replaces a per-port table), so they suit a systemd
 * ExecStartPre / ExecStopPost pair. iptables is preferred; nft is used when it is the only tool.
 *
 * Exit codes: 0 done (or nothing to do), 1 failure (not root, no tool, a command failed, bad
 * config), 2 usage error.
 */
import { spawnSync } from "node:child_process";
import { defineCommand } from "citty";
import { ConfigError, loadConfig } from "../conf/index.ts";
import {
  type FirewallAction,
  type FirewallPlan,
  type FirewallStep,
  type IpFamily,
  formatNft,
  formatStep,
  iptablesSteps,
  iptablesTool,
  isValidPort,
  nftScript,
  portRules,
  RANDOM_PORT_EXPLANATION,
  shellQuote,
} from "../lib/firewall.ts";

export type Backend = "iptables" | "nft";

/** What the command works on, derived from a config or from --port. */
export type Target =
  | { kind: "rules"; plan: FirewallPlan; label: string }
  | { kind: "none"; label: string; why: readonly string[] };

class UsageError extends Error {}

/** The target of a config: its raw-socket port and the families it configures. */
export function targetFromConfig(path: string): Target {
  const { config } = loadConfig(path);
  const n = config.network;
  const families: IpFamily[] = [];
  if (n.ipv4) families.push(4);
  if (n.ipv6) families.push(6);
  const label = `${config.role} ${path}`;
  if (n.port === 0) {
    const why =
      config.role === "client"
        ? RANDOM_PORT_EXPLANATION
        : ["the server's network port is 0 (a random port per start): give network.ipv4/ipv6.addr a fixed port"];
    return { kind: "none", label, why };
  }
  return { kind: "rules", plan: { ports: [n.port], families }, label: `${label}, port ${n.port}` };
}

export function targetFromPort(text: string, ipv6: boolean): Target {
  const port = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!isValidPort(port)) throw new UsageError(`--port must be 1-65535, got '${text}'`);
  return { kind: "rules", plan: { ports: [port], families: ipv6 ? [4, 6] : [4] }, label: `port ${port}` };
}

export interface Tools {
  has(name: string): boolean;
}

const SBIN_PATH = `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;

export const systemTools: Tools = {
  has: (name) => Bun.which(name, { PATH: SBIN_PATH }) !== null,
};

/** iptables when present (for every needed family), else nft, else undefined. */
export function chooseBackend(plan: FirewallPlan, tools: Tools, wanted?: Backend): Backend | undefined {
  const iptablesOk = plan.families.every((f) => tools.has(iptablesTool(f)));
  if (wanted === "iptables") return iptablesOk ? "iptables" : undefined;
  if (wanted === "nft") return tools.has("nft") ? "nft" : undefined;
  if (iptablesOk) return "iptables";
  return tools.has("nft") ? "nft" : undefined;
}

/** The text `show` prints: a header, one comment per rule, then the commands of both actions. */
export function showText(target: Target, backend: Backend): string {
  if (target.kind === "none") {
    return [`# paqet firewall: no rules for ${target.label}`, ...target.why.map((l) => `# ${l}`)].join("\n") + "\n";
  }
  const { plan } = target;
  const fams = plan.families.map((f) => `IPv${f}`).join(" and ");
  const lines = [`# paqet firewall rules for ${target.label} (${fams}), as Go paqet's README asks:`];
  for (const r of portRules(plan.ports[0]!)) lines.push(`#   ${r.table} ${r.chain}: ${r.why}`);
  if (backend === "iptables") {
    lines.push("# apply (each rule is added only when missing):");
    for (const s of iptablesSteps("apply", plan)) lines.push(formatStep("apply", s));
    lines.push("# remove:");
    for (const s of iptablesSteps("remove", plan)) lines.push(formatStep("remove", s));
    return `${lines.join("\n")}\n`;
  }
  lines.push("# with nft: the same rules in one table per port and family, replaced atomically:", "# apply:");
  return `${lines.join("\n")}\n${formatNft("apply", plan)}# remove:\n${formatNft("remove", plan)}`;
}

export interface ExecResult {
  readonly status: number | null;
  readonly stderr: string;
}

export type Exec = (argv: readonly string[], stdin?: string) => ExecResult;

export const systemExec: Exec = (argv, stdin) => {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    input: stdin,
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, PATH: SBIN_PATH },
  });
  return { status: r.status, stderr: r.error ? r.error.message : (r.stderr ?? "") };
};

export interface ApplyReport {
  /** Commands that changed something. */
  readonly changed: readonly string[];
  /** Rules already in the wanted state. */
  readonly unchanged: number;
}

/** Runs the idempotent iptables steps; throws Error with the failing command on the first failure. */
export function runIptables(action: FirewallAction, plan: FirewallPlan, exec: Exec): ApplyReport {
  const changed: string[] = [];
  let unchanged = 0;
  for (const step of iptablesSteps(action, plan)) {
    const present = checkRule(step, exec);
    if (present === (action === "apply")) {
      unchanged++;
      continue;
    }
    const r = exec(step.change);
    if (r.status !== 0) throw new Error(`${shellQuote(step.change)} failed: ${firstLine(r.stderr) || `exit ${r.status}`}`);
    changed.push(shellQuote(step.change));
  }
  return { changed, unchanged };
}

/** `-C` exits 0 when the rule exists and 1 when it does not; anything else (no table, no lock) is an error. */
function checkRule(step: FirewallStep, exec: Exec): boolean {
  const r = exec(step.check);
  if (r.status === 0) return true;
  if (r.status === 1) return false;
  throw new Error(`${shellQuote(step.check)} failed: ${firstLine(r.stderr) || `exit ${r.status}`}`);
}

export function runNft(action: FirewallAction, plan: FirewallPlan, exec: Exec): ApplyReport {
  const script = nftScript(action, plan);
  const r = exec(["nft", "-f", "-"], script);
  if (r.status !== 0) throw new Error(`nft -f - failed: ${firstLine(r.stderr) || `exit ${r.status}`}`);
  return { changed: [`nft -f - (${action === "apply" ? "replaced" : "deleted"} ${plan.ports.map((p) => `table paqet_${p}`).join(", ")})`], unchanged: 0 };
}

function firstLine(s: string): string {
  return s.trim().split("\n")[0] ?? "";
}

function fail(message: string): number {
  process.stderr.write(`paqet firewall: ${message}\n`);
  return 1;
}

const ACTIONS = ["apply", "remove", "show"] as const;

export default defineCommand({
  meta: { name: "firewall", description: "Show, apply or remove the NOTRACK and RST-drop rules for the raw-socket port" },
  args: {
    action: { type: "positional", required: false, valueHint: "apply|remove|show", description: "what to do" },
    config: { type: "string", alias: "c", valueHint: "FILE", description: "configuration file (default config.yaml unless --port is given)" },
    port: { type: "string", alias: "p", valueHint: "PORT", description: "a port instead of a config" },
    ipv6: { type: "boolean", description: "with --port: ip6tables rules too" },
    backend: { type: "string", valueHint: "iptables|nft", description: "force a tool (default: iptables, nft when it is the only one)" },
  },
  run({ args }) {
    const action = typeof args.action === "string" ? args.action : "";
    let target: Target;
    let backendWanted: Backend | undefined;
    try {
      if (!(ACTIONS as readonly string[]).includes(action)) {
        throw new UsageError(action === "" ? "an action is required: apply, remove or show" : `unknown action '${action}': apply, remove or show`);
      }
      if (args.backend !== undefined && args.backend !== "iptables" && args.backend !== "nft") {
        throw new UsageError(`--backend must be iptables or nft, got '${String(args.backend)}'`);
      }
      backendWanted = args.backend as Backend | undefined;
      const port = typeof args.port === "string" ? args.port : undefined;
      if (port !== undefined && typeof args.config === "string") throw new UsageError("give either -c CONFIG or --port PORT, not both");
      if (args.ipv6 && port === undefined) throw new UsageError("--ipv6 goes with --port (a config says itself whether it uses IPv6)");
      target = port !== undefined ? targetFromPort(port, args.ipv6 === true) : targetFromConfig(typeof args.config === "string" ? args.config : "config.yaml");
    } catch (err) {
      if (err instanceof UsageError) {
        process.stderr.write(`Error: ${err.message}\nUsage: paqet firewall apply|remove|show [-c CONFIG | --port PORT [--ipv6]] [--backend iptables|nft]\n`);
        return 2;
      }
      if (err instanceof ConfigError) return fail(`failed to parse configuration: ${err.message}`);
      throw err;
    }

    if (target.kind === "none") {
      // Nothing to do is not a failure: a systemd unit may run this for either role.
      if (action === "show") process.stdout.write(showText(target, "iptables"));
      else process.stderr.write(showText(target, "iptables"));
      return 0;
    }
    const backend = chooseBackend(target.plan, systemTools, backendWanted);
    if (action === "show") {
      process.stdout.write(showText(target, backend ?? backendWanted ?? "iptables"));
      return 0;
    }
    if (typeof process.getuid === "function" && process.getuid() !== 0) {
      return fail(`${action} needs root (it changes the kernel's netfilter tables); run it with sudo, or see the commands with \`paqet firewall show\``);
    }
    if (!backend) {
      const need = backendWanted ?? target.plan.families.map((f) => iptablesTool(f)).join(" and ");
      return fail(`${need} not found (install iptables, or nftables for nft); \`paqet firewall show\` prints the rules`);
    }
    try {
      const report = backend === "iptables" ? runIptables(action as FirewallAction, target.plan, systemExec) : runNft(action as FirewallAction, target.plan, systemExec);
      for (const c of report.changed) process.stdout.write(`${c}\n`);
      const verb = action === "apply" ? "in place" : "removed";
      process.stdout.write(`paqet firewall: ${target.label}: rules ${verb} (${report.changed.length} changed, ${report.unchanged} already so)\n`);
      return 0;
    } catch (err) {
      return fail(err instanceof Error ? err.message : String(err));
    }
  },
});
