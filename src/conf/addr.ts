/**
 * Address and MAC parsing with Go's error texts (net.SplitHostPort, net.ResolveUDPAddr,
 * net.ParseMAC), so `check` reports the same words Go paqet prints.
 */
import { isIPv4, isIPv6 } from "node:net";

export type SplitResult = { ok: true; host: string; port: string } | { ok: false; error: string };

/** net.SplitHostPort: `host:port`, `[v6]:port`, `:port`. */
export function splitHostPort(hostport: string): SplitResult {
  const fail = (why: string): SplitResult => ({ ok: false, error: `address ${hostport}: ${why}` });
  const i = hostport.lastIndexOf(":");
  if (i < 0) return fail("missing port in address");
  let host: string;
  let j = 0;
  let k = 0;
  if (hostport[0] === "[") {
    const end = hostport.indexOf("]", 1);
    if (end < 0) return fail("missing ']' in address");
    if (end + 1 === hostport.length) return fail("missing port in address");
    if (end + 1 !== i) return fail(hostport[end + 1] === ":" ? "too many colons in address" : "missing port in address");
    host = hostport.slice(1, end);
    j = 1;
    k = end + 1;
  } else {
    host = hostport.slice(0, i);
    if (host.includes(":")) return fail("too many colons in address");
  }
  if (hostport.indexOf("[", j) >= 0) return fail("unexpected '[' in address");
  if (hostport.indexOf("]", k) >= 0) return fail("unexpected ']' in address");
  return { ok: true, host, port: hostport.slice(i + 1) };
}

export type HostPortResult =
  | { ok: true; host: string; port: number; family: 0 | 4 | 6 }
  | { ok: false; error: string };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/**
 * What net.ResolveUDPAddr would accept, without DNS: an IP literal, a hostname or nothing for
 * the host, and a decimal port 0-65535. Named ports ("http") are refused: paqet configs use numbers.
 */
export function parseHostPort(text: string): HostPortResult {
  const split = splitHostPort(text);
  if (!split.ok) return split;
  const { host, port } = split;
  if (!/^[0-9]+$/.test(port)) {
    return { ok: false, error: port === "" ? `address ${text}: missing port in address` : `address ${text}: unknown port` };
  }
  const n = Number(port);
  if (n > 65535) return { ok: false, error: `address ${text}: invalid port` };
  const family = ipFamily(host);
  if (host !== "" && family === 0 && !HOSTNAME.test(host)) {
    return { ok: false, error: `lookup ${host}: no such host` };
  }
  return { ok: true, host, port: n, family };
}

/** 4 or 6 for an IP literal (an IPv6 zone is allowed), else 0. IPv4-mapped IPv6 counts as 4, as Go's To4 does. */
export function ipFamily(host: string): 0 | 4 | 6 {
  if (isIPv4(host)) return 4;
  const bare = host.split("%")[0] ?? host;
  if (isIPv6(bare)) return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(bare) ? 4 : 6;
  return 0;
}

export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  if (isIPv4(host)) return host.startsWith("127.");
  if (isIPv6(host)) return host === "::1" || /^0{0,4}(:0{0,4}){6}:0{0,3}1$/.test(host) || /^::ffff:127\./i.test(host);
  return false;
}

export type MacResult = { ok: true; bytes: number[] } | { ok: false; error: string };

/** net.ParseMAC: `aa:bb:..`, `aa-bb-..` or `aabb.ccdd.eeff`, for 6-, 8- or 20-byte addresses. */
export function parseMac(text: string): MacResult {
  const fail: MacResult = { ok: false, error: `address ${text}: invalid MAC address` };
  let groups: string[];
  let width: number;
  if (text.length >= 14 && text[4] === ".") {
    groups = text.split(".");
    width = 4;
  } else if (text.length >= 14 && (text[2] === ":" || text[2] === "-")) {
    groups = text.split(text[2]);
    width = 2;
  } else {
    return fail;
  }
  const bytes: number[] = [];
  for (const g of groups) {
    if (g.length !== width || !/^[0-9A-Fa-f]+$/.test(g)) return fail;
    for (let i = 0; i < width; i += 2) bytes.push(Number.parseInt(g.slice(i, i + 2), 16));
  }
  if (bytes.length !== 6 && bytes.length !== 8 && bytes.length !== 20) return fail;
  return { ok: true, bytes };
}

export function formatMac(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
