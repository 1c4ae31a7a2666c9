/** IPv6 fixed header (RFC 8200). Extension headers are not walked: `nextHeader` is reported as is. */
import { IPV6_LEN } from "./address.ts";
import { PacketError } from "./errors.ts";

export const IPV6_VER_TC_FLOW = 0;
export const IPV6_PAYLOAD_LEN = 4;
export const IPV6_NEXT_HEADER = 6;
export const IPV6_HOP_LIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;
export const IPV6_HEADER_LEN = 40;

export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: Uint8Array;
  dst: Uint8Array;
}

/** Checked parse at `off`; the whole `payloadLength` must be present. */
export function parseIpv6(buf: Uint8Array, off = 0): Ipv6Header {
  const avail = buf.length - off;
  if (avail < IPV6_HEADER_LEN) throw new PacketError("PKT_TRUNCATED", `IPv6 header needs 40 bytes, have ${Math.max(0, avail)}`);
  const w0 = ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
  if (w0 >>> 28 !== 6) throw new PacketError("PKT_BAD_VERSION", `IP version ${w0 >>> 28} where 6 was expected`);
  const payloadLength = (buf[off + IPV6_PAYLOAD_LEN]! << 8) | buf[off + IPV6_PAYLOAD_LEN + 1]!;
  if (IPV6_HEADER_LEN + payloadLength > avail) {
    throw new PacketError("PKT_TRUNCATED", `IPv6 payload length ${payloadLength}, have ${avail - IPV6_HEADER_LEN}`);
  }
  return {
    trafficClass: (w0 >>> 20) & 0xff,
    flowLabel: w0 & 0xfffff,
    payloadLength,
    nextHeader: buf[off + IPV6_NEXT_HEADER]!,
    hopLimit: buf[off + IPV6_HOP_LIMIT]!,
    src: buf.slice(off + IPV6_SRC, off + IPV6_SRC + IPV6_LEN),
    dst: buf.slice(off + IPV6_DST, off + IPV6_DST + IPV6_LEN),
  };
}

export function emitIpv6(h: Ipv6Header, buf: Uint8Array, off = 0): number {
  if (h.src.length !== IPV6_LEN || h.dst.length !== IPV6_LEN) throw new PacketError("PKT_BAD_ADDRESS", "IPv6 addresses have 16 bytes");
  if (buf.length - off < IPV6_HEADER_LEN) throw new PacketError("PKT_TOO_LARGE", "buffer too small for the IPv6 header");
  const w0 = ((6 << 28) | ((h.trafficClass & 0xff) << 20) | (h.flowLabel & 0xfffff)) >>> 0;
  buf[off] = w0 >>> 24;
  buf[off + 1] = (w0 >>> 16) & 0xff;
  buf[off + 2] = (w0 >>> 8) & 0xff;
  buf[off + 3] = w0 & 0xff;
  buf[off + IPV6_PAYLOAD_LEN] = h.payloadLength >>> 8;
  buf[off + IPV6_PAYLOAD_LEN + 1] = h.payloadLength & 0xff;
  buf[off + IPV6_NEXT_HEADER] = h.nextHeader;
  buf[off + IPV6_HOP_LIMIT] = h.hopLimit;
  buf.set(h.src, off + IPV6_SRC);
  buf.set(h.dst, off + IPV6_DST);
  return IPV6_HEADER_LEN;
}
