import { describe, expect, test } from "bun:test";
import { guardCookie, guardKey, guardPacketConn, type GuardOptions } from "../src/socket/guard.ts";
import { memoryPacketPair } from "../src/socket/memory.ts";
import type { PacketAddr, PacketConn, PacketHandler } from "../src/socket/types.ts";

const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const PEER: PacketAddr = { ip: "10.77.0.2", port: 40001 };

/** A synchronous stand-in conn: records what is written, and `inject` plays a received payload. */
function recorder(): PacketConn & { sent: Uint8Array[]; inject(d: Uint8Array): void } {
  let handler: PacketHandler | undefined;
  let closed = false;
  const sent: Uint8Array[] = [];
  return {
    localAddr: { ip: "10.77.0.1", port: 40000 },
    sent,
    onPacket: (h) => (handler = h),
    writeTo: (d) => void sent.push(d.slice()),
    inject: (d) => handler?.(d, PEER),
    close: () => void (closed = true),
    get isClosed() {
      return closed;
    },
  };
}

/** A guard over a recorder that collects what it lets through. */
function guarded(opts: GuardOptions) {
  const raw = recorder();
  const conn = guardPacketConn(raw, opts);
  const got: string[] = [];
  conn.onPacket((d) => got.push(toHex(d)));
  return { raw, conn, got };
}

// seed-fork.md §1.10 worked example.
const EXAMPLE_S = 1_770_000_000;
const example: GuardOptions = { key: "bench-key", now: () => EXAMPLE_S * 1000 };

describe("seed-fork.md §1.10 worked example", () => {
  test("guard key and both cookies", () => {
    const key = guardKey("bench-key");
    expect(toHex(key)).toBe("79bebcda1740f878f3d7a4ce8e2f7f5aef78fb5e0f85d4a4f0275393a3d653bb");
    const magic = new TextEncoder().encode("PQT1");
    expect(toHex(guardCookie(key, magic, 59_000_000))).toBe("1a90be60d7d84ada");
    expect(toHex(guardCookie(key, magic, 58_999_999))).toBe("ae3b185d066464f0");
  });

  test("the 12 header bytes on the wire", () => {
    const { raw, conn } = guarded(example);
    conn.writeTo(hex("deadbeef"), PEER);
    expect(raw.sent.map(toHex)).toEqual(["505154311a90be60d7d84ada" + "deadbeef"]);
  });

  test("the receiver accepts the current and the previous window, strips the header", () => {
    const { raw, conn, got } = guarded(example);
    raw.inject(hex("505154311a90be60d7d84ada" + "0102"));
    raw.inject(hex("50515431ae3b185d066464f0" + "0304"));
    expect(got).toEqual(["0102", "0304"]);
    expect(conn.stats.pass).toBe(2);
    expect(conn.stats.drops).toBe(0);
  });
});

describe("filtering", () => {
  test("a wrong key lets nothing through and counts every drop", () => {
    const sender = guarded({ ...example, key: "not-the-key" });
    for (let i = 0; i < 5; i++) sender.conn.writeTo(new Uint8Array(40).fill(i), PEER);
    const receiver = guarded(example);
    for (const d of sender.raw.sent) receiver.raw.inject(d);
    expect(receiver.got).toEqual([]);
    expect(receiver.conn.stats.drops).toBe(5);
  });

  test("an unguarded peer (bare kcp-go datagrams) gets nothing through", () => {
    const receiver = guarded(example);
    for (let n = 0; n < 100; n++) receiver.raw.inject(crypto.getRandomValues(new Uint8Array(n * 13)));
    expect(receiver.got).toEqual([]);
    expect(receiver.conn.stats.drops).toBe(100);
  });

  test("a different magic is dropped even with the same key", () => {
    const sender = guarded({ ...example, magic: "XQT1" });
    sender.conn.writeTo(hex("00"), PEER);
    const receiver = guarded(example);
    receiver.raw.inject(sender.raw.sent[0]!);
    expect(receiver.conn.stats.drops).toBe(1);
  });

  test("skew: up to `skew` windows behind pass, newer windows never", () => {
    const at = (s: number) => guarded({ key: "bench-key", now: () => s * 1000 });
    const receiver = guarded({ key: "bench-key", now: () => EXAMPLE_S * 1000, skew: 2 });
    const cases: [number, boolean][] = [
      [EXAMPLE_S, true],
      [EXAMPLE_S - 30, true],
      [EXAMPLE_S - 60, true],
      [EXAMPLE_S - 90, false],
      [EXAMPLE_S + 30, false],
    ];
    for (const [t, ok] of cases) {
      const s = at(t);
      s.conn.writeTo(hex("aa"), PEER);
      const before = receiver.got.length;
      receiver.raw.inject(s.raw.sent[0]!);
      expect(receiver.got.length - before).toBe(ok ? 1 : 0);
    }
    expect(receiver.conn.stats.drops).toBe(2);
  });

  test("the sender rotates to the new cookie as soon as its window changes", () => {
    let now = EXAMPLE_S * 1000;
    const { raw, conn } = guarded({ key: "bench-key", now: () => now });
    conn.writeTo(hex("01"), PEER);
    now += 30_000;
    conn.writeTo(hex("02"), PEER);
    const magic = new TextEncoder().encode("PQT1");
    expect(toHex(raw.sent[1]!.subarray(4, 12))).toBe(toHex(guardCookie(guardKey("bench-key"), magic, 59_000_001)));
  });

  test("short payloads and bit flips in the header are dropped", () => {
    const { raw, conn, got } = guarded(example);
    const good = hex("505154311a90be60d7d84ada" + "cafe");
    for (let n = 0; n < 12; n++) raw.inject(good.subarray(0, n));
    for (let bit = 0; bit < 96; bit++) {
      const bad = good.slice();
      bad[bit >> 3]! ^= 1 << (bit & 7);
      raw.inject(bad);
    }
    expect(got).toEqual([]);
    expect(conn.stats.drops).toBe(12 + 96);
  });

  test("a stripped datagram over maxDatagram is dropped, not truncated", () => {
    const { raw, conn, got } = guarded(example);
    const header = hex("505154311a90be60d7d84ada");
    const big = new Uint8Array(12 + 1501);
    big.set(header);
    raw.inject(big);
    raw.inject(big.subarray(0, 12 + 1500));
    expect(got.length).toBe(1);
    expect(conn.stats.oversizeDrops).toBe(1);
  });

  test("random payloads never throw and never pass (100k)", () => {
    const { raw, conn, got } = guarded({ ...example, splitCoalesced: true });
    const buf = crypto.getRandomValues(new Uint8Array(1600));
    for (let i = 0; i < 100_000; i++) {
      if (i % 1000 === 0) crypto.getRandomValues(buf);
      if (i % 2 === 0) buf.set(new TextEncoder().encode("PQT1"), i % 64);
      raw.inject(buf.subarray(i % 64, (i * 31) % 1600));
    }
    expect(got).toEqual([]);
    expect(conn.stats.drops).toBe(100_000);
  });
});

describe("GRO de-coalescing", () => {
  const H = "505154311a90be60d7d84ada";
  test("splits at every further valid header, keeps a bad-cookie magic inside its part", () => {
    const { raw, conn, got } = guarded({ ...example, splitCoalesced: true });
    const badHeader = "50515431" + "0000000000000000";
    raw.inject(hex(H + "0102" + H + "0304" + badHeader + "05" + H + H + "06"));
    expect(got).toEqual(["0102", "0304" + badHeader + "05", "06"]);
    expect(conn.stats).toMatchObject({ pass: 3, coalescedFrames: 1, coalescedParts: 3 });
  });

  test("off by default: a coalesced payload goes up whole", () => {
    const { raw, got } = guarded(example);
    raw.inject(hex(H + "01" + H + "02"));
    expect(got).toEqual(["01" + H + "02"]);
  });
});

describe("over a memory pair", () => {
  test("two guarded ends talk; the PacketConn contract holds (close passes through)", async () => {
    const [a, b] = memoryPacketPair();
    const ga = guardPacketConn(a, { key: "k" });
    const gb = guardPacketConn(b, { key: "k" });
    const got = new Promise<[string, PacketAddr]>((resolve) => gb.onPacket((d, from) => resolve([toHex(d), from])));
    ga.writeTo(hex("0badf00d"), b.localAddr);
    const [data, from] = await got;
    expect(data).toBe("0badf00d");
    expect(from).toEqual(a.localAddr);
    expect(gb.localAddr).toEqual(b.localAddr);
    ga.close();
    expect(ga.isClosed).toBe(true);
    gb.close();
  });

  test("invalid options are refused", () => {
    const [a] = memoryPacketPair();
    expect(() => guardPacketConn(a, { key: "" })).toThrow(RangeError);
    expect(() => guardPacketConn(a, { key: "k", magic: "PQT" })).toThrow(RangeError);
    expect(() => guardPacketConn(a, { key: "k", windowSeconds: 0 })).toThrow(RangeError);
    expect(() => guardPacketConn(a, { key: "k", skew: 11 })).toThrow(RangeError);
    a.close();
  });
});
