/**
 * The whole tunnel stack in one process, without pcap: a client KCP session + smux client over
 * `memoryPacketPair()` to a KCP listener + smux server, paqet's default options per role (KCP
 * mode fast, stream mode, windows 128/512 and 1024/1024; smux v2 with paqetSmuxConfig), for block
 * aes and null. Beside it, a plain memory-link copy of the same bytes as 1350-byte datagrams in the
 * same run (the ratio column).
 *
 * One process hosts both sides, so the CPU per MiB is client + server together (per side ≈ half),
 * and the RSS is both sides' too.
 *
 *   npx bun bench/stack.ts                 (single 256 MiB, 8 × 32 MiB)
 *   STACK_MIB=64 npx bun bench/stack.ts    (scales both scenarios: single 64, 8 × 8)
 *   STACK_BLOCKS=aes npx bun bench/stack.ts
 *   STACK_REPEAT=3 npx bun bench/stack.ts  (each scenario 3 times; the run with the least CPU per
 *                                           MiB is printed: the machine is shared, noise only adds)
 *   STACK_LINK=pcap npx bun bench/stack.ts (root: the same stack over real PcapPacketConns, one
 *                                           process per side in two namespaces joined by a veth;
 *                                           per-side CPU, datagrams each way, peak RSS; no TCP relay;
 *                                           STACK_DEBUG=1 prints each side's conn and smux stats
 *                                           every second on stderr)
 */
import { memoryLinkCopy } from "./kcp.ts";
import { heapSize, memoryUsage } from "bun:jsc";
import { createPacketCrypt } from "../src/kcp/crypt/index.ts";
import { listen } from "../src/kcp/listener.ts";
import { paqetKcpOptions } from "../src/kcp/options.ts";
import { dial } from "../src/kcp/session.ts";
import { Session, paqetSmuxConfig } from "../src/smux/index.ts";
import type { Stream } from "../src/smux/stream.ts";
import { memoryPacketPair } from "../src/socket/memory.ts";
import type { PacketConn } from "../src/socket/types.ts";
import { createBed, netnsSkipReason, spawnIn } from "../test/helpers/netns.ts";

const MIB = 1 << 20;
const CHUNK = 32 * 1024;
const SAMPLE_MS = 50;

interface Result {
  name: string;
  mib: number;
  ms: number;
  cpuMs: number;
  peakRssMib: number;
  /** Peak JS heap (GC cells, sampled). */
  peakHeapMib: number;
  /** Peak bytes in Bun's malloc (typed-array backing stores live here; sampled). */
  peakMallocMib: number;
}

/** Samples RSS and the JSC heap while `fn` runs. */
async function measure(name: string, mib: number, fn: () => Promise<void>): Promise<Result> {
  Bun.gc(true);
  let peakRss = process.memoryUsage.rss();
  let peakHeap = 0;
  let peakMalloc = 0;
  const sample = (): void => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
    const heap = heapSize();
    if (heap > peakHeap) peakHeap = heap;
    const malloc = memoryUsage().current;
    if (malloc > peakMalloc) peakMalloc = malloc;
  };
  const timer = setInterval(sample, SAMPLE_MS);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  sample();
  return {
    name,
    mib,
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    peakRssMib: peakRss / MIB,
    peakHeapMib: peakHeap / MIB,
    peakMallocMib: peakMalloc / MIB,
  };
}

/** The same bytes as 1350-byte datagrams over a memory link, 64 per turn: the floor of this bed. */
export function plainCopy(mib: number): Promise<Result> {
  return measure("plain memory-link copy", mib, () => memoryLinkCopy(mib));
}

/** Writes `bytes` into `s` in CHUNK writes, waiting for drain when asked. */
function pump(s: Stream, bytes: number, onData: (c: Uint8Array) => void = () => {}): Promise<void> {
  const buf = new Uint8Array(CHUNK).fill(0x5a);
  let sent = 0;
  return new Promise((resolve, reject) => {
    const go = (): void => {
      while (sent < bytes) {
        const n = Math.min(CHUNK, bytes - sent);
        sent += n;
        if (!s.write(n === CHUNK ? buf : buf.subarray(0, n))) return;
      }
      resolve();
    };
    s.setHandlers({ data: onData, drain: go, close: (err) => (sent < bytes ? reject(err ?? new Error("stream closed")) : undefined) });
    go();
  });
}

/** client → server over KCP + smux: `streams` streams of `perStream` MiB each. */
export function stackRun(block: "aes" | "null", streams: number, perStream: number): Promise<Result> {
  const name = `stack ${block} ${streams}×${perStream} MiB`;
  return measure(name, streams * perStream, async () => {
    const [cConn, sConn] = memoryPacketPair();
    const key = new Uint8Array(32).fill(7);
    const listener = listen(sConn, { kcp: paqetKcpOptions("server"), crypt: createPacketCrypt(block, key) });
    const kcpClient = dial(cConn, sConn.localAddr, { kcp: paqetKcpOptions("client"), crypt: createPacketCrypt(block, key) });
    const smuxClient = Session.client(kcpClient, { config: paqetSmuxConfig });
    const total = streams * perStream * MIB;
    let got = 0;
    let done: () => void = () => {};
    let fail: (e: Error) => void = () => {};
    const finished = new Promise<void>((res, rej) => {
      done = res;
      fail = rej;
    });
    const acceptServer = listener.accept().then((kcpServer) => {
      const smuxServer = Session.server(kcpServer, { config: paqetSmuxConfig });
      smuxServer.onStream((s) => {
        // As a TCP relay would: take payloads in pieces, no reassembly.
        s.deliverPieces();
        s.setHandlers({
          data(c) {
            got += c.byteLength;
            if (got >= total) done();
          },
          drain() {},
          close() {},
        });
      });
      smuxServer.onClose((err) => {
        if (got < total) fail(err ?? new Error("server smux closed"));
      });
      return smuxServer;
    });
    const writers: Promise<void>[] = [];
    for (let i = 0; i < streams; i++) writers.push(pump(smuxClient.openStream(), perStream * MIB));
    await Promise.all(writers);
    await finished;
    const smuxServer = await acceptServer;
    smuxClient.close();
    smuxServer.close();
    listener.close();
    cConn.close();
    sConn.close();
  });
}

function row(r: Result, base: Result): string {
  const rate = r.mib / (r.ms / 1000);
  const baseRate = base.mib / (base.ms / 1000);
  return [
    r.name.padEnd(26),
    `${rate.toFixed(1).padStart(7)} MiB/s`,
    `${(rate / baseRate).toFixed(3).padStart(6)} × plain`,
    `${(r.cpuMs / r.mib).toFixed(2).padStart(6)} CPU ms/MiB (both sides)`,
    `peak RSS ${r.peakRssMib.toFixed(0).padStart(4)} MiB`,
    `peak JS heap ${r.peakHeapMib.toFixed(0).padStart(3)} MiB`,
    `malloc ${r.peakMallocMib.toFixed(0).padStart(3)} MiB`,
  ].join("  ");
}

/** The run of `times` with the least CPU per MiB. */
async function best(times: number, run: () => Promise<Result>): Promise<Result> {
  let pick: Result | undefined;
  for (let i = 0; i < times; i++) {
    const r = await run();
    if (!pick || r.cpuMs < pick.cpuMs) pick = r;
  }
  return pick!;
}

// ---- over pcap: one process per side --------------------------------------------------------------

const PCAP_PORT = 9999;
const DONE_TIMEOUT_MS = Number(process.env.STACK_TIMEOUT_MS ?? 120_000);

interface PcapSide {
  ifname: string;
  mac: string;
  ip: string;
  routerMac: string;
}

interface SideReport {
  event: "done";
  cpuMs: number;
  ms: number;
  datagramsOut: number;
  datagramsIn: number;
  peakRssMib: number;
}

async function openPcap(side: PcapSide, role: "client" | "server", port: number): Promise<PacketConn & { stats(): { sent: number; received: number } }> {
  const { PcapPacketConn } = await import("../src/socket/pcap.ts");
  const conn = new PcapPacketConn({ interface: side.ifname, srcMac: side.mac, ipv4: { ip: side.ip, routerMac: side.routerMac }, port, role });
  await conn.ready;
  if (process.env.STACK_DEBUG) {
    setInterval(() => console.error(role, JSON.stringify(conn.stats())), 1000).unref();
  }
  return conn;
}

function rssSampler(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  const t = setInterval(() => {
    const r = process.memoryUsage.rss();
    if (r > peak) peak = r;
  }, SAMPLE_MS);
  return {
    stop() {
      clearInterval(t);
      return Math.max(peak, process.memoryUsage.rss()) / MIB;
    },
  };
}

/** Starts measuring one side: CPU, wall time, datagrams each way and peak RSS until `report()`. */
function sideMeter(conn: { stats(): { sent: number; received: number } }): { report(): SideReport } {
  const rss = rssSampler();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const sent0 = conn.stats().sent;
  const recv0 = conn.stats().received;
  return {
    report() {
      const cpu = process.cpuUsage(cpu0);
      return {
        event: "done",
        cpuMs: (cpu.user + cpu.system) / 1000,
        ms: performance.now() - t0,
        datagramsOut: conn.stats().sent - sent0,
        datagramsIn: conn.stats().received - recv0,
        peakRssMib: rss.stop(),
      };
    },
  };
}

/** Server side: accepts the streams, counts `total` bytes, answers one byte on the first stream. */
async function pcapServer(arg: { side: PcapSide; block: "aes" | "null"; total: number }): Promise<void> {
  const conn = await openPcap(arg.side, "server", PCAP_PORT);
  const key = new Uint8Array(32).fill(7);
  const listener = listen(conn, { kcp: paqetKcpOptions("server"), crypt: createPacketCrypt(arg.block, key) });
  console.log(JSON.stringify({ event: "ready" }));
  const kcp = await listener.accept();
  const smux = Session.server(kcp, { config: paqetSmuxConfig });
  if (process.env.STACK_DEBUG) setInterval(() => console.error("smux", JSON.stringify(smux.stats()), "got", got), 1000).unref();
  const meter = sideMeter(conn);
  let got = 0;
  let first: Stream | undefined;
  await new Promise<void>((resolve) => {
    smux.onStream((s) => {
      first ??= s;
      s.deliverPieces();
      s.setHandlers({
        data(c) {
          got += c.byteLength;
          if (got >= arg.total) resolve();
        },
        drain() {},
        close() {},
      });
    });
  });
  const report = meter.report();
  first!.write(new Uint8Array(1));
  console.log(JSON.stringify(report));
  await Bun.sleep(500);
  process.exit(0);
}

/** Client side: `streams` streams of `perStream` bytes to the server, until its one-byte answer. */
async function pcapClient(arg: { side: PcapSide; server: string; block: "aes" | "null"; streams: number; perStream: number }): Promise<void> {
  const conn = await openPcap(arg.side, "client", 0);
  const key = new Uint8Array(32).fill(7);
  const kcp = dial(conn, { ip: arg.server, port: PCAP_PORT }, { kcp: paqetKcpOptions("client"), crypt: createPacketCrypt(arg.block, key) });
  const smux = Session.client(kcp, { config: paqetSmuxConfig });
  const meter = sideMeter(conn);
  let answered: () => void = () => {};
  const answer = new Promise<void>((r) => (answered = r));
  const streams: Stream[] = [];
  for (let i = 0; i < arg.streams; i++) streams.push(smux.openStream());
  const writers = streams.map((s, i) => pump(s, arg.perStream, i === 0 ? () => answered() : undefined));
  void Promise.all(writers);
  await answer;
  console.log(JSON.stringify(meter.report()));
  process.exit(0);
}

async function readEvent<T>(stream: ReadableStream<Uint8Array>, event: string, timeoutMs: number): Promise<T> {
  const reader = stream.getReader();
  const dec = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      for (const line of text.split("\n")) if (line.includes(`"event":"${event}"`)) return JSON.parse(line) as T;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${event} within ${timeoutMs} ms: ${text}`);
      const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => undefined)]);
      if (!chunk) continue;
      if (chunk.done) throw new Error(`child ended before ${event}: ${text}`);
      text += dec.decode(chunk.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
}

async function pcapRun(bed: ReturnType<typeof createBed>, block: "aes" | "null", streams: number, perStreamMib: number): Promise<void> {
  const self = import.meta.path;
  const side = (e: typeof bed.a): PcapSide => ({ ifname: e.ifname, mac: e.mac, ip: e.ipv4, routerMac: e.routerMac });
  const total = streams * perStreamMib * MIB;
  const server = spawnIn(bed.b.ns, [process.execPath, self, "--child", "server", JSON.stringify({ side: side(bed.b), block, total })]);
  let client: ReturnType<typeof spawnIn> | undefined;
  try {
    await readEvent(server.stdout, "ready", 30_000);
    const arg = { side: side(bed.a), server: bed.b.ipv4, block, streams, perStream: perStreamMib * MIB };
    client = spawnIn(bed.a.ns, [process.execPath, self, "--child", "client", JSON.stringify(arg)]);
    const [c, s] = await Promise.all([
      readEvent<SideReport>(client.stdout, "done", DONE_TIMEOUT_MS),
      readEvent<SideReport>(server.stdout, "done", DONE_TIMEOUT_MS),
    ]);
    const mib = total / MIB;
    console.log(
      [
        `pcap ${block} ${streams}×${perStreamMib} MiB`.padEnd(26),
        `${(mib / (s.ms / 1000)).toFixed(1).padStart(7)} MiB/s`,
        `CPU ms/MiB client ${(c.cpuMs / mib).toFixed(2)} server ${(s.cpuMs / mib).toFixed(2)}`,
        `datagrams/MiB client→server ${(c.datagramsOut / mib).toFixed(0)} server→client ${(s.datagramsOut / mib).toFixed(0)}`,
        `peak RSS client ${c.peakRssMib.toFixed(0)} server ${s.peakRssMib.toFixed(0)} MiB`,
      ].join("  "),
    );
  } catch (err) {
    client?.kill("SIGKILL");
    server.kill("SIGKILL");
    const tails = await Promise.all([server, client].map((p) => (p ? new Response(p.stderr as ReadableStream).text() : "")));
    throw new Error(`${err instanceof Error ? err.message : String(err)}\nserver stderr: ${tails[0]!.slice(-2000)}\nclient stderr: ${tails[1]!.slice(-2000)}`);
  } finally {
    client?.kill("SIGKILL");
    server.kill("SIGKILL");
  }
}

async function pcapBench(mib: number, blocks: ("aes" | "null")[]): Promise<void> {
  const skip = netnsSkipReason();
  if (skip) {
    console.log(`stack over pcap: skipped (${skip})`);
    return;
  }
  const bed = createBed({ prefix: "pqs" });
  try {
    for (const block of blocks) {
      await pcapRun(bed, block, 1, mib);
      await pcapRun(bed, block, 8, mib / 8);
    }
  } finally {
    bed.destroy();
  }
}

export async function bench(): Promise<void> {
  const mib = Number(process.env.STACK_MIB ?? 256);
  const times = Math.max(1, Number(process.env.STACK_REPEAT ?? 1));
  if (process.env.STACK_LINK === "pcap") {
    await pcapBench(mib, (process.env.STACK_BLOCKS ?? "aes,null").split(",") as ("aes" | "null")[]);
    return;
  }
  const blocks = (process.env.STACK_BLOCKS ?? "aes,null").split(",") as ("aes" | "null")[];
  // Warm the JIT on a small run so the first measured scenario is not penalised.
  await stackRun(blocks[0]!, 1, 8);
  const base = await best(times, () => plainCopy(mib));
  console.log(row(base, base));
  for (const block of blocks) {
    console.log(row(await best(times, () => stackRun(block, 1, mib)), base));
    console.log(row(await best(times, () => stackRun(block, 8, mib / 8)), base));
  }
}

if (import.meta.main) {
  const i = process.argv.indexOf("--child");
  if (i < 0) await bench();
  else if (process.argv[i + 1] === "server") await pcapServer(JSON.parse(process.argv[i + 2]!));
  else await pcapClient(JSON.parse(process.argv[i + 2]!));
}
