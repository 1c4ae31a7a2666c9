import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createFec } from "../src/kcp/fec.ts";
import { ReedSolomon } from "../src/kcp/reedsolomon.ts";
import { VECTORS_DIR } from "./helpers/shared.ts";

interface Datagram {
  seq: number;
  dir: string;
  t_ms: number;
  decoded: { inner_hex: string; fec: { seqid: number; type: string } };
}
const capture = JSON.parse(readFileSync(`${VECTORS_DIR}/kcp_stream_aes_fec.json`, "utf8")) as {
  fec: { data_shards: number; parity_shards: number };
  datagrams: Datagram[];
};
const { data_shards: D, parity_shards: P } = capture.fec;
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

const byDir = (dir: string): Datagram[] => capture.datagrams.filter((d) => d.dir === dir);
/** The KCP bytes inside a data shard's inner packet. */
const kcpOf = (d: Datagram): string => d.decoded.inner_hex.slice(16);

describe("Reed-Solomon matrix", () => {
  test("3+2 parity rows are [1,1,1] and [15,8,6] (kcp-smux-wire.md §4.3)", () => {
    const rs = new ReedSolomon(3, 2);
    expect(rs.matrix.map((r) => [...r])).toEqual([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [15, 8, 6]]);
  });

  test("any d of d+p shards rebuild the data (10+4, every 1..4 erasure pattern sampled)", () => {
    const rs = new ReedSolomon(10, 4);
    const len = 37;
    const data = Array.from({ length: 10 }, () => crypto.getRandomValues(new Uint8Array(len)));
    const parity = Array.from({ length: 4 }, () => new Uint8Array(len));
    rs.encode(data, parity, len);
    const all = [...data, ...parity];
    for (let trial = 0; trial < 200; trial++) {
      const lost = new Set<number>();
      const n = 1 + (trial % 4);
      while (lost.size < n) lost.add(Math.floor(Math.random() * 14));
      const shards = all.map((s, i) => (lost.has(i) ? undefined : s));
      const out = Array.from({ length: 10 }, () => new Uint8Array(len));
      expect(rs.reconstructData(shards, out, len)).toBe(true);
      for (const i of lost) if (i < 10) expect(toHex(out[i]!)).toBe(toHex(data[i]!));
    }
    const tooFew = all.map((s, i) => (i < 5 ? undefined : s));
    expect(rs.reconstructData(tooFew, [], len)).toBe(false);
  });
});

describe("kcp_stream_aes_fec.json encoder", () => {
  for (const dir of ["c2s", "s2c"]) {
    test(`${dir}: data and parity shards reproduced byte for byte from the KCP packets`, () => {
      let now = 0;
      const fec = createFec(D, P, { now: () => now });
      const sent: string[] = [];
      for (const d of byDir(dir)) {
        if (d.decoded.fec.type !== "data") continue;
        now = d.t_ms;
        fec.encode(hex(kcpOf(d)), (inner) => sent.push(toHex(inner)));
      }
      expect(sent).toEqual(byDir(dir).map((d) => d.decoded.inner_hex));
      expect(fec.stats.parityShardsSent).toBe(byDir(dir).filter((d) => d.decoded.fec.type === "parity").length);
    });
  }

  test("a gap of 500 ms or more skips parity but keeps the seqids aligned", () => {
    let now = 0;
    const fec = createFec(2, 1, { now: () => now });
    const out: Uint8Array[] = [];
    const push = (t: number): void => {
      now = t;
      fec.encode(new Uint8Array(30).fill(t & 0xff), (inner) => out.push(inner.slice()));
    };
    push(0);
    push(600); // second data shard 600 ms after the first: no parity
    push(700);
    push(800); // continuous: parity
    const ids = out.map((b) => [b[0]! | (b[1]! << 8), b[4]!]);
    expect(ids).toEqual([[0, 0xf1], [1, 0xf1], [3, 0xf1], [4, 0xf1], [5, 0xf2]]);
  });

  test("pass-through when either count is 0, or the total is over 256 (kcp-go returns no codec)", () => {
    for (const [d, p] of [[0, 3], [3, 0], [-1, 2], [200, 100]] as const) {
      const fec = createFec(d, p);
      expect(fec.overhead).toBe(0);
      const pkt = new Uint8Array([1, 2, 3]);
      const out: Uint8Array[] = [];
      fec.encode(pkt, (i) => out.push(i));
      expect(out).toEqual([pkt]);
    }
    expect(createFec(128, 128).overhead).toBe(8);
  });
});

describe("kcp_stream_aes_fec.json decoder", () => {
  for (const dir of ["c2s", "s2c"]) {
    test(`${dir}: every data shard reaches KCP at once, parity adds nothing when nothing is lost`, () => {
      const fec = createFec(D, P);
      const got: string[] = [];
      for (const d of byDir(dir)) {
        fec.decode(hex(d.decoded.inner_hex), (k, regular) => got.push(`${regular}:${toHex(k)}`));
      }
      expect(got).toEqual(byDir(dir).filter((d) => d.decoded.fec.type === "data").map((d) => `true:${kcpOf(d)}`));
      expect(fec.stats.recovered).toBe(0);
    });
  }

  test("c2s: every way of losing 1 or 2 data shards of a group is recovered from parity", () => {
    const c2s = byDir("c2s");
    const groups = new Map<number, Datagram[]>();
    for (const d of c2s) {
      const g = Math.floor(d.decoded.fec.seqid / (D + P));
      groups.set(g, [...(groups.get(g) ?? []), d]);
    }
    let cases = 0;
    for (const members of groups.values()) {
      const data = members.filter((d) => d.decoded.fec.type === "data");
      if (members.length < D + P) continue;
      for (let mask = 1; mask < 1 << D; mask++) {
        const lost = data.filter((_, i) => mask & (1 << i));
        if (lost.length > P) continue;
        const fec = createFec(D, P);
        const regular: string[] = [];
        const rebuilt: string[] = [];
        for (const d of members) {
          if (lost.includes(d)) continue;
          fec.decode(hex(d.decoded.inner_hex), (k, reg) => (reg ? regular : rebuilt).push(toHex(k)));
        }
        expect(rebuilt.sort()).toEqual(lost.map(kcpOf).sort());
        expect(fec.stats.recovered).toBe(lost.length);
        cases++;
      }
    }
    expect(cases).toBe(2 * 6);
  });

  test("duplicates are ignored and counted", () => {
    const fec = createFec(D, P);
    const first = byDir("c2s")[0]!;
    let n = 0;
    fec.decode(hex(first.decoded.inner_hex), () => n++);
    fec.decode(hex(first.decoded.inner_hex), () => n++);
    // kcp-go hands the duplicate's KCP bytes to Input again (KCP drops it); only storage dedups.
    expect(n).toBe(2);
    expect(fec.stats.dropped).toBe(1);
  });

  test("a receiver without FEC still accepts FEC packets and learns the peer's 3+2", () => {
    const fec = createFec(0, 0);
    const c2s = byDir("c2s");
    const lost = c2s.find((d) => d.decoded.fec.seqid === 6)!;
    // Feed the stream twice over (shifted seqids would be a different peer; repeat the pattern
    // with seqids offset by whole groups) so the tuner sees complete data and parity runs.
    const rebuilt: string[] = [];
    for (const round of [0, 1, 2]) {
      for (const d of c2s) {
        const inner = hex(d.decoded.inner_hex);
        const seqid = d.decoded.fec.seqid + round * 10;
        inner[0] = seqid;
        if (round === 2 && d === lost) continue;
        fec.decode(inner, (k, reg) => {
          if (!reg) rebuilt.push(toHex(k));
        });
      }
    }
    expect(rebuilt).toEqual([kcpOf(lost)]);
  });

  test("groups more than 3 behind the newest are discarded; seqids at or past paws are ignored", () => {
    const fec = createFec(2, 1);
    const shard = (seqid: number, type: number, fill: number): Uint8Array => {
      const b = new Uint8Array(40).fill(fill);
      new DataView(b.buffer).setUint32(0, seqid, true);
      b[4] = type;
      b[5] = 0;
      b[6] = 32; // size = 2 + 30 KCP bytes
      b[7] = 0;
      return b;
    };
    const rebuilt: number[] = [];
    const deliver = (k: Uint8Array, regular: boolean): void => {
      if (!regular) rebuilt.push(k[0]!);
    };
    fec.decode(shard(0, 0xf1, 0xaa), deliver); // group 0: one data shard
    fec.decode(shard(12, 0xf1, 0xbb), deliver); // group 4: group 0 is now 4 behind and goes
    expect(fec.stats.dropped).toBe(1);
    fec.decode(shard(2, 0xf2, 0xcc), deliver); // group 0's parity alone can rebuild nothing
    expect(rebuilt).toEqual([]);
    // Within reach, data 9 lost: data 10 and parity 11 rebuild it (fill 0x99 in its KCP bytes).
    const d9 = shard(9, 0xf1, 0x99);
    const d10 = shard(10, 0xf1, 0x10);
    const parity = new Uint8Array(40);
    new DataView(parity.buffer).setUint32(0, 11, true);
    parity[4] = 0xf2;
    new ReedSolomon(2, 1).encode([d9.subarray(6), d10.subarray(6)], [parity.subarray(6)], 34);
    fec.decode(d10, deliver);
    fec.decode(parity, deliver);
    expect(rebuilt).toEqual([0x99]);
    const before = fec.stats.dropped;
    fec.decode(shard(0xffffffff, 0xf1, 0), deliver);
    expect(fec.stats.dropped).toBe(before + 1);
  });

  test("raw KCP packets pass straight through; short and OOB packets are dropped", () => {
    const fec = createFec(D, P);
    const raw = hex("4433221151000002c621000000000000000000000b00000068656c6c6f207061716574");
    const got: Uint8Array[] = [];
    fec.decode(raw, (k, reg) => {
      expect(reg).toBe(true);
      got.push(k);
    });
    expect(got.map(toHex)).toEqual([toHex(raw)]);
    fec.decode(new Uint8Array(11), () => got.push(new Uint8Array()));
    fec.decode(hex("fffffffff3000600443322110000"), () => got.push(new Uint8Array()));
    expect(got.length).toBe(1);
    expect(fec.stats.dropped).toBe(2);
  });

  test("random and truncated packets never throw (100k)", () => {
    const fecs = [createFec(3, 2), createFec(0, 0), createFec(10, 3), createFec(1, 1)];
    const buf = crypto.getRandomValues(new Uint8Array(1600));
    let delivered = 0;
    for (let i = 0; i < 100_000; i++) {
      if (i % 500 === 0) crypto.getRandomValues(buf);
      // Make FEC headers common so the decoder paths (grouping, recovery, tuning) get exercised.
      if (i % 3 !== 0) {
        buf[4] = i % 2 === 0 ? 0xf1 : 0xf2;
        buf[5] = 0;
        buf[0] = i & 0xff;
        buf[1] = buf[2] = buf[3] = 0;
      }
      const len = (i * 7919) % 1500;
      fecs[i % fecs.length]!.decode(buf.subarray(0, len), () => delivered++);
    }
    expect(delivered).toBeGreaterThan(0);
  });
});
