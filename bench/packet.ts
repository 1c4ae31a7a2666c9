/**
 * Packet framing speed: paqet frames built and parsed per second for a 1400-byte payload, next to a
 * plain Uint8Array.set copy of the same payload measured in the same run (the floor any builder
 * pays, since it must copy the payload into the frame).
 *
 *   npx bun bench/packet.ts        or        bun run bench packet
 */
import { FrameBuilder, newFrameStats, parseFrame } from "../src/socket/framing.ts";
import type { PacketAddr } from "../src/socket/types.ts";

const PAYLOAD = 1400;
const MIN_MS = 300;

interface Result {
  name: string;
  nsPerOp: number;
}

/** Runs `op` in growing batches until MIN_MS has passed; returns ns per call (best of 3 rounds). */
function measure(name: string, op: () => number): Result {
  let sink = 0;
  for (let i = 0; i < 20_000; i++) sink += op(); // warm-up for the JIT
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    let batch = 1000;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < MIN_MS) {
      for (let i = 0; i < batch; i++) sink += op();
      n += batch;
      batch *= 2;
      elapsed = performance.now() - start;
    }
    best = Math.min(best, (elapsed * 1e6) / n);
  }
  if (sink === -1) console.log(sink); // keeps the results observable
  return { name, nsPerOp: best };
}

export async function bench(): Promise<void> {
  const payload = new Uint8Array(PAYLOAD);
  for (let i = 0; i < PAYLOAD; i++) payload[i] = (i * 7 + 3) & 0xff;
  const to: PacketAddr = { ip: "10.77.0.2", port: 9999 };
  const to6: PacketAddr = { ip: "fd77::2", port: 9999 };
  const fb = new FrameBuilder({
    srcMac: "02:77:00:00:00:01",
    ipv4: { ip: "10.77.0.1", routerMac: "02:77:00:00:00:02" },
    ipv6: { ip: "fd77::1", routerMac: "02:77:00:00:00:02" },
    srcPort: 40000,
  });
  const frame = fb.build(payload, to).slice();
  const frame6 = fb.build(payload, to6).slice();
  const dst = new Uint8Array(2048);
  const stats = newFrameStats();

  const copy = measure(`Uint8Array.set ${PAYLOAD} B (baseline)`, () => {
    dst.set(payload, 66);
    return dst[100]!;
  });
  const results = [
    measure(`build IPv4 frame, ${PAYLOAD} B payload`, () => fb.build(payload, to).length),
    measure(`build IPv6 frame, ${PAYLOAD} B payload`, () => fb.build(payload, to6).length),
    measure(`parse IPv4 frame, ${PAYLOAD} B payload`, () => parseFrame(frame, stats)!.payload.length),
    measure(`parse IPv6 frame, ${PAYLOAD} B payload`, () => parseFrame(frame6, stats)!.payload.length),
  ];
  const pad = Math.max(...[copy, ...results].map((r) => r.name.length));
  const line = (r: Result) =>
    `${r.name.padEnd(pad)}  ${r.nsPerOp.toFixed(1).padStart(8)} ns/op  ${(1e9 / r.nsPerOp / 1e6).toFixed(2).padStart(7)} M/s  ${(r.nsPerOp / copy.nsPerOp).toFixed(1).padStart(6)}x copy`;
  console.log(line(copy));
  for (const r of results) console.log(line(r));
}

if (import.meta.main) await bench();
