/** TCP header (RFC 9293) with options, and TCP flag strings as paqet's YAML spells them. */
import { finishChecksum, pseudoSumIpv4, pseudoSumIpv6, sumWords } from "./checksum.ts";
import { PacketError } from "./errors.ts";
import { IP_PROTO_TCP } from "./ipv4.ts";

export const TCP_SRC_PORT = 0;
export const TCP_DST_PORT = 2;
export const TCP_SEQ = 4;
export const TCP_ACK = 8;
/** Data offset in the high nibble; NS in the low bit. */
export const TCP_OFFSET_NS = 12;
export const TCP_FLAGS = 13;
export const TCP_WINDOW = 14;
export const TCP_CHECKSUM = 16;
export const TCP_URGENT = 18;
export const TCP_MIN_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;

/** Flag bits as a 9-bit value: byte 13, plus NS as bit 8 (the low bit of byte 12). */
export const TCP_FIN = 0x001;
export const TCP_SYN = 0x002;
export const TCP_RST = 0x004;
export const TCP_PSH = 0x008;
export const TCP_ACK_FLAG = 0x010;
export const TCP_URG = 0x020;
export const TCP_ECE = 0x040;
export const TCP_CWR = 0x080;
export const TCP_NS = 0x100;

export const TCP_OPT_EOL = 0;
export const TCP_OPT_NOP = 1;
export const TCP_OPT_MSS = 2;
export const TCP_OPT_WSCALE = 3;
export const TCP_OPT_SACK_PERMITTED = 4;
export const TCP_OPT_SACK = 5;
export const TCP_OPT_TIMESTAMPS = 8;

export type TcpOption =
  | { type: "eol" }
  | { type: "nop" }
  | { type: "mss"; mss: number }
  | { type: "wscale"; shift: number }
  | { type: "sackPermitted" }
  | { type: "sack"; blocks: [number, number][] }
  | { type: "timestamps"; tsval: number; tsecr: number }
  /** Any other kind, kept with its data (the bytes after kind and length). */
  | { type: "unknown"; kind: number; data: Uint8Array };

export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** 9-bit flag set (TCP_FIN ... TCP_NS). */
  flags: number;
  window: number;
  /** Omit to leave 0 in the field (fill it with `fillTcpChecksum*` once the payload is in place). */
  checksum?: number;
  urgent: number;
  options: TcpOption[];
}

// ---------------------------------------------------------------------------------------------------
// Flag strings: F S R P A U E C N, any order and repetition, "" = none (paqet-app.md §3.5).

const FLAG_LETTERS: Record<string, number> = {
  F: TCP_FIN,
  S: TCP_SYN,
  R: TCP_RST,
  P: TCP_PSH,
  A: TCP_ACK_FLAG,
  U: TCP_URG,
  E: TCP_ECE,
  C: TCP_CWR,
  N: TCP_NS,
};
/** Print order: the order in the spec's table. */
const FLAG_ORDER = ["F", "S", "R", "P", "A", "U", "E", "C", "N"] as const;

export function parseFlagString(s: string): number {
  let flags = 0;
  for (const ch of s) {
    const bit = FLAG_LETTERS[ch];
    if (bit === undefined) throw new PacketError("PKT_BAD_FLAGS", `invalid TCP flag ${JSON.stringify(ch)} in ${JSON.stringify(s)}; use F S R P A U E C N`);
    flags |= bit;
  }
  return flags;
}

/** Letters for a flag set, e.g. 0x18 → "PA". */
export function formatFlags(flags: number): string {
  let s = "";
  for (const l of FLAG_ORDER) if (flags & FLAG_LETTERS[l]!) s += l;
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Options

function optionLength(o: TcpOption): number {
  switch (o.type) {
    case "eol":
    case "nop":
      return 1;
    case "mss":
      return 4;
    case "wscale":
      return 3;
    case "sackPermitted":
      return 2;
    case "sack":
      return 2 + 8 * o.blocks.length;
    case "timestamps":
      return 10;
    case "unknown":
      return 2 + o.data.length;
  }
}

export function tcpOptionsLength(options: readonly TcpOption[]): number {
  let n = 0;
  for (const o of options) n += optionLength(o);
  return n;
}

/** Header length for a header with these options: 20 + options, padded to a multiple of 4. */
export function tcpHeaderLength(h: { options: readonly TcpOption[] }): number {
  return TCP_MIN_HEADER_LEN + ((tcpOptionsLength(h.options) + 3) & ~3);
}

function u32(buf: Uint8Array, i: number): number {
  return ((buf[i]! << 24) | (buf[i + 1]! << 16) | (buf[i + 2]! << 8) | buf[i + 3]!) >>> 0;
}

function putU32(buf: Uint8Array, i: number, v: number): void {
  buf[i] = v >>> 24;
  buf[i + 1] = (v >>> 16) & 0xff;
  buf[i + 2] = (v >>> 8) & 0xff;
  buf[i + 3] = v & 0xff;
}

/** Parses the option bytes in [off, end). Stops after EOL (the rest is padding). */
export function parseTcpOptions(buf: Uint8Array, off: number, end: number): TcpOption[] {
  const out: TcpOption[] = [];
  let i = off;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TCP_OPT_EOL) {
      out.push({ type: "eol" });
      break;
    }
    if (kind === TCP_OPT_NOP) {
      out.push({ type: "nop" });
      i++;
      continue;
    }
    if (i + 1 >= end) throw new PacketError("PKT_BAD_OPTION", `TCP option kind ${kind} has no length byte`);
    const len = buf[i + 1]!;
    if (len < 2) throw new PacketError("PKT_BAD_OPTION", `TCP option kind ${kind} has length ${len}`);
    if (i + len > end) throw new PacketError("PKT_BAD_OPTION", `TCP option kind ${kind} of ${len} bytes overruns the header`);
    const bad = () => new PacketError("PKT_BAD_OPTION", `TCP option kind ${kind} with length ${len}`);
    switch (kind) {
      case TCP_OPT_MSS:
        if (len !== 4) throw bad();
        out.push({ type: "mss", mss: (buf[i + 2]! << 8) | buf[i + 3]! });
        break;
      case TCP_OPT_WSCALE:
        if (len !== 3) throw bad();
        out.push({ type: "wscale", shift: buf[i + 2]! });
        break;
      case TCP_OPT_SACK_PERMITTED:
        if (len !== 2) throw bad();
        out.push({ type: "sackPermitted" });
        break;
      case TCP_OPT_SACK: {
        if ((len - 2) % 8 !== 0) throw bad();
        const blocks: [number, number][] = [];
        for (let j = i + 2; j < i + len; j += 8) blocks.push([u32(buf, j), u32(buf, j + 4)]);
        out.push({ type: "sack", blocks });
        break;
      }
      case TCP_OPT_TIMESTAMPS:
        if (len !== 10) throw bad();
        out.push({ type: "timestamps", tsval: u32(buf, i + 2), tsecr: u32(buf, i + 6) });
        break;
      default:
        out.push({ type: "unknown", kind, data: buf.slice(i + 2, i + len) });
    }
    i += len;
  }
  return out;
}

/** Writes options at `off`; returns the bytes written (unpadded). */
export function emitTcpOptions(options: readonly TcpOption[], buf: Uint8Array, off: number): number {
  let i = off;
  for (const o of options) {
    switch (o.type) {
      case "eol":
        buf[i++] = TCP_OPT_EOL;
        break;
      case "nop":
        buf[i++] = TCP_OPT_NOP;
        break;
      case "mss":
        buf[i] = TCP_OPT_MSS;
        buf[i + 1] = 4;
        buf[i + 2] = o.mss >>> 8;
        buf[i + 3] = o.mss & 0xff;
        i += 4;
        break;
      case "wscale":
        buf[i] = TCP_OPT_WSCALE;
        buf[i + 1] = 3;
        buf[i + 2] = o.shift;
        i += 3;
        break;
      case "sackPermitted":
        buf[i] = TCP_OPT_SACK_PERMITTED;
        buf[i + 1] = 2;
        i += 2;
        break;
      case "sack":
        buf[i] = TCP_OPT_SACK;
        buf[i + 1] = 2 + 8 * o.blocks.length;
        i += 2;
        for (const [l, r] of o.blocks) {
          putU32(buf, i, l);
          putU32(buf, i + 4, r);
          i += 8;
        }
        break;
      case "timestamps":
        buf[i] = TCP_OPT_TIMESTAMPS;
        buf[i + 1] = 10;
        putU32(buf, i + 2, o.tsval);
        putU32(buf, i + 6, o.tsecr);
        i += 10;
        break;
      case "unknown":
        if (o.data.length > 253) throw new PacketError("PKT_TOO_LARGE", `TCP option kind ${o.kind} with ${o.data.length} data bytes`);
        buf[i] = o.kind;
        buf[i + 1] = 2 + o.data.length;
        buf.set(o.data, i + 2);
        i += 2 + o.data.length;
        break;
    }
  }
  return i - off;
}

// ---------------------------------------------------------------------------------------------------
// Header

/** Header length from the data-offset nibble, or throws. `avail` is the bytes present from the header start. */
export function checkTcpHeaderLength(buf: Uint8Array, off: number, avail: number): number {
  if (avail < TCP_MIN_HEADER_LEN) throw new PacketError("PKT_TRUNCATED", `TCP header needs 20 bytes, have ${Math.max(0, avail)}`);
  const headerLen = (buf[off + TCP_OFFSET_NS]! >> 4) * 4;
  if (headerLen < TCP_MIN_HEADER_LEN) throw new PacketError("PKT_BAD_LENGTH", `TCP data offset ${headerLen >> 2} is below 5`);
  if (headerLen > avail) throw new PacketError("PKT_TRUNCATED", `TCP header of ${headerLen} bytes, have ${avail}`);
  return headerLen;
}

/**
 * Checked parse of the TCP segment in [off, off + len) (len defaults to the rest of the buffer).
 * The payload is [off + tcpHeaderLength(h), off + len).
 */
export function parseTcp(buf: Uint8Array, off = 0, len = buf.length - off): TcpHeader {
  if (off < 0 || len < 0 || off + len > buf.length) throw new PacketError("PKT_TRUNCATED", "TCP segment range outside the buffer");
  const headerLen = checkTcpHeaderLength(buf, off, len);
  return {
    srcPort: (buf[off + TCP_SRC_PORT]! << 8) | buf[off + TCP_SRC_PORT + 1]!,
    dstPort: (buf[off + TCP_DST_PORT]! << 8) | buf[off + TCP_DST_PORT + 1]!,
    seq: u32(buf, off + TCP_SEQ),
    ack: u32(buf, off + TCP_ACK),
    flags: ((buf[off + TCP_OFFSET_NS]! & 1) << 8) | buf[off + TCP_FLAGS]!,
    window: (buf[off + TCP_WINDOW]! << 8) | buf[off + TCP_WINDOW + 1]!,
    checksum: (buf[off + TCP_CHECKSUM]! << 8) | buf[off + TCP_CHECKSUM + 1]!,
    urgent: (buf[off + TCP_URGENT]! << 8) | buf[off + TCP_URGENT + 1]!,
    options: parseTcpOptions(buf, off + TCP_MIN_HEADER_LEN, off + headerLen),
  };
}

/**
 * Writes the header with its options at `off`, padding the options with zeros to a multiple of 4;
 * returns the header length. The payload and checksum are the caller's (see fillTcpChecksum).
 */
export function emitTcp(h: TcpHeader, buf: Uint8Array, off = 0): number {
  const len = tcpHeaderLength(h);
  if (len > TCP_MAX_HEADER_LEN) throw new PacketError("PKT_BAD_LENGTH", `TCP options need ${len - TCP_MIN_HEADER_LEN} bytes, at most 40 fit`);
  if (buf.length - off < len) throw new PacketError("PKT_TOO_LARGE", "buffer too small for the TCP header");
  buf[off + TCP_SRC_PORT] = h.srcPort >>> 8;
  buf[off + TCP_SRC_PORT + 1] = h.srcPort & 0xff;
  buf[off + TCP_DST_PORT] = h.dstPort >>> 8;
  buf[off + TCP_DST_PORT + 1] = h.dstPort & 0xff;
  putU32(buf, off + TCP_SEQ, h.seq);
  putU32(buf, off + TCP_ACK, h.ack);
  buf[off + TCP_OFFSET_NS] = ((len >> 2) << 4) | ((h.flags >> 8) & 1);
  buf[off + TCP_FLAGS] = h.flags & 0xff;
  buf[off + TCP_WINDOW] = h.window >>> 8;
  buf[off + TCP_WINDOW + 1] = h.window & 0xff;
  const cs = h.checksum ?? 0;
  buf[off + TCP_CHECKSUM] = cs >>> 8;
  buf[off + TCP_CHECKSUM + 1] = cs & 0xff;
  buf[off + TCP_URGENT] = h.urgent >>> 8;
  buf[off + TCP_URGENT + 1] = h.urgent & 0xff;
  const optEnd = off + TCP_MIN_HEADER_LEN + emitTcpOptions(h.options, buf, off + TCP_MIN_HEADER_LEN);
  buf.fill(0, optEnd, off + len);
  return len;
}

/**
 * TCP checksum of the segment [off, off+len) over IPv4; the stored field is treated as 0. Adding
 * 4 x 0xffff (zero in ones' complement) keeps the sum positive after removing the stored value.
 */
export function tcpChecksumIpv4(src: Uint8Array, dst: Uint8Array, buf: Uint8Array, off: number, len: number): number {
  const stored = (buf[off + TCP_CHECKSUM]! << 8) | buf[off + TCP_CHECKSUM + 1]!;
  return finishChecksum(pseudoSumIpv4(src, dst, IP_PROTO_TCP, len) + sumWords(buf, off, len) - stored + 0xffff * 4);
}

export function tcpChecksumIpv6(src: Uint8Array, dst: Uint8Array, buf: Uint8Array, off: number, len: number): number {
  const stored = (buf[off + TCP_CHECKSUM]! << 8) | buf[off + TCP_CHECKSUM + 1]!;
  return finishChecksum(pseudoSumIpv6(src, dst, IP_PROTO_TCP, len) + sumWords(buf, off, len) - stored + 0xffff * 4);
}

/** Computes and stores the TCP checksum of the segment [off, off+len). */
export function fillTcpChecksum(buf: Uint8Array, off: number, len: number, src: Uint8Array, dst: Uint8Array): void {
  const cs = src.length === 4 ? tcpChecksumIpv4(src, dst, buf, off, len) : tcpChecksumIpv6(src, dst, buf, off, len);
  buf[off + TCP_CHECKSUM] = cs >>> 8;
  buf[off + TCP_CHECKSUM + 1] = cs & 0xff;
}

/** True when the stored TCP checksum matches the segment. */
export function verifyTcpChecksum(buf: Uint8Array, off: number, len: number, src: Uint8Array, dst: Uint8Array): boolean {
  const pseudo = src.length === 4 ? pseudoSumIpv4(src, dst, IP_PROTO_TCP, len) : pseudoSumIpv6(src, dst, IP_PROTO_TCP, len);
  return finishChecksum(pseudo + sumWords(buf, off, len)) === 0;
}
