/**
 * The kernel rules a raw-packet port needs (paqet-app.md §3.8, Go paqet's README), as data.
 *
 * paqet's TCP segments are hand-made: the kernel never opened a socket for them. Without rules it
 * tracks them in conntrack (and may drop them as INVALID) and answers every inbound segment to the
 * port with a RST, which tears down the peer's view of the "connection" on middleboxes. So, per port:
 *   raw    PREROUTING  -p tcp --dport P -j NOTRACK                     (no conntrack for inbound)
 *   raw    OUTPUT      -p tcp --sport P -j NOTRACK                     (no conntrack for outbound)
 *   mangle OUTPUT      -p tcp --sport P --tcp-flags RST RST -j DROP    (the kernel's RSTs never leave)
 * with ip6tables as well when IPv6 is configured. The specs are exactly the README's, without a
 * comment match, so rules a user added by hand from the README are found and removed too.
 *
 * Everything here is pure: it builds argv lists, shell text and nft scripts; src/cli/firewall.ts
 * runs them. Idempotence is built in: apply checks (`-C`) before appending (`-A`), remove checks
 * before deleting (`-D`) and walks the rules in reverse; the nft form replaces a per-port table
 * atomically, so applying twice never duplicates anything.
 */
import { PaqetError } from "./errors.ts";

export type FirewallAction = "apply" | "remove";
export type IpFamily = 4 | 6;

/** What to protect: the local raw-socket port(s) and the IP families they are used with. */
export interface FirewallPlan {
  readonly ports: readonly number[];
  readonly families: readonly IpFamily[];
}

export interface PortRule {
  readonly table: "raw" | "mangle";
  readonly chain: "PREROUTING" | "OUTPUT";
  /** The rule specification after the chain name, as iptables takes it. */
  readonly spec: readonly string[];
  /** One line for people: why the rule exists. */
  readonly why: string;
}

/** One idempotent change: run `check`; apply runs `change` when the check fails, remove when it succeeds. */
export interface FirewallStep {
  readonly family: IpFamily;
  readonly port: number;
  readonly check: readonly string[];
  readonly change: readonly string[];
}

export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

function checkPlan(plan: FirewallPlan): void {
  for (const p of plan.ports) {
    if (!isValidPort(p)) throw new PaqetError("FW_BAD_PORT", `port ${p} is not in 1-65535`);
  }
  for (const f of plan.families) {
    if (f !== 4 && f !== 6) throw new PaqetError("FW_BAD_FAMILY", `IP family ${String(f)} is not 4 or 6`);
  }
}

/** The three rules for one port, in apply order. */
export function portRules(port: number): PortRule[] {
  if (!isValidPort(port)) throw new PaqetError("FW_BAD_PORT", `port ${port} is not in 1-65535`);
  const p = String(port);
  return [
    {
      table: "raw",
      chain: "PREROUTING",
      spec: ["-p", "tcp", "--dport", p, "-j", "NOTRACK"],
      why: "inbound segments to the port bypass connection tracking",
    },
    {
      table: "raw",
      chain: "OUTPUT",
      spec: ["-p", "tcp", "--sport", p, "-j", "NOTRACK"],
      why: "outbound segments from the port bypass connection tracking",
    },
    {
      table: "mangle",
      chain: "OUTPUT",
      spec: ["-p", "tcp", "--sport", p, "--tcp-flags", "RST", "RST", "-j", "DROP"],
      why: "the kernel's own RSTs from the port (it has no socket there) are dropped",
    },
  ];
}

export function iptablesTool(family: IpFamily): "iptables" | "ip6tables" {
  return family === 6 ? "ip6tables" : "iptables";
}

/**
 * The steps for `action`, in the order to run them: apply goes family by family, port by port,
 * rule by rule; remove is the exact reverse. `-w` waits for the xtables lock instead of failing
 * when another tool holds it.
 */
export function iptablesSteps(action: FirewallAction, plan: FirewallPlan): FirewallStep[] {
  checkPlan(plan);
  const steps: FirewallStep[] = [];
  for (const family of plan.families) {
    const tool = iptablesTool(family);
    for (const port of plan.ports) {
      for (const r of portRules(port)) {
        const head = [tool, "-w", "-t", r.table];
        steps.push({
          family,
          port,
          check: [...head, "-C", r.chain, ...r.spec],
          change: [...head, action === "apply" ? "-A" : "-D", r.chain, ...r.spec],
        });
      }
    }
  }
  return action === "apply" ? steps : steps.reverse();
}

/** argv as one POSIX shell word list (quotes only where needed). */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(" ");
}

/** The step as the shell line that does the same: `check || change` (apply) or `check && change` (remove). */
export function formatStep(action: FirewallAction, step: FirewallStep): string {
  return `${shellQuote(step.check)} 2>/dev/null ${action === "apply" ? "||" : "&&"} ${shellQuote(step.change)}`;
}

/** nft table name for one port: one table per port, so ports are applied and removed independently. */
export function nftTable(port: number): string {
  return `paqet_${port}`;
}

function nftFamily(family: IpFamily): "ip" | "ip6" {
  return family === 6 ? "ip6" : "ip";
}

/**
 * An `nft -f` script with the same effect as the iptables rules. Priorities: -300 is iptables'
 * raw table (before conntrack at -200, so `notrack` works), -150 is mangle. Apply first creates
 * and deletes the table (so a stale copy goes) and then recreates it, all in one transaction; remove
 * creates and deletes it, which succeeds whether or not it existed.
 */
export function nftScript(action: FirewallAction, plan: FirewallPlan): string {
  checkPlan(plan);
  const lines: string[] = [];
  for (const family of plan.families) {
    const fam = nftFamily(family);
    for (const port of plan.ports) {
      const table = `${fam} ${nftTable(port)}`;
      lines.push(`add table ${table}`, `delete table ${table}`);
      if (action === "remove") continue;
      lines.push(
        `table ${table} {`,
        `  chain raw_prerouting {`,
        `    type filter hook prerouting priority -300; policy accept;`,
        `    tcp dport ${port} notrack`,
        `  }`,
        `  chain raw_output {`,
        `    type filter hook output priority -300; policy accept;`,
        `    tcp sport ${port} notrack`,
        `  }`,
        `  chain mangle_output {`,
        `    type route hook output priority -150; policy accept;`,
        `    tcp sport ${port} tcp flags & rst == rst drop`,
        `  }`,
        `}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

/** The nft script as a shell command (here-document), for `show`. */
export function formatNft(action: FirewallAction, plan: FirewallPlan): string {
  return `nft -f - <<'EOF'\n${nftScript(action, plan)}EOF\n`;
}

/** Why a client with port 0 gets no rules (printed by `firewall show` and for apply/remove). */
export const RANDOM_PORT_EXPLANATION = [
  "the client's local port is 0: every transport connection (and every reconnect) draws a new random",
  "port from 32768-65535, so there is no fixed port to write rules for, and rules for the whole range",
  "would also hit this host's ordinary outgoing TCP connections. Go paqet's README asks for rules on the",
  "server only. To firewall a client, give network.ipv4/ipv6.addr a fixed port (transport.conn must then be 1).",
];
