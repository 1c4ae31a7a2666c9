/**
 * paqet framing against the Go captures (vectors/captures.md): every frame parses, the FrameBuilder
 * configured like the Go side rebuilds every captured frame byte for byte, and the flag cycling of
 * go-null is reproduced.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { formatIpv4 } from "../src/packet/address.ts";
import { PacketError } from "../src/packet/errors.ts";
import { readPcapFile, LINKTYPE_ETHERNET } from "../src/packet/pcapfile.ts";
import { parseTcp, TCP_ACK_FLAG, TCP_PSH, TCP_SYN, verifyTcpChecksum } from "../src/packet/tcp.ts";
import {
  FrameBuilder,
  newFrameStats,
  parseFrame,
  randomLocalPort,
  resolveLocalPort,
  RANDOM_PORT_MAX,
  RANDOM_PORT_MIN,
  type ParsedFrame,
} from "../src/socket/framing.ts";
import { addrKey, type PacketAddr } from "../src/socket/types.ts";
import { VECTORS_DIR } from "./helpers/shared.ts";

const VEC = VECTORS_DIR;
const CLIENT_MAC = "02:77:00:00:00:01";
const SERVER_MAC = "02:77:00:00:00:02";
const CLIENT_IP = "10.77.0.1";
const SERVER_IP = "10.77.0.2";
const SERVER_PORT = 9999;

interface Capture {
  name: string;
  sha256: string;
  frames: Uint8Array[];
  parsed: ParsedFrame[];
}

function load(name: string): Capture {
  const bytes = new Uint8Array(readFileSync(`${VEC}/${name}.pcap`));
  const file = readPcapFile(bytes);
  expect(file.header.linkType).toBe(LINKTYPE_ETHERNET);
  const frames = file.records.map((r) => {
    expect(r.origLen).toBe(r.data.length);
    return r.data;
  });
  const stats = newFrameStats();
  const parsed = frames.map((f) => parseFrame(f, stats)!);
  expect(stats.accepted).toBe(frames.length);
  return { name, sha256: createHash("sha256").update(bytes).digest("hex"), frames, parsed };
}

const aes = load("go-aes");
const gcm = load("go-gcm-udp");
const nul = load("go-null");

const isC2s = (p: ParsedFrame) => p.src.ip === CLIENT_IP;

/** TSval of a captured frame (the last 8 option bytes hold TSval/TSecr in both layouts paqet uses). */
function tsval(frame: Uint8Array): number {
  const tcp = parseTcp(frame, 34);
  const ts = tcp.options.find((o) => o.type === "timestamps");
  if (ts?.type !== "timestamps") throw new Error("no timestamps option");
  return ts.tsval;
}

/** Rebuilds every frame sent by one socket (identified by its addrKey) with a FrameBuilder. */
function rebuild(cap: Capture, socketKey: string, opts: { server: boolean; localFlags?: string[]; tcpfAfter?: { count: number; flags: string[] } }) {
  const idx = cap.parsed.map((p, i) => [p, i] as const).filter(([p]) => addrKey(p.src) === socketKey);
  const first = idx[0]!;
  const fb = new FrameBuilder({
    srcMac: opts.server ? SERVER_MAC : CLIENT_MAC,
    ipv4: { ip: first[0].src.ip, routerMac: opts.server ? CLIENT_MAC : SERVER_MAC },
    srcPort: first[0].src.port,
    localFlags: opts.localFlags ?? ["PA"],
    // t0 is the TSval of the socket's first packet (c = 1, c >> 3 = 0).
    t0: tsval(cap.frames[first[1]]!),
  });
  let mismatches = 0;
  let n = 0;
  for (const [p, i] of idx) {
    if (opts.tcpfAfter && n === opts.tcpfAfter.count) fb.setPeerFlags(p.dst, opts.tcpfAfter.flags);
    const built = fb.build(p.payload, p.dst);
    if (Buffer.compare(Buffer.from(built), Buffer.from(cap.frames[i]!)) !== 0) mismatches++;
    n++;
  }
  return { sent: n, mismatches, counter: fb.packetCount };
}

describe("Go captures parse", () => {
  test("files are the documented ones", () => {
    expect(aes.sha256).toBe("ff346d2f908426992f65a6270e05ded738ab85b05f8c6680af164ea02f29b89d");
    expect(gcm.sha256).toBe("13b266621b8cdb52ff275c644f9cf83f00ce827d7c8962232c5dd05b8bc887d6");
    expect(nul.sha256).toBe("2250909c316344210579b466e4b08bb61114da8bc09106fe7e44f1fd6ee4a6a1");
    expect([aes.frames.length, gcm.frames.length, nul.frames.length]).toEqual([190, 146, 71]);
  });

  test("addresses, ports and directions (captures.md §3–6)", () => {
    const clientPorts = (c: Capture) => [...new Set(c.parsed.filter(isC2s).map((p) => p.src.port))].sort();
    expect(clientPorts(aes)).toEqual([63346]);
    expect(clientPorts(gcm)).toEqual([34700, 56644]);
    expect(clientPorts(nul)).toEqual([55013]);
    for (const c of [aes, gcm, nul]) {
      for (const p of c.parsed) {
        const [client, server] = isC2s(p) ? [p.src, p.dst] : [p.dst, p.src];
        expect(client.ip).toBe(CLIENT_IP);
        expect(server).toEqual({ ip: SERVER_IP, port: SERVER_PORT });
        expect(clientPorts(c)).toContain(client.port);
      }
    }
    expect(aes.parsed.filter(isC2s).length).toBe(18);
    const gcmPort = (port: number) => gcm.parsed.filter((p) => p.src.port === port || p.dst.port === port);
    expect([gcmPort(56644).length, gcmPort(56644).filter(isC2s).length]).toEqual([81, 35]);
    expect([gcmPort(34700).length, gcmPort(34700).filter(isC2s).length]).toEqual([65, 27]);
    expect(nul.parsed.filter(isC2s).length).toBe(23);
  });

  test("flags: PA everywhere in aes/gcm; S,PA cycle and PA PA (A PA)x23 in go-null", () => {
    for (const c of [aes, gcm]) for (const p of c.parsed) expect(p.flags).toBe(TCP_PSH | TCP_ACK_FLAG);
    const client = nul.parsed.filter(isC2s).map((p) => p.flags);
    expect(client).toEqual(client.map((_, i) => (i % 2 === 0 ? TCP_SYN : TCP_PSH | TCP_ACK_FLAG)));
    const server = nul.parsed.filter((p) => !isC2s(p)).map((p) => p.flags);
    const PA = TCP_PSH | TCP_ACK_FLAG;
    expect(server).toEqual([PA, PA, ...Array.from({ length: 46 }, (_, i) => (i % 2 === 0 ? TCP_ACK_FLAG : PA))]);
  });

  test("payload lengths and frame sizes", () => {
    const len = (c: Capture, i: number) => c.parsed[i - 1]!.payload.length;
    expect([len(aes, 1), len(aes, 2), len(aes, 3), len(aes, 5), len(aes, 7)]).toEqual([76, 44, 68, 216, 252]);
    expect([len(gcm, 1), len(gcm, 2), len(gcm, 3), len(gcm, 4), len(gcm, 57), len(gcm, 59)]).toEqual([60, 68, 60, 52, 1350, 464]);
    expect([len(nul, 1), len(nul, 2), len(nul, 4), len(nul, 5), len(nul, 33)]).toEqual([32, 42, 24, 40, 184]);
    const range = (c: Capture) => [Math.min(...c.frames.map((f) => f.length)), Math.max(...c.frames.map((f) => f.length))];
    expect(range(aes)).toEqual([110, 1416]);
    expect(range(gcm)).toEqual([118, 1416]);
    expect(range(nul)).toEqual([90, 250]);
    for (const c of [aes, gcm, nul]) {
      c.parsed.forEach((p, i) => {
        const tcpLen = p.flags & TCP_SYN ? 40 : 32;
        expect(c.frames[i]!.length).toBe(14 + 20 + tcpLen + p.payload.length);
      });
    }
  });

  test("packet 1 of go-aes: payload bytes as documented", () => {
    expect(Buffer.from(aes.parsed[0]!.payload).toString("hex")).toBe(
      "db37e868a93e9fffc0321244c570518052a5a8b14980b797b351016dacd7f7c632b2f23829ee6a2cd0a37698dff452e3dd2ec1211a8ce44985dee79b9c90b9b80624f20e406d787f1a5f6cf4",
    );
    expect(formatIpv4(aes.frames[0]!, 26)).toBe(CLIENT_IP);
  });
});

describe("FrameBuilder reproduces the Go frames byte for byte", () => {
  // Every field is deterministic once the socket's t0, its counter position and the payload are known;
  // t0 (clock), the client port (random) and the payload (KCP/crypto) are taken from the capture.
  test("go-aes: client socket (c = 1..18) and server socket (c = 1..172)", () => {
    expect(rebuild(aes, `${CLIENT_IP}:63346`, { server: false })).toEqual({ sent: 18, mismatches: 0, counter: 18 });
    expect(rebuild(aes, `${SERVER_IP}:9999`, { server: true })).toEqual({ sent: 172, mismatches: 0, counter: 172 });
  });

  test("go-gcm-udp: two client sockets, one server socket whose counter spans both peers", () => {
    expect(rebuild(gcm, `${CLIENT_IP}:56644`, { server: false })).toEqual({ sent: 35, mismatches: 0, counter: 35 });
    expect(rebuild(gcm, `${CLIENT_IP}:34700`, { server: false })).toEqual({ sent: 27, mismatches: 0, counter: 27 });
    expect(rebuild(gcm, `${SERVER_IP}:9999`, { server: true })).toEqual({ sent: 84, mismatches: 0, counter: 84 });
  });

  test("go-null: SYN layout with local_flag [S, PA]; server switches to TCPF [A, PA] after 2 frames", () => {
    expect(rebuild(nul, `${CLIENT_IP}:55013`, { server: false, localFlags: ["S", "PA"] })).toEqual({ sent: 23, mismatches: 0, counter: 23 });
    const server = rebuild(nul, `${SERVER_IP}:9999`, { server: true, tcpfAfter: { count: 2, flags: ["A", "PA"] } });
    expect(server).toEqual({ sent: 48, mismatches: 0, counter: 48 });
  });

  test("a builder with the wrong t0 or flags does not match (the comparison can fail)", () => {
    const p = nul.parsed[1]!;
    const fb = new FrameBuilder({ srcMac: CLIENT_MAC, ipv4: { ip: CLIENT_IP, routerMac: SERVER_MAC }, srcPort: 55013, t0: tsval(nul.frames[0]!) + 1 });
    fb.build(p.payload, p.dst);
    expect(Buffer.from(fb.build(p.payload, p.dst)).equals(Buffer.from(nul.frames[1]!))).toBe(false);
  });
});

describe("FrameBuilder scheme (paqet-app.md §3.4)", () => {
  const to: PacketAddr = { ip: "10.77.0.2", port: 9999 };
  const mk = (flags: string[], t0 = 0x12345678) =>
    new FrameBuilder({ srcMac: CLIENT_MAC, ipv4: { ip: CLIENT_IP, routerMac: SERVER_MAC }, srcPort: 40000, localFlags: flags, t0 });
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

  test("worked example: c = 1, PA, 40000 → 9999", () => {
    const f = mk(["PA"]).build(new Uint8Array(4), to);
    const tcp = hex(f.subarray(34, 66));
    expect(tcp.slice(0, 32)).toBe("9c40270f123456f812345c6f8018ffff");
    expect(tcp.slice(36)).toBe("00000101080a1234567812345645");
  });

  test("c = 2 and c = 8 values; SYN at c = 1 with and without ACK", () => {
    const fb = mk(["PA"]);
    fb.build(new Uint8Array(1), to);
    const t2 = parseTcp(fb.build(new Uint8Array(1), to), 34);
    expect([t2.seq, t2.ack]).toEqual([0x12345778, 0x12345cee]);
    expect(t2.options[2]).toEqual({ type: "timestamps", tsval: 0x12345678, tsecr: 0x12345644 });
    for (let i = 3; i < 8; i++) fb.build(new Uint8Array(1), to);
    const t8 = parseTcp(fb.build(new Uint8Array(1), to), 34);
    expect(t8.options[2]).toMatchObject({ tsval: 0x12345679 });
    const syn = parseTcp(mk(["S"]).build(new Uint8Array(1), to), 34);
    expect([syn.seq, syn.ack]).toEqual([2, 0]);
    const synAck = parseTcp(mk(["SA"]).build(new Uint8Array(1), to), 34);
    expect([synAck.seq, synAck.ack]).toEqual([2, 3]);
    expect(synAck.options).toEqual([
      { type: "mss", mss: 1460 },
      { type: "sackPermitted" },
      { type: "timestamps", tsval: 0x12345678, tsecr: 0 },
      { type: "nop" },
      { type: "wscale", shift: 8 },
    ]);
  });

  test("arithmetic wraps mod 2^32", () => {
    const t = parseTcp(mk(["PA"], 0xffffffff).build(new Uint8Array(1), to), 34);
    expect(t.seq).toBe((0xffffffff + 128) >>> 0);
    expect(t.options[2]).toEqual({ type: "timestamps", tsval: 0xffffffff, tsecr: (0xffffffff - 51) >>> 0 });
  });

  test("NS flag goes to the low bit of byte 12; empty flag string sends no flags", () => {
    const f = mk(["N", ""]);
    const a = f.build(new Uint8Array(1), to);
    expect([a[46], a[47]]).toEqual([0x81, 0x00]);
    const b = f.build(new Uint8Array(1), to);
    expect([b[46], b[47]]).toEqual([0x80, 0x00]);
  });

  test("IPv6 and IPv4-mapped destinations", () => {
    const fb = new FrameBuilder({
      srcMac: CLIENT_MAC,
      ipv4: { ip: CLIENT_IP, routerMac: SERVER_MAC },
      ipv6: { ip: "fd77::1", routerMac: "02:77:00:00:00:66" },
      srcPort: 40000,
      t0: 1,
    });
    const v6 = fb.build(Uint8Array.of(1, 2, 3), { ip: "fd77::2", port: 9999 });
    expect(hex(v6.subarray(0, 6))).toBe("027700000066");
    expect(hex(v6.subarray(12, 22))).toBe("86dd6b80000000230640"); // payload length 32 + 3
    expect(verifyTcpChecksum(v6, 54, 35, v6.subarray(22, 38), v6.subarray(38, 54))).toBe(true);
    const p6 = parseFrame(v6)!;
    expect(p6.src).toEqual({ ip: "fd77::1", port: 40000 });
    expect(p6.dst).toEqual({ ip: "fd77::2", port: 9999 });
    expect([...p6.payload]).toEqual([1, 2, 3]);
    const mapped = fb.build(Uint8Array.of(9), { ip: "::ffff:10.77.0.2", port: 9999 });
    expect(parseFrame(mapped)!.dst).toEqual({ ip: "10.77.0.2", port: 9999 });
    expect(hex(mapped.subarray(12, 14))).toBe("0800");
  });

  test("errors: family not configured, bad address, oversize payload; counters untouched", () => {
    const fb = mk(["PA"]);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(PacketError);
        return (e as PacketError).code;
      }
      return "no error";
    };
    expect(code(() => fb.build(new Uint8Array(1), { ip: "fd77::2", port: 1 }))).toBe("PKT_UNSUPPORTED");
    expect(code(() => fb.build(new Uint8Array(1), { ip: "10.77.0", port: 1 }))).toBe("PKT_BAD_ADDRESS");
    expect(code(() => fb.build(new Uint8Array(1), { ip: "10.77.0.2", port: 70000 }))).toBe("PKT_BAD_ADDRESS");
    expect(code(() => fb.build(new Uint8Array(70000), to))).toBe("PKT_TOO_LARGE");
    expect(fb.packetCount).toBe(0);
    expect(code(() => mk(["PA", "x"]))).toBe("PKT_BAD_FLAGS");
    expect(code(() => mk([]))).toBe("PKT_BAD_FLAGS");
    expect(code(() => new FrameBuilder({ srcMac: "02:77:00:00:00", ipv4: { ip: CLIENT_IP, routerMac: SERVER_MAC }, srcPort: 1 }))).toBe("PKT_BAD_ADDRESS");
    expect(code(() => new FrameBuilder({ srcMac: CLIENT_MAC, ipv4: { ip: "fd77::1", routerMac: SERVER_MAC }, srcPort: 1 }))).toBe("PKT_BAD_ADDRESS");
    expect(code(() => new FrameBuilder({ srcMac: CLIENT_MAC, srcPort: 0 }))).toBe("PKT_BAD_ADDRESS");
  });

  test("the returned frame is a view into one reused buffer", () => {
    const fb = mk(["PA"]);
    const a = fb.build(new Uint8Array(8), to);
    const b = fb.build(new Uint8Array(8), to);
    expect(a.buffer).toBe(b.buffer);
  });
});

describe("flag cycling (§3.5)", () => {
  const mkServer = (flags: string[]) =>
    new FrameBuilder({ srcMac: SERVER_MAC, ipv4: { ip: SERVER_IP, routerMac: CLIENT_MAC }, srcPort: 9999, localFlags: flags, t0: 5 });
  const a: PacketAddr = { ip: "10.77.0.1", port: 40001 };
  const b: PacketAddr = { ip: "10.77.0.1", port: 40002 };
  const flagsOf = (f: Uint8Array) => parseFrame(f)!.flags;
  const one = new Uint8Array(1);

  test("default cycle starts at entry 0 and is shared by all peers", () => {
    const fb = mkServer(["A", "PA", "F"]);
    // The frame is a reused view, so each one is parsed before the next build.
    expect([a, b, a, b].map((to) => flagsOf(fb.build(one, to)))).toEqual([0x10, 0x18, 0x01, 0x10]);
  });

  test("per-peer list: own index, restarts on every TCPF, cleared by empty list or clearPeerFlags", () => {
    const fb = mkServer(["PA"]);
    fb.setPeerFlags(a, [0x10, 0x18, 0x02]);
    expect([a, b, a].map((to) => flagsOf(fb.build(one, to)))).toEqual([0x10, 0x18, 0x18]);
    fb.setPeerFlags({ ...a }, [0x10, 0x18, 0x02]); // a fresh object with the same key
    expect(flagsOf(fb.build(one, a))).toBe(0x10);
    expect(fb.peerFlags(a)).toEqual([0x10, 0x18, 0x02]);
    fb.setPeerFlags(a, []);
    expect(fb.peerFlags(a)).toBeUndefined();
    expect(flagsOf(fb.build(one, a))).toBe(0x18);
    fb.setPeerFlags(a, ["S"]);
    fb.clearPeerFlags({ ip: "10.77.0.1", port: 40001 });
    expect(flagsOf(fb.build(one, a))).toBe(0x18);
  });

  test("many peers: the cache evicts plain peers but keeps flag lists", () => {
    const fb = mkServer(["PA"]);
    fb.setPeerFlags(a, ["A"]);
    for (let i = 0; i < 5000; i++) fb.build(one, { ip: `10.77.${i >> 8}.${i & 255}`, port: 1000 });
    expect(flagsOf(fb.build(one, a))).toBe(0x10);
    expect(flagsOf(fb.build(one, { ip: "10.77.0.0", port: 1000 }))).toBe(0x18);
  });
});

describe("local port (§3.2)", () => {
  test("0 draws from 32768..65535 per call; explicit ports pass through", () => {
    expect(resolveLocalPort(9999)).toBe(9999);
    expect(randomLocalPort(() => 0)).toBe(RANDOM_PORT_MIN);
    expect(randomLocalPort(() => 0.999999999)).toBe(RANDOM_PORT_MAX);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const p = resolveLocalPort(0);
      expect(p).toBeGreaterThanOrEqual(RANDOM_PORT_MIN);
      expect(p).toBeLessThanOrEqual(RANDOM_PORT_MAX);
      seen.add(p);
    }
    expect(seen.size).toBeGreaterThan(1500);
  });
});

describe("parseFrame rejects and counts", () => {
  const good = () => {
    const fb = new FrameBuilder({ srcMac: CLIENT_MAC, ipv4: { ip: CLIENT_IP, routerMac: SERVER_MAC }, srcPort: 40000, t0: 1 });
    return fb.build(Uint8Array.of(1, 2, 3, 4), { ip: SERVER_IP, port: 9999 }).slice();
  };
  const reason = (f: Uint8Array) => {
    const s = newFrameStats();
    const r = parseFrame(f, s);
    const hits = Object.entries(s).filter(([k, v]) => k !== "frames" && v > 0).map(([k]) => k);
    expect(hits.length).toBe(1);
    expect(r === undefined).toBe(hits[0] !== "accepted");
    return hits[0];
  };

  test("each reason", () => {
    expect(reason(good())).toBe("accepted");
    expect(reason(good().subarray(0, 10))).toBe("truncated");
    expect(reason(good().subarray(0, 30))).toBe("truncated");
    expect(reason(good().subarray(0, good().length - 1))).toBe("truncated");
    const arp = good();
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(reason(arp)).toBe("notIp");
    const udp = good();
    udp[23] = 17;
    expect(reason(udp)).toBe("notTcp");
    const frag = good();
    frag[20] = 0x20; // MF
    expect(reason(frag)).toBe("fragment");
    const ihl = good();
    ihl[14] = 0x44;
    expect(reason(ihl)).toBe("malformed");
    const ver = good();
    ver[14] = 0x65;
    expect(reason(ver)).toBe("malformed");
    const doff = good();
    doff[46] = 0x40;
    expect(reason(doff)).toBe("malformed");
    const dbig = good();
    dbig[46] = 0xf0;
    expect(reason(dbig)).toBe("truncated");
    const empty = good().subarray(0, 66);
    empty[16] = 0;
    empty[17] = 52;
    expect(reason(empty)).toBe("empty");
    const padded = new Uint8Array(good().length + 6);
    padded.set(good());
    expect([...parseFrame(padded)!.payload]).toEqual([1, 2, 3, 4]);
  });
});
