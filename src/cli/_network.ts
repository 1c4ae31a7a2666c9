/**
 * Zero-config networking: fills the network fields a config leaves empty (`network.interface`, the
 * IP of `network.ipv4/ipv6.addr` written as `:port`, `router_mac`) before a raw socket is opened.
 *
 * The kernel already knows the answers, so they are asked the way it would route a real packet:
 * - the route towards the peer (`ip route get`): the client's peer is `server.addr`, the server's
 *   peers are anywhere, so it takes the default route. That gives the interface, the source IP the
 *   kernel would pick, and the next hop (the gateway, or the peer itself when it is on the link);
 * - the next hop's MAC from the neighbour table (`ip neigh`, /proc/net/arp). When it is missing the
 *   kernel is nudged to resolve it with one UDP datagram to the next hop (discard port 9), and the
 *   table is read again for up to a second; if it is still missing, the error says how to fill it.
 * Without `ip` (macOS, minimal systems) the default routes and neighbours of src/lib/netinfo.ts are
 * used instead. Values written in the config are never replaced.
 */
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { lookup } from "node:dns/promises";
import { isIPv4, isIPv6 } from "node:net";
import {
  pendingDiscovery,
  type AddressFamilyConfig,
  type NetworkConfig,
  type PaqetConfig,
} from "../conf/index.ts";
import { PaqetError } from "../lib/errors.ts";
import { logger } from "../lib/log.ts";
import { defaultGateways, listInterfaces, parseProcArp, type InterfaceAddress } from "../lib/netinfo.ts";
import { fatal } from "./_raw.ts";

export type DiscoveryErrorCode = "NET_NO_ROUTE" | "NET_NO_ADDRESS" | "NET_NO_MAC" | "NET_MISMATCH";

export class DiscoveryError extends PaqetError {
  declare readonly code: DiscoveryErrorCode;
  constructor(code: DiscoveryErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** One discovered value, for the log line and for callers that show it. */
export interface DiscoveredField {
  /** Key path, e.g. `network.ipv4.router_mac`. */
  readonly path: string;
  readonly value: string;
  /** Where it came from, e.g. `route to 203.0.113.5` or `neighbour table, gateway 10.0.0.1`. */
  readonly source: string;
}

export interface ResolvedNetwork {
  /**
   * The config with every gap filled (deep-frozen); the same object when nothing was missing.
   * A family whose IP was discovered has `addr` rewritten to the effective `ip:port`.
   */
  readonly config: PaqetConfig;
  /** `config.network`. */
  readonly network: NetworkConfig;
  /** Empty when the config named everything. */
  readonly discovered: readonly DiscoveredField[];
}

/** A route as the kernel would use it towards one destination. */
export interface RouteInfo {
  readonly dev: string;
  /** The gateway; undefined when the destination is on the link. */
  readonly via: string | undefined;
  /** The source address the kernel would pick, when it says. */
  readonly src: string | undefined;
}

/** The host facts discovery needs; tests pass a fake, `systemHost()` asks this machine. */
export interface HostNetwork {
  /**
   * The route towards `dest` (an IP literal), or the default route when `dest` is undefined,
   * through `dev` when given; undefined when there is none.
   */
  route(family: 4 | 6, dest: string | undefined, dev: string | undefined): RouteInfo | undefined;
  /** The addresses of `dev`, or undefined when no such interface exists. */
  addresses(dev: string): readonly InterfaceAddress[] | undefined;
  /** The MAC (lowercase colon form) of `ip` on `dev` from the neighbour table, if known. */
  neighbour(family: 4 | 6, ip: string, dev: string): string | undefined;
  /** Makes the kernel resolve `ip` on `dev` (it sends one harmless datagram there). */
  nudge(family: 4 | 6, ip: string, dev: string): Promise<void>;
  sleep(ms: number): Promise<void>;
}

export interface ResolveOptions {
  readonly host?: HostNetwork;
  /** Receives the one summary line; default: the `net` logger at info. */
  readonly log?: (line: string) => void;
  /** Neighbour-table reads after a nudge, 100 ms apart (default 10). */
  readonly neighbourPolls?: number;
}

const log = logger("net");

/**
 * Fills `network.interface`, the IPs and the router MACs a config leaves empty, with one log line
 * saying what was found. Throws DiscoveryError (one line, with what to do) when something cannot
 * be found. Call it after loading the config and before opening a raw socket.
 */
export async function resolveNetwork(config: PaqetConfig, options: ResolveOptions = {}): Promise<ResolvedNetwork> {
  const n = config.network;
  if (pendingDiscovery(n).length === 0) return { config, network: n, discovered: [] };
  const host = options.host ?? systemHost();
  const discovered: DiscoveredField[] = [];
  const families = ([4, 6] as const).filter((f) => familyOf(n, f) !== null);

  let dev = n.interface === "" ? undefined : n.interface;
  if (dev !== undefined && host.addresses(dev) === undefined) {
    throw new DiscoveryError("NET_NO_ROUTE", `network interface ${dev} not found (see \`paqet iface\`)`);
  }
  const routes = new Map<4 | 6, { route: RouteInfo; dest: string | undefined; towards: string }>();
  for (const family of families) {
    const { dest, towards } = await destinationFor(config, family);
    const route = host.route(family, dest, dev);
    if (!route) {
      const through = dev === undefined ? "" : ` through ${dev}`;
      throw new DiscoveryError(
        "NET_NO_ROUTE",
        `no IPv${family} ${towards}${through}: cannot discover ${dev === undefined ? "network.interface" : `network.ipv${family}`}; set it in the config (see \`paqet iface\`)`,
      );
    }
    if (dev === undefined) {
      dev = route.dev;
      discovered.push({ path: "network.interface", value: dev, source: towards });
    } else if (route.dev !== dev) {
      throw new DiscoveryError(
        "NET_MISMATCH",
        `the IPv${family} ${towards} leaves through ${route.dev}, not ${dev}; paqet uses one interface for both families: set network.interface`,
      );
    }
    routes.set(family, { route, dest, towards });
  }
  if (dev === undefined) throw new DiscoveryError("NET_NO_ROUTE", "no address family configured");

  const filled: Partial<Record<4 | 6, AddressFamilyConfig>> = {};
  for (const family of families) {
    const fam = familyOf(n, family)!;
    const { route, dest, towards } = routes.get(family)!;
    const key = `network.ipv${family}`;
    let ip = fam.ip;
    if (ip === "") {
      ip = pickAddress(family, route, host.addresses(dev) ?? []);
      if (ip === "") {
        throw new DiscoveryError("NET_NO_ADDRESS", `${dev} has no usable IPv${family} address: set ${key}.addr to this host's address and port`);
      }
      discovered.push({ path: `${key}.addr`, value: ip, source: route.src === ip ? `source address of the ${towards}` : `address of ${dev}` });
    }
    let mac = fam.router_mac;
    if (mac === "") {
      const hop = route.via ?? dest;
      if (hop === undefined) {
        throw new DiscoveryError(
          "NET_NO_MAC",
          `the IPv${family} default route through ${dev} has no gateway (a point-to-point link has no next-hop MAC): set ${key}.router_mac`,
        );
      }
      mac = await neighbourMac(host, family, hop, dev, options.neighbourPolls ?? 10);
      discovered.push({ path: `${key}.router_mac`, value: mac, source: `neighbour table, ${route.via ? "gateway" : "on-link peer"} ${hop}` });
    }
    const addr = fam.ip === "" ? (family === 6 ? `[${ip}]:${fam.port}` : `${ip}:${fam.port}`) : fam.addr;
    filled[family] = { addr, ip, port: fam.port, router_mac: mac };
  }

  const network: NetworkConfig = { ...n, interface: dev, ipv4: filled[4] ?? n.ipv4, ipv6: filled[6] ?? n.ipv6 };
  const resolved = deepFreeze({ ...config, network });
  const line = `network: discovered ${discovered.map((d) => `${d.path.replace(/^network\./, "")}=${d.value} (${d.source})`).join(", ")}`;
  (options.log ?? ((l: string) => log.info(l)))(line);
  return { config: resolved, network: resolved.network, discovered };
}

function familyOf(n: NetworkConfig, family: 4 | 6): AddressFamilyConfig | null {
  return family === 4 ? n.ipv4 : n.ipv6;
}

/**
 * Where this side's packets of `family` go: the client's to the server (its IP, or the name
 * resolved now); the server's to clients anywhere, so the default route.
 */
async function destinationFor(config: PaqetConfig, family: 4 | 6): Promise<{ dest: string | undefined; towards: string }> {
  const probe = { dest: undefined, towards: "default route" };
  const server = config.server;
  if (config.role !== "client" || !server) return probe;
  if (server.family === family) return { dest: server.host.split("%")[0]!, towards: `route to ${server.host}` };
  if (server.family !== 0 || server.host === "") return probe;
  try {
    const { address } = await lookup(server.host, { family });
    return { dest: address, towards: `route to ${server.host} (${address})` };
  } catch {
    return probe;
  }
}

function isUsable(family: 4 | 6, a: InterfaceAddress): boolean {
  if (a.family !== family) return false;
  if (family === 4) return !a.address.startsWith("127.") && !a.address.startsWith("169.254.");
  const lower = a.address.toLowerCase();
  return lower !== "::1" && !lower.startsWith("fe80:");
}

/** The route's source when it is one of the interface's addresses, else the interface's first usable one. */
function pickAddress(family: 4 | 6, route: RouteInfo, addrs: readonly InterfaceAddress[]): string {
  const usable = addrs.filter((a) => isUsable(family, a));
  if (route.src && usable.some((a) => a.address === route.src)) return route.src;
  return usable[0]?.address ?? "";
}

async function neighbourMac(host: HostNetwork, family: 4 | 6, hop: string, dev: string, polls: number): Promise<string> {
  let mac = host.neighbour(family, hop, dev);
  if (mac) return mac;
  await host.nudge(family, hop, dev);
  for (let i = 0; i < polls && !mac; i++) {
    await host.sleep(100);
    mac = host.neighbour(family, hop, dev);
  }
  if (mac) return mac;
  const ping = family === 6 ? `ping -6 -c1 ${hop}${hop.toLowerCase().startsWith("fe80:") ? `%${dev}` : ""}` : `ping -c1 ${hop}`;
  throw new DiscoveryError(
    "NET_NO_MAC",
    `the MAC of ${hop} (next hop on ${dev}) is not in the neighbour table: run \`${ping}\` once to fill it, or set network.ipv${family}.router_mac`,
  );
}

/** Parses one line of `ip route get` output: `<dest> [from ..] [via GW] dev DEV [src SRC] ...`. */
export function parseRouteGet(text: string): RouteInfo | undefined {
  const words = text.trim().split(/\s+/);
  const after = (key: string) => {
    const i = words.indexOf(key);
    return i >= 0 ? words[i + 1] : undefined;
  };
  const dev = after("dev");
  if (!dev || /^(unreachable|prohibit|blackhole|throw)$/.test(words[0] ?? "")) return undefined;
  return { dev, via: after("via"), src: after("src") };
}

/** Parses `ip neigh show IP dev DEV`: the lladdr of an entry in a usable state. */
export function parseNeighbour(text: string): string | undefined {
  for (const line of text.split("\n")) {
    if (/\b(FAILED|INCOMPLETE)\b/.test(line)) continue;
    const m = /\blladdr ([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/i.exec(line);
    if (m && m[1] !== "00:00:00:00:00:00") return m[1]!.toLowerCase();
  }
  return undefined;
}

function run(argv: string[]): { ok: boolean; out: string } {
  try {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 3000 });
    return { ok: r.status === 0, out: r.stdout ?? "" };
  } catch {
    return { ok: false, out: "" };
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** This machine: iproute2 when present, else /proc and src/lib/netinfo.ts. */
export function systemHost(): HostNetwork {
  const hasIp = process.platform === "linux" && run(["ip", "-V"]).ok;
  return {
    route(family, dest, dev) {
      if (hasIp) {
        const oif = dev ? ["oif", dev] : [];
        if (dest !== undefined) {
          const r = run(["ip", `-${family}`, "route", "get", dest, ...oif]);
          return r.ok ? parseRouteGet(r.out.split("\n")[0] ?? "") : undefined;
        }
        const d = run(["ip", `-${family}`, "route", "show", "default", ...(dev ? ["dev", dev] : [])]);
        const line = d.out.split("\n").find((l) => l.startsWith("default"));
        if (!d.ok || !line) return undefined;
        const route = parseRouteGet(dev && !line.includes(" dev ") ? `${line} dev ${dev}` : line);
        if (!route?.via || route.src) return route;
        // The source the kernel picks for the gateway is the one it uses for everything routed there.
        const g = run(["ip", `-${family}`, "route", "get", route.via, "oif", route.dev]);
        return { ...route, src: g.ok ? parseRouteGet(g.out.split("\n")[0] ?? "")?.src : undefined };
      }
      const gw = defaultGateways().find((g) => g.family === family && (dev === undefined || g.interface === dev));
      return gw ? { dev: gw.interface, via: gw.gateway, src: undefined } : undefined;
    },
    addresses(dev) {
      return listInterfaces().find((i) => i.name === dev)?.addresses;
    },
    neighbour(family, ip, dev) {
      if (hasIp) {
        const r = run(["ip", `-${family}`, "neigh", "show", ip, "dev", dev]);
        if (r.ok) return parseNeighbour(r.out);
      }
      if (family === 4 && process.platform === "linux") return parseProcArp(readText("/proc/net/arp")).get(ip);
      return defaultGateways().find((g) => g.family === family && g.gateway === ip && g.interface === dev)?.mac;
    },
    async nudge(family, ip, dev) {
      if (!(family === 4 ? isIPv4(ip) : isIPv6(ip))) return;
      const target = family === 6 && ip.toLowerCase().startsWith("fe80:") ? `${ip}%${dev}` : ip;
      await new Promise<void>((done) => {
        const s = createSocket(family === 6 ? "udp6" : "udp4");
        const finish = () => {
          try {
            s.close();
          } catch {
            // already closed
          }
          done();
        };
        s.on("error", finish);
        s.send(new Uint8Array(0), 9, target, finish);
      });
    },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * For `paqet check`: one line per field the config leaves to discovery, then what discovery finds
 * on this host right now (read-only: the neighbour table is not nudged), or why it fails here.
 */
export async function describeDiscovery(config: PaqetConfig): Promise<string[]> {
  const pending = pendingDiscovery(config.network);
  if (pending.length === 0) return [];
  const lines = pending.map((p) => `${p.path}: run discovers ${p.what}`);
  const readOnly: HostNetwork = { ...systemHost(), nudge: async () => {} };
  try {
    const r = await resolveNetwork(config, { host: readOnly, log: () => {}, neighbourPolls: 0 });
    lines.push(`on this host: ${r.discovered.map((d) => `${d.path.replace(/^network\./, "")}=${d.value}`).join(", ")}`);
  } catch (err) {
    lines.push(`on this host discovery fails now: ${err instanceof Error ? err.message : String(err)}`);
  }
  return lines;
}

/**
 * For commands that open a raw socket (run, ping, dump): the config with its network gaps filled,
 * or the fatal one-liner `failed to discover network: <what to do>` (exit 1).
 */
export async function resolveNetworkOrExit(config: PaqetConfig): Promise<PaqetConfig> {
  try {
    return (await resolveNetwork(config)).config;
  } catch (err) {
    if (err instanceof DiscoveryError) fatal(`failed to discover network: ${err.message}`);
    throw err;
  }
}
