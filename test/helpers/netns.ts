/**
 * A two-namespace network bed for privileged tests and benchmarks (root + iproute2 + iptables).
 *
 *   ns a ("client")                                  ns b ("server")
 *   ifA  10.77.N.1/24  fd77:N::1/64  ==== veth ====  ifB  10.77.N.2/24  fd77:N::2/64  (N in decimal digits)
 *        MAC 02:77:00:00:NN:01                             MAC 02:77:00:00:NN:02
 *
 * Usage:
 *
 *   import { createBed, netnsSkipReason, runIn, spawnIn } from "./helpers/netns.ts";
 *   const skip = netnsSkipReason();                 // undefined when root and `ip netns` works
 *   describe.skipIf(skip !== undefined)(`... ${skip ?? ""}`, () => {
 *     let bed: Bed;
 *     beforeAll(() => { bed = createBed({ prefix: "pq" }); });
 *     afterAll(() => bed?.destroy());
 *     test("...", async () => {
 *       const child = spawnIn(bed.a.ns, [process.execPath, "script.ts", bed.a.ifname]);
 *       ...
 *     });
 *   });
 *
 * What `createBed` sets up, all of it torn down by `destroy()` (idempotent; also run on exit):
 * - two namespaces `<prefix><4 hex>a` / `...b` (unique per run) with lo up;
 * - a veth pair `<prefix><4 hex>a0` / `...b0` with fixed MACs, so `router_mac` of each side is the
 *   other side's MAC (a direct link has no router);
 * - IPv4 10.77.N.1/2 and IPv6 fd77:N::1/2 (N = `subnet`, random 100..249 unless given; DAD off),
 *   plus PERMANENT neighbour entries both ways, so no ARP or ND ever appears on the link;
 * - offloads off (tx checksum, GRO, GSO, TSO) so captures see real frame sizes and checksums;
 * - Go paqet's README rules, scoped to the bed's veth rather than to a port (tests use random
 *   client ports): NOTRACK for TCP in raw PREROUTING/OUTPUT and DROP of outgoing TCP RSTs in mangle
 *   OUTPUT, for iptables and ip6tables, in both namespaces. The kernel therefore never answers the
 *   hand-made segments with RSTs, and conntrack never sees them.
 *
 * Every namespace created records its creator's pid in /run/paqet-netns/<ns>.pid. `createBed`
 * first deletes namespaces with the same prefix whose creator is gone (leftovers of a crashed
 * run); beds of live processes, including concurrent runs by other tests, are never touched.
 */
import { spawn, spawnSync, type Subprocess } from "bun";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

const STATE_DIR = "/run/paqet-netns";

export interface BedSide {
  /** Namespace name (use with `runIn`, `spawnIn` or `ip netns exec`). */
  readonly ns: string;
  /** The veth end inside this namespace. */
  readonly ifname: string;
  readonly mac: string;
  readonly ipv4: string;
  readonly ipv6: string;
  /** The peer's MAC: what paqet's `router_mac` must be on this side. */
  readonly routerMac: string;
}

export interface Bed {
  readonly a: BedSide;
  readonly b: BedSide;
  readonly subnet: number;
  /** Deletes both namespaces (the veth goes with them). Idempotent; never throws. */
  destroy(): void;
}

export interface BedOptions {
  /** 2..6 lowercase letters/digits starting with a letter; default "pq". */
  readonly prefix?: string;
  /** The N in 10.77.N.0/24 and fd77:N::/64 (1..254); random 100..249 by default. */
  readonly subnet?: number;
  /** Install the NOTRACK / RST-drop rules (default true). */
  readonly rules?: boolean;
  /**
   * "pair" (default): one namespace per side. "single": both veth ends in ONE namespace (a.ns ===
   * b.ns), so a single process running inside it can open a raw socket on each end; frames sent out
   * of one end arrive on the other, and the kernel drops them as "local source" after pcap saw them.
   */
  readonly layout?: "pair" | "single";
}

export interface RunResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Why privileged netns tests cannot run here, or undefined when they can. */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "needs root (network namespaces)";
  const probe = spawnSync(["ip", "netns", "list"], { stdout: "ignore", stderr: "pipe" });
  if (probe.exitCode !== 0) return `\`ip netns\` does not work: ${probe.stderr.toString().trim() || "missing iproute2"}`;
  return undefined;
}

function sh(argv: string[], what: string): string {
  const r = spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) {
    throw new Error(`${what}: \`${argv.join(" ")}\` exited ${r.exitCode}: ${r.stderr.toString().trim()}`);
  }
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

function listNamespaces(): string[] {
  try {
    return readdirSync("/run/netns");
  } catch {
    return [];
  }
}

function deleteNamespace(ns: string): void {
  // Children still running inside keep the namespace alive after `del`; kill them first so the
  // veth really disappears (these are processes the tests started there).
  const pids = spawnSync(["ip", "netns", "pids", ns], { stdout: "pipe", stderr: "ignore" })
    .stdout.toString()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  quiet(["ip", "netns", "del", ns]);
  rmSync(`${STATE_DIR}/${ns}.pid`, { force: true });
}

/** Deletes namespaces named `<prefix><4 hex>[ab]` whose creating process no longer exists. */
export function cleanLeftovers(prefix: string): string[] {
  const pattern = new RegExp(`^${prefix}[0-9a-f]{4}[ab]$`);
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    if (!pattern.test(ns)) continue;
    const pidFile = `${STATE_DIR}/${ns}.pid`;
    const owner = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : NaN;
    if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) continue;
    deleteNamespace(ns);
    removed.push(ns);
  }
  return removed;
}

const live = new Set<Bed>();
let exitHook = false;

function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on("exit", () => {
    for (const bed of live) bed.destroy();
  });
}

export function createBed(options: BedOptions = {}): Bed {
  const prefix = options.prefix ?? "pq";
  if (!/^[a-z][a-z0-9]{1,5}$/.test(prefix)) throw new Error(`bad bed prefix "${prefix}"`);
  const subnet = options.subnet ?? 100 + Math.floor(Math.random() * 150);
  if (!Number.isInteger(subnet) || subnet < 1 || subnet > 254) throw new Error(`bad subnet ${subnet}`);
  cleanLeftovers(prefix);
  mkdirSync(STATE_DIR, { recursive: true });

  let tag = randomBytes(2).toString("hex");
  for (let i = 0; i < 16 && listNamespaces().some((n) => n.startsWith(prefix + tag)); i++) {
    tag = randomBytes(2).toString("hex");
  }
  const hex = subnet.toString(16).padStart(2, "0");
  const side = (letter: "a" | "b", host: 1 | 2, peer: 1 | 2): BedSide => ({
    ns: `${prefix}${tag}${letter}`,
    ifname: `${prefix}${tag}${letter}0`,
    mac: `02:77:00:00:${hex}:0${host}`,
    ipv4: `10.77.${subnet}.${host}`,
    ipv6: `fd77:${subnet}::${host}`,
    routerMac: `02:77:00:00:${hex}:0${peer}`,
  });
  const single = options.layout === "single";
  const a = side("a", 1, 2);
  const b = single ? { ...side("b", 2, 1), ns: a.ns } : side("b", 2, 1);
  const namespaces = single ? [a.ns] : [a.ns, b.ns];

  let destroyed = false;
  const bed: Bed = {
    a,
    b,
    subnet,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      live.delete(bed);
      for (const ns of namespaces) deleteNamespace(ns);
    },
  };

  try {
    for (const ns of namespaces) {
      sh(["ip", "netns", "add", ns], "create namespace");
      writeFileSync(`${STATE_DIR}/${ns}.pid`, `${process.pid}\n`);
      live.add(bed);
      installExitHook();
      sh(["ip", "-n", ns, "link", "set", "lo", "up"], "lo up");
    }
    sh(["ip", "-n", a.ns, "link", "add", a.ifname, "type", "veth", "peer", "name", b.ifname, "netns", b.ns], "veth");
    for (const [s, peer] of [
      [a, b],
      [b, a],
    ] as const) {
      const inNs = ["ip", "netns", "exec", s.ns];
      sh(["ip", "-n", s.ns, "link", "set", "dev", s.ifname, "address", s.mac], "set MAC");
      for (const [k, v] of [
        [`net.ipv6.conf.${s.ifname}.accept_ra`, "0"],
        [`net.ipv6.conf.${s.ifname}.accept_dad`, "0"],
        [`net.ipv6.conf.${s.ifname}.router_solicitations`, "0"],
        [`net.ipv6.conf.${s.ifname}.disable_ipv6`, "0"],
      ]) {
        quiet([...inNs, "sysctl", "-qw", `${k}=${v}`]);
      }
      quiet([...inNs, "ethtool", "-K", s.ifname, "tx", "off", "gro", "off", "gso", "off", "tso", "off"]);
      sh(["ip", "-n", s.ns, "link", "set", "dev", s.ifname, "up"], "link up");
      sh(["ip", "-n", s.ns, "addr", "add", `${s.ipv4}/24`, "dev", s.ifname], "IPv4 address");
      sh(["ip", "-n", s.ns, "addr", "add", `${s.ipv6}/64`, "dev", s.ifname, "nodad"], "IPv6 address");
      sh(["ip", "-n", s.ns, "neigh", "replace", peer.ipv4, "lladdr", peer.mac, "dev", s.ifname, "nud", "permanent"], "neighbour");
      sh(["ip", "-n", s.ns, "neigh", "replace", peer.ipv6, "lladdr", peer.mac, "dev", s.ifname, "nud", "permanent"], "neighbour6");
      if (options.rules !== false) {
        for (const tool of ["iptables", "ip6tables"]) {
          const t = [...inNs, tool, "-w"];
          sh([...t, "-t", "raw", "-A", "PREROUTING", "-i", s.ifname, "-p", "tcp", "-j", "NOTRACK"], `${tool} raw`);
          sh([...t, "-t", "raw", "-A", "OUTPUT", "-o", s.ifname, "-p", "tcp", "-j", "NOTRACK"], `${tool} raw`);
          sh(
            [...t, "-t", "mangle", "-A", "OUTPUT", "-o", s.ifname, "-p", "tcp", "--tcp-flags", "RST", "RST", "-j", "DROP"],
            `${tool} mangle`,
          );
        }
      }
    }
  } catch (err) {
    bed.destroy();
    throw err;
  }
  return bed;
}

/** Runs argv inside `ns` and waits (bounded: SIGKILL after `timeoutMs`, default 30 s). */
export async function runIn(
  ns: string,
  argv: string[],
  options: { timeoutMs?: number; env?: Record<string, string>; stdin?: string } = {},
): Promise<RunResult> {
  const child = spawnIn(ns, argv, { env: options.env, stdin: options.stdin === undefined ? "ignore" : "pipe" });
  if (options.stdin !== undefined && child.stdin && typeof child.stdin !== "number") {
    child.stdin.write(options.stdin);
    await child.stdin.end();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(child.stdout as ReadableStream).text(),
      new Response(child.stderr as ReadableStream).text(),
      child.exited,
    ]);
    return { exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts argv inside `ns` with piped stdout/stderr and returns at once. The caller must kill it
 * (prefer SIGKILL: a crashed Bun can ignore SIGTERM); `destroy()` also kills what is left inside.
 */
export function spawnIn(
  ns: string,
  argv: string[],
  options: { env?: Record<string, string>; stdin?: "pipe" | "ignore" } = {},
): Subprocess<"pipe" | "ignore", "pipe", "pipe"> {
  return spawn(["ip", "netns", "exec", ns, ...argv], {
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
  });
}
