/**
 * The classic pcap file format (https://www.tcpdump.org/manpages/pcap-savefile.5.html): a 24-byte
 * global header, then records of a 16-byte header and `caplen` bytes. Both byte orders and both
 * timestamp resolutions (magic a1b2c3d4: microseconds, a1b23c4d: nanoseconds) are read; writing
 * uses the host-independent little-endian layout that tcpdump writes on x86.
 */
import { PacketError } from "./errors.ts";

export const PCAP_MAGIC_USEC = 0xa1b2c3d4;
export const PCAP_MAGIC_NSEC = 0xa1b23c4d;
export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
export const LINKTYPE_ETHERNET = 1;

const GH_MAGIC = 0;
const GH_VERSION_MAJOR = 4;
const GH_VERSION_MINOR = 6;
const GH_SNAPLEN = 16;
const GH_LINKTYPE = 20;
const RH_TS_SEC = 0;
const RH_TS_FRAC = 4;
const RH_CAPLEN = 8;
const RH_ORIGLEN = 12;

export interface PcapFileHeader {
  littleEndian: boolean;
  nanoseconds: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linkType: number;
}

export interface PcapRecord {
  /** Seconds since the epoch. */
  tsSec: number;
  /** Fraction of the second in nanoseconds (microsecond files are scaled by 1000). */
  tsNsec: number;
  /** The bytes captured (a view into the file buffer). */
  data: Uint8Array;
  /** The length of the packet on the wire (≥ data.length when the capture was cut by the snaplen). */
  origLen: number;
}

function readU32(b: Uint8Array, off: number, le: boolean): number {
  return le
    ? (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0
    : ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function readU16(b: Uint8Array, off: number, le: boolean): number {
  return le ? b[off]! | (b[off + 1]! << 8) : (b[off]! << 8) | b[off + 1]!;
}

function writeU32le(b: Uint8Array, off: number, v: number): void {
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = v >>> 24;
}

export function parsePcapHeader(b: Uint8Array): PcapFileHeader {
  if (b.length < PCAP_GLOBAL_HEADER_LEN) throw new PacketError("PKT_TRUNCATED", `pcap header needs 24 bytes, have ${b.length}`);
  let le: boolean | undefined;
  let nanoseconds = false;
  for (const candidate of [true, false]) {
    const m = readU32(b, GH_MAGIC, candidate);
    if (m === PCAP_MAGIC_USEC || m === PCAP_MAGIC_NSEC) {
      le = candidate;
      nanoseconds = m === PCAP_MAGIC_NSEC;
      break;
    }
  }
  if (le === undefined) throw new PacketError("PKT_BAD_VERSION", "not a classic pcap file (pcapng is not read)");
  return {
    littleEndian: le,
    nanoseconds,
    versionMajor: readU16(b, GH_VERSION_MAJOR, le),
    versionMinor: readU16(b, GH_VERSION_MINOR, le),
    snaplen: readU32(b, GH_SNAPLEN, le),
    // The upper bits hold the FCS length flags (pcap-savefile(5)); the link type is the low 28.
    linkType: readU32(b, GH_LINKTYPE, le) & 0x0fffffff,
  };
}

/** Iterates the records of a whole file in memory. A cut-off last record throws PKT_TRUNCATED. */
export function* pcapRecords(b: Uint8Array, header = parsePcapHeader(b)): Generator<PcapRecord> {
  const le = header.littleEndian;
  let off = PCAP_GLOBAL_HEADER_LEN;
  while (off < b.length) {
    if (b.length - off < PCAP_RECORD_HEADER_LEN) throw new PacketError("PKT_TRUNCATED", `pcap record header cut at byte ${off}`);
    const caplen = readU32(b, off + RH_CAPLEN, le);
    const frac = readU32(b, off + RH_TS_FRAC, le);
    const start = off + PCAP_RECORD_HEADER_LEN;
    if (caplen > b.length - start) throw new PacketError("PKT_TRUNCATED", `pcap record at byte ${off} claims ${caplen} bytes, ${b.length - start} left`);
    yield {
      tsSec: readU32(b, off + RH_TS_SEC, le),
      tsNsec: header.nanoseconds ? frac : frac * 1000,
      data: b.subarray(start, start + caplen),
      origLen: readU32(b, off + RH_ORIGLEN, le),
    };
    off = start + caplen;
  }
}

export interface PcapFile {
  header: PcapFileHeader;
  records: PcapRecord[];
}

export function readPcapFile(b: Uint8Array): PcapFile {
  const header = parsePcapHeader(b);
  return { header, records: [...pcapRecords(b, header)] };
}

export interface PcapWriteOptions {
  nanoseconds?: boolean;
  snaplen?: number;
  linkType?: number;
}

/** The 24-byte global header (little-endian, version 2.4). */
export function encodePcapHeader(opts: PcapWriteOptions = {}): Uint8Array {
  const b = new Uint8Array(PCAP_GLOBAL_HEADER_LEN);
  writeU32le(b, GH_MAGIC, opts.nanoseconds ? PCAP_MAGIC_NSEC : PCAP_MAGIC_USEC);
  b[GH_VERSION_MAJOR] = 2;
  b[GH_VERSION_MINOR] = 4;
  writeU32le(b, GH_SNAPLEN, opts.snaplen ?? 262144);
  writeU32le(b, GH_LINKTYPE, opts.linkType ?? LINKTYPE_ETHERNET);
  return b;
}

/** One record (16-byte header + data); `tsNsec` is written as µs unless the file is nanosecond. */
export function encodePcapRecord(rec: PcapRecord, nanoseconds = false): Uint8Array {
  const b = new Uint8Array(PCAP_RECORD_HEADER_LEN + rec.data.length);
  writeU32le(b, RH_TS_SEC, rec.tsSec);
  writeU32le(b, RH_TS_FRAC, nanoseconds ? rec.tsNsec : Math.floor(rec.tsNsec / 1000));
  writeU32le(b, RH_CAPLEN, rec.data.length);
  writeU32le(b, RH_ORIGLEN, Math.max(rec.origLen, rec.data.length));
  b.set(rec.data, PCAP_RECORD_HEADER_LEN);
  return b;
}

export function encodePcapFile(records: readonly PcapRecord[], opts: PcapWriteOptions = {}): Uint8Array {
  const parts = [encodePcapHeader(opts), ...records.map((r) => encodePcapRecord(r, opts.nanoseconds ?? false))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
