/**
 * Packet codecs: golden bytes from the Go captures (parse, re-emit, checksums), truncated and
 * impossible lengths, property round-trips, address text, and the pcap file format.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  canonicalIp,
  emitEthernet,
  emitIpv4,
  emitIpv6,
  emitTcp,
  encodePcapFile,
  ETHERTYPE_IPV4,
  fillTcpChecksum,
  finishChecksum,
  sumWords,
  sumWordsAligned,
  formatFlags,
  formatIp,
  formatMac,
  internetChecksum,
  parseEthernet,
  parseFlagString,
  parseIp,
  parseIpv4,
  parseIpv6,
  parseMac,
  parsePcapHeader,
  parseTcp,
  PacketError,
  pcapRecords,
  readPcapFile,
  tcpHeaderLength,
  tcpOptionsLength,
  tryParseIp,
  verifyTcpChecksum,
  type Ipv4Header,
  type Ipv6Header,
  type PcapRecord,
  type TcpHeader,
  type TcpOption,
} from "../src/packet/index.ts";
import { VECTORS_DIR } from "./helpers/shared.ts";

const VEC = VECTORS_DIR;
const files = ["go-aes", "go-gcm-udp", "go-null"].map((n) => ({ name: n, bytes: new Uint8Array(readFileSync(`${VEC}/${n}.pcap`)) }));
const frames = files.flatMap((f) => readPcapFile(f.bytes).records.map((r) => r.data));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof PacketError)) throw e;
    return e.code;
  }
  return "ok";
}

/** xorshift32: reproducible randomness for property tests. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return { u32: next, int: (n: number) => next() % n, bytes: (n: number) => Uint8Array.from({ length: n }, () => next() & 0xff) };
}

describe("golden frames from the Go captures", () => {
  test("go-null packet 1 and go-aes packet 1: documented header bytes", () => {
    const nul1 = readPcapFile(files[2]!.bytes).records[0]!.data;
    expect(hex(nul1.subarray(14, 34))).toBe("45b8005c0000400040062548" + "0a4d0001" + "0a4d0002");
    expect(hex(nul1.subarray(34, 74))).toBe("d6e5270f0000000200000000a002ffffac3d0000020405b40402080a1ccc24c00000000001030308");
    const t = parseTcp(nul1, 34, nul1.length - 34);
    expect(t).toEqual({
      srcPort: 55013,
      dstPort: 9999,
      seq: 2,
      ack: 0,
      flags: 0x002,
      window: 65535,
      checksum: 0xac3d,
      urgent: 0,
      options: [
        { type: "mss", mss: 1460 },
        { type: "sackPermitted" },
        { type: "timestamps", tsval: 0x1ccc24c0, tsecr: 0 },
        { type: "nop" },
        { type: "wscale", shift: 8 },
      ],
    });
    const aes1 = readPcapFile(files[0]!.bytes).records[0]!.data;
    expect(parseEthernet(aes1)).toEqual({ dst: parseMac("02:77:00:00:00:02"), src: parseMac("02:77:00:00:00:01"), etherType: ETHERTYPE_IPV4 });
    const ip = parseIpv4(aes1, 14, true);
    expect(ip).toMatchObject({ tos: 0xb8, totalLength: 128, identification: 0, flags: 2, fragmentOffset: 0, ttl: 64, protocol: 6, checksum: 0x2524 });
    expect(formatIp(ip.src)).toBe("10.77.0.1");
    expect(parseTcp(aes1, 34, 108)).toMatchObject({ srcPort: 63346, seq: 0x1ccc672c, ack: 0x1ccc6ca3, checksum: 0x169a });
  });

  test("every frame: parse, verify both checksums, re-emit gives identical bytes", () => {
    let n = 0;
    for (const f of frames) {
      const eth = parseEthernet(f);
      const ip = parseIpv4(f, 14, true);
      const tcpLen = ip.totalLength - 20;
      const tcp = parseTcp(f, 34, tcpLen);
      expect(verifyTcpChecksum(f, 34, tcpLen, ip.src, ip.dst)).toBe(true);
      const out = new Uint8Array(f.length);
      let off = emitEthernet(eth, out, 0);
      // Let emit compute the IPv4 checksum: it must equal the captured one.
      off += emitIpv4({ ...ip, checksum: undefined }, out, off);
      const hl = emitTcp({ ...tcp, checksum: undefined }, out, off);
      expect(hl).toBe(tcpHeaderLength(tcp));
      out.set(f.subarray(off + hl), off + hl);
      fillTcpChecksum(out, off, tcpLen, ip.src, ip.dst);
      expect(hex(out)).toBe(hex(f));
      n++;
    }
    expect(n).toBe(407);
  });

  test("a flipped payload bit fails the TCP checksum; a flipped header bit fails the IPv4 checksum", () => {
    const f = frames[5]!.slice();
    f[f.length - 1]! ^= 0x01;
    const ip = parseIpv4(f, 14);
    expect(verifyTcpChecksum(f, 34, ip.totalLength - 20, ip.src, ip.dst)).toBe(false);
    f[22]! ^= 0x01; // TTL
    expect(codeOf(() => parseIpv4(f, 14, true))).toBe("PKT_BAD_CHECKSUM");
    expect(internetChecksum(f, 14, 20)).not.toBe(0);
  });
});

describe("truncated and impossible lengths", () => {
  const f = frames[0]!; // go-aes pkt 1, 142 bytes
  test("Ethernet", () => {
    expect(codeOf(() => parseEthernet(f.subarray(0, 13)))).toBe("PKT_TRUNCATED");
    expect(codeOf(() => parseEthernet(f, 140))).toBe("PKT_TRUNCATED");
  });
  test("IPv4", () => {
    const ip = f.slice(14);
    expect(codeOf(() => parseIpv4(ip.subarray(0, 19)))).toBe("PKT_TRUNCATED");
    const m = (i: number, v: number) => {
      const c = ip.slice();
      c[i] = v;
      return c;
    };
    expect(codeOf(() => parseIpv4(m(0, 0x44)))).toBe("PKT_BAD_LENGTH"); // IHL 4
    expect(codeOf(() => parseIpv4(m(0, 0x65)))).toBe("PKT_BAD_VERSION");
    expect(codeOf(() => parseIpv4(m(0, 0x4f).subarray(0, 40)))).toBe("PKT_TRUNCATED"); // 60-byte header, 40 present
    expect(codeOf(() => parseIpv4(ip.subarray(0, 127)))).toBe("PKT_TRUNCATED"); // total length 128
    expect(codeOf(() => parseIpv4(m(2, 0x01)))).toBe("PKT_TRUNCATED"); // total 0x180 > buffer
    const small = m(2, 0);
    small[3] = 19;
    expect(codeOf(() => parseIpv4(small))).toBe("PKT_BAD_LENGTH"); // total < header
    expect(codeOf(() => parseIpv4(ip))).toBe("ok");
  });
  test("IPv6", () => {
    const h: Ipv6Header = { trafficClass: 0xb8, flowLabel: 0, payloadLength: 4, nextHeader: 6, hopLimit: 64, src: parseIp("fd77::1"), dst: parseIp("fd77::2") };
    const b = new Uint8Array(44);
    emitIpv6(h, b);
    expect(hex(b.subarray(0, 4))).toBe("6b800000");
    expect(parseIpv6(b)).toEqual(h);
    expect(codeOf(() => parseIpv6(b.subarray(0, 43)))).toBe("PKT_TRUNCATED");
    expect(codeOf(() => parseIpv6(b.subarray(0, 39)))).toBe("PKT_TRUNCATED");
    b[0] = 0x4b;
    expect(codeOf(() => parseIpv6(b))).toBe("PKT_BAD_VERSION");
  });
  test("TCP data offset and options", () => {
    const tcp = f.slice(34);
    const m = (i: number, v: number) => {
      const c = tcp.slice();
      c[i] = v;
      return c;
    };
    expect(codeOf(() => parseTcp(tcp.subarray(0, 19)))).toBe("PKT_TRUNCATED");
    expect(codeOf(() => parseTcp(tcp.subarray(0, 31)))).toBe("PKT_TRUNCATED"); // offset 8 words
    expect(codeOf(() => parseTcp(m(12, 0x40)))).toBe("PKT_BAD_LENGTH"); // offset 4
    expect(codeOf(() => parseTcp(m(12, 0xf0).subarray(0, 40)))).toBe("PKT_TRUNCATED"); // offset 15
    expect(codeOf(() => parseTcp(tcp, 0, tcp.length + 1))).toBe("PKT_TRUNCATED");
    // Options are 01 01 08 0a ...: make the timestamp option overrun, be too short, or have no length.
    expect(codeOf(() => parseTcp(m(23, 0x0b)))).toBe("PKT_BAD_OPTION");
    expect(codeOf(() => parseTcp(m(23, 0x01)))).toBe("PKT_BAD_OPTION");
    expect(codeOf(() => parseTcp(m(23, 0x09)))).toBe("PKT_BAD_OPTION"); // timestamps must be 10
    const lastKind = m(31, 0x05); // a kind byte at the very end of the header with no length
    lastKind.set([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 20);
    expect(codeOf(() => parseTcp(lastKind))).toBe("PKT_BAD_OPTION");
    const unknown = tcp.slice(0, 32);
    unknown.set([0x1e, 0x04, 0xaa, 0xbb, 0, 0, 0, 0, 0, 0], 22);
    expect(parseTcp(unknown).options).toEqual([{ type: "nop" }, { type: "nop" }, { type: "unknown", kind: 0x1e, data: Uint8Array.of(0xaa, 0xbb) }, { type: "eol" }]);
  });
  test("emit into a too small buffer", () => {
    expect(codeOf(() => emitEthernet(parseEthernet(f), new Uint8Array(13)))).toBe("PKT_TOO_LARGE");
    expect(codeOf(() => emitIpv4(parseIpv4(f, 14), new Uint8Array(19)))).toBe("PKT_TOO_LARGE");
    expect(codeOf(() => emitTcp(parseTcp(f, 34), new Uint8Array(31)))).toBe("PKT_TOO_LARGE");
  });
});

describe("property round-trips", () => {
  const r = rng(0xc0ffee);
  function randomOptions(): TcpOption[] {
    const opts: TcpOption[] = [];
    let len = 0;
    for (;;) {
      let o: TcpOption;
      switch (r.int(8)) {
        case 0:
          o = { type: "nop" };
          break;
        case 1:
          o = { type: "mss", mss: r.int(65536) };
          break;
        case 2:
          o = { type: "wscale", shift: r.int(256) };
          break;
        case 3:
          o = { type: "sackPermitted" };
          break;
        case 4:
          o = { type: "sack", blocks: Array.from({ length: 1 + r.int(3) }, () => [r.u32(), r.u32()] as [number, number]) };
          break;
        case 5:
          o = { type: "timestamps", tsval: r.u32(), tsecr: r.u32() };
          break;
        case 6:
          o = { type: "unknown", kind: 9 + r.int(200), data: r.bytes(r.int(6)) };
          break;
        default:
          return opts;
      }
      const l = o.type === "nop" ? 1 : o.type === "mss" ? 4 : o.type === "wscale" ? 3 : o.type === "sackPermitted" ? 2 : o.type === "sack" ? 2 + 8 * o.blocks.length : o.type === "timestamps" ? 10 : 2 + o.data.length;
      if (len + l > 40) return opts;
      opts.push(o);
      len += l;
    }
  }

  test("TCP: random headers emit → parse → equal (padding reads back as EOL)", () => {
    for (let i = 0; i < 2000; i++) {
      const h: TcpHeader = {
        srcPort: r.int(65536),
        dstPort: r.int(65536),
        seq: r.u32(),
        ack: r.u32(),
        flags: r.int(512),
        window: r.int(65536),
        checksum: r.int(65536),
        urgent: r.int(65536),
        options: randomOptions(),
      };
      const buf = new Uint8Array(80);
      const off = r.int(20);
      const len = emitTcp(h, buf, off);
      const back = parseTcp(buf, off, len);
      // Padding to a multiple of 4 is zeros, which read back as one EOL.
      const padding = len - 20 - tcpOptionsLength(h.options);
      const expected = { ...h, options: padding > 0 ? [...h.options, { type: "eol" } as TcpOption] : h.options };
      expect(back).toEqual(expected);
      const optBytes = len - 20;
      expect(optBytes % 4).toBe(0);
    }
  });

  test("IPv4 and IPv6: random headers emit → parse → equal", () => {
    for (let i = 0; i < 2000; i++) {
      const optLen = 4 * r.int(11);
      const h4: Ipv4Header = {
        tos: r.int(256),
        totalLength: 20 + optLen + r.int(30),
        identification: r.int(65536),
        flags: r.int(8),
        fragmentOffset: r.int(8192),
        ttl: r.int(256),
        protocol: r.int(256),
        src: r.bytes(4),
        dst: r.bytes(4),
        options: r.bytes(optLen),
      };
      const b = new Uint8Array(h4.totalLength);
      emitIpv4(h4, b);
      const back = parseIpv4(b, 0, true);
      expect(back).toEqual({ ...h4, checksum: back.checksum });
      const h6: Ipv6Header = { trafficClass: r.int(256), flowLabel: r.int(1 << 20), payloadLength: r.int(30), nextHeader: r.int(256), hopLimit: r.int(256), src: r.bytes(16), dst: r.bytes(16) };
      const b6 = new Uint8Array(40 + h6.payloadLength);
      emitIpv6(h6, b6);
      expect(parseIpv6(b6)).toEqual(h6);
    }
  });

  test("IPv6 text: random addresses format → parse → equal, and agree with WHATWG URL serialisation", () => {
    for (let i = 0; i < 3000; i++) {
      const b = r.bytes(16);
      // Zero runs are what RFC 5952 is about: blank some groups.
      for (let g = 0; g < 8; g++) if (r.int(2)) b[2 * g] = b[2 * g + 1] = 0;
      const s = formatIp(b);
      expect(parseIp(s)).toEqual(b);
      if (!s.includes(".")) expect(new URL(`http://[${s}]/`).hostname).toBe(`[${s}]`);
      const v4 = r.bytes(4);
      expect(parseIp(formatIp(v4))).toEqual(v4);
    }
  });
});

describe("internet checksum", () => {
  test("word sums agree with a naive 16-bit sum for any offset, length and view", () => {
    const r = rng(99);
    const naive = (b: Uint8Array, off: number, len: number) => {
      let s = 0;
      for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
      return s;
    };
    const backing = r.bytes(3000);
    for (let i = 0; i < 500; i++) {
      const view = backing.subarray(r.int(7));
      const off = r.int(50);
      const len = r.int(view.length - off);
      expect(finishChecksum(sumWords(view, off, len))).toBe(finishChecksum(naive(view, off, len)));
    }
    // The aligned little-endian variant (frame building) over the same ranges, shifted to a
    // 4-byte boundary of its buffer.
    const words = new Uint32Array(backing.buffer, backing.byteOffset, backing.byteLength >> 2);
    for (let i = 0; i < 500; i++) {
      const off = r.int(700) * 4;
      const len = r.int(backing.length - off - 3);
      expect(finishChecksum(sumWordsAligned(words, backing, off, len))).toBe(finishChecksum(naive(backing, off, len)));
    }
    // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    expect(internetChecksum(unhex("0001f203f4f5f6f7"))).toBe(~0xddf2 & 0xffff);
  });
});

describe("address text", () => {
  test("RFC 5952 canonical forms", () => {
    const cases: [string, string][] = [
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
      ["0:0:0:0:0:0:0:0", "::"],
      ["::1", "::1"],
      ["1::", "1::"],
      ["FD77::ABCD", "fd77::abcd"],
      ["::FFFF:10.77.0.2", "::ffff:10.77.0.2"],
      ["::ffff:a4d:2", "::ffff:10.77.0.2"],
      ["64:ff9b::1.2.3.4", "64:ff9b::102:304"],
      ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
      ["10.77.0.2", "10.77.0.2"],
    ];
    for (const [input, want] of cases) expect(canonicalIp(input)).toBe(want);
  });

  test("invalid text is rejected", () => {
    for (const bad of ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-1", ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::1", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4", " ::1", "1::2:3:4:5:6:7:8"]) {
      expect(tryParseIp(bad)).toBeUndefined();
      expect(codeOf(() => parseIp(bad))).toBe("PKT_BAD_ADDRESS");
    }
    expect(codeOf(() => formatIp(new Uint8Array(5)))).toBe("PKT_BAD_ADDRESS");
  });

  test("MAC text", () => {
    expect(formatMac(parseMac("02:77:00:00:00:0A"))).toBe("02:77:00:00:00:0a");
    expect(formatMac(parseMac("02-77-00-00-00-0a"))).toBe("02:77:00:00:00:0a");
    for (const bad of ["02:77:00:00:00", "02:77:00:00:00:0g", "02:77-00:00:00:00", "0277.0000.000a", ""]) expect(codeOf(() => parseMac(bad))).toBe("PKT_BAD_ADDRESS");
  });

  test("flag strings", () => {
    expect(parseFlagString("PA")).toBe(0x18);
    expect(parseFlagString("AP")).toBe(0x18);
    expect(parseFlagString("PPA")).toBe(0x18);
    expect(parseFlagString("")).toBe(0);
    expect(parseFlagString("FSRPAUECN")).toBe(0x1ff);
    expect(formatFlags(0x1ff)).toBe("FSRPAUECN");
    expect(formatFlags(0x18)).toBe("PA");
    for (const bad of ["pa", "X", "P A"]) expect(codeOf(() => parseFlagString(bad))).toBe("PKT_BAD_FLAGS");
  });
});

describe("pcap file format", () => {
  const recs: PcapRecord[] = [
    { tsSec: 1, tsNsec: 123456000, data: Uint8Array.of(1, 2, 3), origLen: 3 },
    { tsSec: 2, tsNsec: 999999000, data: new Uint8Array(0), origLen: 60 },
  ];

  test("the Go captures: header and record facts", () => {
    const { header, records } = readPcapFile(files[0]!.bytes);
    expect(header).toEqual({ littleEndian: true, nanoseconds: false, versionMajor: 2, versionMinor: 4, snaplen: 262144, linkType: 1 });
    expect(records.length).toBe(190);
    // First packet 2026-11-27 11:38:07.452124 UTC (captures.md §4).
    expect(new Date(records[0]!.tsSec * 1000).toISOString()).toBe("2026-11-27T11:38:07.000Z");
    expect(records[0]!.tsNsec).toBe(452124000);
  });

  test("write → read round-trip, µs and ns", () => {
    for (const nanoseconds of [false, true]) {
      const bytes = encodePcapFile(recs, { nanoseconds, snaplen: 65535 });
      const back = readPcapFile(bytes);
      expect(back.header).toMatchObject({ nanoseconds, snaplen: 65535, linkType: 1, littleEndian: true });
      expect(back.records).toEqual(recs);
    }
    // The Go capture re-encoded is the same file.
    const { records } = readPcapFile(files[1]!.bytes);
    expect(hex(encodePcapFile(records))).toBe(hex(files[1]!.bytes));
  });

  test("big-endian files and nanosecond magic are read", () => {
    const be = unhex("a1b23c4d 0002 0004 00000000 00000000 0000ffff 00000001  00000005 00000007 00000002 00000004 abcd");
    const { header, records } = readPcapFile(be);
    expect(header).toEqual({ littleEndian: false, nanoseconds: true, versionMajor: 2, versionMinor: 4, snaplen: 65535, linkType: 1 });
    expect(records).toEqual([{ tsSec: 5, tsNsec: 7, data: Uint8Array.of(0xab, 0xcd), origLen: 4 }]);
  });

  test("bad magic, truncated header and truncated records", () => {
    expect(codeOf(() => parsePcapHeader(new Uint8Array(24)))).toBe("PKT_BAD_VERSION");
    expect(codeOf(() => parsePcapHeader(new Uint8Array(10)))).toBe("PKT_TRUNCATED");
    const good = encodePcapFile(recs);
    expect(codeOf(() => [...pcapRecords(good.subarray(0, good.length - 1))])).toBe("PKT_TRUNCATED");
    expect(codeOf(() => [...pcapRecords(good.subarray(0, 24 + 10))])).toBe("PKT_TRUNCATED");
  });
});
