/**
 * A seeded fault injector around any PacketConn, applied on the send side.
 *
 * Every decision (drop, duplicate, hold back) comes from one PRNG seeded by `seed`, drawn in a
 * fixed order per datagram, so the same seed and the same sequence of writes give the same faults.
 * Held-back (reordered) and delayed datagrams wait in one time-ordered queue served by a single
 * timer, never one timer per datagram.
 */
import { SocketError } from "./errors.ts";
import type { PacketAddr, PacketConn, PacketHandler } from "./types.ts";

export interface LossyOptions {
  /** Probability in [0, 1] that a datagram is dropped. */
  loss?: number;
  /** Probability that a datagram is sent twice. */
  duplicate?: number;
  /** Probability that a datagram is held back and sent after later ones. */
  reorder?: number;
  /** Fixed one-way delay added to every datagram, in ms (0: sent at once). */
  delayMs?: number;
  seed?: number;
}

export interface LossyStats {
  written: number;
  dropped: number;
  duplicated: number;
  reordered: number;
}

export interface LossyPacketConn extends PacketConn {
  readonly stats: LossyStats;
}

/** How long a reordered datagram is held beyond the fixed delay. */
const REORDER_HOLD_MS = 2;

/** mulberry32: small, fast, and good enough to drive fault injection deterministically. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Held {
  due: number;
  data: Uint8Array;
  to: PacketAddr;
}

export function lossyPacketConn(inner: PacketConn, options: LossyOptions = {}): LossyPacketConn {
  return new Lossy(inner, options);
}

class Lossy implements LossyPacketConn {
  readonly stats: LossyStats = { written: 0, dropped: 0, duplicated: 0, reordered: 0 };
  private readonly random: () => number;
  private readonly loss: number;
  private readonly duplicate: number;
  private readonly reorder: number;
  private readonly delayMs: number;
  /** Sorted by `due`, oldest first. */
  private held: Held[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerDue = Infinity;
  private immediate = false;

  constructor(
    private readonly inner: PacketConn,
    options: LossyOptions,
  ) {
    this.random = seededRandom(options.seed ?? 1);
    this.loss = options.loss ?? 0;
    this.duplicate = options.duplicate ?? 0;
    this.reorder = options.reorder ?? 0;
    this.delayMs = options.delayMs ?? 0;
  }

  get localAddr(): PacketAddr {
    return this.inner.localAddr;
  }

  get isClosed(): boolean {
    return this.inner.isClosed;
  }

  onPacket(handler: PacketHandler): void {
    this.inner.onPacket(handler);
  }

  writeTo(data: Uint8Array, to: PacketAddr): void {
    if (this.inner.isClosed) throw new SocketError("SOCK_CLOSED", "lossy conn is closed");
    this.stats.written++;
    // Always draw all three numbers so one fault never shifts the decisions for later datagrams.
    const rLoss = this.random();
    const rDup = this.random();
    const rReorder = this.random();
    if (rLoss < this.loss) {
      this.stats.dropped++;
      return;
    }
    const copies = rDup < this.duplicate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const reordered = rReorder < this.reorder;
    if (reordered) this.stats.reordered++;
    for (let i = 0; i < copies; i++) {
      if (!reordered && this.delayMs <= 0) this.inner.writeTo(data, to);
      else this.hold(data.slice(), to, this.delayMs + (reordered ? REORDER_HOLD_MS : 0));
    }
  }

  close(): void {
    this.held = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.inner.close();
  }

  private hold(data: Uint8Array, to: PacketAddr, afterMs: number): void {
    const item: Held = { due: performance.now() + afterMs, data, to };
    let i = this.held.length;
    while (i > 0 && this.held[i - 1]!.due > item.due) i--;
    this.held.splice(i, 0, item);
    this.arm();
  }

  private arm(): void {
    const head = this.held[0];
    if (!head) return;
    if (this.delayMs <= 0) {
      // Without a fixed delay a held datagram only needs to fall behind this turn's writes.
      if (!this.immediate) {
        this.immediate = true;
        setImmediate(this.release);
      }
      return;
    }
    if (this.timer !== undefined && this.timerDue <= head.due) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDue = head.due;
    this.timer = setTimeout(this.release, Math.max(0, head.due - performance.now()));
  }

  private readonly release = (): void => {
    this.immediate = false;
    this.timer = undefined;
    this.timerDue = Infinity;
    const now = performance.now();
    let n = 0;
    while (n < this.held.length && (this.delayMs <= 0 || this.held[n]!.due <= now)) n++;
    const due = this.held.splice(0, n);
    for (const item of due) {
      if (this.inner.isClosed) break;
      try {
        this.inner.writeTo(item.data, item.to);
      } catch {
        // The caller's writeTo already returned; a late refusal is a loss like any other.
        this.stats.dropped++;
      }
    }
    this.arm();
  };
}
