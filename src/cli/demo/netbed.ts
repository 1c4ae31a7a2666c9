/**
 * A throw-away network bed of Linux namespaces for the demo, the end-to-end tests and the tunnel
 * benchmark (root, iproute2 and iptables needed).
 *
 *   direct:  ns a  ifA 10.77.N.1 ======= veth ======= ifB 10.77.N.2  ns b
 *   relay:   ns a  ifA 10.77.N.1 == veth == [ns m: ma  mb] == veth == ifB 10.77.N.2  ns b
 *   single:  ns a  ifA 10.77.N.1 ======= veth ======= ifB 10.77.N.2  (also ns a)
 *
 * In relay layout the middle namespace holds two veth ends and nothing else: a user-space relay
 * started there (bench/lib/relay.ts) copies frames between them, so the endpoints still address
 * each other's MAC as on a direct link (`router_mac` = the peer's MAC either way). In single layout
 * both ends live in one namespace (a.ns === b.ns), so one process can open a raw socket on each;
 * frames sent out of one end arrive on the other, and the kernel drops them as "local source"
 * after pcap saw them. The MACs are 02:77:00:00:NN:01 / :02 (NN = N in hex).
 *
 * Both endpoints also get fd77:N::1/2 (DAD off) and permanent neighbour entries, offloads off
 * (real frame sizes and checksums for pcap), and the firewall rules paqet's README asks for
 * (paqet-app.md §3.8), scoped to the bed's veth instead of a port because clients use random
 * ports: NOTRACK for TCP in raw PREROUTING/OUTPUT and DROP of outgoing kernel RSTs, for iptables
 * and ip6tables, in both namespaces. Without them the kernel answers every hand-made segment with a
 * RST (a test that wants to see those RSTs turns the rules off).
 *
 * Every namespace records its creator's pid in /run/paqet-netns/<ns>.pid; a new bed first
 * deletes same-prefix namespaces whose creator is gone, so a crashed run leaves nothing behind
 * for long. Beds of live processes are never touched.
 */
import { spawnSync } from "bun";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const STATE_DIR = "/run/paqet-netns";

export interface BedEnd {
  readonly ns: string;
  readonly ifname: string;
  readonly mac: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** The peer's MAC: this side's `router_mac`. */
  readonly routerMac: string;
}

export interface BedMiddle {
  readonly ns: string;
  /** The middle's veth end facing side a, and the one facing side b. */
  readonly toA: string;
  readonly toB: string;
}

export interface NetBed {
  readonly a: BedEnd;
  readonly b: BedEnd;
  /** Present in relay layout only. */
  readonly middle: BedMiddle | undefined;
  readonly subnet: number;
  /** Kills what still runs inside and deletes the namespaces. Idempotent; never throws. */
  destroy(): void;
}

export interface NetBedOptions {
  /** 2..6 lowercase letters/digits starting with a letter; default "pq". */
  readonly prefix?: string;
  /** The N of 10.77.N.0/24 and fd77:N::/64; random 100..249 by default. */
  readonly subnet?: number;
  /** "direct" (default), "relay" (a third namespace in the middle) or "single" (one namespace). */
  readonly layout?: "direct" | "relay" | "single";
  /** Install the NOTRACK / RST-drop rules (default true). */
  readonly rules?: boolean;
}

/** Why a bed cannot be made here (not Linux, not root, no `ip netns`), or undefined when it can. */
export function netbedUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "needs root (network namespaces, raw sockets)";
  const probe = spawnSync(["ip", "netns", "list"], { stdout: "ignore", stderr: "pipe" });
  if (probe.exitCode !== 0) return `\`ip netns\` does not work: ${probe.stderr.toString().trim() || "is iproute2 installed?"}`;
  return undefined;
}

function sh(argv: string[], what: string): string {
  const r = spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${what}: \`${argv.join(" ")}\` exited ${r.exitCode}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

function quiet(argv: string[]): boolean {
  return spawnSync(argv, { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function namespaces(): string[] {
  try {
    return readdirSync("/run/netns");
  } catch {
    return [];
  }
}

/** Pids running inside `ns` (our children: clients, servers, targets, relays). */
export function pidsIn(ns: string): number[] {
  const out = spawnSync(["ip", "netns", "pids", ns], { stdout: "pipe", stderr: "ignore" }).stdout.toString();
  return out.split(/\s+/).filter(Boolean).map(Number);
}

function deleteNamespace(ns: string): void {
  // A process left inside keeps the namespace (and its veth) alive after `del`.
  for (const pid of pidsIn(ns)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  quiet(["ip", "netns", "del", ns]);
  rmSync(`${STATE_DIR}/${ns}.pid`, { force: true });
}

/** Deletes `<prefix><4 hex>[abm]` namespaces whose creating process is gone. */
export function cleanLeftovers(prefix: string): string[] {
  const pattern = new RegExp(`^${prefix}[0-9a-f]{4}[abm]$`);
  const removed: string[] = [];
  for (const ns of namespaces()) {
    if (!pattern.test(ns)) continue;
    const pidFile = `${STATE_DIR}/${ns}.pid`;
    const owner = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : Number.NaN;
    if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) continue;
    deleteNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

const live = new Set<NetBed>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const bed of live) bed.destroy();
  });
}

/** Offloads off and IPv6 autoconfiguration quiet, then up. */
function tune(ns: string, ifname: string, ipv6: boolean): void {
  const inNs = ["ip", "netns", "exec", ns];
  const sysctls: [string, string][] = ipv6
    ? [
        [`net.ipv6.conf.${ifname}.accept_ra`, "0"],
        [`net.ipv6.conf.${ifname}.accept_dad`, "0"],
        [`net.ipv6.conf.${ifname}.router_solicitations`, "0"],
        [`net.ipv6.conf.${ifname}.disable_ipv6`, "0"],
      ]
    : [[`net.ipv6.conf.${ifname}.disable_ipv6`, "1"]];
  for (const [k, v] of sysctls) quiet([...inNs, "sysctl", "-qw", `${k}=${v}`]);
  quiet([...inNs, "ethtool", "-K", ifname, "tx", "off", "rx", "off", "gro", "off", "gso", "off", "tso", "off"]);
  sh(["ip", "-n", ns, "link", "set", "dev", ifname, "up"], "link up");
}

export function createNetBed(options: NetBedOptions = {}): NetBed {
  const prefix = options.prefix ?? "pq";
  if (!/^[a-z][a-z0-9]{1,5}$/.test(prefix)) throw new Error(`bad bed prefix "${prefix}"`);
  const subnet = options.subnet ?? 100 + Math.floor(Math.random() * 150);
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 254) throw new Error(`bad subnet ${subnet}`);
  const relay = options.layout === "relay";
  const single = options.layout === "single";
  cleanLeftovers(prefix);
  mkdirSync(STATE_DIR, { recursive: true });

  let tag = randomBytes(2).toString("hex");
  for (let i = 0; i < 16 && namespaces().some((n) => n.startsWith(prefix + tag)); i++) tag = randomBytes(2).toString("hex");
  const hex = subnet.toString(16).padStart(2, "0");
  const end = (letter: "a" | "b", host: 1 | 2, peer: 1 | 2): BedEnd => ({
    ns: `${prefix}${tag}${letter}`,
    ifname: `${prefix}${tag}${letter}0`,
    mac: `02:77:00:00:${hex}:0${host}`,
    ipv4: `10.77.${subnet}.${host}`,
    ipv6: `fd77:${subnet}::${host}`,
    routerMac: `02:77:00:00:${hex}:0${peer}`,
  });
  const a = end("a", 1, 2);
  const b = single ? { ...end("b", 2, 1), ns: a.ns } : end("b", 2, 1);
  const middle: BedMiddle | undefined = relay
    ? { ns: `${prefix}${tag}m`, toA: `${prefix}${tag}ma`, toB: `${prefix}${tag}mb` }
    : undefined;
  const all = middle ? [a.ns, b.ns, middle.ns] : single ? [a.ns] : [a.ns, b.ns];

  let destroyed = false;
  const bed: NetBed = {
    a,
    b,
    middle,
    subnet,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      live.delete(bed);
      for (const ns of all) deleteNamespace(ns);
    },
  };

  try {
    for (const ns of all) {
      sh(["ip", "netns", "add", ns], "create namespace");
      writeFileSync(`${STATE_DIR}/${ns}.pid`, `${process.pid}\n`);
      live.add(bed);
      installExitHook();
      sh(["ip", "-n", ns, "link", "set", "lo", "up"], "lo up");
    }
    if (middle) {
      sh(["ip", "-n", a.ns, "link", "add", a.ifname, "type", "veth", "peer", "name", middle.toA, "netns", middle.ns], "veth a-m");
      sh(["ip", "-n", b.ns, "link", "add", b.ifname, "type", "veth", "peer", "name", middle.toB, "netns", middle.ns], "veth b-m");
      tune(middle.ns, middle.toA, false);
      tune(middle.ns, middle.toB, false);
    } else {
      sh(["ip", "-n", a.ns, "link", "add", a.ifname, "type", "veth", "peer", "name", b.ifname, "netns", b.ns], "veth");
    }
    for (const [s, peer] of [
      [a, b],
      [b, a],
    ] as const) {
      const inNs = ["ip", "netns", "exec", s.ns];
      sh(["ip", "-n", s.ns, "link", "set", "dev", s.ifname, "address", s.mac], "set MAC");
      tune(s.ns, s.ifname, true);
      sh(["ip", "-n", s.ns, "addr", "add", `${s.ipv4}/24`, "dev", s.ifname], "IPv4 address");
      sh(["ip", "-n", s.ns, "addr", "add", `${s.ipv6}/64`, "dev", s.ifname, "nodad"], "IPv6 address");
      sh(["ip", "-n", s.ns, "neigh", "replace", peer.ipv4, "lladdr", peer.mac, "dev", s.ifname, "nud", "permanent"], "neighbour");
      sh(["ip", "-n", s.ns, "neigh", "replace", peer.ipv6, "lladdr", peer.mac, "dev", s.ifname, "nud", "permanent"], "neighbour6");
      if (options.rules === false) continue;
      for (const tool of ["iptables", "ip6tables"]) {
        const t = [...inNs, tool, "-w"];
        sh([...t, "-t", "raw", "-A", "PREROUTING", "-i", s.ifname, "-p", "tcp", "-j", "NOTRACK"], `${tool} raw`);
        sh([...t, "-t", "raw", "-A", "OUTPUT", "-o", s.ifname, "-p", "tcp", "-j", "NOTRACK"], `${tool} raw`);
        sh([...t, "-t", "mangle", "-A", "OUTPUT", "-o", s.ifname, "-p", "tcp", "--tcp-flags", "RST", "RST", "-j", "DROP"], `${tool} mangle`);
      }
    }
  } catch (err) {
    bed.destroy();
    throw err;
  }
  return bed;
}

/** `ip netns exec <ns> argv...` as an argv. */
export function inNs(ns: string, argv: readonly string[]): string[] {
  return ["ip", "netns", "exec", ns, ...argv];
}
