/**
 * Guard cookies (seed-fork.md §1): a 12-byte `magic(4) ‖ cookie(8)` header in front of every
 * kcp-go datagram, checked before anything else touches the bytes, so scans and junk are dropped
 * without a single decryption.
 *
 *   guard_key = PBKDF2-HMAC-SHA256(key string bytes, "paqet_guard", 100000, 32)
 *   W         = floor(unix seconds / window)
 *   cookie(W) = HMAC-SHA256(guard_key, magic ‖ W as u64 BE)[0..8]
 *
 * Senders use cookie(W_now); receivers accept cookie(W_r − i) for i in 0..skew, never a newer window.
 * The cookie set is rebuilt only when the window changes (one integer compare per packet), so no
 * HMAC runs per packet. Unlike the fork, the window is checked on every lookup, which accepts more
 * and puts the same bytes on the wire (§1.6).
 */
import { createHmac, pbkdf2Sync } from "node:crypto";
import { provideAll } from "../lib/metrics.ts";
import type { PacketAddr, PacketConn, PacketHandler } from "./types.ts";

export const GUARD_HEADER_BYTES = 12;
const MAGIC_BYTES = 4;
const COOKIE_BYTES = 8;
const COOKIE_OFFSET = MAGIC_BYTES;

export const GUARD_DEFAULT_MAGIC = "PQT1";
export const GUARD_DEFAULT_WINDOW_S = 30;
export const GUARD_DEFAULT_SKEW = 1;
const GUARD_SALT = "paqet_guard";
const GUARD_ITERATIONS = 100_000;
const GUARD_KEY_BYTES = 32;
/** kcp-go reads into 1500 bytes; the fork drops (never truncates) anything longer (§1.8). */
export const GUARD_DEFAULT_MAX_DATAGRAM = 1500;

export interface GuardOptions {
  /** paqet's `transport.kcp.key`, its raw UTF-8 bytes (not hex-decoded). Must not be empty. */
  readonly key: string;
  /** Exactly 4 bytes once UTF-8 encoded; default "PQT1". */
  readonly magic?: string;
  /** Window length in seconds, 1..3600; default 30. */
  readonly windowSeconds?: number;
  /** How many windows behind the receiver's a cookie may be, 0..10; default 1. */
  readonly skew?: number;
  /** Wall clock in Unix milliseconds; Date.now unless a test injects one. */
  readonly now?: () => number;
  /** Stripped datagrams longer than this are dropped and counted; default 1500. */
  readonly maxDatagram?: number;
  /**
   * Split a payload that GRO/LRO coalesced from several guarded datagrams at every further
   * `magic ‖ valid cookie` (the fork does, §1.7). Costs a scan of every payload; default off.
   */
  readonly splitCoalesced?: boolean;
}

export interface GuardStats {
  /** Datagrams (or coalesced parts) that passed and went up. */
  pass: number;
  /** Their bytes, 12 per datagram for the guard header included (the fork's raw_down_bytes). */
  passBytes: number;
  /** Payloads dropped for length, magic or cookie. */
  drops: number;
  /** Stripped datagrams over `maxDatagram`, and their bytes with the header. */
  oversizeDrops: number;
  oversizeDropBytes: number;
  coalescedFrames: number;
  coalescedParts: number;
}

export interface GuardPacketConn extends PacketConn {
  readonly stats: GuardStats;
}

/** 100k-iteration PBKDF2 costs ~13 ms; the fork re-derived it per dial, a port caches it per key. */
const keyCache = new Map<string, Uint8Array>();

export function guardKey(key: string): Uint8Array {
  let k = keyCache.get(key);
  if (k === undefined) {
    k = new Uint8Array(pbkdf2Sync(key, GUARD_SALT, GUARD_ITERATIONS, GUARD_KEY_BYTES, "sha256"));
    keyCache.set(key, k);
  }
  return k;
}

/** cookie(W) for a derived guard key; exported for tests and diagnostics. */
export function guardCookie(guardKeyBytes: Uint8Array, magic: Uint8Array, window: number): Uint8Array {
  const msg = new Uint8Array(MAGIC_BYTES + 8);
  msg.set(magic);
  const v = new DataView(msg.buffer);
  v.setUint32(MAGIC_BYTES, Math.floor(window / 2 ** 32));
  v.setUint32(MAGIC_BYTES + 4, window >>> 0);
  return new Uint8Array(createHmac("sha256", guardKeyBytes).update(msg).digest()).subarray(0, COOKIE_BYTES);
}

function checkOptions(opts: GuardOptions): { magic: Uint8Array; window: number; skew: number } {
  if (opts.key.length === 0) throw new RangeError("guard: the key must not be empty");
  const magic = new TextEncoder().encode(opts.magic ?? GUARD_DEFAULT_MAGIC);
  if (magic.length !== MAGIC_BYTES) throw new RangeError(`guard: magic must be ${MAGIC_BYTES} bytes`);
  const window = opts.windowSeconds ?? GUARD_DEFAULT_WINDOW_S;
  if (!Number.isInteger(window) || window < 1 || window > 3600) {
    throw new RangeError("guard: window must be 1..3600 seconds");
  }
  const skew = opts.skew ?? GUARD_DEFAULT_SKEW;
  if (!Number.isInteger(skew) || skew < 0 || skew > 10) throw new RangeError("guard: skew must be 0..10");
  return { magic, window, skew };
}

/** True for the wrapper `guardPacketConn` returns. */
export function isGuardPacketConn(conn: PacketConn): conn is GuardPacketConn {
  return conn instanceof Guard;
}

/**
 * Backs the status counters with `stats` (seed-fork §3.3): guard pass/drops, and, since the guard
 * is what hands datagrams to KCP, raw_down packets and bytes, oversize drops and GRO splits.
 * Returns the function that removes them (the last figures stay counted).
 */
export function provideGuardMetrics(stats: Readonly<GuardStats>): () => void {
  return provideAll({
    guardPass: () => stats.pass,
    guardDrops: () => stats.drops,
    rawDownPackets: () => stats.pass,
    rawDownBytes: () => stats.passBytes,
    rawDownOversizeDrops: () => stats.oversizeDrops,
    rawDownOversizeDropBytes: () => stats.oversizeDropBytes,
    rawDownCoalescedFrames: () => stats.coalescedFrames,
    rawDownCoalescedParts: () => stats.coalescedParts,
  });
}

/** Wraps `inner` so every datagram sent gets the guard header and every one received must carry it. */
export function guardPacketConn(inner: PacketConn, opts: GuardOptions): GuardPacketConn {
  return new Guard(inner, opts);
}

class Guard implements GuardPacketConn {
  readonly stats: GuardStats = {
    pass: 0,
    passBytes: 0,
    drops: 0,
    oversizeDrops: 0,
    oversizeDropBytes: 0,
    coalescedFrames: 0,
    coalescedParts: 0,
  };
  private readonly key: Uint8Array;
  private readonly magic: Uint8Array;
  private readonly windowMs: number;
  private readonly skew: number;
  private readonly now: () => number;
  private readonly maxDatagram: number;
  private readonly split: boolean;
  /** Window the cookie set belongs to, and cookies for W, W−1, …, W−skew packed 8 bytes each. */
  private window = -1;
  private readonly cookies: Uint8Array;
  private sendBuf = new Uint8Array(GUARD_HEADER_BYTES + GUARD_DEFAULT_MAX_DATAGRAM);
  private handler: PacketHandler | undefined;

  constructor(
    private readonly inner: PacketConn,
    opts: GuardOptions,
  ) {
    const { magic, window, skew } = checkOptions(opts);
    this.key = guardKey(opts.key);
    this.magic = magic;
    this.windowMs = window * 1000;
    this.skew = skew;
    this.now = opts.now ?? Date.now;
    this.maxDatagram = opts.maxDatagram ?? GUARD_DEFAULT_MAX_DATAGRAM;
    this.split = opts.splitCoalesced ?? false;
    this.cookies = new Uint8Array((skew + 1) * COOKIE_BYTES);
    this.refresh();
    inner.onPacket(this.receive);
  }

  get localAddr(): PacketAddr {
    return this.inner.localAddr;
  }

  get isClosed(): boolean {
    return this.inner.isClosed;
  }

  onPacket(handler: PacketHandler): void {
    this.handler = handler;
  }

  writeTo(data: Uint8Array, to: PacketAddr): void {
    this.refresh();
    const n = GUARD_HEADER_BYTES + data.length;
    if (this.sendBuf.length < n) this.sendBuf = new Uint8Array(n);
    const buf = this.sendBuf;
    buf.set(this.magic);
    buf.set(this.cookies.subarray(0, COOKIE_BYTES), COOKIE_OFFSET);
    buf.set(data, GUARD_HEADER_BYTES);
    this.inner.writeTo(buf.subarray(0, n), to);
  }

  close(): void {
    this.inner.close();
  }

  /** Rebuilds the cookie set when the wall-clock window has moved (either way). */
  private refresh(): void {
    const w = Math.floor(this.now() / this.windowMs);
    if (w === this.window) return;
    this.window = w;
    for (let i = 0; i <= this.skew; i++) {
      const cookie = w - i >= 0 ? guardCookie(this.key, this.magic, w - i) : new Uint8Array(COOKIE_BYTES);
      this.cookies.set(cookie, i * COOKIE_BYTES);
    }
  }

  /** Whether bytes at `off` hold the magic and an acceptable cookie (the caller checked the length). */
  private validAt(p: Uint8Array, off: number): boolean {
    const m = this.magic;
    if (p[off] !== m[0] || p[off + 1] !== m[1] || p[off + 2] !== m[2] || p[off + 3] !== m[3]) return false;
    const c = this.cookies;
    const at = off + COOKIE_OFFSET;
    next: for (let k = 0; k < c.length; k += COOKIE_BYTES) {
      for (let j = 0; j < COOKIE_BYTES; j++) if (p[at + j] !== c[k + j]) continue next;
      return true;
    }
    return false;
  }

  private deliver(part: Uint8Array, from: PacketAddr): void {
    if (part.length > this.maxDatagram) {
      this.stats.oversizeDrops++;
      this.stats.oversizeDropBytes += part.length + GUARD_HEADER_BYTES;
      return;
    }
    this.stats.pass++;
    this.stats.passBytes += part.length + GUARD_HEADER_BYTES;
    this.handler?.(part, from);
  }

  private readonly receive = (data: Uint8Array, from: PacketAddr): void => {
    this.refresh();
    if (data.length < GUARD_HEADER_BYTES || !this.validAt(data, 0)) {
      this.stats.drops++;
      return;
    }
    if (this.split) {
      const next = this.nextHeader(data, GUARD_HEADER_BYTES);
      if (next >= 0 && this.deliverCoalesced(data, next, from)) return;
    }
    this.deliver(data.subarray(GUARD_HEADER_BYTES), from);
  };

  private nextHeader(p: Uint8Array, from: number): number {
    const first = this.magic[0]!;
    for (let i = from; i + GUARD_HEADER_BYTES <= p.length; i++) {
      if (p[i] === first && this.validAt(p, i)) return i;
    }
    return -1;
  }

  /**
   * Delivers each part between valid headers, skipping empty ones (§1.7); with no part at all the
   * payload goes up as one datagram, as in the fork.
   */
  private deliverCoalesced(p: Uint8Array, second: number, from: PacketAddr): boolean {
    const cuts: number[] = [];
    let start = GUARD_HEADER_BYTES;
    let end = second;
    for (;;) {
      if (end > start) cuts.push(start, end);
      if (end >= p.length) break;
      start = end + GUARD_HEADER_BYTES;
      const n = this.nextHeader(p, start);
      end = n < 0 ? p.length : n;
    }
    if (cuts.length === 0) return false;
    // The handler may send (and the capture ring move on) between parts, so cut from a copy.
    const copy = p.slice();
    this.stats.coalescedFrames++;
    this.stats.coalescedParts += cuts.length / 2;
    for (let i = 0; i < cuts.length; i += 2) this.deliver(copy.subarray(cuts[i], cuts[i + 1]), from);
    return true;
  }
}
