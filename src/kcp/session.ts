/**
 * A kcp-go compatible session: the ARQ core (core.ts) over a PacketConn, with the per-session FEC
 * codec and the shared PacketCrypt in between, exposed as a `Duplex` for smux.
 *
 *   write → core.send → flush → FecCodec.encode → PacketCrypt.seal → PacketConn.writeTo
 *   PacketConn → PacketCrypt.open (listener or dialer) → feed → FecCodec.decode → core.input → data
 *
 * FLUSH RULE. The bytes on the wire are what kcp-go would send (the core is kcp-go's), but no
 * request waits for the fixed interval timer while the link is idle:
 *   - Writes made during one event-loop turn are coalesced (stream mode merges them into shared
 *     segments) and flushed by ONE full flush at the end of that turn (a microtask queued by the
 *     first write). With kcp-go's write delay on, small writes would instead wait up to one
 *     interval; with it off, kcp-go flushes after every Write — smux writes a frame header and its
 *     payload as separate writes, so per-turn coalescing is what kcp-go's gathered WriteBuffers does.
 *   - Pending ACKs go out in ONE ACK-only flush at the end of the turn instead of waiting for the
 *     periodic flush, but at most one such flush per ACK_DELAY_MS unless ACK_BATCH of them wait:
 *     a raw socket delivers a few datagrams per turn under load, and an ACK datagram per turn cost
 *     the receiver a send (a system call) and the sender an open + input for every couple of data
 *     datagrams. An idle link still acknowledges at the end of the turn. With ACK no-delay on
 *     (fast2/fast3) the core still answers every data datagram at once, as kcp-go does, and it
 *     flushes in full at once when una advanced or a fast resend is due.
 *   - The periodic update (kcp-go's per-session timer) still runs every `interval` ms, sooner when
 *     a retransmission is due, from one shared scheduler for all sessions; a quiet session (nothing
 *     queued, in flight or to acknowledge) is updated every QUIET_TICK_MS until it is used again.
 */
import type { Duplex, DuplexHandlers } from "../lib/duplex.ts";
import { errorMessage } from "../lib/errors.ts";
import { DueHeap } from "../lib/due-heap.ts";
import { logger } from "../lib/log.ts";
import type { PacketAddr, PacketConn } from "../socket/types.ts";
import type { FecCodec, PacketCrypt } from "./codec-types.ts";
import { KcpCore, STATE_DEAD, type KcpCoreStats } from "./core.ts";
import { KcpError } from "./errors.ts";
import { createFec } from "./fec.ts";
import type { KcpOptions } from "./options.ts";

const log = logger("kcp");

/** u32 milliseconds for KCP timestamps. */
export type KcpClock = () => number;

export const monotonicMs: KcpClock = () => Math.floor(performance.now()) >>> 0;

/**
 * Period of the update while a session is quiet (core.quiet): kcp-go runs it every interval all
 * the same, but it sends nothing then, and hundreds of idle users each woken 33 times a second
 * cost a server several percent of a core. A write or a datagram brings the interval back at once.
 */
export const QUIET_TICK_MS = 1000;
/** Least time between two ACK-only flushes while fewer than ACK_BATCH ACKs wait (see FLUSH RULE). */
export const ACK_DELAY_MS = 2;
/** Pending ACK entries that are flushed at the end of the turn without waiting ACK_DELAY_MS. */
export const ACK_BATCH = 32;

// ---- shared scheduler ----------------------------------------------------------------------------

interface Tickable {
  /** Runs the periodic update; returns ms until the next one, or undefined to stop. */
  tick(): number | undefined;
  /** Runs the end-of-turn flush. */
  flushTurn(): void;
}

interface TimerEntry {
  due: number;
  gen: number;
  task: Tickable;
}

/**
 * One timer for every session: a min-heap of due times (performance.now ms) with lazy deletion,
 * and one microtask per turn for all sessions that asked for an end-of-turn flush.
 */
export class KcpScheduler {
  private heap = new DueHeap<TimerEntry>();
  private gens = new Map<Tickable, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerDue = Infinity;
  private dirty = new Set<Tickable>();
  private turnQueued = false;
  private acking = new Set<Tickable>();
  private ackTimer: ReturnType<typeof setTimeout> | undefined;

  /** (Re)schedules `task`'s periodic update `afterMs` from now, replacing any earlier schedule. */
  schedule(task: Tickable, afterMs: number): void {
    const gen = (this.gens.get(task) ?? 0) + 1;
    this.gens.set(task, gen);
    this.heap.push({ due: performance.now() + afterMs, gen, task });
    this.arm();
  }

  cancel(task: Tickable): void {
    this.gens.delete(task);
    this.dirty.delete(task);
    this.acking.delete(task);
  }

  /** Asks for `task.flushTurn()` once at the end of the current turn. */
  flushAtEndOfTurn(task: Tickable): void {
    this.dirty.add(task);
    if (this.turnQueued) return;
    this.turnQueued = true;
    queueMicrotask(this.runTurn);
  }

  /** Asks for `task.flushTurn()` within ACK_DELAY_MS; one timer serves every session. */
  flushAcksSoon(task: Tickable): void {
    this.acking.add(task);
    if (this.ackTimer === undefined) this.ackTimer = setTimeout(this.runAcks, ACK_DELAY_MS);
  }

  /** Sessions with a live periodic schedule. */
  get size(): number {
    return this.gens.size;
  }

  private readonly runTurn = (): void => {
    this.turnQueued = false;
    const tasks = [...this.dirty];
    this.dirty.clear();
    for (const t of tasks) t.flushTurn();
  };

  private readonly runAcks = (): void => {
    this.ackTimer = undefined;
    const tasks = [...this.acking];
    this.acking.clear();
    for (const t of tasks) t.flushTurn();
  };

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerDue = Infinity;
    // Timers fire up to a millisecond early or late; treat anything due within 1 ms as due.
    const now = performance.now() + 1;
    let ran = 0;
    const limit = this.heap.size;
    for (let head = this.heap.peek(); head !== undefined && head.due <= now && ran < limit; head = this.heap.peek()) {
      const e = this.heap.pop()!;
      ran++;
      if (this.gens.get(e.task) !== e.gen) continue;
      const next = e.task.tick();
      if (next === undefined) this.cancel(e.task);
      else if (this.gens.get(e.task) === e.gen) this.schedule(e.task, next);
    }
    this.arm();
  };

  private arm(): void {
    let head = this.heap.peek();
    while (head !== undefined && this.gens.get(head.task) !== head.gen) {
      this.heap.pop();
      head = this.heap.peek();
    }
    if (!head) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerDue = Infinity;
      return;
    }
    if (this.timer !== undefined && this.timerDue <= head.due) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDue = head.due;
    this.timer = setTimeout(this.fire, Math.max(0, head.due - performance.now()));
  }
}

export const defaultScheduler = new KcpScheduler();

// ---- session ---------------------------------------------------------------------------------------

export interface KcpSessionStats {
  datagramsIn: number;
  datagramsOut: number;
  /** Datagrams the PacketConn refused. */
  sendErrors: number;
  /** Dialer only: datagrams from an address other than the remote. */
  foreignDropped: number;
  /** Dialer only: datagrams that failed decryption or the CRC (also in the crypt's stats). */
  cryptDropped: number;
  /** Exceptions caught around a datagram (a bug, logged). */
  internalErrors: number;
}

export interface KcpSessionInit {
  conn: PacketConn;
  remote: PacketAddr;
  conv: number;
  crypt: PacketCrypt;
  fec: FecCodec;
  options: KcpOptions;
  scheduler?: KcpScheduler;
  clock?: KcpClock;
  /** Called once when the session has closed (the listener forgets it). */
  onClosed?: (session: KcpSession) => void;
}

const NOOP_HANDLERS: DuplexHandlers = { data() {}, drain() {}, close() {} };

const SessionState = { Open: 0, Closed: 1 } as const;
type SessionState = (typeof SessionState)[keyof typeof SessionState];

export class KcpSession implements Duplex, Tickable {
  /** core.send copies into its segments. */
  readonly copiesWrites = true;
  readonly conv: number;
  readonly remote: PacketAddr;
  readonly stats: KcpSessionStats = {
    datagramsIn: 0,
    datagramsOut: 0,
    sendErrors: 0,
    foreignDropped: 0,
    cryptDropped: 0,
    internalErrors: 0,
  };
  readonly core: KcpCore;

  private state: SessionState = SessionState.Open;
  private closeError: Error | undefined;
  private handlers: DuplexHandlers | undefined;
  private closeDelivered = false;
  private paused = false;
  private delivering = false;
  private wantDrain = false;
  private needFull = false;
  private needAck = false;
  private readonly conn: PacketConn;
  private readonly crypt: PacketCrypt;
  private readonly fec: FecCodec;
  private readonly opts: KcpOptions;
  private readonly scheduler: KcpScheduler;
  private readonly clock: KcpClock;
  private readonly onClosed: ((s: KcpSession) => void) | undefined;
  /** The last update found the session quiet and asked for the next one in QUIET_TICK_MS. */
  private slowTicks = false;

  constructor(init: KcpSessionInit) {
    this.conn = init.conn;
    this.remote = init.remote;
    this.conv = init.conv >>> 0;
    this.crypt = init.crypt;
    this.fec = init.fec;
    this.opts = init.options;
    this.scheduler = init.scheduler ?? defaultScheduler;
    this.clock = init.clock ?? monotonicMs;
    this.onClosed = init.onClosed;

    const o = init.options;
    checkOptions(o, this.crypt.overhead + this.fec.overhead);
    this.core = new KcpCore(this.conv, this.output);
    this.core.setMtu(Math.min(o.mtu, 1500) - this.crypt.overhead - this.fec.overhead);
    this.core.setNodelay(o.nodelay, o.interval, o.resend, o.nocongestion);
    this.core.setWndSize(o.sndWnd, o.rcvWnd);
    this.core.stream = o.stream;
    this.core.deadLink = o.deadLink;
    this.scheduler.schedule(this, this.core.interval);
  }

  get closed(): boolean {
    return this.state === SessionState.Closed;
  }

  /** The local address of the PacketConn the session sends from. */
  get local(): PacketAddr {
    return this.conn.localAddr;
  }

  // ---- Duplex --------------------------------------------------------------------------------------

  setHandlers(handlers: DuplexHandlers): void {
    this.handlers = handlers;
    queueMicrotask(() => {
      this.deliver();
      this.deliverClose();
    });
  }

  write(chunk: Uint8Array): boolean {
    if (this.state !== SessionState.Open) return false;
    if (chunk.byteLength > 0) {
      if (this.core.stream) {
        this.core.send(chunk);
      } else {
        // Message mode: one message per MSS-sized piece, as kcp-go's session write loop does.
        for (let off = 0; off < chunk.byteLength; off += this.core.mss) {
          this.core.send(chunk.subarray(off, off + this.core.mss));
        }
      }
      this.needFull = true;
      this.scheduler.flushAtEndOfTurn(this);
      this.wake();
    }
    if (this.core.waitSnd >= this.core.sndWnd) {
      this.wantDrain = true;
      return false;
    }
    return true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    // Never call `data` from inside the caller's resume(); deliver on the next microtask.
    queueMicrotask(() => this.deliver());
  }

  close(err?: Error): void {
    this.transition(SessionState.Closed, err);
  }

  // ---- packet side ---------------------------------------------------------------------------------

  /**
   * One decrypted datagram (the inner packet) for this session. Never throws: malformed input is
   * counted by the FEC codec or the core.
   */
  feed(inner: Uint8Array): void {
    if (this.state !== SessionState.Open) return;
    this.stats.datagramsIn++;
    this.wake();
    this.inputNow = this.clock();
    this.fec.decode(inner, this.inputPacket);
    // Input may have flushed (ackNoDelay).
    this.sendStaged();
    if (this.checkDead()) return;
    const acks = this.core.ackCount;
    if (acks > 0) {
      this.needAck = true;
      if (acks >= ACK_BATCH || performance.now() - this.lastFlushAt >= ACK_DELAY_MS) this.scheduler.flushAtEndOfTurn(this);
      else this.scheduler.flushAcksSoon(this);
    }
    this.deliver();
    this.maybeDrain();
  }

  /** @internal Periodic update from the scheduler: kcp-go's update(). */
  tick(): number | undefined {
    if (this.state !== SessionState.Open) return undefined;
    const now = this.clock();
    const next = this.core.flush(now, false);
    this.core.trim(now);
    this.sendStaged();
    if (this.checkDead()) return undefined;
    this.maybeDrain();
    this.slowTicks = this.core.quiet;
    return this.slowTicks ? QUIET_TICK_MS : next;
  }

  /** Back to updates every interval: the session is about to have something to send or answer. */
  private wake(): void {
    if (!this.slowTicks) return;
    this.slowTicks = false;
    this.scheduler.schedule(this, this.core.interval);
  }

  /** @internal End-of-turn flush (see FLUSH RULE above). */
  flushTurn(): void {
    if (this.state !== SessionState.Open) return;
    const full = this.needFull;
    const ack = this.needAck;
    this.needFull = false;
    this.needAck = false;
    const flushed = full || this.core.probe !== 0 || (ack && this.core.ackCount > 0);
    if (flushed) {
      this.core.flush(this.clock(), !(full || this.core.probe !== 0));
      this.sendStaged();
      this.lastFlushAt = performance.now();
      if (this.checkDead()) return;
    }
    this.maybeDrain();
  }

  // ---- internals -----------------------------------------------------------------------------------

  private inputNow = 0;
  /** performance.now() of the last end-of-turn or delayed flush (ACK pacing, see FLUSH RULE). */
  private lastFlushAt = -Infinity;

  /** FEC hands over each KCP packet; `regular` is false for packets rebuilt from parity. */
  private readonly inputPacket = (kcpPacket: Uint8Array, regular = true): void => {
    this.core.input(kcpPacket, this.inputNow, regular, this.opts.ackNoDelay);
  };

  private readonly output = (kcpPacket: Uint8Array): void => {
    this.fec.encode(kcpPacket, this.emitInner);
  };

  private readonly emitInner = (inner: Uint8Array): void => {
    const crypt = this.crypt;
    if (crypt.stage !== undefined) crypt.stage(inner, this.sendDatagram);
    else this.sendDatagram(crypt.seal(inner));
  };

  /** Sends what batch sealing staged for this session; called after every core flush. */
  private sendStaged(): void {
    this.crypt.flushStaged?.();
  }

  private readonly sendDatagram = (datagram: Uint8Array): void => {
    if (this.conn.isClosed) {
      this.stats.sendErrors++;
      this.closeSoon(new KcpError("KCP_SEND_FAILED", "the packet conn closed under the KCP session"));
      return;
    }
    try {
      this.conn.writeTo(datagram, this.remote);
      this.stats.datagramsOut++;
    } catch (err) {
      // A refused frame is a lost datagram; KCP retransmits it. A closed conn ends the session.
      this.stats.sendErrors++;
      if (this.conn.isClosed) {
        this.closeSoon(new KcpError("KCP_SEND_FAILED", `send failed: ${errorMessage(err)}`, { cause: err }));
      }
    }
  };

  private closeSoon(err: Error): void {
    queueMicrotask(() => this.close(err));
  }

  private checkDead(): boolean {
    if (this.core.state !== STATE_DEAD) return false;
    this.close(new KcpError("KCP_DEAD_LINK", `no ACK after ${this.core.deadLink} transmissions of one segment`));
    return true;
  }

  private deliver(): void {
    const h = this.handlers;
    if (!h || this.delivering) return;
    this.delivering = true;
    try {
      while (!this.paused && this.state === SessionState.Open) {
        const chunk = this.core.recv();
        if (!chunk) break;
        h.data(chunk);
      }
    } catch (err) {
      this.handlerFailed("data", err);
    } finally {
      this.delivering = false;
    }
    // Reading a full receive queue re-opened the window: tell the peer without waiting a tick.
    if (this.core.probe !== 0 && this.state === SessionState.Open) this.scheduler.flushAtEndOfTurn(this);
  }

  private maybeDrain(): void {
    if (!this.wantDrain || this.core.waitSnd >= this.core.sndWnd || this.state !== SessionState.Open) return;
    this.wantDrain = false;
    try {
      (this.handlers ?? NOOP_HANDLERS).drain();
    } catch (err) {
      this.handlerFailed("drain", err);
    }
  }

  /** A throwing handler must not escape into the PacketConn's receive loop or the scheduler. */
  private handlerFailed(which: string, err: unknown): void {
    log.warn(`KCP session conv ${this.conv}: ${which} handler threw: ${errorMessage(err)}`);
    this.close(new KcpError("KCP_HANDLER_FAILED", `${which} handler threw: ${errorMessage(err)}`, { cause: err }));
  }

  private deliverClose(): void {
    if (this.state !== SessionState.Closed || this.closeDelivered || !this.handlers) return;
    this.closeDelivered = true;
    this.handlers.close(this.closeError);
  }

  private transition(to: SessionState, err?: Error): void {
    if (this.state === to) return;
    if (to === SessionState.Closed) {
      // kcp-go Close: one final full flush, then the timer stops. Nothing on the wire marks the end.
      if (this.core.state !== STATE_DEAD && !this.conn.isClosed) {
        try {
          this.core.flush(this.clock(), false);
          this.sendStaged();
        } catch (flushErr) {
          log.debug(`final flush of conv ${this.conv} failed: ${errorMessage(flushErr)}`);
        }
      }
      this.state = SessionState.Closed;
      this.closeError = err;
      this.scheduler.cancel(this);
      if (err) log.debug(`session conv ${this.conv} closed: ${err.message}`);
      this.onClosed?.(this);
      queueMicrotask(() => this.deliverClose());
    }
  }
}

/** The core's counters plus the session's, for status output. */
export function sessionCounters(s: KcpSession): KcpCoreStats & KcpSessionStats {
  return { ...s.core.stats, ...s.stats };
}

/**
 * Throws KCP_BAD_OPTION for settings kcp-go would refuse or that cannot work: a KCP MTU (session
 * MTU, capped at 1500, minus crypto and FEC overhead) below 50, or windows outside 1..65535
 * (`wnd` is a u16 on the wire).
 */
export function checkOptions(o: KcpOptions, overhead: number): void {
  const kcpMtu = Math.min(o.mtu, 1500) - overhead;
  if (!Number.isInteger(o.mtu) || kcpMtu < 50) {
    throw new KcpError("KCP_BAD_OPTION", `MTU ${o.mtu} leaves ${kcpMtu} bytes for KCP after ${overhead} bytes of headers; need 50`);
  }
  for (const [name, w] of [["sndwnd", o.sndWnd], ["rcvwnd", o.rcvWnd]] as const) {
    if (!Number.isInteger(w) || w < 1 || w > 0xffff) throw new KcpError("KCP_BAD_OPTION", `KCP ${name} ${w} must be 1..65535`);
  }
}

// ---- dialer ----------------------------------------------------------------------------------------

export interface DialOptions {
  kcp: KcpOptions;
  crypt: PacketCrypt;
  /** This session's FEC codec; default: FEC off (still accepting a peer's FEC, as kcp-go does). */
  fec?: FecCodec;
  /** Fixed conv for tests; default 4 random bytes read little-endian, as kcp-go's NewConn. */
  conv?: number;
  scheduler?: KcpScheduler;
  clock?: KcpClock;
}

export function randomConv(): number {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
}

/**
 * A client session to `remote` over `conn` (kcp-go NewConn). It takes over `conn`'s packet handler
 * and drops datagrams from any other address; closing the session leaves `conn` open (its owner
 * closes it).
 */
export function dial(conn: PacketConn, remote: PacketAddr, options: DialOptions): KcpSession {
  if (conn.isClosed) throw new KcpError("KCP_CLOSED", "cannot dial over a closed packet conn");
  const fec = options.fec ?? createFec(0, 0);
  checkOptions(options.kcp, options.crypt.overhead + fec.overhead);
  const remoteIp = remote.ip;
  const remotePort = remote.port;
  const session = new KcpSession({
    conn,
    remote: { ip: remote.ip, port: remote.port },
    conv: options.conv ?? randomConv(),
    crypt: options.crypt,
    fec,
    options: options.kcp,
    scheduler: options.scheduler,
    clock: options.clock,
    onClosed: () => conn.onPacket(() => {}),
  });
  conn.onPacket((data, from) => {
    if (from.port !== remotePort || from.ip !== remoteIp) {
      session.stats.foreignDropped++;
      return;
    }
    const inner = options.crypt.open(data);
    if (!inner) {
      session.stats.cryptDropped++;
      return;
    }
    try {
      session.feed(inner);
    } catch (err) {
      // Only a bug gets here; the receive loop must survive it.
      session.stats.internalErrors++;
      log.warn(`KCP session conv ${session.conv} dropped a datagram: ${errorMessage(err)}`);
    }
  });
  return session;
}
