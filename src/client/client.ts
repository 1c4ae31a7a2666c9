/**
 * The paqet client core (paqet-app.md §5 with the seed fork's connection management, seed-fork
 * §4.4): a fixed pool of transport connections, streams placed round-robin, and a UDP stream pool.
 *
 * Each slot keeps its raw socket for its whole life (the fork's "closeConnKeepPacket"): a
 * reconnect closes smux and KCP and dials again over the same socket with a new conv, so the
 * local port survives and the server's listener replaces the old session. A connection is "ready"
 * once a PING on it came back PONG; then the TCPF message goes out once. Broken slots reconnect
 * in the background with jittered exponential backoff; a ready slot is checked with a PING every
 * 30 s, and with a short PING when no smux frame arrived for a while (1.5 keepalive intervals in
 * the background, 500 ms when a stream request picks it). A stream request waits up to
 * 3 s for a ready connection, then fails with `no tunnel connections available`.
 *
 * Deviations from alpha.21 (recorded as the spec asks): no TCPF resend and no zero-byte probe
 * stream per stream request (§4.3); dead connections are found by smux keepalive, PING health
 * checks and failed opens, and repaired in the background instead of lazily.
 */
import type { Duplex } from "../lib/duplex.ts";
import { errorMessage } from "../lib/errors.ts";
import { logger, RateLimitedLog } from "../lib/log.ts";
import { provide, provideRetransmits, recordPing } from "../lib/metrics.ts";
import { isGuardPacketConn, provideGuardMetrics } from "../socket/guard.ts";
import type { PacketAddr, PacketConn } from "../socket/types.ts";
import {
  closePacket,
  MessageType,
  openTarget,
  pingConn,
  sendTcpf,
  targetMessage,
  transportPacketConn,
  TunnelConn,
  TunnelError,
  type TunnelOptions,
} from "../tunnel/index.ts";
import type { TunnelClient, UdpFlow } from "./api.ts";
import { MeteredStream } from "./metered.ts";

const log = logger("client");

export interface ClientTimings {
  /** How long a stream request waits for a ready connection (seed fork: 3 s). */
  readonly waitMs: number;
  /** PING deadline when (re)connecting and for health checks. */
  readonly verifyTimeoutMs: number;
  /** Health check period of a ready connection. */
  readonly healthyIntervalMs: number;
  /** While requests wait, a broken connection is retried at least this often, whatever its backoff. */
  readonly brokenIntervalMs: number;
  /** First reconnect delay; doubles per failure up to `backoffMaxMs`, each with ±25 % jitter. */
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  /** How long `start` waits for the first connection to become ready before returning. */
  readonly startWaitMs: number;
}

export const DEFAULT_TIMINGS: ClientTimings = Object.freeze({
  waitMs: 3_000,
  verifyTimeoutMs: 10_000,
  healthyIntervalMs: 30_000,
  brokenIntervalMs: 500,
  backoffInitialMs: 500,
  backoffMaxMs: 30_000,
  startWaitMs: 3_000,
});

export interface UdpPoolOptions {
  /** Seed fork: 4096 entries. */
  readonly maxEntries: number;
  /** Idle entries older than this are closed by the sweeper (60 s). */
  readonly idleMs: number;
  /** Sweep period (seed fork: 30 s). */
  readonly sweepMs: number;
}

export const DEFAULT_UDP_POOL: UdpPoolOptions = Object.freeze({ maxEntries: 4096, idleMs: 60_000, sweepMs: 30_000 });

export interface ClientOptions {
  readonly tunnel: TunnelOptions;
  /** The server's raw socket address (resolved). */
  readonly server: PacketAddr;
  /** Opens the raw socket of slot `index` (pcap in `run`, memory in tests); the client closes it. */
  readonly openPacket: (index: number) => PacketConn | Promise<PacketConn>;
  readonly timings?: Partial<ClientTimings>;
  readonly udp?: Partial<UdpPoolOptions>;
  /** Uniform [0, 1) source for the backoff jitter. */
  readonly random?: () => number;
}

/** Sleep before reconnect attempt n: uniform in [0.75 b, 1.25 b) with b = initial · 2^n, capped. */
export function backoffDelay(baseMs: number, random: () => number): number {
  return baseMs * 0.75 + random() * (baseMs / 2);
}

/** A stream request that finds its connection this long without an smux frame probes it. */
const REQUEST_SILENCE_MS = 500;
/** A connection ready this long before it was lost is retried at once, without backoff. */
const STABLE_MS = 10_000;
/** Shortest wait for the PONG of a silence probe (longer on a slow link: four round trips). */
const PROBE_TIMEOUT_MIN_MS = 1000;

const SlotState = { Idle: 0, Connecting: 1, Ready: 2, Broken: 3, Closed: 4 } as const;
type SlotState = (typeof SlotState)[keyof typeof SlotState];
const STATE_NAMES = ["idle", "connecting", "ready", "broken", "closed"] as const;

/** Which slot transitions exist; anything else is a bug and throws. Closed is final. */
const SLOT_TRANSITIONS: Record<SlotState, readonly SlotState[]> = {
  [SlotState.Idle]: [SlotState.Connecting, SlotState.Closed],
  [SlotState.Connecting]: [SlotState.Ready, SlotState.Broken, SlotState.Closed],
  [SlotState.Ready]: [SlotState.Broken, SlotState.Closed],
  [SlotState.Broken]: [SlotState.Connecting, SlotState.Closed],
  [SlotState.Closed]: [],
};

function transition(slot: Slot, to: SlotState): void {
  if (slot.state === to) return;
  if (!SLOT_TRANSITIONS[slot.state].includes(to)) {
    throw new Error(`client slot ${slot.index + 1}: ${STATE_NAMES[slot.state]} => ${STATE_NAMES[to]} is not a transition`);
  }
  slot.state = to;
}

export interface ClientStats {
  /** Successful (re)connections, the first ones included. */
  connects: number;
  connectFailures: number;
  /** Ready connections that were found dead (keepalive, failed PING, failed open). */
  connectionsLost: number;
  streamsOpened: number;
  /** Stream requests that gave up with no ready connection. */
  unavailable: number;
  udpReused: number;
  udpEvicted: number;
}

interface UdpEntry {
  readonly stream: MeteredStream;
  lastUsed: number;
}

class Slot {
  state: SlotState = SlotState.Idle;
  raw: PacketConn | undefined;
  transport: PacketConn | undefined;
  /** Removes the status sources of `transport` (its guard's counters). */
  unprovide: (() => void) | undefined;
  conn: TunnelConn | undefined;
  backoffMs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** smux frames received at the last health tick, when that count last moved, and the last PING check (performance.now ms). */
  framesSeen = 0;
  framesAt = 0;
  checkedAt = 0;
  /** A silence probe is in flight. */
  probing = false;
  /** The last PING round trip on this slot's connection (ms). */
  rttMs = 0;
  /** When the current connection became ready, and when the last connect attempt began (performance.now ms). */
  readyAt = 0;
  attemptAt = 0;
  constructor(
    readonly index: number,
    initialBackoff: number,
  ) {
    this.backoffMs = initialBackoff;
  }
}

interface Waiter {
  resolve(): void;
}

export class PaqetClient implements TunnelClient {
  readonly stats: ClientStats = {
    connects: 0,
    connectFailures: 0,
    connectionsLost: 0,
    streamsOpened: 0,
    unavailable: 0,
    udpReused: 0,
    udpEvicted: 0,
  };
  private readonly slots: Slot[];
  private readonly timings: ClientTimings;
  private readonly udpOptions: UdpPoolOptions;
  private readonly random: () => number;
  private readonly shutdown = new AbortController();
  private readonly waiters = new Set<Waiter>();
  private readonly udpPool = new Map<string, UdpEntry>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private next = 0;
  private started = false;
  private closing: Promise<void> | undefined;
  private readonly warnLog = new RateLimitedLog((m) => log.warn(m), 1, 60_000);
  private readonly unprovide: (() => void)[] = [];

  constructor(private readonly options: ClientOptions) {
    this.timings = { ...DEFAULT_TIMINGS, ...options.timings };
    this.udpOptions = { ...DEFAULT_UDP_POOL, ...options.udp };
    this.random = options.random ?? Math.random;
    const n = Math.max(1, options.tunnel.conns);
    this.slots = Array.from({ length: n }, (_, i) => new Slot(i, this.timings.backoffInitialMs));
  }

  get closed(): boolean {
    return this.shutdown.signal.aborted;
  }

  /** Connections that are ready now. */
  get readyCount(): number {
    return this.slots.filter((s) => s.state === SlotState.Ready).length;
  }

  /** Each slot's state and local port, for status output and tests. */
  slotInfo(): { index: number; state: string; port: number | undefined; conv: number | undefined }[] {
    return this.slots.map((s) => ({
      index: s.index,
      state: STATE_NAMES[s.state],
      port: s.raw?.localAddr.port,
      conv: s.conn?.kcp.conv,
    }));
  }

  /**
   * Opens every slot's raw socket (a failure here is fatal and closes what was opened), then
   * connects them all in the background. Resolves once one connection is ready or `startWaitMs`
   * has passed; the rest keep connecting, and a down server only delays readiness.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error("client already started");
    this.started = true;
    try {
      for (const slot of this.slots) {
        this.attach(slot, await this.options.openPacket(slot.index));
        if (this.closed) throw new TunnelError("TUN_CLOSED", "client was shut down while starting");
      }
    } catch (err) {
      for (const slot of this.slots) {
        slot.unprovide?.();
        if (slot.raw) closePacket(slot.raw);
      }
      this.shutdown.abort(new TunnelError("TUN_CLOSED", "client failed to start"));
      throw err;
    }
    this.unprovide.push(
      provide("sessions", () => this.readyCount),
      provide("streams", () => this.slots.reduce((n, s) => n + (s.conn?.smux.numStreams ?? 0), 0)),
    );
    for (const slot of this.slots) void this.connect(slot);
    await this.waitReady(this.timings.startWaitMs);
  }

  /** Closes every connection, the UDP pool and the raw sockets; pending requests fail with TUN_CLOSED. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.shutdown.abort(new TunnelError("TUN_CLOSED", "client is shut down"));
    this.wakeWaiters();
    for (const off of this.unprovide.splice(0)) off();
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const [key, entry] of [...this.udpPool]) {
      this.udpPool.delete(key);
      entry.stream.close();
    }
    const pending: Promise<unknown>[] = [];
    for (const slot of this.slots) {
      if (slot.timer !== undefined) clearTimeout(slot.timer);
      slot.timer = undefined;
      transition(slot, SlotState.Closed);
      slot.conn?.close();
      slot.conn = undefined;
      slot.unprovide?.();
      slot.unprovide = undefined;
      if (slot.raw && !slot.raw.isClosed) {
        const r = slot.raw.close() as unknown;
        if (r instanceof Promise) pending.push(r.catch(() => {}));
      }
    }
    this.closing = Promise.all(pending).then(() => {});
    return this.closing;
  }

  // ---- connection management ----

  private async connect(slot: Slot): Promise<void> {
    if (this.closed || slot.state === SlotState.Connecting) return;
    transition(slot, SlotState.Connecting);
    slot.attemptAt = performance.now();
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.conn?.close({ keepPacket: true });
    slot.conn = undefined;
    let conn: TunnelConn | undefined;
    try {
      if (!slot.raw || slot.raw.isClosed) {
        const raw = await this.options.openPacket(slot.index);
        if (this.closed) {
          closePacket(raw);
          return;
        }
        this.attach(slot, raw);
      }
      conn = TunnelConn.dial(slot.transport!, this.options.server, this.options.tunnel);
      conn.onClose(provideRetransmits(conn.kcp.core.stats));
      slot.conn = conn;
      slot.rttMs = await pingConn(conn, this.timings.verifyTimeoutMs, this.shutdown.signal);
      sendTcpf(conn, this.options.tunnel.remoteFlags);
    } catch (err) {
      if (this.closed) {
        conn?.close();
        return;
      }
      this.stats.connectFailures++;
      conn?.close({ keepPacket: true });
      if (slot.conn === conn) slot.conn = undefined;
      this.warnLog.emit(`connection ${slot.index + 1} to ${this.serverText} failed: ${errorMessage(err)}; retrying with backoff`);
      this.scheduleRetry(slot);
      return;
    }
    if (this.closed) {
      conn.close();
      return;
    }
    transition(slot, SlotState.Ready);
    slot.backoffMs = this.timings.backoffInitialMs;
    slot.framesSeen = conn.smux.stats().framesIn;
    slot.framesAt = slot.checkedAt = slot.readyAt = performance.now();
    slot.probing = false;
    this.stats.connects++;
    log.debug(`connection ${slot.index + 1} ready (local port ${slot.raw?.localAddr.port}, conv ${conn.kcp.conv})`);
    conn.onClose((err) => {
      if (slot.conn !== conn || this.closed) return;
      this.lost(slot, err ? err.message : "closed");
    });
    this.armHealth(slot);
    this.wakeWaiters();
  }

  /** Gives `slot` its raw socket and the transport over it; a guard's counters feed the status endpoint. */
  private attach(slot: Slot, raw: PacketConn): void {
    slot.unprovide?.();
    slot.raw = raw;
    slot.transport = transportPacketConn(raw, this.options.tunnel);
    slot.unprovide = isGuardPacketConn(slot.transport) ? provideGuardMetrics(slot.transport.stats) : undefined;
  }

  private get serverText(): string {
    const s = this.options.server;
    return s.ip.includes(":") ? `[${s.ip}]:${s.port}` : `${s.ip}:${s.port}`;
  }

  /** A ready connection died: tear it down (keeping the raw socket) and reconnect after the backoff. */
  private lost(slot: Slot, why: string): void {
    if (slot.state !== SlotState.Ready) return;
    this.stats.connectionsLost++;
    log.info(`connection ${slot.index + 1} lost (${why}), retrying....`);
    transition(slot, SlotState.Broken);
    slot.conn?.close({ keepPacket: true });
    slot.conn = undefined;
    // A connection that served for a while gets one immediate retry; a flapping one backs off.
    if (performance.now() - slot.readyAt >= STABLE_MS) void this.connect(slot);
    else this.scheduleRetry(slot);
  }

  private scheduleRetry(slot: Slot): void {
    if (this.closed) return;
    transition(slot, SlotState.Broken);
    const delay = backoffDelay(slot.backoffMs, this.random);
    slot.backoffMs = Math.min(slot.backoffMs * 2, this.timings.backoffMaxMs);
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      void this.connect(slot);
    }, delay);
  }

  /**
   * Demand shortens a long backoff: while requests wait, a broken slot is retried every
   * `brokenIntervalMs` (500 ms) even when its backoff has grown towards 30 s, because a person is
   * waiting and an attempt costs one PING over the raw socket that is kept. The seed fork's 2 s
   * check made recovery after a server restart land near its 3 s request deadline. Without demand
   * the backoff alone paces the attempts.
   */
  private kickBroken(): void {
    const now = performance.now();
    for (const slot of this.slots) {
      if (slot.state !== SlotState.Broken || now - slot.attemptAt < this.timings.brokenIntervalMs) continue;
      void this.connect(slot);
    }
  }

  /** Notes whether smux frames arrived since the last look; returns ms since the count last moved. */
  private silentFor(slot: Slot, conn: TunnelConn): number {
    const now = performance.now();
    const frames = conn.smux.stats().framesIn;
    if (frames !== slot.framesSeen) {
      slot.framesSeen = frames;
      slot.framesAt = now;
    }
    return now - slot.framesAt;
  }

  /**
   * A short PING when the connection has been silent for `silenceMs`: a live server sends an smux
   * NOP every keepalive interval, so silence means a dead or restarted server (whose fresh KCP
   * listener swallows the old conversation without delivering it). No PONG within the probe
   * timeout and the connection counts as lost, which also ends the streams stalled on it.
   */
  private probeIfSilent(slot: Slot, conn: TunnelConn, silenceMs: number): void {
    if (slot.probing || this.options.tunnel.smux.keepAliveDisabled) return;
    if (this.silentFor(slot, conn) < silenceMs) return;
    slot.probing = true;
    pingConn(conn, this.probeTimeoutMs(slot), this.shutdown.signal).then(
      (rtt) => {
        slot.probing = false;
        slot.rttMs = rtt;
      },
      (err) => {
        slot.probing = false;
        if (slot.conn === conn && !this.closed) this.lost(slot, `no answer after ${Math.round(silenceMs)} ms of silence: ${errorMessage(err)}`);
      },
    );
  }

  /** 1 s, or four round trips on a slow link; never more than the verify timeout. */
  private probeTimeoutMs(slot: Slot): number {
    return Math.min(this.timings.verifyTimeoutMs, Math.max(PROBE_TIMEOUT_MIN_MS, 4 * slot.rttMs));
  }

  /**
   * Watches a ready connection every quarter keepalive interval: after 1.5 intervals without an smux
   * frame it probes (see probeIfSilent), and every `healthyIntervalMs` a PING must come back
   * within `verifyTimeoutMs` regardless. A restarted server is noticed in a few seconds, well
   * before smux's keepalive timeout.
   */
  private armHealth(slot: Slot): void {
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    const smux = this.options.tunnel.smux;
    const period = smux.keepAliveDisabled
      ? this.timings.healthyIntervalMs
      : Math.min(Math.max(250, smux.keepAliveInterval / 4), this.timings.healthyIntervalMs);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      const conn = slot.conn;
      if (slot.state !== SlotState.Ready || !conn) return;
      this.probeIfSilent(slot, conn, 1.5 * smux.keepAliveInterval);
      if (performance.now() - slot.checkedAt < this.timings.healthyIntervalMs || slot.probing) {
        this.armHealth(slot);
        return;
      }
      slot.checkedAt = performance.now();
      pingConn(conn, this.timings.verifyTimeoutMs, this.shutdown.signal).then(
        (rtt) => {
          slot.rttMs = rtt;
          if (slot.conn === conn && slot.state === SlotState.Ready) this.armHealth(slot);
        },
        (err) => {
          if (slot.conn === conn && !this.closed) this.lost(slot, `health check: ${errorMessage(err)}`);
        },
      );
    }, period);
  }

  private wakeWaiters(): void {
    for (const w of [...this.waiters]) w.resolve();
  }

  /** Resolves when some connection becomes ready, the client closes, `ms` pass, or `signal` fires. */
  private waitReady(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.readyCount > 0 || this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiter: Waiter = {
        resolve: () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", waiter.resolve);
          this.waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.resolve, ms);
      signal?.addEventListener("abort", waiter.resolve, { once: true });
      this.waiters.add(waiter);
    });
  }

  /**
   * A ready connection, round-robin: the index advances once per request and the scan starts
   * there. Waits up to `waitMs` in total for one to become ready.
   */
  private async acquire(signal?: AbortSignal): Promise<TunnelConn> {
    const deadline = performance.now() + this.timings.waitMs;
    const start = this.next++ % this.slots.length;
    for (;;) {
      if (this.closed) throw new TunnelError("TUN_CLOSED", "client is shut down");
      if (signal?.aborted) throw new TunnelError("TUN_ABORTED", "stream request cancelled");
      for (let i = 0; i < this.slots.length; i++) {
        const slot = this.slots[(start + i) % this.slots.length]!;
        if (slot.state === SlotState.Ready && slot.conn && !slot.conn.closed) {
          // A moment without a frame: check the link in parallel with this request.
          this.probeIfSilent(slot, slot.conn, REQUEST_SILENCE_MS);
          return slot.conn;
        }
      }
      this.kickBroken();
      const left = deadline - performance.now();
      if (left <= 0) {
        this.stats.unavailable++;
        throw new TunnelError("TUN_UNAVAILABLE", "no tunnel connections available");
      }
      // Wake at least every brokenIntervalMs to kick broken slots again while this request waits.
      await this.waitReady(Math.min(left, this.timings.brokenIntervalMs), signal);
    }
  }

  /** Opens a stream with a request header; a connection whose session died is marked lost and skipped. */
  private async openStream(type: MessageType.Tcp | MessageType.Udp, target: string, signal?: AbortSignal): Promise<Duplex> {
    // A target the protocol cannot carry fails before any stream is used.
    targetMessage(type, target);
    for (;;) {
      const conn = await this.acquire(signal);
      let stream;
      try {
        stream = openTarget(conn, type, target);
      } catch (err) {
        if (err instanceof TunnelError && err.code === "TUN_CLOSED") {
          const slot = this.slots.find((s) => s.conn === conn);
          if (slot) this.lost(slot, "stream open failed");
          continue;
        }
        throw err;
      }
      if (signal?.aborted) {
        stream.close();
        throw new TunnelError("TUN_ABORTED", "stream request cancelled");
      }
      this.stats.streamsOpened++;
      log.debug(`${type === MessageType.Tcp ? "TCP" : "UDP"} stream ${stream.id} created for ${target}`);
      return stream;
    }
  }

  // ---- TunnelClient ----

  async openTcp(target: string, signal?: AbortSignal): Promise<Duplex> {
    const stream = await this.openStream(MessageType.Tcp, target, signal);
    return new MeteredStream(stream, "tcp");
  }

  async openUdp(source: string, target: string, signal?: AbortSignal): Promise<UdpFlow> {
    const key = `${source}\u0000${target}`;
    const hit = this.reuse(key);
    if (hit) return hit;
    const stream = await this.openStream(MessageType.Udp, target, signal);
    // Another request for the same key may have finished while this one waited.
    const raced = this.reuse(key);
    if (raced) {
      stream.close();
      return raced;
    }
    if (this.udpPool.size >= this.udpOptions.maxEntries) this.evictOne();
    let entry: UdpEntry;
    const metered = new MeteredStream(stream, "udp", () => {
      if (this.udpPool.get(key) === entry) this.udpPool.delete(key);
    });
    entry = { stream: metered, lastUsed: Date.now() };
    this.udpPool.set(key, entry);
    this.armSweeper();
    return { key, stream: metered, isNew: true };
  }

  touchUdp(key: string): void {
    const entry = this.udpPool.get(key);
    if (entry) entry.lastUsed = Date.now();
  }

  closeUdp(key: string, stream: Duplex): void {
    const entry = this.udpPool.get(key);
    if (!entry || entry.stream !== stream) return;
    this.udpPool.delete(key);
    entry.stream.close();
  }

  /** UDP pool entries now. */
  get udpFlows(): number {
    return this.udpPool.size;
  }

  /**
   * PING/PONG on a ready connection: the round trip in ms (paqet-app.md §4.3). Rejects as the
   * stream requests do, or with TUN_TIMEOUT after `timeoutMs`.
   */
  async ping(signal?: AbortSignal, timeoutMs = this.timings.verifyTimeoutMs): Promise<number> {
    const conn = await this.acquire(signal);
    try {
      const rtt = await pingConn(conn, timeoutMs, signal ?? this.shutdown.signal);
      recordPing(Date.now(), rtt);
      return rtt;
    } catch (err) {
      recordPing(Date.now(), 0, errorMessage(err));
      throw err;
    }
  }

  private reuse(key: string): UdpFlow | undefined {
    const entry = this.udpPool.get(key);
    if (!entry) return undefined;
    if (entry.stream.closed) {
      this.udpPool.delete(key);
      return undefined;
    }
    entry.lastUsed = Date.now();
    this.stats.udpReused++;
    return { key, stream: entry.stream, isNew: false };
  }

  /** At capacity: the least recently used entry goes (idle ones are the oldest by definition). */
  private evictOne(): void {
    let oldestKey: string | undefined;
    let oldest = Infinity;
    for (const [key, entry] of this.udpPool) {
      if (entry.lastUsed < oldest) {
        oldest = entry.lastUsed;
        oldestKey = key;
      }
    }
    if (oldestKey === undefined) return;
    const entry = this.udpPool.get(oldestKey)!;
    this.udpPool.delete(oldestKey);
    this.stats.udpEvicted++;
    entry.stream.close();
  }

  /** The sweeper runs only while the pool has entries, so an idle client holds no timer. */
  private armSweeper(): void {
    if (this.sweeper !== undefined || this.closed) return;
    this.sweeper = setInterval(() => this.sweep(Date.now()), this.udpOptions.sweepMs);
  }

  /** Closes every entry idle for `idleMs` or longer; stops the sweeper once the pool is empty. */
  sweep(now: number): void {
    for (const [key, entry] of [...this.udpPool]) {
      if (now - entry.lastUsed < this.udpOptions.idleMs && !entry.stream.closed) continue;
      this.udpPool.delete(key);
      log.debug("closing idle UDP stream");
      entry.stream.close();
    }
    if (this.udpPool.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
