/**
 * Facts about this host's interfaces and default routes, without libpcap and without extra tools on
 * Linux: /sys/class/net (MAC, state, flags), /proc/net/route and /proc/net/ipv6_route (default
 * gateways), /proc/net/arp (the IPv4 gateway's MAC), and `os.networkInterfaces()` (addresses).
 * On macOS the default route and the gateway's MAC come from `route -n get default` and `arp -n`.
 * IPv6 neighbours have no /proc file: the gateway's MAC comes from `ip -6 neigh` when `ip` exists,
 * else from its EUI-64 link-local address when it has one, else it stays unknown.
 *
 * Every function here reports "unknown" (undefined / empty) instead of throwing when a source is
 * missing: it serves `paqet iface` and error messages, never the packet path.
 */
import { ipv6GroupsText } from "./ipv6-text.ts";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";

export interface InterfaceAddress {
  readonly family: 4 | 6;
  readonly address: string;
  readonly prefix: number;
}

export interface InterfaceInfo {
  readonly name: string;
  /** Lowercase colon form, or "" when the interface has none (loopback, tun). */
  readonly mac: string;
  /** "up", "down", "unknown", ... (Linux operstate; elsewhere up when it has addresses). */
  readonly state: string;
  readonly loopback: boolean;
  readonly addresses: readonly InterfaceAddress[];
}

export interface DefaultGateway {
  readonly family: 4 | 6;
  readonly interface: string;
  readonly gateway: string;
  /** The gateway's MAC from the neighbour table, when known. */
  readonly mac: string | undefined;
}

const SYS_NET = "/sys/class/net";
const ZERO_MAC = "00:00:00:00:00:00";

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

function addressesByName(): Map<string, InterfaceAddress[]> {
  const out = new Map<string, InterfaceAddress[]>();
  for (const [name, list] of Object.entries(networkInterfaces())) {
    const addrs: InterfaceAddress[] = [];
    for (const a of list ?? []) {
      const prefix = a.cidr ? Number(a.cidr.split("/")[1]) : a.family === "IPv4" ? 32 : 128;
      addrs.push({ family: a.family === "IPv4" ? 4 : 6, address: a.address, prefix });
    }
    out.set(name, addrs);
  }
  return out;
}

function macsByName(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, list] of Object.entries(networkInterfaces())) {
    const mac = list?.find((a) => a.mac && a.mac !== ZERO_MAC)?.mac;
    if (mac) out.set(name, mac.toLowerCase());
  }
  return out;
}

/** Every interface of this host (Linux: including those without addresses). Sorted by name. */
export function listInterfaces(): InterfaceInfo[] {
  const addrs = addressesByName();
  const names = new Set<string>(addrs.keys());
  const linux = process.platform === "linux" && existsSync(SYS_NET);
  if (linux) for (const n of readdirSync(SYS_NET)) names.add(n);
  const macs = linux ? undefined : macsByName();
  const out: InterfaceInfo[] = [];
  for (const name of [...names].sort()) {
    const list = addrs.get(name) ?? [];
    if (linux) {
      const mac = (readText(`${SYS_NET}/${name}/address`) ?? "").toLowerCase();
      const flags = Number.parseInt(readText(`${SYS_NET}/${name}/flags`) ?? "0", 16);
      const oper = readText(`${SYS_NET}/${name}/operstate`) ?? "unknown";
      const adminUp = (flags & 0x1) !== 0;
      const loopback = (flags & 0x8) !== 0;
      out.push({
        name,
        mac: mac === ZERO_MAC || !mac.includes(":") || mac.length !== 17 ? "" : mac,
        state: !adminUp ? "down" : oper,
        loopback,
        addresses: list,
      });
    } else {
      const loopback = list.some((a) => a.address === "127.0.0.1" || a.address === "::1");
      out.push({ name, mac: macs?.get(name) ?? "", state: list.length > 0 ? "up" : "unknown", loopback, addresses: list });
    }
  }
  return out;
}

export function interfaceInfo(name: string): InterfaceInfo | undefined {
  return listInterfaces().find((i) => i.name === name);
}

/** The interface's hardware address (lowercase colon form), or undefined when it has none. */
export function interfaceMac(name: string): string | undefined {
  if (process.platform === "linux") {
    const mac = readText(`${SYS_NET}/${name}/address`)?.toLowerCase();
    if (mac && mac.length === 17 && mac !== ZERO_MAC) return mac;
    if (existsSync(`${SYS_NET}/${name}`)) return undefined;
  }
  return macsByName().get(name);
}

/** True when the OS knows an interface by this name. */
export function interfaceExists(name: string): boolean {
  if (process.platform === "linux" && existsSync(SYS_NET)) return existsSync(`${SYS_NET}/${name}`);
  return name in networkInterfaces();
}

function hexToIpv4LE(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join(".");
}

function hexToIpv6(hex: string): string {
  const words: number[] = [];
  for (let i = 0; i < 32; i += 4) words.push(Number.parseInt(hex.slice(i, i + 4), 16));
  return ipv6GroupsText(words);
}

/** Parses /proc/net/route text: the IPv4 default routes (destination and mask 0, gateway set). */
export function parseProcRoute(text: string): { interface: string; gateway: string }[] {
  const out: { interface: string; gateway: string }[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gw, flags, , , , mask] = f;
    // RTF_UP 0x1 | RTF_GATEWAY 0x2
    if (dest === "00000000" && mask === "00000000" && (Number.parseInt(flags!, 16) & 0x3) === 0x3) {
      out.push({ interface: iface!, gateway: hexToIpv4LE(gw!) });
    }
  }
  return out;
}

/**
 * The MAC embedded in a modified EUI-64 interface identifier (`xx:xx:xx:ff:fe:xx:xx:xx` in the low
 * 64 bits, universal/local bit flipped), as routers' link-local addresses often are; undefined when
 * the address is not of that form. `hex` is the 32-digit address as /proc prints it.
 */
export function macFromEui64(hex: string): string | undefined {
  if (!/^[0-9a-f]{32}$/i.test(hex) || hex.slice(22, 26).toLowerCase() !== "fffe") return undefined;
  const b = [16, 18, 20, 26, 28, 30].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  b[0] = b[0]! ^ 0x02;
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/**
 * Parses /proc/net/ipv6_route text: default routes (::/0) with a next hop. `eui64Mac` is the MAC
 * read from the next hop's EUI-64 identifier, when it has one.
 */
export function parseProcIpv6Route(text: string): { interface: string; gateway: string; eui64Mac?: string }[] {
  const out: { interface: string; gateway: string; eui64Mac?: string }[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [dest, destLen, , , nextHop] = f;
    const iface = f[9]!;
    if (/^0{32}$/.test(dest!) && destLen === "00" && !/^0{32}$/.test(nextHop!) && iface !== "lo") {
      const eui64Mac = macFromEui64(nextHop!);
      out.push({ interface: iface, gateway: hexToIpv6(nextHop!), ...(eui64Mac ? { eui64Mac } : {}) });
    }
  }
  return out;
}

/** Parses /proc/net/arp text into IP → MAC for complete entries (flag 0x2). */
export function parseProcArp(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    const [ip, , flags, mac] = f;
    if ((Number.parseInt(flags!, 16) & 0x2) !== 0 && mac !== ZERO_MAC) out.set(ip!, mac!.toLowerCase());
  }
  return out;
}

function run(argv: string[]): string | undefined {
  try {
    const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 3000 });
    return r.status === 0 ? r.stdout : undefined;
  } catch {
    return undefined;
  }
}

function ipv6NeighbourMac(ip: string, iface: string): string | undefined {
  const out = run(["ip", "-6", "neigh", "show", ip, "dev", iface]);
  return /lladdr ([0-9a-f:]{17})/i.exec(out ?? "")?.[1]?.toLowerCase();
}

/** The default gateways (IPv4 first), each with its MAC when the neighbour table knows it. */
export function defaultGateways(): DefaultGateway[] {
  if (process.platform === "linux") {
    const arp = parseProcArp(readText("/proc/net/arp") ?? "");
    const out: DefaultGateway[] = [];
    for (const r of parseProcRoute(readText("/proc/net/route") ?? "")) {
      out.push({ family: 4, interface: r.interface, gateway: r.gateway, mac: arp.get(r.gateway) });
    }
    for (const r of parseProcIpv6Route(readText("/proc/net/ipv6_route") ?? "")) {
      const mac = ipv6NeighbourMac(r.gateway, r.interface) ?? r.eui64Mac;
      out.push({ family: 6, interface: r.interface, gateway: r.gateway, mac });
    }
    return out;
  }
  if (process.platform === "darwin") {
    const out: DefaultGateway[] = [];
    const v4 = run(["route", "-n", "get", "default"]) ?? "";
    const gw = /gateway:\s*(\S+)/.exec(v4)?.[1];
    const iface = /interface:\s*(\S+)/.exec(v4)?.[1];
    if (gw && iface) {
      const arp = run(["arp", "-n", gw]) ?? "";
      const mac = /at ([0-9a-f:]+)/i.exec(arp)?.[1];
      out.push({ family: 4, interface: iface, gateway: gw, mac: mac ? normaliseMac(mac) : undefined });
    }
    const v6 = run(["route", "-n", "get", "-inet6", "default"]) ?? "";
    const gw6 = /gateway:\s*(\S+)/.exec(v6)?.[1];
    const iface6 = /interface:\s*(\S+)/.exec(v6)?.[1];
    if (gw6 && iface6) out.push({ family: 6, interface: iface6, gateway: gw6.split("%")[0]!, mac: undefined });
    return out;
  }
  return [];
}

/** macOS `arp` prints octets without leading zeros (`0:1c:42:...`); pad them. */
export function normaliseMac(mac: string): string {
  return mac
    .split(":")
    .map((p) => p.padStart(2, "0"))
    .join(":")
    .toLowerCase();
}
