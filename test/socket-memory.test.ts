import { describe, expect, test } from "bun:test";
import { lossyPacketConn, seededRandom } from "../src/socket/lossy.ts";
import { MemoryNetwork, memoryPacketPair } from "../src/socket/memory.ts";
import type { PacketConn } from "../src/socket/types.ts";
import { runPacketConnContract } from "./helpers/packetconn-contract.ts";

runPacketConnContract("memory", () => memoryPacketPair());
runPacketConnContract("lossy with no faults", () => {
  const [a, b] = memoryPacketPair();
  return [lossyPacketConn(a, { seed: 7 }), lossyPacketConn(b, { seed: 8 })];
});
runPacketConnContract("lossy with only a delay", () => {
  const [a, b] = memoryPacketPair();
  return [lossyPacketConn(a, { delayMs: 3 }), lossyPacketConn(b, { delayMs: 3 })];
});

/** Sends n numbered datagrams a→b and returns the numbers b saw, in arrival order. */
async function run(a: PacketConn, b: PacketConn, n: number): Promise<number[]> {
  const seen: number[] = [];
  b.onPacket((d) => seen.push(new DataView(d.buffer, d.byteOffset).getUint32(0, true)));
  const buf = new Uint8Array(4);
  for (let i = 0; i < n; i++) {
    new DataView(buf.buffer).setUint32(0, i, true);
    a.writeTo(buf, b.localAddr);
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 2));
  return seen;
}

describe("memory network", () => {
  test("routes by address among many conns and counts unroutable datagrams", async () => {
    const net = new MemoryNetwork();
    const server = net.bind({ ip: "10.77.1.1", port: 1 });
    const clients = [0, 1, 2].map(() => net.bind({ ip: "10.77.1.2" }));
    const from: string[] = [];
    server.onPacket((_d, addr) => from.push(`${addr.ip}:${addr.port}`));
    for (const c of clients) c.writeTo(new Uint8Array([1]), server.localAddr);
    clients[0]!.writeTo(new Uint8Array([1]), { ip: "10.77.9.9", port: 9 });
    await new Promise((r) => setTimeout(r, 5));
    expect(from.sort()).toEqual(clients.map((c) => `${c.localAddr.ip}:${c.localAddr.port}`).sort());
    expect(net.stats.unroutable).toBe(1);
    expect(() => net.bind({ ip: "10.77.1.1", port: 1 })).toThrow();
  });

  test("a full delivery queue drops and counts instead of growing without bound", async () => {
    const net = new MemoryNetwork({ queueLimit: 100 });
    const a = net.bind();
    const b = net.bind();
    let got = 0;
    b.onPacket(() => got++);
    for (let i = 0; i < 250; i++) a.writeTo(new Uint8Array(8), b.localAddr);
    await new Promise((r) => setTimeout(r, 5));
    expect(got).toBe(100);
    expect(net.stats.overflow).toBe(150);
    a.writeTo(new Uint8Array(8), b.localAddr);
    await new Promise((r) => setTimeout(r, 5));
    expect(got).toBe(101);
  });
});

describe("lossy conn", () => {
  test("the PRNG is deterministic per seed", () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const xs = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(xs);
    expect(Array.from({ length: 5 }, c)).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  test("the same seed drops the same datagrams", async () => {
    const patterns: number[][] = [];
    for (let k = 0; k < 2; k++) {
      const [a, b] = memoryPacketPair();
      const la = lossyPacketConn(a, { loss: 0.2, seed: 99 });
      patterns.push(await run(la, b, 1000));
      expect(la.stats.dropped).toBe(1000 - patterns[k]!.length);
      la.close();
      b.close();
    }
    expect(patterns[0]).toEqual(patterns[1]!);
    // 20 % of 1000 with a fixed seed: a loose band so a broken PRNG or threshold fails.
    expect(patterns[0]!.length).toBeGreaterThan(720);
    expect(patterns[0]!.length).toBeLessThan(880);
  });

  test("duplicates and reorders without losing anything", async () => {
    const [a, b] = memoryPacketPair();
    const la = lossyPacketConn(a, { duplicate: 0.1, reorder: 0.1, seed: 5 });
    const seen = await run(la, b, 2000);
    expect(la.stats.duplicated).toBeGreaterThan(0);
    expect(la.stats.reordered).toBeGreaterThan(0);
    expect(seen.length).toBe(2000 + la.stats.duplicated);
    expect(new Set(seen).size).toBe(2000);
    let inversions = 0;
    for (let i = 1; i < seen.length; i++) if (seen[i]! < seen[i - 1]!) inversions++;
    expect(inversions).toBeGreaterThan(0);
  });

  test("a closed lossy conn refuses writes and drops what it still held", async () => {
    const [a, b] = memoryPacketPair();
    const la = lossyPacketConn(a, { delayMs: 50 });
    let got = 0;
    b.onPacket(() => got++);
    la.writeTo(new Uint8Array([1]), b.localAddr);
    la.close();
    expect(la.isClosed).toBe(true);
    expect(() => la.writeTo(new Uint8Array([1]), b.localAddr)).toThrow();
    await new Promise((r) => setTimeout(r, 80));
    expect(got).toBe(0);
  });
});
