/**
 * KCP session throughput over the in-memory PacketConn, per mode and cipher, beside a plain copy of
 * the same bytes as 1350-byte datagrams over the same memory link, measured in the same run.
 *
 *   npx bun bench/kcp.ts            (or: bun run bench kcp)
 *   KCP_BENCH_MIB=64 npx bun bench/kcp.ts
 */
import { createPacketCrypt } from "../src/kcp/crypt/index.ts";
import { listen } from "../src/kcp/listener.ts";
import { paqetKcpOptions, type KcpMode } from "../src/kcp/options.ts";
import { dial, type KcpSession } from "../src/kcp/session.ts";
import { MemoryNetwork } from "../src/socket/memory.ts";

const MIB = 1 << 20;

interface Result {
  name: string;
  mib: number;
  ms: number;
  cpuMs: number;
}

function measure<T>(fn: () => Promise<T>): Promise<{ ms: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return fn().then(() => {
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
  });
}

/**
 * Sends `mib` MiB as 1350-byte datagrams from one memory conn to another, 64 per event-loop turn,
 * and resolves when all have arrived: the floor every memory-link bench compares against.
 */
export async function memoryLinkCopy(mib: number): Promise<void> {
  const net = new MemoryNetwork();
  const a = net.bind({ ip: "10.77.0.1", port: 1 });
  const b = net.bind({ ip: "10.77.0.2", port: 2 });
  const total = mib * MIB;
  const dgram = new Uint8Array(1350);
  let got = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  b.onPacket((d) => {
    got += d.byteLength;
    if (got >= total) done();
  });
  let sent = 0;
  while (sent < total) {
    for (let i = 0; i < 64 && sent < total; i++) {
      a.writeTo(dgram, b.localAddr);
      sent += dgram.byteLength;
    }
    await new Promise((r) => setImmediate(r));
  }
  await finished;
  a.close();
  b.close();
}

/** The same bytes as datagrams from one memory conn to another, no KCP at all. */
export async function plainCopy(mib: number): Promise<Result> {
  const m = await measure(() => memoryLinkCopy(mib));
  return { name: "plain memory-link copy", mib, ...m };
}

/** One direction, client → server, honouring write→false/drain. */
export async function kcpRun(mode: KcpMode, block: "null" | "aes", mib: number): Promise<Result> {
  const net = new MemoryNetwork();
  const sConn = net.bind({ ip: "10.77.0.1", port: 1 });
  const cConn = net.bind({ ip: "10.77.0.2", port: 2 });
  const key = new Uint8Array(32).fill(7);
  const listener = listen(sConn, { kcp: paqetKcpOptions("server", mode), crypt: createPacketCrypt(block, key) });
  const client = dial(cConn, sConn.localAddr, { kcp: paqetKcpOptions("client", mode), crypt: createPacketCrypt(block, key) });
  const total = mib * MIB;
  const chunk = new Uint8Array(64 * 1024).fill(0xab);
  client.write(new Uint8Array(1));
  const server: KcpSession = await listener.accept();
  let got = -1;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  server.setHandlers({
    data(c) {
      got += c.byteLength;
      if (got >= total) done();
    },
    drain() {},
    close() {},
  });
  let wake: (() => void) | undefined;
  client.setHandlers({ data() {}, drain: () => wake?.(), close: () => wake?.() });
  const m = await measure(async () => {
    for (let sent = 0; sent < total; sent += chunk.byteLength) {
      if (!client.write(chunk)) await new Promise<void>((r) => (wake = r));
    }
    await finished;
  });
  client.close();
  listener.close();
  cConn.close();
  sConn.close();
  return { name: `kcp ${mode} ${block}`, mib, ...m };
}

function row(r: Result, base: Result): string {
  const rate = r.mib / (r.ms / 1000);
  const baseRate = base.mib / (base.ms / 1000);
  return [
    r.name.padEnd(24),
    `${rate.toFixed(1).padStart(8)} MiB/s`,
    `${(r.cpuMs / r.mib).toFixed(2).padStart(8)} CPU ms/MiB`,
    `${(rate / baseRate).toFixed(3).padStart(7)} × plain`,
  ].join("  ");
}

export async function bench(): Promise<void> {
  const mib = Number(process.env.KCP_BENCH_MIB ?? 32);
  const base = await plainCopy(mib);
  console.log(row(base, base));
  for (const mode of ["normal", "fast", "fast2", "fast3"] as const) console.log(row(await kcpRun(mode, "null", mib), base));
  console.log(row(await kcpRun("fast", "aes", mib), base));
}

if (import.meta.main) await bench();
