/**
 * IP and MAC address text.
 *
 * `formatIp` prints IPv4 dotted-quad and IPv6 in the canonical form of RFC 5952 (lowercase, no
 * leading zeros, the longest run of two or more zero groups shortened to `::`, the first such run on
 * a tie, and IPv4-mapped addresses as `::ffff:a.b.c.d`). PacketAddr.ip strings are made by it, so
 * equal addresses always give equal map keys. `parseIp` accepts any RFC 4291 text form.
 */
import { ipv6GroupsText } from "../lib/ipv6-text.ts";
import { PacketError } from "./errors.ts";

export const IPV4_LEN = 4;
export const IPV6_LEN = 16;
export const MAC_LEN = 6;

export function formatIpv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** True for ::ffff:0:0/96. */
export function isIpv4Mapped(b: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

export function formatIpv6(b: Uint8Array, off = 0): string {
  if (isIpv4Mapped(b, off)) return `::ffff:${formatIpv4(b, off + 12)}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  return ipv6GroupsText(groups);
}

/** Formats 4 or 16 address bytes. */
export function formatIp(b: Uint8Array): string {
  if (b.length === IPV4_LEN) return formatIpv4(b);
  if (b.length === IPV6_LEN) return formatIpv6(b);
  throw new PacketError("PKT_BAD_ADDRESS", `an IP address has 4 or 16 bytes, not ${b.length}`);
}

function parseIpv4Into(s: string, out: Uint8Array, off: number): boolean {
  const parts = s.split(".");
  if (parts.length !== 4) return false;
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // Leading zeros are rejected as Go's net.ParseIP does: "010" would be octal elsewhere.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return false;
    const v = Number(p);
    if (v > 255) return false;
    out[off + i] = v;
  }
  return true;
}

function parseIpv6(s: string): Uint8Array | undefined {
  const out = new Uint8Array(IPV6_LEN);
  let text = s;
  let tail = 0; // bytes taken by an embedded IPv4 suffix
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.indexOf(".", lastColon) > 0) {
    if (!parseIpv4Into(text.slice(lastColon + 1), out, 12)) return undefined;
    // Keep "::" intact ("::1.2.3.4" → "::"); drop a lone separator ("1:2:3:4:5:6:1.2.3.4").
    text = text.endsWith("::", lastColon + 1) ? text.slice(0, lastColon + 1) : text.slice(0, lastColon);
    tail = 4;
  }
  const dbl = text.indexOf("::");
  if (dbl !== text.lastIndexOf("::")) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const gs = part.split(":");
    const vals: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      vals.push(Number.parseInt(g, 16));
    }
    return vals;
  };
  let head: number[] | undefined;
  let rest: number[] | undefined;
  if (dbl >= 0) {
    head = parseGroups(text.slice(0, dbl));
    rest = parseGroups(text.slice(dbl + 2));
  } else {
    head = parseGroups(text);
    rest = [];
  }
  if (!head || !rest) return undefined;
  const groupsWanted = 8 - tail / 2;
  const have = head.length + rest.length;
  if (dbl >= 0 ? have > groupsWanted - 1 : have !== groupsWanted) return undefined;
  for (let i = 0; i < head.length; i++) {
    out[2 * i] = head[i]! >> 8;
    out[2 * i + 1] = head[i]! & 0xff;
  }
  const restStart = groupsWanted - rest.length;
  for (let i = 0; i < rest.length; i++) {
    out[2 * (restStart + i)] = rest[i]! >> 8;
    out[2 * (restStart + i) + 1] = rest[i]! & 0xff;
  }
  return out;
}

/** Parses IP text to 4 bytes (dotted IPv4) or 16 bytes (IPv6), or undefined when it is not one. */
export function tryParseIp(s: string): Uint8Array | undefined {
  if (s.includes(":")) return parseIpv6(s);
  const out = new Uint8Array(IPV4_LEN);
  return parseIpv4Into(s, out, 0) ? out : undefined;
}

export function parseIp(s: string): Uint8Array {
  const b = tryParseIp(s);
  if (!b) throw new PacketError("PKT_BAD_ADDRESS", `not an IP address: ${JSON.stringify(s)}`);
  return b;
}

/** Canonical text of any accepted IP text ("::FFFF:1.2.3.4" → "::ffff:1.2.3.4"). */
export function canonicalIp(s: string): string {
  return formatIp(parseIp(s));
}

export function formatMac(b: Uint8Array, off = 0): string {
  let s = "";
  for (let i = 0; i < MAC_LEN; i++) {
    const v = b[off + i];
    if (v === undefined) throw new PacketError("PKT_TRUNCATED", "a MAC address has 6 bytes");
    s += (i ? ":" : "") + v.toString(16).padStart(2, "0");
  }
  return s;
}

/** Parses `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (either case), as Go's net.ParseMAC does for 6 bytes. */
export function parseMac(s: string): Uint8Array {
  const m = /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/.exec(s);
  if (!m) throw new PacketError("PKT_BAD_ADDRESS", `not a 6-byte MAC address: ${JSON.stringify(s)}`);
  const out = new Uint8Array(MAC_LEN);
  const idx = [1, 3, 4, 5, 6, 7];
  for (let i = 0; i < MAC_LEN; i++) out[i] = Number.parseInt(m[idx[i]!]!, 16);
  return out;
}
