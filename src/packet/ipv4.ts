/** IPv4 header (RFC 791), options kept as raw bytes. */
import { IPV4_LEN } from "./address.ts";
import { internetChecksum } from "./checksum.ts";
import { PacketError } from "./errors.ts";

export const IPV4_VER_IHL = 0;
export const IPV4_TOS = 1;
export const IPV4_TOTAL_LEN = 2;
export const IPV4_ID = 4;
export const IPV4_FLAGS_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTOCOL = 9;
export const IPV4_CHECKSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
export const IPV4_MIN_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;

/** Flags field bits (the top 3 bits of the 16-bit flags/fragment-offset word). */
export const IPV4_FLAG_DF = 0x2;
export const IPV4_FLAG_MF = 0x1;

export const IP_PROTO_TCP = 6;
export const IP_PROTO_UDP = 17;

export interface Ipv4Header {
  tos: number;
  /** Header plus payload, as in the header. */
  totalLength: number;
  identification: number;
  /** 3 bits: reserved, DF, MF. */
  flags: number;
  /** In 8-byte units. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  /** Omit to have emit compute it. */
  checksum?: number;
  src: Uint8Array;
  dst: Uint8Array;
  /** Bytes between the fixed header and the payload (length a multiple of 4, at most 40). */
  options: Uint8Array;
}

export function ipv4HeaderLength(h: Ipv4Header): number {
  return IPV4_MIN_HEADER_LEN + h.options.length;
}

/**
 * Checked parse at `off`. Requires the whole header and the whole `totalLength` to be present
 * (Ethernet padding after it is allowed). With `verifyChecksum`, a bad header sum throws.
 */
export function parseIpv4(buf: Uint8Array, off = 0, verifyChecksum = false): Ipv4Header {
  const avail = buf.length - off;
  if (avail < IPV4_MIN_HEADER_LEN) throw new PacketError("PKT_TRUNCATED", `IPv4 header needs 20 bytes, have ${Math.max(0, avail)}`);
  const b0 = buf[off + IPV4_VER_IHL]!;
  if (b0 >> 4 !== 4) throw new PacketError("PKT_BAD_VERSION", `IP version ${b0 >> 4} where 4 was expected`);
  const headerLen = (b0 & 0x0f) * 4;
  if (headerLen < IPV4_MIN_HEADER_LEN) throw new PacketError("PKT_BAD_LENGTH", `IPv4 IHL ${b0 & 0x0f} is below 5`);
  if (headerLen > avail) throw new PacketError("PKT_TRUNCATED", `IPv4 header of ${headerLen} bytes, have ${avail}`);
  const totalLength = (buf[off + IPV4_TOTAL_LEN]! << 8) | buf[off + IPV4_TOTAL_LEN + 1]!;
  if (totalLength < headerLen) throw new PacketError("PKT_BAD_LENGTH", `IPv4 total length ${totalLength} below header length ${headerLen}`);
  if (totalLength > avail) throw new PacketError("PKT_TRUNCATED", `IPv4 total length ${totalLength}, have ${avail}`);
  if (verifyChecksum && internetChecksum(buf, off, headerLen) !== 0) throw new PacketError("PKT_BAD_CHECKSUM", "IPv4 header checksum does not verify");
  const ff = (buf[off + IPV4_FLAGS_FRAG]! << 8) | buf[off + IPV4_FLAGS_FRAG + 1]!;
  return {
    tos: buf[off + IPV4_TOS]!,
    totalLength,
    identification: (buf[off + IPV4_ID]! << 8) | buf[off + IPV4_ID + 1]!,
    flags: ff >>> 13,
    fragmentOffset: ff & 0x1fff,
    ttl: buf[off + IPV4_TTL]!,
    protocol: buf[off + IPV4_PROTOCOL]!,
    checksum: (buf[off + IPV4_CHECKSUM]! << 8) | buf[off + IPV4_CHECKSUM + 1]!,
    src: buf.slice(off + IPV4_SRC, off + IPV4_SRC + IPV4_LEN),
    dst: buf.slice(off + IPV4_DST, off + IPV4_DST + IPV4_LEN),
    options: buf.slice(off + IPV4_MIN_HEADER_LEN, off + headerLen),
  };
}

/** Writes the header at `off` (computing the checksum when `h.checksum` is undefined); returns its length. */
export function emitIpv4(h: Ipv4Header, buf: Uint8Array, off = 0): number {
  const len = ipv4HeaderLength(h);
  if (h.options.length % 4 !== 0 || len > IPV4_MAX_HEADER_LEN) throw new PacketError("PKT_BAD_LENGTH", `IPv4 options of ${h.options.length} bytes`);
  if (h.src.length !== IPV4_LEN || h.dst.length !== IPV4_LEN) throw new PacketError("PKT_BAD_ADDRESS", "IPv4 addresses have 4 bytes");
  if (buf.length - off < len) throw new PacketError("PKT_TOO_LARGE", "buffer too small for the IPv4 header");
  buf[off + IPV4_VER_IHL] = 0x40 | (len >> 2);
  buf[off + IPV4_TOS] = h.tos;
  buf[off + IPV4_TOTAL_LEN] = h.totalLength >>> 8;
  buf[off + IPV4_TOTAL_LEN + 1] = h.totalLength & 0xff;
  buf[off + IPV4_ID] = h.identification >>> 8;
  buf[off + IPV4_ID + 1] = h.identification & 0xff;
  const ff = ((h.flags & 0x7) << 13) | (h.fragmentOffset & 0x1fff);
  buf[off + IPV4_FLAGS_FRAG] = ff >>> 8;
  buf[off + IPV4_FLAGS_FRAG + 1] = ff & 0xff;
  buf[off + IPV4_TTL] = h.ttl;
  buf[off + IPV4_PROTOCOL] = h.protocol;
  buf.set(h.src, off + IPV4_SRC);
  buf.set(h.dst, off + IPV4_DST);
  buf.set(h.options, off + IPV4_MIN_HEADER_LEN);
  let cs = h.checksum;
  if (cs === undefined) {
    buf[off + IPV4_CHECKSUM] = 0;
    buf[off + IPV4_CHECKSUM + 1] = 0;
    cs = internetChecksum(buf, off, len);
  }
  buf[off + IPV4_CHECKSUM] = cs >>> 8;
  buf[off + IPV4_CHECKSUM + 1] = cs & 0xff;
  return len;
}
