/**
 * `npx bun bench/crypt.ts` (or `bun run bench crypt`): the kcp-go crypto layer per paqet block.
 *
 * For each block: seal + open of one 1350-byte datagram (paqet's default MTU), in ns and MiB/s of
 * datagram bytes, beside a plain 1350-byte copy timed in the same run; plus the two ways to do
 * native CFB decryption, and the FEC encoder/decoder at 10+3.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { BLOCKS, createPacketCrypt } from "../src/kcp/crypt/index.ts";
import { KCP_IV } from "../src/kcp/crypt/cfb.ts";
import { createFec } from "../src/kcp/fec.ts";

const DATAGRAM = 1350;
const BUDGET_MS = 100;
const WARMUP_MS = 300;

/**
 * ns per call of `fn`, in process CPU time: the best of three rounds of about BUDGET_MS, after a
 * warm-up long enough for the JIT's top tier (the pure-TS ciphers are 10-50× slower before it).
 * CPU time rather than wall time because the benchmark machine is shared; the work is synchronous
 * and single-threaded, so CPU time is its cost.
 */
function measure(fn: () => void): number {
  const warmUntil = performance.now() + WARMUP_MS;
  while (performance.now() < warmUntil) for (let i = 0; i < 16; i++) fn();
  const cpuUs = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    let iterations = 16;
    const start = cpuUs();
    let elapsedUs = 0;
    while (elapsedUs < BUDGET_MS * 1000) {
      for (let i = 0; i < iterations; i++) fn();
      n += iterations;
      elapsedUs = cpuUs() - start;
      if (elapsedUs < BUDGET_MS * 100) iterations *= 2;
    }
    best = Math.min(best, (elapsedUs * 1e3) / n);
  }
  return best;
}

const mibps = (ns: number): string => ((DATAGRAM / ns) * 1e9 / 2 ** 20).toFixed(0).padStart(6);
const fmt = (ns: number): string => ns.toFixed(0).padStart(7);

export async function bench(): Promise<void> {
  const src = crypto.getRandomValues(new Uint8Array(DATAGRAM));
  const dst = new Uint8Array(DATAGRAM);
  let sink = 0;
  const copyNs = measure(() => {
    dst.set(src);
    sink ^= dst[DATAGRAM - 1]!;
  });
  console.log(`plain ${DATAGRAM}-byte copy: ${copyNs.toFixed(1)} ns (${mibps(copyNs)} MiB/s)`);
  console.log("block         seal+open ns   MiB/s   × copy");

  const key = crypto.getRandomValues(new Uint8Array(32));
  for (const block of BLOCKS) {
    const a = createPacketCrypt(block, key);
    const b = createPacketCrypt(block, key);
    const inner = crypto.getRandomValues(new Uint8Array(DATAGRAM - a.overhead));
    const ns = measure(() => {
      const out = b.open(a.seal(inner));
      if (out === undefined) throw new Error(`${block}: round trip failed`);
      sink ^= out[0]!;
    });
    console.log(`${block.padEnd(12)} ${fmt(ns)}      ${mibps(ns)}   ${(ns / copyNs).toFixed(0).padStart(6)}`);
  }

  // The alternatives for native CFB: a cipher object per datagram vs one reused ECB object.
  const k32 = key;
  const c = createCipheriv("aes-256-cfb", k32, KCP_IV).update(src);
  const perPacket = measure(() => {
    sink ^= createDecipheriv("aes-256-cfb", k32, KCP_IV).update(c)[0]!;
  });
  const ecb = createCipheriv("aes-256-ecb", k32, null);
  ecb.setAutoPadding(false);
  const scratch = new Uint8Array(Math.ceil(DATAGRAM / 16) * 16);
  const trick = measure(() => {
    scratch.set(KCP_IV);
    scratch.set(c.subarray(0, scratch.length - 16), 16);
    const ks = ecb.update(scratch);
    for (let i = 0; i < DATAGRAM; i++) dst[i] = c[i]! ^ ks[i]!;
    sink ^= dst[0]!;
  });
  console.log(`aes-256-cfb decrypt: new decipher per datagram ${fmt(perPacket)} ns, reused ECB + XOR ${fmt(trick)} ns`);

  for (const [d, p] of [[10, 3], [3, 2]] as const) {
    const fec = createFec(d, p, { now: () => 0 });
    const rx = createFec(d, p);
    const kcp = crypto.getRandomValues(new Uint8Array(DATAGRAM - 20 - fec.overhead));
    let fecSink = 0;
    const ns = measure(() => {
      fec.encode(kcp, (inner) => rx.decode(inner, (k) => (fecSink ^= k.length)));
    });
    sink ^= fecSink;
    console.log(`fec ${d}+${p}: encode+decode per KCP packet ${fmt(ns)} ns (${(ns / copyNs).toFixed(0)} × copy)`);
  }
  if (sink === 0x1234_5678) console.log("");
}

if (import.meta.main) await bench();
