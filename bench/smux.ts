/**
 * smux throughput over an in-memory duplex, beside the bare duplex measured in the same run:
 * MiB/s and CPU ms per MiB (both ends run in this process), for 1 and 64 streams, v2 with paqet's
 * config. Run alone with `npx bun bench/smux.ts`.
 */
import { duplexPair, type Duplex } from "../src/lib/duplex.ts";
import { Session, paqetSmuxConfig } from "../src/smux/index.ts";

const TOTAL = 256 << 20;
const CHUNK = 64 << 10;

interface Result {
  mibPerSec: number;
  cpuMsPerMib: number;
}

/** Writes `bytes` into `w` in CHUNK writes, waiting for drain when asked; resolves when `done()` says the reader has it all. */
function send(w: Duplex, bytes: number, onDrain: (fn: () => void) => void): Promise<void> {
  const buf = new Uint8Array(CHUNK).fill(0x5a);
  let sent = 0;
  return new Promise((resolve) => {
    const go = (): void => {
      while (sent < bytes) {
        const n = Math.min(CHUNK, bytes - sent);
        sent += n;
        if (!w.write(n === CHUNK ? buf : buf.subarray(0, n))) return;
      }
      resolve();
    };
    onDrain(go);
    go();
  });
}

async function measure(run: () => Promise<void>): Promise<Result> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const mib = TOTAL / (1 << 20);
  return { mibPerSec: mib / (ms / 1000), cpuMsPerMib: (cpu.user + cpu.system) / 1000 / mib };
}

function bare(): Promise<Result> {
  return measure(
    () =>
      new Promise<void>((resolve) => {
        const [a, b] = duplexPair();
        let got = 0;
        let drain: () => void = () => {};
        a.setHandlers({ data() {}, drain: () => drain(), close() {} });
        b.setHandlers({
          data: (c) => {
            got += c.byteLength;
            if (got === TOTAL) {
              a.close();
              resolve();
            }
          },
          drain() {},
          close() {},
        });
        void send(a, TOTAL, (fn) => (drain = fn));
      }),
  );
}

function smux(streams: number): Promise<Result> {
  return measure(
    () =>
      new Promise<void>((resolve) => {
        const [a, b] = duplexPair();
        const config = { ...paqetSmuxConfig, keepAliveDisabled: true };
        const client = Session.client(a, { config });
        const server = Session.server(b, { config });
        let got = 0;
        server.onStream((s) =>
          s.setHandlers({
            data: (c) => {
              got += c.byteLength;
              if (got === TOTAL) {
                client.close();
                server.close();
                resolve();
              }
            },
            drain() {},
            close() {},
          }),
        );
        const per = TOTAL / streams;
        for (let i = 0; i < streams; i++) {
          const s = client.openStream();
          let drain: () => void = () => {};
          s.setHandlers({ data() {}, drain: () => drain(), close() {} });
          void send(s, per, (fn) => (drain = fn));
        }
      }),
  );
}

const fmt = (r: Result) => `${r.mibPerSec.toFixed(0).padStart(6)} MiB/s  ${r.cpuMsPerMib.toFixed(3).padStart(7)} CPU ms/MiB`;

export async function bench(): Promise<void> {
  // Warm up the JIT on a smaller run of each path.
  await bare();
  await smux(1);
  const base = await bare();
  console.log(`bare duplex           ${fmt(base)}  (${TOTAL >> 20} MiB, ${CHUNK >> 10} KiB writes)`);
  for (const n of [1, 64]) {
    const r = await smux(n);
    console.log(
      `smux v2, ${String(n).padStart(2)} stream${n === 1 ? " " : "s"}   ${fmt(r)}  ratio vs bare: ${(r.mibPerSec / base.mibPerSec).toFixed(2)}x throughput, ${(r.cpuMsPerMib / base.cpuMsPerMib).toFixed(2)}x CPU/MiB`,
    );
  }
}

if (import.meta.main) await bench();
