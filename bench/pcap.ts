/**
 * bench pcap: frames per second through the pcap PacketConn on a veth pair between two network
 * namespaces (root only), beside raw `pcap_sendpacket` measured in the same run.
 *
 *   bun bench/pcap.ts            (or: bun run bench pcap)
 *
 * Each run starts a receiver process (PcapPacketConn, server role, port 9999) in namespace b and a
 * sender process in namespace a (fresh processes per run). The receiver first sits idle for
 * 1 + 3 s (its CPU use, all threads, over the last 3 s is the idle figure), then counts datagrams
 * until the sender is done and nothing arrives for 500 ms. Two senders are compared:
 *   raw:  one prebuilt 1400-byte paqet frame through PcapHandle.send (the pcap_sendpacket floor)
 *   mmsg: the same frame through sendmmsg in batches of 32 (ffi SendBatch)
 *   conn: PcapPacketConn.writeTo with a 1334-byte payload (frame build + checksums + send)
 * When the fastest raw sender beats 300 000 frames/s, another run paces it at exactly that rate.
 * These receivers meet the traffic cold (fresh processes); their line says how that went.
 * A last run repeats the raw blast with immediate mode off on the receiver (the seed fork's
 * micro-batching: the kernel wakes the worker per block or after 5 ms instead of per frame).
 * A round-trip run measures sequential ping-pong latency with PcapPacketConn on both ends.
 * Loss = sent − received; the receiver also reports kernel drops (pcap_stats) and ring waits.
 * Bars checked (reported, not asserted): idle CPU of a capturing process < 1 % here, and
 * ≥ 300 000 frames/s of 1400 B received without loss in the receive-rate section below. All processes share this machine's CPUs, so the sender
 * and the receiver compete: receive figures are lower bounds.
 *
 * Receive-rate section (also alone: `bun bench/pcap.ts --rx-rate`): the sender builds ONE frame
 * with FrameBuilder and then only rewrites a sequence number in its payload before each raw
 * pcap_sendpacket, so it runs at the probe's injection rate (bun-probe.md §2) instead of the
 * adapter's send rate. The payload starts with seq (u32) followed by ~seq: the two add up to
 * 0xFFFF + 0xFFFF, a one's-complement zero, so the TCP checksum of the prebuilt frame stays valid
 * for every seq. The receiver is the real PcapPacketConn; its handler counts sequence gaps per
 * sender. One sendto costs 2.7-5 us on this VM (a paravirtualised guest with page-table isolation:
 * the syscall round trip dominates), so a sender calling pcap_sendpacket per frame tops out near
 * 250 000-350 000 frames/s; the same frames through sendmmsg in batches of 32 (ffi SendBatch, what
 * PcapPacketConn does) cost about 1.5 us each. Runs: one pcap_sendpacket sender blast, two of them
 * paced at 300 000/s in total (source ports 40000, 40001, each with its own sequence, started at a
 * common instant; sleeping pacer, see childBlast), one sendmmsg sender blast and paced at
 * 300 000/s, each with the server default sockbuf (8 MiB) and with 32 MiB.
 */
import { spawnSync } from "bun";
import { join } from "node:path";
import { PcapHandle, SendBatch } from "../ffi/index.ts";
import { FrameBuilder } from "../src/socket/framing.ts";
import { DEFAULT_SOCKBUF, PcapPacketConn } from "../src/socket/pcap.ts";
import { createBed, netnsSkipReason, spawnIn } from "../test/helpers/netns.ts";

const FRAME = 1400;
const PAYLOAD = FRAME - 14 - 20 - 32;
const PORT = 9999;
/** Idle CPU is measured over IDLE_MS, after SETTLE_MS for start-up work (JIT, GC) to finish. */
const SETTLE_MS = 1000;
const IDLE_MS = 3000;
const QUIET_MS = 500;
const BAR_RATE = 300_000;
/** Receiver kernel buffer: the server default (8 MiB) unless PAQET_BENCH_PCAP_SOCKBUF (bytes) says otherwise. */
const SOCKBUF = Number(process.env.PAQET_BENCH_PCAP_SOCKBUF ?? 8 * 1024 * 1024);

interface Side {
  ifname: string;
  mac: string;
  ip: string;
  routerMac: string;
}

/** A PcapPacketConn on `side`'s interface and address; `extra` adds receive options. */
function sideConn(side: Side, role: "client" | "server", port: number, extra: { immediate?: boolean; sockbuf?: number } = {}): PcapPacketConn {
  return new PcapPacketConn({ interface: side.ifname, role, port, ipv4: { ip: side.ip, routerMac: side.routerMac }, ...extra });
}
interface RxResult {
  idleCpuPercent: number;
  received: number;
  seconds: number;
  kernelDrops: number;
  ringWaits: number;
  oversize: number;
}
interface TxResult {
  sent: number;
  seconds: number;
}

const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

/**
 * Waits until `expected` frames arrived, or the link has been quiet for QUIET_MS after the first
 * one (the rest was lost), or two minutes passed: every receiver run ends, loss or not.
 */
async function untilReceived(received: () => number, expected: number, lastAt: () => number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    await Bun.sleep(100);
    if (received() >= expected) return;
    if (received() > 0 && performance.now() - lastAt() > QUIET_MS) return;
    if (Date.now() > deadline) return;
  }
}

async function childRx(side: Side, expected: number, immediate: boolean): Promise<void> {
  const conn = sideConn(side, "server", PORT, { immediate, sockbuf: SOCKBUF });
  let received = 0;
  let first = 0;
  let last = 0;
  conn.onPacket(() => {
    const now = performance.now();
    if (received === 0) first = now;
    last = now;
    received++;
  });
  await conn.ready;
  await Bun.sleep(SETTLE_MS);
  const c0 = process.cpuUsage();
  await Bun.sleep(IDLE_MS);
  const c1 = process.cpuUsage(c0);
  const idleCpuPercent = ((c1.user + c1.system) / 1000 / IDLE_MS) * 100;
  say({ event: "ready" });
  await untilReceived(() => received, expected, () => last);
  const s = conn.stats().capture;
  await conn.close();
  const result: RxResult = {
    idleCpuPercent,
    received,
    seconds: (last - first) / 1000,
    kernelDrops: s.kernelDrops,
    ringWaits: s.ringWaits,
    oversize: s.oversize,
  };
  say({ event: "done", ...result });
  process.exit(0);
}

/** Spins until frame `i` is due at `rate` frames/s (checked every 64 frames); no-op when rate is 0. */
function pace(t0: number, i: number, rate: number): void {
  if (rate <= 0 || (i & 63) !== 0) return;
  const due = t0 + (i * 1000) / rate;
  while (performance.now() < due) {
    // busy-wait: Bun's timers tick at 1 ms, far coarser than one 64-frame burst
  }
}

/** Frames per sendmmsg for the batched raw senders. */
const MMSG_BATCH = 32;

/** Sends `count` copies through a SendBatch, `batch` per sendmmsg; `before(i)` runs ahead of frame i. */
function sendBatched(h: PcapHandle, frame: Uint8Array, count: number, before: (i: number) => void): number {
  let sendErrors = 0;
  const q = new SendBatch(h, { slots: MMSG_BATCH, onDrop: () => sendErrors++ });
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const flush = (): void => {
    // ENOBUFS/EAGAIN: the frames stay queued; wait a little and push them again.
    for (let tries = 0; q.flush() !== 0; tries++) {
      if (tries >= 1000) {
        sendErrors += q.clear();
        return;
      }
      Atomics.wait(sleeper, 0, 0, 0.2);
    }
  };
  for (let i = 0; i < count; i++) {
    before(i);
    q.push(frame, 0);
    if (q.length === MMSG_BATCH) flush();
  }
  flush();
  return sendErrors;
}

type TxMode = "raw" | "mmsg" | "conn";

async function childTx(side: Side, target: string, mode: TxMode, count: number, rate: number): Promise<void> {
  const payload = new Uint8Array(PAYLOAD).fill(0x5a);
  const to = { ip: target, port: PORT };
  let seconds: number;
  if (mode === "raw" || mode === "mmsg") {
    const frame = new FrameBuilder({ srcMac: side.mac, ipv4: { ip: side.ip, routerMac: side.routerMac }, srcPort: 40000 })
      .build(payload, to)
      .slice();
    const h = PcapHandle.open({ device: side.ifname, snaplen: 128, bufferSize: 256 * 1024, direction: "in", filter: "less 1" });
    const t0 = performance.now();
    if (mode === "mmsg") {
      sendBatched(h, frame, count, (i) => pace(t0, i, rate));
    } else {
      for (let i = 0; i < count; i++) {
        pace(t0, i, rate);
        h.send(frame);
      }
    }
    seconds = (performance.now() - t0) / 1000;
    h.close();
  } else {
    const conn = sideConn(side, "client", 40000);
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      pace(t0, i, rate);
      conn.writeTo(payload, to);
    }
    seconds = (performance.now() - t0) / 1000;
    await conn.close();
  }
  const result: TxResult = { sent: count, seconds };
  say({ event: "done", ...result });
  process.exit(0);
}

/** Echo server for the round-trip run: sends every datagram back until killed. */
async function childEcho(side: Side): Promise<void> {
  const conn = sideConn(side, "server", PORT);
  conn.onPacket((data, from) => conn.writeTo(data, from));
  await conn.ready;
  say({ event: "ready" });
}

/** Sequential round trips of a 100-byte datagram through PcapPacketConn on both ends. */
async function childPing(side: Side, target: string, count: number): Promise<void> {
  const conn = sideConn(side, "client", 0);
  await conn.ready;
  const rtts: number[] = [];
  let wake: (() => void) | undefined;
  conn.onPacket(() => wake?.());
  const payload = new Uint8Array(100);
  const to = { ip: target, port: PORT };
  let lost = 0;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const got = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000);
      wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      conn.writeTo(payload, to);
    });
    if (got) rtts.push((performance.now() - t0) * 1000);
    else lost++;
  }
  await conn.close();
  rtts.sort((x, y) => x - y);
  const q = (f: number) => Math.round(rtts[Math.min(rtts.length - 1, Math.floor(f * rtts.length))] ?? NaN);
  say({ event: "done", p50: q(0.5), p90: q(0.9), p99: q(0.99), lost });
  process.exit(0);
}

async function readJson<T>(stream: ReadableStream<Uint8Array>, event: string, timeoutMs: number, buffer: { text: string }): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const reader = stream.getReader();
  const dec = new TextDecoder();
  try {
    for (;;) {
      for (const line of buffer.text.split("\n")) {
        if (line.includes(`"event":"${event}"`)) {
          buffer.text = buffer.text.slice(buffer.text.indexOf(line) + line.length);
          return JSON.parse(line) as T;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${event} within ${timeoutMs} ms: ${buffer.text}`);
      const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => undefined)]);
      if (!chunk) continue;
      if (chunk.done) throw new Error(`child ended before ${event}: ${buffer.text}`);
      buffer.text += dec.decode(chunk.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
}

async function run(
  mode: TxMode,
  count: number,
  bed: ReturnType<typeof createBed>,
  rate = 0,
  immediate = true,
): Promise<{ rx: RxResult; tx: TxResult }> {
  const self = join(import.meta.dir, "pcap.ts");
  const a: Side = { ifname: bed.a.ifname, mac: bed.a.mac, ip: bed.a.ipv4, routerMac: bed.a.routerMac };
  const b: Side = { ifname: bed.b.ifname, mac: bed.b.mac, ip: bed.b.ipv4, routerMac: bed.b.routerMac };
  const rx = spawnIn(bed.b.ns, [process.execPath, self, "--child", "rx", JSON.stringify({ side: b, count, immediate })]);
  const rxBuf = { text: "" };
  let tx: ReturnType<typeof spawnIn> | undefined;
  try {
    await readJson(rx.stdout, "ready", 30_000, rxBuf);
    tx = spawnIn(bed.a.ns, [process.execPath, self, "--child", "tx", JSON.stringify({ side: a, target: b.ip, mode, count, rate })]);
    const txResult = await readJson<TxResult>(tx.stdout, "done", 120_000, { text: "" });
    const rxResult = await readJson<RxResult>(rx.stdout, "done", 130_000, rxBuf);
    return { rx: rxResult, tx: txResult };
  } finally {
    tx?.kill("SIGKILL");
    rx.kill("SIGKILL");
  }
}

async function roundTrips(bed: ReturnType<typeof createBed>, count: number): Promise<{ p50: number; p90: number; p99: number; lost: number }> {
  const self = join(import.meta.dir, "pcap.ts");
  const a: Side = { ifname: bed.a.ifname, mac: bed.a.mac, ip: bed.a.ipv4, routerMac: bed.a.routerMac };
  const b: Side = { ifname: bed.b.ifname, mac: bed.b.mac, ip: bed.b.ipv4, routerMac: bed.b.routerMac };
  const echo = spawnIn(bed.b.ns, [process.execPath, self, "--child", "echo", JSON.stringify({ side: b })]);
  let ping: ReturnType<typeof spawnIn> | undefined;
  try {
    await readJson(echo.stdout, "ready", 30_000, { text: "" });
    ping = spawnIn(bed.a.ns, [process.execPath, self, "--child", "ping", JSON.stringify({ side: a, target: b.ip, count })]);
    return await readJson(ping.stdout, "done", 60_000, { text: "" });
  } finally {
    ping?.kill("SIGKILL");
    echo.kill("SIGKILL");
  }
}

/** Payload offsets of the sequence marker: seq at 0, ~seq at 4 (see the header comment). */
const SEQ_AT = 0;
const SEQ_NOT_AT = 4;
const RX_RATE_SOCKBUFS = [undefined, 32 * 1024 * 1024] as const;
/**
 * [senders, total frames/s (0 = as fast as they can), how they send: "sp" one pcap_sendpacket per
 * frame, "mm" sendmmsg batches of MMSG_BATCH]; PAQET_BENCH_PCAP_RX_RUNS="2:300000:sp,1:0:mm"
 * replaces the list.
 */
type RxRun = readonly [senders: number, rate: number, how: "sp" | "mm"];
const RX_RATE_RUNS: readonly RxRun[] = process.env.PAQET_BENCH_PCAP_RX_RUNS
  ? process.env.PAQET_BENCH_PCAP_RX_RUNS.split(",").map((r): RxRun => {
      const [n, rate, how] = r.split(":");
      return [Number(n) || 1, Number(rate ?? 0) || 0, how === "mm" ? "mm" : "sp"];
    })
  : [
      [1, 0, "sp"],
      [2, 300_000, "sp"],
      [1, 0, "mm"],
      [1, 300_000, "mm"],
    ];
const BLAST_PORT = 40000;
/**
 * Warm-up before each measured run: WARM_FRAMES from port WARM_PORT at WARM_RATE, then a pause.
 * The receiver counts them apart and takes its drop baseline when the first measured frame
 * arrives. Why: a fresh receiver process spends its first ~50 ms of traffic compiling (JIT
 * threads competing with the capture worker for the 2 vCPUs), and a 300 000/s burst into a cold
 * process overflowed the kernel buffer in that window. The bar is about the receive path's steady
 * rate, as in the probe, whose runs began with 3 s of ping-pong. PAQET_BENCH_PCAP_RX_WARMUP=0
 * measures cold receivers instead.
 */
const WARM_PORT = BLAST_PORT + 7;
const WARM_FRAMES = Number(process.env.PAQET_BENCH_PCAP_RX_WARMUP ?? 100_000);
const WARM_RATE = 100_000;
const WARM_PAUSE_MS = 300;

interface SeqRxResult {
  received: number;
  seconds: number;
  /** Frames missing between consecutive sequence numbers (each gap counts its width). */
  gaps: number;
  /** Receive order (0-based) of the first and the last frame that came after a gap; -1 = none. */
  firstGapAt: number;
  lastGapAt: number;
  /** Sequence numbers at or below one already seen (duplicates or reordering). */
  backwards: number;
  /** Payloads without a valid seq/~seq marker. */
  foreign: number;
  kernelDrops: number;
  ringWaits: number;
  sockbuf: number;
  /** Warm-up frames received (not part of the figures above). */
  warm: number;
  /** Receiver process CPU (all threads) from the first to the last frame, % of one core. */
  cpuPercent: number;
}
interface BlastResult {
  sent: number;
  sendErrors: number;
  seconds: number;
}

async function childSeqRx(side: Side, perSender: number, senders: number, sockbuf: number | undefined): Promise<void> {
  const expected = perSender * senders;
  const conn = sideConn(side, "server", PORT, { sockbuf });
  let received = 0;
  let first = 0;
  let last = 0;
  /** Next expected seq per sender (indexed by source port − BLAST_PORT). */
  const next = [0, 0, 0, 0];
  let gaps = 0;
  let firstGapAt = -1;
  let lastGapAt = -1;
  let backwards = 0;
  let foreign = 0;
  let cpu0 = process.cpuUsage();
  let cpuLast = cpu0;
  let warm = 0;
  let dropsBefore = 0;
  let waitsBefore = 0;
  conn.onPacket((data, from) => {
    if (from.port === WARM_PORT) {
      warm++;
      return;
    }
    const now = performance.now();
    if (received === 0) {
      first = now;
      cpu0 = process.cpuUsage();
      const c = conn.stats().capture;
      dropsBefore = c.kernelDrops;
      waitsBefore = c.ringWaits;
    }
    // Sampled (a cpuUsage call is a syscall); the last sample bounds the busy interval.
    if ((received & 4095) === 0) cpuLast = process.cpuUsage(cpu0);
    last = now;
    received++;
    if (data.length < SEQ_NOT_AT + 4) {
      foreign++;
      return;
    }
    const seq = ((data[SEQ_AT]! << 24) | (data[SEQ_AT + 1]! << 16) | (data[SEQ_AT + 2]! << 8) | data[SEQ_AT + 3]!) >>> 0;
    const not = ((data[SEQ_NOT_AT]! << 24) | (data[SEQ_NOT_AT + 1]! << 16) | (data[SEQ_NOT_AT + 2]! << 8) | data[SEQ_NOT_AT + 3]!) >>> 0;
    if (((seq ^ not) >>> 0) !== 0xffffffff) {
      foreign++;
      return;
    }
    const k = from.port - BLAST_PORT;
    const want = next[k];
    if (want === undefined) {
      foreign++;
    } else if (seq >= want) {
      if (seq > want) {
        if (firstGapAt < 0) firstGapAt = received - 1;
        lastGapAt = received - 1;
      }
      gaps += seq - want;
      next[k] = seq + 1;
    } else {
      backwards++;
    }
  });
  await conn.ready;
  await Bun.sleep(SETTLE_MS);
  say({ event: "ready" });
  await untilReceived(() => received, expected, () => last);
  // Frames a sender sent after the last one received are gaps too (a lost tail).
  for (let k = 0; k < senders; k++) gaps += Math.max(0, perSender - (next[k] ?? 0));
  const s = conn.stats().capture;
  await conn.close();
  const result: SeqRxResult = {
    received,
    seconds: (last - first) / 1000,
    gaps,
    firstGapAt,
    lastGapAt,
    backwards,
    foreign,
    kernelDrops: s.kernelDrops - dropsBefore,
    ringWaits: s.ringWaits - waitsBefore,
    sockbuf: sockbuf ?? DEFAULT_SOCKBUF.server,
    warm,
    cpuPercent: ((cpuLast.user + cpuLast.system) / 1000 / Math.max(1, last - first)) * 100,
  };
  say({ event: "done", ...result });
  process.exit(0);
}

/**
 * The fast sender: one frame built once, then per frame only the 8-byte sequence marker is
 * rewritten before pcap_sendpacket. When rate > 0 it is paced every 16 frames by sleeping in
 * Atomics.wait (a futex with a sub-millisecond timeout) rather than spinning: two spinning senders
 * took both vCPUs from the receiver and made it drop frames even at 200 000/s in total (receiver
 * CPU 34 %, 1.0 % loss with 8 MiB, 0.1 % with 32 MiB).
 */
function childBlast(side: Side, target: string, count: number, rate: number, stream: number, startAt: number, how: "sp" | "mm"): void {
  const payload = new Uint8Array(PAYLOAD).fill(0x5a);
  const pv = new DataView(payload.buffer);
  pv.setUint32(SEQ_AT, 0);
  pv.setUint32(SEQ_NOT_AT, 0xffffffff);
  const frame = new FrameBuilder({ srcMac: side.mac, ipv4: { ip: side.ip, routerMac: side.routerMac }, srcPort: BLAST_PORT + stream })
    .build(payload, { ip: target, port: PORT })
    .slice();
  const at = frame.length - PAYLOAD;
  const fv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const h = PcapHandle.open({ device: side.ifname, snaplen: 128, bufferSize: 256 * 1024, direction: "in", filter: "less 1" });
  let sendErrors = 0;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < startAt) {
    // busy-wait to the common start instant of all senders
  }
  const t0 = performance.now();
  const before = (i: number): void => {
    if (rate > 0 && (i & 15) === 0) {
      const ahead = t0 + (i * 1000) / rate - performance.now();
      if (ahead > 0) Atomics.wait(sleeper, 0, 0, ahead);
    }
    fv.setUint32(at + SEQ_AT, i);
    fv.setUint32(at + SEQ_NOT_AT, ~i >>> 0);
  };
  if (how === "mm") {
    sendErrors = sendBatched(h, frame, count, before);
  } else {
    for (let i = 0; i < count; i++) {
      before(i);
      try {
        h.send(frame);
      } catch {
        sendErrors++;
      }
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  h.close();
  const result: BlastResult = { sent: count, sendErrors, seconds };
  say({ event: "done", ...result });
  process.exit(0);
}

async function runSeq(
  bed: ReturnType<typeof createBed>,
  count: number,
  senders: number,
  rate: number,
  how: "sp" | "mm",
  sockbuf: number | undefined,
): Promise<{ rx: SeqRxResult; tx: BlastResult }> {
  const perSender = Math.floor(count / senders);
  const self = join(import.meta.dir, "pcap.ts");
  const a: Side = { ifname: bed.a.ifname, mac: bed.a.mac, ip: bed.a.ipv4, routerMac: bed.a.routerMac };
  const b: Side = { ifname: bed.b.ifname, mac: bed.b.mac, ip: bed.b.ipv4, routerMac: bed.b.routerMac };
  const rx = spawnIn(bed.b.ns, [process.execPath, self, "--child", "seqrx", JSON.stringify({ side: b, count: perSender, senders, sockbuf })]);
  const rxBuf = { text: "" };
  const txs: ReturnType<typeof spawnIn>[] = [];
  try {
    await readJson(rx.stdout, "ready", 30_000, rxBuf);
    if (WARM_FRAMES > 0) {
      const arg = { side: a, target: b.ip, count: WARM_FRAMES, rate: WARM_RATE, stream: WARM_PORT - BLAST_PORT, startAt: 0, how: "mm" };
      const warm = spawnIn(bed.a.ns, [process.execPath, self, "--child", "blast", JSON.stringify(arg)]);
      try {
        await readJson<BlastResult>(warm.stdout, "done", 60_000, { text: "" });
      } finally {
        warm.kill("SIGKILL");
      }
      await Bun.sleep(WARM_PAUSE_MS);
    }
    // Bun starts in well under a second here; every sender waits for the same instant.
    const startAt = Date.now() + 1500;
    for (let k = 0; k < senders; k++) {
      const arg = { side: a, target: b.ip, count: perSender, rate: rate / senders, stream: k, startAt, how };
      txs.push(spawnIn(bed.a.ns, [process.execPath, self, "--child", "blast", JSON.stringify(arg)]));
    }
    const results = await Promise.all(txs.map((t) => readJson<BlastResult>(t.stdout, "done", 120_000, { text: "" })));
    const rxResult = await readJson<SeqRxResult>(rx.stdout, "done", 130_000, rxBuf);
    const tx: BlastResult = {
      sent: results.reduce((n, r) => n + r.sent, 0),
      sendErrors: results.reduce((n, r) => n + r.sendErrors, 0),
      seconds: Math.max(...results.map((r) => r.seconds)),
    };
    return { rx: rxResult, tx };
  } finally {
    for (const t of txs) t.kill("SIGKILL");
    rx.kill("SIGKILL");
  }
}

/** The receive-rate section: PcapPacketConn behind a sender as fast as raw pcap_sendpacket. */
async function rxRate(bed: ReturnType<typeof createBed>): Promise<void> {
  const count = Number(process.env.PAQET_BENCH_PCAP_RX_FRAMES ?? 1_200_000);
  console.log(
    `receive rate: PcapPacketConn (server) behind raw senders (one prebuilt ${FRAME} B frame, seq rewritten per send; pcap_sendpacket per frame or sendmmsg x${MMSG_BATCH}), ${fmt(count)} frames per run, ` +
      (WARM_FRAMES > 0 ? `after a warm-up of ${fmt(WARM_FRAMES)} frames at ${fmt(WARM_RATE)}/s` : "cold receivers (no warm-up)"),
  );
  let best = 0;
  for (const sockbuf of RX_RATE_SOCKBUFS) {
    for (const [senders, rate, how] of RX_RATE_RUNS) {
      const { rx, tx } = await runSeq(bed, count, senders, rate, how, sockbuf);
      const txRate = tx.sent / tx.seconds;
      const rxRateNow = rx.received / rx.seconds;
      const loss = tx.sent - tx.sendErrors - rx.received;
      const lossless = loss === 0 && rx.gaps === 0 && rx.kernelDrops === 0 && tx.sendErrors === 0;
      if (lossless) best = Math.max(best, rxRateNow);
      const name = `${senders} tx ${how === "mm" ? `sendmmsg x${MMSG_BATCH}` : "sendpacket"} ${rate === 0 ? "blast" : `paced ${fmt(rate)}/s`}, sockbuf ${rx.sockbuf / 1048576} MiB`;
      console.log(
        `recv  ${name.padEnd(52)} sender ${fmt(txRate).padStart(9)}/s  received ${fmt(rxRateNow).padStart(9)}/s  ratio ${(rxRateNow / txRate).toFixed(3)}  ` +
          `loss ${loss} (${((loss / tx.sent) * 100).toFixed(3)} %), seq gaps ${rx.gaps} (frames ${rx.firstGapAt}..${rx.lastGapAt} of the run), backwards ${rx.backwards}, foreign ${rx.foreign}, kernel drops ${rx.kernelDrops}, ring waits ${rx.ringWaits}, send errors ${tx.sendErrors}, receiver CPU ${rx.cpuPercent.toFixed(0)} %`,
      );
    }
  }
  console.log(`bar   >= ${fmt(BAR_RATE)} frames/s received without loss (fast sender): ${best >= BAR_RATE ? "met" : "NOT met"} (best lossless run ${fmt(best)}/s)`);
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/**
 * The receiving kernel's own work (TCP lookup, the RST it builds and the rule that drops it) runs
 * synchronously in the sender's send call on a veth. Dropping the bench port at raw PREROUTING,
 * after libpcap's tap has seen the frame, takes that out, as in bun-probe.md §3.
 */
function dropBenchPort(bed: ReturnType<typeof createBed>): void {
  const drop = spawnSync(
    ["ip", "netns", "exec", bed.b.ns, "iptables", "-w", "-t", "raw", "-I", "PREROUTING", "-p", "tcp", "--dport", String(PORT), "-j", "DROP"],
    { stderr: "pipe" },
  );
  if (drop.exitCode !== 0) throw new Error(`iptables: ${drop.stderr.toString()}`);
}

/** `bun bench/pcap.ts --rx-rate`: the receive-rate section alone, on its own bed. */
async function rxRateOnly(): Promise<void> {
  const skip = netnsSkipReason();
  if (skip) {
    console.log(`pcap rx-rate: skipped (${skip})`);
    return;
  }
  const bed = createBed({ prefix: "pqb" });
  try {
    dropBenchPort(bed);
    await rxRate(bed);
  } finally {
    bed.destroy();
  }
}

export async function bench(): Promise<void> {
  const skip = netnsSkipReason();
  if (skip) {
    console.log(`pcap: skipped (${skip})`);
    return;
  }
  const count = Number(process.env.PAQET_BENCH_PCAP_FRAMES ?? 600_000);
  const bed = createBed({ prefix: "pqb" });
  try {
    dropBenchPort(bed);
    const raw = await run("raw", count, bed);
    const mmsg = await run("mmsg", count, bed);
    const conn = await run("conn", count, bed);
    const rawTx = raw.tx.sent / raw.tx.seconds;
    const mmsgTx = mmsg.tx.sent / mmsg.tx.seconds;
    const connTx = conn.tx.sent / conn.tx.seconds;
    const fastest: TxMode = mmsgTx > rawTx ? "mmsg" : "raw";
    const paced = Math.max(rawTx, mmsgTx) > BAR_RATE * 1.05 ? await run(fastest, count, bed, BAR_RATE) : undefined;
    const batched = await run("raw", count, bed, 0, false);
    console.log(`frames of ${FRAME} B, ${fmt(count)} per run, veth between two namespaces, receiver sockbuf ${SOCKBUF / 1048576} MiB (server default 8), port dropped at raw PREROUTING after capture`);
    console.log(`send  raw pcap_sendpacket      ${fmt(rawTx).padStart(10)} frames/s`);
    console.log(`send  raw sendmmsg x${MMSG_BATCH}         ${fmt(mmsgTx).padStart(10)} frames/s   ratio ${(mmsgTx / rawTx).toFixed(2)}`);
    console.log(`send  PcapPacketConn.writeTo   ${fmt(connTx).padStart(10)} frames/s   ratio ${(connTx / rawTx).toFixed(2)}`);
    const runs: [string, { rx: RxResult; tx: TxResult }][] = [
      ["raw blast", raw],
      ["mmsg blast", mmsg],
      ["conn blast", conn],
    ];
    if (paced) runs.push([`${fastest} ${fmt(BAR_RATE)}/s`, paced]);
    runs.push(["raw, imm. off", batched]);
    for (const [name, r] of runs) {
      const rate = r.rx.received / r.rx.seconds;
      const loss = r.tx.sent - r.rx.received;
      console.log(
        `recv  PcapPacketConn (${name.padEnd(14)}) ${fmt(rate).padStart(10)} frames/s   loss ${loss} (${((loss / r.tx.sent) * 100).toFixed(3)} %), kernel drops ${r.rx.kernelDrops}, ring waits ${r.rx.ringWaits}`,
      );
    }
    const rt = await roundTrips(bed, 2000);
    console.log(`rtt   PcapPacketConn both ends, 100 B, sequential: p50 ${rt.p50} us, p90 ${rt.p90} us, p99 ${rt.p99} us, lost ${rt.lost}`);
    const idle = Math.max(...runs.map(([, r]) => r.rx.idleCpuPercent));
    console.log(`idle  CPU of a capturing process  ${idle.toFixed(2)} % (bar < 1 %: ${idle < 1 ? "met" : "NOT met"})`);
    const lossless = runs.filter(([, r]) => r.tx.sent === r.rx.received).map(([, r]) => r.rx.received / r.rx.seconds);
    const best = lossless.length > 0 ? Math.max(...lossless) : 0;
    // These receivers are fresh processes that meet the traffic cold; the bar itself is judged by
    // the receive-rate section below, whose receivers are warmed up first (see WARM_FRAMES).
    console.log(
      `cold  receivers (a fresh process per run): ${best >= BAR_RATE ? "" : "no "}lossless run at >= ${fmt(BAR_RATE)} frames/s (best lossless ${fmt(best)}/s${paced ? "" : `; sender too slow here for a ${fmt(BAR_RATE)}/s run`}); the bar is judged below`,
    );
    await rxRate(bed);
  } finally {
    bed.destroy();
  }
}

if (import.meta.main) {
  const [flag, role, json] = process.argv.slice(2);
  if (flag === "--child" && json) {
    const p = JSON.parse(json) as {
      side: Side;
      count: number;
      target: string;
      mode: TxMode;
      rate: number;
      immediate: boolean;
      sockbuf?: number;
      senders?: number;
      stream?: number;
      startAt?: number;
      how?: "sp" | "mm";
    };
    if (role === "rx") await childRx(p.side, p.count, p.immediate);
    else if (role === "seqrx") await childSeqRx(p.side, p.count, p.senders ?? 1, p.sockbuf);
    else if (role === "blast") childBlast(p.side, p.target, p.count, p.rate, p.stream ?? 0, p.startAt ?? 0, p.how ?? "sp");
    else if (role === "echo") await childEcho(p.side);
    else if (role === "ping") await childPing(p.side, p.target, p.count);
    else await childTx(p.side, p.target, p.mode, p.count, p.rate);
  } else if (flag === "--rx-rate") {
    await rxRateOnly();
  } else {
    await bench();
  }
}
