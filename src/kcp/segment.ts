/**
 * The 24-byte KCP segment header (kcp-smux-wire.md §5), little-endian, followed by `len` data bytes.
 * A datagram's KCP part is a plain concatenation of segments.
 */
import { KcpError } from "./errors.ts";

export const SEG_CONV = 0;
export const SEG_CMD = 4;
export const SEG_FRG = 5;
export const SEG_WND = 6;
export const SEG_TS = 8;
export const SEG_SN = 12;
export const SEG_UNA = 16;
export const SEG_LEN = 20;
export const KCP_OVERHEAD = 24;

export const Cmd = {
  /** Data. */
  Push: 81,
  Ack: 82,
  /** Window probe: "tell me your window". */
  Wask: 83,
  /** Window size announcement. */
  Wins: 84,
} as const;
export type Cmd = (typeof Cmd)[keyof typeof Cmd];

export function isCmd(cmd: number): cmd is Cmd {
  return cmd >= Cmd.Push && cmd <= Cmd.Wins;
}

export interface SegmentHeader {
  conv: number;
  cmd: number;
  frg: number;
  wnd: number;
  ts: number;
  sn: number;
  una: number;
  len: number;
}

export interface DecodedSegment extends SegmentHeader {
  /** A view into the datagram; copy it to keep it. */
  data: Uint8Array;
}

export function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

export function readU16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

/** Writes a header at `offset` (the caller guarantees 24 bytes of room); returns the offset after it. */
export function encodeHeader(b: Uint8Array, offset: number, h: SegmentHeader): number {
  writeU32(b, offset + SEG_CONV, h.conv);
  b[offset + SEG_CMD] = h.cmd;
  b[offset + SEG_FRG] = h.frg;
  writeU16(b, offset + SEG_WND, h.wnd);
  writeU32(b, offset + SEG_TS, h.ts);
  writeU32(b, offset + SEG_SN, h.sn);
  writeU32(b, offset + SEG_UNA, h.una);
  writeU32(b, offset + SEG_LEN, h.len);
  return offset + KCP_OVERHEAD;
}

/** Reads the header at `offset` without checking the command or the data length. */
export function decodeHeader(b: Uint8Array, offset: number): SegmentHeader {
  if (offset < 0 || b.byteLength - offset < KCP_OVERHEAD) {
    throw new KcpError("KCP_TRUNCATED", `segment header needs ${KCP_OVERHEAD} bytes, ${b.byteLength - offset} left`);
  }
  return {
    conv: readU32(b, offset + SEG_CONV),
    cmd: b[offset + SEG_CMD]!,
    frg: b[offset + SEG_FRG]!,
    wnd: readU16(b, offset + SEG_WND),
    ts: readU32(b, offset + SEG_TS),
    sn: readU32(b, offset + SEG_SN),
    una: readU32(b, offset + SEG_UNA),
    len: readU32(b, offset + SEG_LEN),
  };
}

/** Checked decode of one segment at `offset`: a valid command and all `len` data bytes present. */
export function decodeSegment(b: Uint8Array, offset = 0): DecodedSegment {
  const h = decodeHeader(b, offset);
  if (!isCmd(h.cmd)) throw new KcpError("KCP_BAD_CMD", `segment command ${h.cmd} is not 81..84`);
  const start = offset + KCP_OVERHEAD;
  if (h.len > b.byteLength - start) {
    throw new KcpError("KCP_TRUNCATED", `segment promises ${h.len} data bytes, ${b.byteLength - start} left`);
  }
  return { ...h, data: b.subarray(start, start + h.len) };
}

/** Decodes every segment of a datagram; throws KcpError on any malformed one or trailing bytes. */
export function decodeSegments(b: Uint8Array): DecodedSegment[] {
  const out: DecodedSegment[] = [];
  let offset = 0;
  while (offset < b.byteLength) {
    const seg = decodeSegment(b, offset);
    out.push(seg);
    offset += KCP_OVERHEAD + seg.len;
  }
  return out;
}

/** The bytes of one segment: header then data. */
export function encodeSegment(seg: SegmentHeader & { data: Uint8Array }): Uint8Array {
  const out = new Uint8Array(KCP_OVERHEAD + seg.data.byteLength);
  encodeHeader(out, 0, { ...seg, len: seg.data.byteLength });
  out.set(seg.data, KCP_OVERHEAD);
  return out;
}
