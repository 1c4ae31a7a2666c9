/**
 * `paqet dump --decrypt`: the three Go captures decoded with their configs (every datagram opens
 * and the facts of captures.md are in the output), a wrong key (every datagram fails, nothing
 * throws), reordering, the guard header, FEC with a lost shard, and garbage.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dumpFile } from "../src/cli/dump.ts";
import { DecryptDumper, decryptOptionsFromConfig, preview, type DecryptOptions } from "../src/cli/dump/decrypt.ts";
import { loadConfig } from "../src/conf/index.ts";
import { createPacketCrypt } from "../src/kcp/index.ts";
import { deriveKey } from "../src/kcp/kdf.ts";
import { readPcapFile } from "../src/packet/pcapfile.ts";
import { guardCookie, guardKey } from "../src/socket/guard.ts";
import { newFrameStats, parseFrame } from "../src/socket/framing.ts";
import { addrKey } from "../src/socket/types.ts";
import { runPaqetSync } from "./helpers/cli.ts";
import { vectorPath } from "./helpers/shared.ts";

const PCAP = join(import.meta.dir, "fixtures", "pcap");
const CONF = join(import.meta.dir, "fixtures", "conf");
const tmp = mkdtempSync(join(tmpdir(), "paqet-dump-decrypt-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CLIENT = "10.77.0.1";
const SERVER = "10.77.0.2:9999";

interface Block {
  /** The datagram line. */
  head: string;
  c2s: boolean;
  /** Indented lines under it. */
  lines: string[];
}

interface Decoded {
  out: string;
  blocks: Block[];
  dumper: DecryptDumper;
}

function decodeCapture(capture: string, conf: string): Decoded {
  const dumper = new DecryptDumper(decryptOptionsFromConfig(loadConfig(conf).config));
  let out = "";
  const r = dumpFile(join(PCAP, capture), (s) => (out += s), dumper);
  expect(r.skipped).toBe(0);
  return { out, blocks: blocksOf(out), dumper };
}

function blocksOf(out: string): Block[] {
  const blocks: Block[] = [];
  for (const line of out.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("[")) blocks.push({ head: line, c2s: line.includes(` ${CLIENT}:`) && line.includes(`-> ${SERVER}`), lines: [] });
    else blocks.at(-1)!.lines.push(line);
  }
  return blocks;
}

/** The smux frame lines of one direction, in order (the KCP stream as the receiver reads it). */
function frames(d: Decoded, c2s: boolean, conv?: string): string[] {
  const out: string[] = [];
  for (const b of d.blocks) {
    if (b.c2s !== c2s) continue;
    let inConv = conv === undefined;
    for (const l of b.lines) {
      if (/^ {2}\S/.test(l)) inConv = conv === undefined || l.includes(`conv=${conv}`);
      else if (inConv && l.trimStart().startsWith("smux ")) out.push(l.trim());
    }
  }
  return out;
}

const segmentLines = (d: Decoded) => d.blocks.flatMap((b) => b.lines.filter((l) => /^ {2}(PUSH|ACK|WASK|WINS) /.test(l)));

const conf = (name: string) => join(CONF, name);

/** A copy of a fixture config with another key. */
function withKey(name: string, key: string): string {
  const text = readFileSync(conf(name), "utf8").replace(/key: "[^"]*"/, `key: "${key}"`);
  const path = join(tmp, `${key}-${name}`);
  writeFileSync(path, text);
  return path;
}

describe("go-aes.pcap (aes, fast)", () => {
  const d = decodeCapture("go-aes.pcap", conf("go-aes-server.yaml"));

  test("all 190 datagrams decrypt and pass the CRC", () => {
    expect(d.blocks).toHaveLength(190);
    expect(d.blocks.every((b) => b.head.endsWith(": aes ok"))).toBe(true);
    expect(d.dumper.counts).toMatchObject({ datagrams: 190, ok: 190, failed: 0, malformed: 0 });
    expect(d.dumper.summary()).toStartWith("decrypt: 190 datagrams, 190 ok, 0 failed,");
  });

  test("one conv, 177 PUSH and 20 ACK segments, 4 retransmissions at the end", () => {
    const segs = segmentLines(d);
    expect(segs).toHaveLength(197);
    expect(segs.every((l) => l.includes(" conv=7ea6e3b1 "))).toBe(true);
    expect(d.dumper.counts).toMatchObject({ push: 177, ack: 20, wask: 0, wins: 0, retransmissions: 4 });
    expect(segs.every((l) => l.includes(" frg=0 "))).toBe(true);
    for (const b of d.blocks.slice(186)) expect(b.lines[0]).toContain("sn=162 una=10 wnd=1024");
    expect(d.blocks.slice(186).every((b) => b.lines[0]!.endsWith("(retransmission)"))).toBe(true);
  });

  test("packet 1 and 2 as captures.md shows them", () => {
    const [p1, p2] = d.blocks;
    expect(p1!.head).toMatch(/ 10\.77\.0\.1:63346 -> 10\.77\.0\.2:9999 PA 76 B: aes ok$/);
    expect(p1!.lines).toEqual([
      "  PUSH conv=7ea6e3b1 sn=0 una=0 wnd=512 ts=81 frg=0 len=32",
      "    smux SYN v2 sid=3",
      '    smux PSH v2 sid=3 len=8 paqet TCPF ["PA"]',
      "    smux FIN v2 sid=3",
    ]);
    expect(p2!.head).toMatch(/ 10\.77\.0\.2:9999 -> 10\.77\.0\.1:63346 PA 44 B: aes ok$/);
    expect(p2!.lines).toEqual(["  ACK  conv=7ea6e3b1 sn=0 una=1 wnd=1023 ts=81 frg=0 len=0"]);
  });

  test("27 frames c2s, 43 s2c; the client opens sids 3..15", () => {
    const c2s = frames(d, true);
    const s2c = frames(d, false);
    expect(c2s).toHaveLength(27);
    expect(s2c).toHaveLength(43);
    const opened = c2s.filter((f) => f.startsWith("smux SYN")).map((f) => Number(f.split("sid=")[1]));
    expect(opened).toEqual([3, 5, 7, 9, 11, 13, 15]);
    expect(s2c.some((f) => f.startsWith("smux SYN"))).toBe(false);
    expect(c2s.filter((f) => f.startsWith("smux NOP"))).toHaveLength(4);
    expect(s2c.filter((f) => f.startsWith("smux NOP"))).toHaveLength(5);
  });

  test("paqet messages: TCPF on 3, 7, 13; TCP 127.0.0.1:8080 on 9 and 15", () => {
    const c2s = frames(d, true);
    const messages = c2s.filter((f) => f.includes(" paqet "));
    expect(messages).toEqual([
      'smux PSH v2 sid=3 len=8 paqet TCPF ["PA"]',
      'smux PSH v2 sid=7 len=8 paqet TCPF ["PA"]',
      "smux PSH v2 sid=9 len=17 paqet TCP 127.0.0.1:8080",
      "smux PSH v2 sid=15 len=17 paqet TCP 127.0.0.1:8080",
      'smux PSH v2 sid=13 len=8 paqet TCPF ["PA"]',
    ]);
  });

  test("the HTTP requests and responses are in the PSH frames", () => {
    const c2s = frames(d, true);
    const s2c = frames(d, false);
    expect(c2s).toContain('smux PSH v2 sid=9 len=83 "GET /small HTTP/1.1\\r\\nHost: 127.0.0.1:8080\\r\\nUser-"…');
    expect(c2s.some((f) => f.startsWith('smux PSH v2 sid=15 len=90 "GET /bytes/200000 HTTP/1.1\\r\\n'))).toBe(true);
    expect(s2c.some((f) => f.startsWith('smux PSH v2 sid=9 len=152 "HTTP/1.1 200 OK\\r\\ncontent-type: text/plain'))).toBe(true);
    const body = s2c.filter((f) => f.startsWith("smux PSH v2 sid=15 ")).map((f) => Number(/len=(\d+)/.exec(f)![1]));
    expect(body).toEqual([...Array<number>(23).fill(8192), 7168, 4584]);
    expect(body.reduce((a, b) => a + b, 0)).toBe(200168);
  });

  test("UPD frames: window 2097152 always; the server's first on each stream says consumed 5", () => {
    const upd = [...frames(d, true), ...frames(d, false)].filter((f) => f.startsWith("smux UPD"));
    expect(upd.length).toBeGreaterThan(0);
    expect(upd.every((f) => f.endsWith(" window=2097152"))).toBe(true);
    const server = frames(d, false).filter((f) => f.startsWith("smux UPD"));
    expect(server.map((f) => f.replace(/^smux UPD v2 /, ""))).toEqual(
      [3, 9, 7, 15, 13].map((sid) => `sid=${sid} consumed=5 window=2097152`),
    );
    expect(frames(d, true).filter((f) => f.startsWith("smux UPD"))).toEqual([
      "smux UPD v2 sid=9 consumed=152 window=2097152",
      "smux UPD v2 sid=15 consumed=8192 window=2097152",
    ]);
  });

  test("the client config opens the same capture to the same lines", () => {
    const c = decodeCapture("go-aes.pcap", conf("go-aes-client.yaml"));
    expect(c.out).toBe(d.out);
  });
});

describe("go-gcm-udp.pcap (aes-128-gcm, fast2, two connections)", () => {
  const d = decodeCapture("go-gcm-udp.pcap", conf("go-gcm-udp-client.yaml"));

  test("all 146 GCM tags verify; one segment per datagram", () => {
    expect(d.dumper.counts).toMatchObject({ datagrams: 146, ok: 146, failed: 0, malformed: 0, push: 88, ack: 58, retransmissions: 24 });
    expect(d.blocks.every((b) => b.head.endsWith(": aes-128-gcm ok"))).toBe(true);
    expect(d.blocks.every((b) => b.lines.filter((l) => /^ {2}\S/.test(l)).length === 1)).toBe(true);
  });

  test("two convs on two client ports", () => {
    const convs = new Set(segmentLines(d).map((l) => /conv=([0-9a-f]{8})/.exec(l)![1]));
    expect([...convs].sort()).toEqual(["c4fb3731", "edf22a96"]);
    expect(d.blocks.filter((b) => b.head.includes("10.77.0.1:56644")).every((b) => b.lines[0]!.includes("conv=c4fb3731"))).toBe(true);
    expect(d.blocks.filter((b) => b.head.includes("10.77.0.1:34700")).every((b) => b.lines[0]!.includes("conv=edf22a96"))).toBe(true);
  });

  test("the kcp-go default window quirk: the server's first ACKs say wnd 29", () => {
    expect(d.blocks[3]!.lines[0]).toBe("  ACK  conv=c4fb3731 sn=2 una=3 wnd=29 ts=46 frg=0 len=0");
    expect(d.blocks[11]!.lines[0]).toContain("conv=edf22a96 sn=2 una=3 wnd=29 ");
  });

  test("conn #1 carries the UDP association, datagrams echoed whole", () => {
    const c2s = frames(d, true, "c4fb3731");
    const s2c = frames(d, false, "c4fb3731");
    expect(c2s).toHaveLength(18);
    expect(s2c).toHaveLength(14);
    expect(c2s).toContain("smux PSH v2 sid=9 len=17 paqet UDP 127.0.0.1:7777");
    for (const dir of [c2s, s2c]) {
      const psh = dir.filter((f) => f.startsWith("smux PSH v2 sid=9 ") && !f.includes("paqet"));
      expect(psh.map((f) => Number(/len=(\d+)/.exec(f)![1]))).toEqual([10, 1000, 3000]);
      expect(psh[0]).toEndWith('len=10 "datagram-1"');
      expect(psh[1]).toEndWith("hex 000102030405060708090a0b0c0d0e0f…");
    }
    expect(c2s).toContain("smux UPD v2 sid=9 consumed=10 window=2097152");
  });

  test("conn #2 carries the forward: TCP 127.0.0.1:8080 and the 84-byte GET", () => {
    const c2s = frames(d, true, "edf22a96");
    const s2c = frames(d, false, "edf22a96");
    expect(c2s).toHaveLength(16);
    expect(s2c).toHaveLength(12);
    expect(c2s).toContain("smux PSH v2 sid=9 len=17 paqet TCP 127.0.0.1:8080");
    expect(c2s).toContain('smux PSH v2 sid=9 len=84 "GET /small HTTP/1.1\\r\\nHost: 127.0.0.1:18080\\r\\nUser"…');
    expect(s2c.some((f) => f.startsWith('smux PSH v2 sid=9 len=152 "HTTP/1.1 200 OK'))).toBe(true);
    for (const conv of ["c4fb3731", "edf22a96"]) {
      const tcpf = frames(d, true, conv).filter((f) => f.includes("paqet TCPF"));
      expect(tcpf).toEqual(['smux PSH v2 sid=3 len=8 paqet TCPF ["PA"]', 'smux PSH v2 sid=7 len=8 paqet TCPF ["PA"]']);
    }
  });
});

describe("go-null.pcap (null, fast3, flag cycling)", () => {
  const d = decodeCapture("go-null.pcap", conf("go-null-server.yaml"));

  test("71 datagrams parse as KCP with no crypto layer", () => {
    expect(d.dumper.counts).toMatchObject({ datagrams: 71, ok: 71, failed: 0, malformed: 0, push: 50, ack: 21, retransmissions: 25 });
    expect(segmentLines(d).every((l) => l.includes("conv=bcc3c2ed"))).toBe(true);
  });

  test("TCP flags on each line: the client cycles S, PA; the server PA PA then A, PA", () => {
    const flag = (b: Block) => / (\S+) \d+ B: /.exec(b.head)![1];
    const client = d.blocks.filter((b) => b.c2s).map(flag);
    const server = d.blocks.filter((b) => !b.c2s).map(flag);
    expect(client).toEqual(Array.from({ length: 23 }, (_, i) => (i % 2 === 0 ? "S" : "PA")));
    expect(server).toEqual(["PA", "PA", ...Array.from({ length: 46 }, (_, i) => (i % 2 === 0 ? "A" : "PA"))]);
  });

  test('TCPF ["A","PA"] on sids 3 and 7; CONNECT on 9', () => {
    const c2s = frames(d, true);
    expect(c2s).toHaveLength(14);
    expect(frames(d, false)).toHaveLength(11);
    expect(c2s.filter((f) => f.includes(" paqet "))).toEqual([
      'smux PSH v2 sid=3 len=10 paqet TCPF ["A","PA"]',
      'smux PSH v2 sid=7 len=10 paqet TCPF ["A","PA"]',
      "smux PSH v2 sid=9 len=17 paqet TCP 127.0.0.1:8080",
    ]);
    expect(c2s.some((f) => f.startsWith('smux PSH v2 sid=9 len=83 "GET /small HTTP/1.1'))).toBe(true);
  });
});

describe("failures", () => {
  test.each([
    ["go-aes.pcap", "go-aes-server.yaml", 190, "aes FAILED (CRC mismatch)"],
    ["go-gcm-udp.pcap", "go-gcm-udp-server.yaml", 146, "aes-128-gcm FAILED (GCM tag mismatch)"],
  ])("%s with a wrong key: every datagram fails, one line each", (capture, name, n, reason) => {
    const d = decodeCapture(capture, withKey(name, "not-the-key"));
    expect(d.blocks).toHaveLength(n);
    expect(d.blocks.every((b) => b.head.endsWith(reason) && b.lines.length === 0)).toBe(true);
    expect(d.dumper.counts).toMatchObject({ datagrams: n, ok: 0, failed: n, checksumFailed: n, segments: 0 });
    expect(d.dumper.summary()).toContain(`${n} datagrams, 0 ok, ${n} failed (${n} `);
  });

  test("random and truncated payloads never throw", () => {
    const frames = capturePayloads("go-null.pcap");
    for (const block of ["null", "aes", "aes-128-gcm", "none"]) {
      const dumper = new DecryptDumper(options(block));
      for (let i = 0; i < 2000; i++) {
        const len = Math.floor(Math.random() * 120);
        const p = crypto.getRandomValues(new Uint8Array(len));
        if (block === "null" && len >= 6 && i % 3 === 0) p.set([0xf1, 0x00], 4); // FEC data type
        if (block === "null" && len >= 6 && i % 3 === 1) p.set([0xf2, 0x00], 4); // FEC parity type
        dumper.datagram(p, meta(i % 2 === 0));
      }
      for (const f of frames) for (let cut = 0; cut < f.payload.length; cut += 3) dumper.datagram(f.payload.subarray(0, cut), meta(f.c2s));
      expect(dumper.counts.datagrams).toBeGreaterThan(2000);
      expect(dumper.summary()).toStartWith("decrypt: ");
    }
  });

  test("a broken smux stream is reported once and the dump goes on", () => {
    const crypt = createPacketCrypt("null", new Uint8Array(32));
    const dumper = new DecryptDumper({ block: "null", crypt, dataShards: 0, parityShards: 0 });
    const seg = (sn: number, data: Uint8Array) => {
      const b = new Uint8Array(24 + data.length);
      const v = new DataView(b.buffer);
      v.setUint32(0, 0x01020304, true);
      b[4] = 81;
      v.setUint32(12, sn, true);
      v.setUint32(20, data.length, true);
      b.set(data, 24);
      return b;
    };
    const bad = dumper.datagram(seg(0, Uint8Array.of(7, 0, 0, 0, 1, 0, 0, 0)), meta(true));
    expect(bad).toContain("    smux: invalid protocol: version 7, expected 2; framing resumes at the next frame boundary");
    // Body bytes that do not start like a frame are skipped; a NOP header starts framing again.
    expect(dumper.datagram(seg(1, Uint8Array.of(2, 3, 0, 0, 0, 0, 0, 1)), meta(true))).not.toContain("smux");
    const again = dumper.datagram(seg(2, Uint8Array.of(2, 3, 0, 0, 0, 0, 0, 0)), meta(true));
    expect(again).toEndWith("    smux: framing from sn 2\n    smux NOP v2 sid=0\n");
    expect(dumper.counts).toMatchObject({ smuxErrors: 1, ok: 3, smuxFrames: 1 });
  });
});

describe("reassembly, guard, FEC", () => {
  test("PUSH segments out of order are held and the frames still decode", () => {
    const frames = capturePayloads("go-aes.pcap");
    // Swap s2c pkts 18 and 19 (sn 5 and 6, both inside the 8192-byte PSH frames of sid 15).
    [frames[17], frames[18]] = [frames[18]!, frames[17]!];
    const dumper = new DecryptDumper(options("aes", "vector-key-1"));
    let out = "";
    for (const f of frames) out += dumper.datagram(f.payload, meta(f.c2s));
    expect(out).toContain("sn=6 una=5 wnd=1024 ts=3688 frg=0 len=1306 (held: waiting for sn 5)");
    expect(out).toContain("    (sn 6, held until now)");
    const reference = decodeCapture("go-aes.pcap", conf("go-aes-server.yaml"));
    expect(dumper.counts.smuxFrames).toBe(reference.dumper.counts.smuxFrames);
    expect(frameLines(out)).toEqual(frameLines(reference.out));
  });

  test("a dump that joins mid-conversation frames again at the next frame boundary", () => {
    // From pkt 18 on: s2c sn 5 sits inside the 8192-byte PSH frames of sid 15; c2s resumes at sn 5.
    const dumper = new DecryptDumper(options("aes", "vector-key-1"));
    let out = "";
    for (const f of capturePayloads("go-aes.pcap").slice(17)) out += dumper.datagram(f.payload, meta(f.c2s));
    expect(out.match(/smux: joined this direction at sn 5; frames resume at the next frame boundary/g)).toHaveLength(2);
    expect(out).not.toContain("invalid protocol");
    expect(dumper.counts.smuxErrors).toBe(0);
    expect(frameLines(out)).toContain("smux FIN v2 sid=15");
    // Whatever was framed after joining is exactly the end of what a full dump frames, per direction.
    const full = decodeCapture("go-aes.pcap", conf("go-aes-server.yaml"));
    const joined = { out, blocks: blocksOf(out), dumper };
    for (const c2s of [true, false]) {
      const tail = frames(joined, c2s);
      expect(tail.length).toBeGreaterThan(2);
      expect(tail).toEqual(frames(full, c2s).slice(-tail.length));
    }
  });

  test("guard: a valid cookie is stripped, a stale or wrong one fails", () => {
    const key = "guard-key";
    const windowS = 30;
    const frames = capturePayloads("go-null.pcap");
    const when = new Date(1_800_000_000_000);
    const w = Math.floor(when.getTime() / 1000 / windowS);
    const magic = new TextEncoder().encode("PQT1");
    const wrap = (payload: Uint8Array, window: number) => {
      const out = new Uint8Array(12 + payload.length);
      out.set(magic);
      out.set(guardCookie(guardKey(key), magic, window), 4);
      out.set(payload, 12);
      return out;
    };
    const dumper = new DecryptDumper({ ...options("null"), guard: { key, magic: "PQT1", windowSeconds: windowS, skew: 1 } });
    let out = "";
    for (const f of frames) out += dumper.datagram(wrap(f.payload, w - 1), { ...meta(f.c2s), when });
    expect(dumper.counts).toMatchObject({ ok: frames.length, failed: 0, push: 50 });
    expect(out).toContain('paqet TCPF ["A","PA"]');
    const stale = dumper.datagram(wrap(frames[0]!.payload, w - 2), { ...meta(true), when });
    expect(stale).toMatch(/: guard FAILED \(cookie [0-9a-f]{16} is not one of the 2 windows accepted at that time\)\n$/);
    const noMagic = dumper.datagram(frames[0]!.payload, { ...meta(true), when });
    expect(noMagic).toContain(": guard FAILED (");
    expect(dumper.counts.guardFailed).toBe(2);
  });

  test("FEC (kcp_stream_aes_fec.json): data and parity shards, a lost data shard recovered", () => {
    const v = JSON.parse(readFileSync(vectorPath("kcp_stream_aes_fec.json"), "utf8")) as {
      passphrase: string;
      datagrams: { seq: number; dir: string; datagram_hex: string; decoded: { fec?: { type: string }; kcp_segments?: unknown[] } }[];
    };
    const run = (skip: number | undefined) => {
      const dumper = new DecryptDumper(options("aes", v.passphrase, 3, 2));
      let out = "";
      for (const g of v.datagrams) {
        if (g.seq === skip) continue;
        out += dumper.datagram(Buffer.from(g.datagram_hex, "hex"), meta(g.dir.startsWith("c2s")));
      }
      return { dumper, out };
    };
    const whole = run(undefined);
    const data = v.datagrams.filter((g) => g.decoded.fec?.type === "data").length;
    const parity = v.datagrams.filter((g) => g.decoded.fec?.type === "parity").length;
    const segments = v.datagrams.reduce((n, g) => n + (g.decoded.kcp_segments?.length ?? 0), 0);
    expect(whole.dumper.counts).toMatchObject({ ok: v.datagrams.length, failed: 0, fecData: data, fecParity: parity });
    expect(whole.dumper.counts.segments).toBe(segments);
    expect(whole.out).toContain(": aes ok, fec data seqid=0 size=37\n");
    expect(whole.out).toContain(": aes ok, fec parity seqid=3\n");

    // Datagram 3 is c2s data seqid 2 (a 1300-byte PUSH, sn 1); parity seqid 3 rebuilds it.
    const lost = run(3);
    expect(lost.dumper.counts.fecRecovered).toBeGreaterThanOrEqual(1);
    expect(lost.out).toMatch(/fec parity seqid=3\n {2}recovered from parity:\n {2}PUSH conv=11223344 sn=1 /);
    expect(lost.dumper.counts.push).toBe(whole.dumper.counts.push);
  });

  test("preview: text quoted and escaped, binary as hex", () => {
    expect(preview(new TextEncoder().encode('a"b\\\r\n'))).toBe('"a\\"b\\\\\\r\\n"');
    expect(preview(Uint8Array.of(0, 1, 2, 255))).toBe("hex 000102ff");
    expect(preview(new Uint8Array(0))).toBe("hex ");
  });
});

describe("CLI", () => {
  const paqet = (args: string[]) => runPaqetSync(args, { cwd: tmp });

  test("dump --decrypt --read with a client config prints both directions and the summary", () => {
    const r = paqet(["dump", "--decrypt", "--read", join(PCAP, "go-gcm-udp.pcap"), "-c", conf("go-gcm-udp-client.yaml")]);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] .* B: aes-128-gcm ok$/gm)).toHaveLength(146);
    expect(r.stdout).toContain("paqet UDP 127.0.0.1:7777");
    expect(r.stderr).toContain("decrypt: 146 datagrams, 146 ok, 0 failed,");
  });

  test("live dump --decrypt still needs a server config", () => {
    const r = paqet(["dump", "--decrypt", "-c", conf("go-aes-client.yaml")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("dump command requires server configuration");
  });
});

// ---------------------------------------------------------------------------------------------------

interface CapturedPayload {
  payload: Uint8Array;
  c2s: boolean;
}

function capturePayloads(name: string): CapturedPayload[] {
  const stats = newFrameStats();
  const out: CapturedPayload[] = [];
  for (const rec of readPcapFile(readFileSync(join(PCAP, name))).records) {
    const f = parseFrame(rec.data, stats);
    if (f) out.push({ payload: f.payload.slice(), c2s: addrKey(f.dst) === SERVER });
  }
  return out;
}

function options(block: string, key = "k", dataShards = 0, parityShards = 0): DecryptOptions {
  return { block, crypt: createPacketCrypt(block, deriveKey(key)), dataShards, parityShards };
}

function meta(c2s: boolean) {
  const client = `${CLIENT}:40000`;
  return { when: new Date(0), from: c2s ? client : SERVER, to: c2s ? SERVER : client };
}

/** Frame lines without the position they were printed at. */
function frameLines(out: string): string[] {
  return out
    .split("\n")
    .filter((l) => l.trimStart().startsWith("smux "))
    .map((l) => l.trim());
}
