/**
 * kcp-go's FEC layer (kcp-smux-wire.md §4), per session, between KCP and the crypto layer.
 *
 *   data shard:   seqid u32 LE ‖ 0xF1 u16 LE ‖ size u16 LE (= 2 + KCP bytes) ‖ KCP bytes
 *   parity shard: seqid u32 LE ‖ 0xF2 u16 LE ‖ RS parity over the data shards' bytes 6..
 *
 * seqids run 0,1,2,… modulo `paws`; within every group of d+p seqids the first d are data and the
 * last p parity, even when the encoder skips parity. The decoder mirrors kcp-go v5.6.72: shards are
 * grouped by seqid / (d+p), duplicates ignored, a group is decoded once it holds d shards, groups
 * more than 3 behind the newest are discarded, and a peer's (d, p) is re-learnt from the data/parity
 * pattern whenever a shard lands where the local parameters do not expect its type.
 */
import type { FecCodec, FecStats } from "./codec-types.ts";
import { ReedSolomon } from "./reedsolomon.ts";

export const FEC_HEADER_BYTES = 6;
/** FEC header plus the data shard's size field: the FecCodec overhead. */
export const FEC_DATA_HEADER_BYTES = 8;
const OFF_SEQID = 0;
const OFF_TYPE = 4;
const OFF_SIZE = 6;

export const FEC_TYPE_DATA = 0xf1;
export const FEC_TYPE_PARITY = 0xf2;
export const FEC_TYPE_OOB = 0xf3;

/** kcp-go sends parity only when the group's data shards came less than this apart (its fixed "rto"). */
const PARITY_CONTINUITY_MS = 500;
/** kcp-go keeps this many groups behind the newest before discarding them. */
const MAX_SHARD_SETS = 3;
/** Samples the auto-tuner keeps: 256 + 2 for edge detection. */
const AUTO_TUNE_SAMPLES = 258;
/** GF(2^8) Reed-Solomon codes at most 256 shards. */
const MAX_SHARDS = 256;
/** kcp-go's session drops decrypted packets below min(KCP header 24, FEC header 8 + conv 4). */
const MIN_INNER_BYTES = 12;
/** Shard buffers cover the largest datagram kcp-go reads; they grow only for larger packets. */
const SHARD_BUFFER_BYTES = 1500;

export interface FecOptions {
  /** Milliseconds clock for the encoder's continuity check; Date.now unless a test injects one. */
  readonly now?: () => number;
}

/** int32(a − b): kcp-go's wrap-aware sequence comparison. */
const diff = (a: number, b: number): number => (a - b) | 0;

const readU32 = (b: Uint8Array, o: number): number =>
  (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const readU16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}
function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

const paws = (shardSize: number): number => Math.floor(0xffffffff / shardSize) * shardSize;

function newStats(): FecStats {
  return { recovered: 0, dropped: 0, parityShardsSent: 0 };
}

/**
 * The per-session FEC codec. With either count 0 (or d+p over 256) the encoder is off (packets pass through, overhead
 * 0), but the decoder still accepts FEC packets from a peer that uses FEC, as kcp-go does: it starts
 * a 1+1 decoder on the first one and auto-tunes to the peer's counts.
 */
export function createFec(dataShards: number, parityShards: number, opts: FecOptions = {}): FecCodec {
  const stats = newStats();
  // kcp-go's constructors return nil (FEC off) for counts it cannot code, and paqet does not
  // validate them, so 0, negative or more than 256 shards in total all mean "off" here too.
  const on =
    Number.isInteger(dataShards) &&
    Number.isInteger(parityShards) &&
    dataShards > 0 &&
    parityShards > 0 &&
    dataShards + parityShards <= MAX_SHARDS;
  const encoder = on ? new FecEncoder(dataShards, parityShards, opts.now ?? Date.now, stats) : undefined;
  let decoder = on ? new FecDecoder(dataShards, parityShards, stats) : undefined;
  return {
    overhead: encoder === undefined ? 0 : FEC_DATA_HEADER_BYTES,
    stats,
    encode(kcpPacket, emit) {
      if (encoder === undefined) emit(kcpPacket);
      else encoder.encode(kcpPacket, emit);
    },
    decode(inner, deliver) {
      if (inner.length < MIN_INNER_BYTES) {
        stats.dropped++;
        return;
      }
      const type = readU16(inner, OFF_TYPE);
      if (type === FEC_TYPE_DATA || type === FEC_TYPE_PARITY) {
        decoder ??= new FecDecoder(1, 1, stats);
        decoder.decode(inner, deliver);
      } else if (type === FEC_TYPE_OOB) {
        // paqet registers no OOB callback, so kcp-go drops these after counting them.
        stats.dropped++;
      } else {
        deliver(inner, true);
      }
    },
  };
}

class FecEncoder {
  private readonly rs: ReedSolomon;
  private readonly shardSize: number;
  private readonly paws: number;
  private next = 0;
  /** Data shards collected in the current group. */
  private count = 0;
  /** Longest inner packet (header included) of the current group. */
  private maxLen = 0;
  /** kcp-go starts from time zero, so the first group never counts as continuous. */
  private lastMs = Number.NEGATIVE_INFINITY;
  /** d data + p parity buffers, each holding a whole inner packet. */
  private readonly bufs: Uint8Array[];
  /** Inner length of each data shard of the current group. */
  private readonly lens: number[];
  /** Views of bytes 6.. of the data and of the parity buffers, handed to the RS coder. */
  private readonly dataPayloads: Uint8Array[];
  private readonly parityPayloads: Uint8Array[];

  constructor(
    private readonly d: number,
    private readonly p: number,
    private readonly now: () => number,
    private readonly stats: FecStats,
  ) {
    this.rs = new ReedSolomon(d, p);
    this.shardSize = d + p;
    this.paws = paws(this.shardSize);
    this.bufs = Array.from({ length: d + p }, () => new Uint8Array(SHARD_BUFFER_BYTES));
    this.lens = new Array<number>(d).fill(0);
    this.dataPayloads = this.bufs.slice(0, d).map((b) => b.subarray(FEC_HEADER_BYTES));
    this.parityPayloads = this.bufs.slice(d).map((b) => b.subarray(FEC_HEADER_BYTES));
  }

  private grow(i: number, len: number): void {
    const b = new Uint8Array(len);
    b.set(this.bufs[i]!);
    this.bufs[i] = b;
    if (i < this.d) this.dataPayloads[i] = b.subarray(FEC_HEADER_BYTES);
    else this.parityPayloads[i - this.d] = b.subarray(FEC_HEADER_BYTES);
  }

  private seal(buf: Uint8Array, type: number): void {
    writeU32(buf, OFF_SEQID, this.next);
    writeU16(buf, OFF_TYPE, type);
    this.next = (this.next + 1) % this.paws;
  }

  encode(kcpPacket: Uint8Array, emit: (inner: Uint8Array) => void): void {
    const len = FEC_DATA_HEADER_BYTES + kcpPacket.length;
    const slot = this.count;
    if (this.bufs[slot]!.length < len) this.grow(slot, len);
    const buf = this.bufs[slot]!;
    this.seal(buf, FEC_TYPE_DATA);
    writeU16(buf, OFF_SIZE, kcpPacket.length + 2);
    buf.set(kcpPacket, FEC_DATA_HEADER_BYTES);
    this.lens[slot] = len;
    this.count++;
    if (len > this.maxLen) this.maxLen = len;
    emit(buf.subarray(0, len));

    const now = this.now();
    if (this.count === this.d) {
      if (now - this.lastMs < PARITY_CONTINUITY_MS) {
        const maxLen = this.maxLen;
        for (let k = 0; k < this.p; k++) if (this.bufs[this.d + k]!.length < maxLen) this.grow(this.d + k, maxLen);
        for (let i = 0; i < this.d; i++) {
          if (this.bufs[i]!.length < maxLen) this.grow(i, maxLen);
          // RS codes the group zero-padded to its longest shard.
          this.bufs[i]!.fill(0, this.lens[i], maxLen);
        }
        this.rs.encode(this.dataPayloads, this.parityPayloads, maxLen - FEC_HEADER_BYTES);
        for (let k = 0; k < this.p; k++) {
          const parity = this.bufs[this.d + k]!;
          this.seal(parity, FEC_TYPE_PARITY);
          this.stats.parityShardsSent++;
          emit(parity.subarray(0, maxLen));
        }
      } else {
        // Data was not continuous: no parity, but the seqids stay aligned to d data + p parity.
        this.next = (this.next + this.p) % this.paws;
      }
      this.count = 0;
      this.maxLen = 0;
    }
    this.lastMs = now;
  }
}

/** One group's stored shards, by position seqid % shardSize. */
interface Group {
  shards: (Uint8Array | undefined)[];
  types: number[];
  size: number;
}

class FecDecoder {
  private d: number;
  private p: number;
  private shardSize: number;
  private paws: number;
  private rs: ReedSolomon;
  private groups = new Map<number, Group>();
  private newest = 0;
  private shouldTune = false;
  private readonly tune = new AutoTune();
  /** Spare shard buffers, so steady traffic stores shards without allocating. */
  private readonly pool: Uint8Array[] = [];
  /** Output buffers for rebuilt data shards. */
  private recoverBufs: Uint8Array[] = [];

  constructor(
    d: number,
    p: number,
    private readonly stats: FecStats,
  ) {
    this.d = d;
    this.p = p;
    this.shardSize = d + p;
    this.paws = paws(this.shardSize);
    this.rs = new ReedSolomon(d, p);
  }

  private take(len: number): Uint8Array {
    const b = this.pool.pop();
    return b !== undefined && b.length >= len ? b : new Uint8Array(Math.max(len, SHARD_BUFFER_BYTES));
  }

  private release(g: Group): void {
    for (let i = 0; i < g.shards.length; i++) {
      const s = g.shards[i];
      if (s !== undefined) this.pool.push(new Uint8Array(s.buffer));
      g.shards[i] = undefined;
    }
    g.size = 0;
  }

  decode(pkt: Uint8Array, deliver: (kcpPacket: Uint8Array, regular: boolean) => void): void {
    const seqid = readU32(pkt, OFF_SEQID);
    const type = readU16(pkt, OFF_TYPE);
    // Live data shards reach KCP at once, whatever their size field says; parity only waits.
    if (type === FEC_TYPE_DATA) deliver(pkt.subarray(FEC_DATA_HEADER_BYTES), true);

    this.tune.sample(type === FEC_TYPE_DATA, seqid);
    if (seqid >= this.paws) {
      this.stats.dropped++;
      return;
    }
    const pos = seqid % this.shardSize;
    if ((pos < this.d) !== (type === FEC_TYPE_DATA)) this.shouldTune = true;
    if (this.shouldTune) {
      this.retune();
      this.stats.dropped++;
      return;
    }

    const groupId = Math.floor(seqid / this.shardSize);
    let g = this.groups.get(groupId);
    if (g === undefined) {
      g = {
        shards: new Array<Uint8Array | undefined>(this.shardSize).fill(undefined),
        types: new Array<number>(this.shardSize).fill(0),
        size: 0,
      };
      this.groups.set(groupId, g);
    }
    if (g.shards[pos] !== undefined) {
      this.stats.dropped++;
      return;
    }
    const data = pkt.subarray(FEC_HEADER_BYTES);
    const copy = this.take(data.length);
    copy.set(data);
    g.shards[pos] = copy.subarray(0, data.length);
    g.types[pos] = type;
    g.size++;

    if (g.size >= this.d) this.recover(g, deliver);

    if (diff(groupId * this.shardSize, this.newest * this.shardSize) > 0) this.newest = groupId;
    for (const [id, old] of this.groups) {
      if (diff(this.newest * this.shardSize, id * this.shardSize) > MAX_SHARD_SETS * this.shardSize) {
        this.stats.dropped += old.size;
        this.release(old);
        this.groups.delete(id);
      }
    }
  }

  /** The group holds d shards: rebuild any missing data shards, then empty it (kcp-go pops all). */
  private recover(g: Group, deliver: (kcpPacket: Uint8Array, regular: boolean) => void): void {
    let dataCount = 0;
    let maxLen = 0;
    for (let i = 0; i < this.shardSize; i++) {
      const s = g.shards[i];
      if (s === undefined) continue;
      if (g.types[i] === FEC_TYPE_DATA) dataCount++;
      if (s.length > maxLen) maxLen = s.length;
    }
    if (dataCount < this.d) {
      const padded = g.shards.map((s) => {
        if (s === undefined) return undefined;
        if (s.buffer.byteLength - s.byteOffset < maxLen) {
          const wide = new Uint8Array(maxLen);
          wide.set(s);
          return wide;
        }
        const view = new Uint8Array(s.buffer, s.byteOffset, maxLen);
        view.fill(0, s.length);
        return view;
      });
      while (this.recoverBufs.length < this.d) this.recoverBufs.push(new Uint8Array(SHARD_BUFFER_BYTES));
      for (let i = 0; i < this.d; i++) {
        if (this.recoverBufs[i]!.length < maxLen) this.recoverBufs[i] = new Uint8Array(maxLen);
      }
      if (this.rs.reconstructData(padded, this.recoverBufs, maxLen)) {
        for (let i = 0; i < this.d; i++) {
          if (g.shards[i] !== undefined) continue;
          const r = this.recoverBufs[i]!;
          const size = readU16(r, 0);
          if (size >= 2 && size <= maxLen) {
            this.stats.recovered++;
            deliver(r.subarray(2, size), false);
          }
        }
      }
    }
    this.release(g);
  }

  /** A shard of the wrong type for its position: adopt the peer's (d, p) once the pattern is clear. */
  private retune(): void {
    const found = this.tune.findPeriods();
    if (found === undefined || found.d + found.p >= 256) return;
    const { d, p } = found;
    if (d !== this.d || p !== this.p) {
      this.d = d;
      this.p = p;
      this.shardSize = d + p;
      this.paws = paws(this.shardSize);
      this.rs = new ReedSolomon(d, p);
      for (const g of this.groups.values()) this.release(g);
      this.groups = new Map();
    }
    this.shouldTune = false;
  }
}

/**
 * kcp-go's autoTune: the last 258 (type, seqid) samples, sorted by seqid; the width of the first
 * complete run of the wanted type in a gap-free stretch is the peer's shard count.
 */
class AutoTune {
  private readonly bits = new Uint8Array(AUTO_TUNE_SAMPLES);
  private readonly seqs = new Uint32Array(AUTO_TUNE_SAMPLES);
  private head = 0;
  private count = 0;
  /** Sort keys: 2·(seqid − reference) + bit, so one native numeric sort orders by seqid (wrap-aware). */
  private readonly keys = new Float64Array(AUTO_TUNE_SAMPLES);

  sample(data: boolean, seqid: number): void {
    const tail = (this.head + this.count) % AUTO_TUNE_SAMPLES;
    this.bits[tail] = data ? 1 : 0;
    this.seqs[tail] = seqid;
    if (this.count < AUTO_TUNE_SAMPLES) this.count++;
    else this.head = (this.head + 1) % AUTO_TUNE_SAMPLES;
  }

  /** The peer's (data, parity) run lengths, or undefined while the pattern is unclear. */
  findPeriods(): { d: number; p: number } | undefined {
    if (this.count < 3) return undefined;
    const ref = this.seqs[this.head]!;
    const keys = this.keys.subarray(0, this.count);
    for (let i = 0; i < this.count; i++) {
      const at = (this.head + i) % AUTO_TUNE_SAMPLES;
      keys[i] = 2 * diff(this.seqs[at]!, ref) + this.bits[at]!;
    }
    keys.sort();
    const d = period(keys, 1);
    const p = period(keys, 0);
    return d > 0 && p > 0 ? { d, p } : undefined;
  }
}

/** Width of the first complete run of `bit` in sorted keys; -1 on a seqid gap or no full run. */
function period(keys: Float64Array, bit: number): number {
  const seqOf = (k: number): number => Math.floor(k / 2);
  const bitOf = (k: number): number => k - 2 * Math.floor(k / 2);
  let left = -1;
  for (let i = 1; i < keys.length; i++) {
    const prev = keys[i - 1]!, cur = keys[i]!;
    if (seqOf(prev) + 1 !== seqOf(cur)) return -1;
    if (bitOf(prev) !== bit && bitOf(cur) === bit) {
      left = i;
      break;
    }
  }
  if (left === -1) return -1;
  for (let i = left + 1; i < keys.length; i++) {
    const prev = keys[i - 1]!, cur = keys[i]!;
    if (seqOf(prev) + 1 !== seqOf(cur)) return -1;
    if (bitOf(prev) === bit && bitOf(cur) !== bit) return i - left;
  }
  return -1;
}
