/** Ethernet II (no 802.1Q tag: a tagged frame parses with etherType 0x8100). */
import { MAC_LEN } from "./address.ts";
import { PacketError } from "./errors.ts";

export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;
export const ETH_HEADER_LEN = 14;
/** Frames shorter than this (without FCS) are padded on the wire. */
export const ETH_MIN_FRAME = 60;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;

export interface EthernetHeader {
  dst: Uint8Array;
  src: Uint8Array;
  etherType: number;
}

export function parseEthernet(buf: Uint8Array, off = 0): EthernetHeader {
  if (buf.length - off < ETH_HEADER_LEN) {
    throw new PacketError("PKT_TRUNCATED", `Ethernet header needs ${ETH_HEADER_LEN} bytes, have ${Math.max(0, buf.length - off)}`);
  }
  return {
    dst: buf.slice(off + ETH_DST, off + ETH_DST + MAC_LEN),
    src: buf.slice(off + ETH_SRC, off + ETH_SRC + MAC_LEN),
    etherType: (buf[off + ETH_TYPE]! << 8) | buf[off + ETH_TYPE + 1]!,
  };
}

/** Writes the 14-byte header at `off`; returns its length. */
export function emitEthernet(h: EthernetHeader, buf: Uint8Array, off = 0): number {
  if (buf.length - off < ETH_HEADER_LEN) throw new PacketError("PKT_TOO_LARGE", "buffer too small for an Ethernet header");
  if (h.dst.length !== MAC_LEN || h.src.length !== MAC_LEN) throw new PacketError("PKT_BAD_ADDRESS", "MAC addresses have 6 bytes");
  buf.set(h.dst, off + ETH_DST);
  buf.set(h.src, off + ETH_SRC);
  buf[off + ETH_TYPE] = h.etherType >>> 8;
  buf[off + ETH_TYPE + 1] = h.etherType & 0xff;
  return ETH_HEADER_LEN;
}
