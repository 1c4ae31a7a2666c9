/**
 * The KCP ARQ core as kcp-go v5.6.72 runs it (kcp-smux-wire.md §5–§6), sans-IO.
 *
 * The core never reads a clock and never arms a timer: every entry point that needs the time takes
 * `current` (u32 ms from any monotonic origin), and datagrams leave through the `output` callback,
 * synchronously, as views into one reused buffer that are valid only during the call. The session
 * (session.ts) decides when to flush.
 *
 * Ported from the spec and the Go library's behaviour, not from the C ikcp: kcp-go differs in its
 * defaults (receive window 32, first window probe after 500 ms), in the RTO back-off (+rx_rto or
 * +rx_rto/2 per timeout, not doubling), in acked-in-place segments, the fast-ack sentinel with early
 * retransmit, the ACK filter in flush, and the immediate flush after input.
 *
 * All sequence numbers and timestamps are u32 and compared through the signed 32-bit difference.
 */
import { Cmd, isCmd, KCP_OVERHEAD, readU16, readU32, SEG_CMD, SEG_FRG, SEG_LEN, SEG_SN, SEG_TS, SEG_UNA, SEG_WND, writeU16, writeU32 } from "./segment.ts";
import { KcpError } from "./errors.ts";

/** Minimum RTO with nodelay on. */
export const RTO_NDL = 30;
/** Minimum RTO with nodelay off. */
export const RTO_MIN = 100;
export const RTO_DEF = 200;
export const RTO_MAX = 60000;
export const WND_SND = 32;
export const WND_RCV = 32;
export const MTU_DEF = 1400;
export const INTERVAL_DEF = 100;
export const DEAD_LINK = 20;
export const THRESH_INIT = 2;
export const THRESH_MIN = 2;
/** First zero-window probe after this many ms, then ×1.5 each time up to PROBE_LIMIT. */
export const PROBE_INIT = 500;
export const PROBE_LIMIT = 120000;
/** `state` once a segment reached dead_link transmissions. */
export const STATE_DEAD = 0xffffffff;

const ASK_SEND = 1;
const ASK_TELL = 2;
/** fastack value that blocks further fast/early resends of a segment until its next RTO. */
const FASTACK_DONE = 0xffffffff;
/**
 * Transmissions up to which a fast resend leaves the segment open to another one (5, the C KCP's
 * fast-ack limit); after that the sentinel waits for the RTO, as kcp-go does after every fast
 * resend. Only ACKs of segments sent after the resend count towards the next one (the ts rule), so
 * a second resend needs evidence that the first was lost: a lost resend of the segment that holds
 * the window otherwise stalls the transfer for a whole RTO (100 ms and more at nodelay 0). On the
 * lossy memory link at 30 ms and 1 % loss each way, 32 MiB downloads over five seeds: 5.26-5.63
 * MiB/s and up to 61 RTOs with the sentinel, 5.52-5.76 MiB/s and at most one RTO with this limit.
 * A sender-side rule: the bytes of each segment are unchanged, any peer reads them as before.
 */
const FAST_RESEND_LIMIT = 5;

/** What `input` made of a datagram. Negative results leave earlier segments' effects in place. */
export const InputResult = {
  Ok: 0,
  /** Fewer than 24 bytes. */
  TooShort: -1,
  /** A segment's data runs past the end of the datagram. */
  Truncated: -2,
  /** A command outside 81..84. */
  BadCmd: -3,
  /** A segment for another conversation; the rest of the datagram was ignored. */
  ConvMismatch: -4,
} as const;
export type InputResult = (typeof InputResult)[keyof typeof InputResult];

export type KcpOutput = (datagram: Uint8Array) => void;

/** Signed 32-bit difference a − b of two u32 counters. */
export function timediff(a: number, b: number): number {
  return (a - b) | 0;
}

class SendSegment {
  frg = 0;
  wnd = 0;
  ts = 0;
  sn = 0;
  una = 0;
  rto = 0;
  xmit = 0;
  resendts = 0;
  fastack = 0;
  acked = false;
  len = 0;
  constructor(public data: Uint8Array) {}
}

interface RecvSegment {
  sn: number;
  frg: number;
  data: Uint8Array;
}

/**
 * A FIFO with O(1) removal at the head (Array.shift and splice(0, n) move every element, and the
 * KCP queues hold up to a window of segments), plus the in-place insert the receive buffer needs.
 */
class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  /** The i-th element from the head. */
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }

  last(): T | undefined {
    return this.items.length > this.head ? this.items[this.items.length - 1] : undefined;
  }

  push(x: T): void {
    this.items.push(x);
  }

  /** Inserts before the i-th element (i = length appends). */
  insert(i: number, x: T): void {
    if (i === this.length) this.items.push(x);
    else this.items.splice(this.head + i, 0, x);
  }

  shift(): T | undefined {
    if (this.head === this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    this.compact();
    return x;
  }

  /** Removes the first n elements. */
  drop(n: number): void {
    const end = this.head + n;
    for (let i = this.head; i < end; i++) this.items[i] = undefined;
    this.head = end;
    this.compact();
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

/**
 * Received segment data is copied out of the (reused) datagram buffer into views of a shared slab:
 * one allocation per RX_SLAB bytes instead of one per segment, which under load costs far more in
 * GC than the copy itself. A slab stays alive while any view into it does; the views are bounded by
 * the receive window and the reader's buffers. 64 KiB: in Bun an ArrayBuffer of 128 KiB or more
 * is mapped fresh from the OS and costs ~70 µs, against ~5 µs at 64 KiB.
 */
const RX_SLAB = 64 * 1024;
/**
 * The first slab after a quiet spell is this small and each next one twice the last, up to
 * RX_SLAB: an idle session's keepalive every few seconds would otherwise pin 64 KiB for 8 bytes.
 */
const RX_SLAB_FIRST = 4 * 1024;

/**
 * Every TRIM_PERIOD_MS (trim, from the periodic update) a session gives back what it did not use
 * in that time: the pooled send segments that sat in the pool the whole period, and a receive slab
 * larger than RX_SLAB_FIRST when less than that arrived. The pool holds up to snd_wnd segments of
 * MSS bytes (1.4 MiB at the server's 1024) after one large download, and the slab 64 KiB; kept for
 * hundreds of idle users, that was most of a server's memory. A keepalive every two seconds uses
 * one segment each way, so an idle session keeps about one; a busy one keeps what it cycles.
 * Just under the quiet session's update period (session.ts QUIET_TICK_MS, 1 s), so that a quiet
 * session, whose updates come about a second apart and can fire a millisecond early, trims at
 * each of them rather than at every other one.
 */
export const TRIM_PERIOD_MS = 900;
const EMPTY_SLAB = new ArrayBuffer(0);
const EMPTY_SLAB_BYTES = new Uint8Array(EMPTY_SLAB);

export interface KcpCoreStats {
  inSegs: number;
  outSegs: number;
  /** PUSH segments already received (duplicates or below rcv_nxt). */
  repeatSegs: number;
  /** RTO retransmissions. */
  lostSegs: number;
  fastRetransSegs: number;
  earlyRetransSegs: number;
  /** Datagrams `input` refused or cut short. */
  inErrors: number;
}

export class KcpCore {
  readonly conv: number;
  mtu = MTU_DEF;
  mss = MTU_DEF - KCP_OVERHEAD;
  /** 0 while alive; STATE_DEAD once a segment hit dead_link transmissions. */
  state = 0;

  sndUna = 0;
  sndNxt = 0;
  rcvNxt = 0;

  ssthresh = THRESH_INIT;
  rxRttvar = 0;
  rxSrtt = 0;
  rxRto = RTO_DEF;
  rxMinrto = RTO_MIN;

  sndWnd = WND_SND;
  rcvWnd = WND_RCV;
  rmtWnd = WND_RCV;
  cwnd = 0;
  incr = 0;
  probe = 0;
  probeWait = 0;
  tsProbe = 0;

  interval = INTERVAL_DEF;
  nodelay = 0;
  nocwnd = 0;
  fastresend = 0;
  stream = false;
  deadLink = DEAD_LINK;

  readonly stats: KcpCoreStats = {
    inSegs: 0,
    outSegs: 0,
    repeatSegs: 0,
    lostSegs: 0,
    fastRetransSegs: 0,
    earlyRetransSegs: 0,
    inErrors: 0,
  };

  private sndQueue = new Deque<SendSegment>();
  /** In flight, contiguous sns from snd_una to snd_nxt − 1 (acked ones stay until una passes). */
  private sndBuf = new Deque<SendSegment>();
  private rcvQueue = new Deque<RecvSegment>();
  /** Out of order, ascending sn. */
  private rcvBuf = new Deque<RecvSegment>();
  private rxSlab = EMPTY_SLAB;
  private rxSlabBytes = EMPTY_SLAB_BYTES;
  private rxSlabOff = 0;
  private rxSlabNext = RX_SLAB_FIRST;
  /** Fewest segments the pool held since the last trim: those were not needed all period. */
  private poolLow = 0;
  /** Bytes copied into receive slabs since the last trim. */
  private rxSinceTrim = 0;
  /** kcp clock time of the last trim, or −1 before the first. */
  private lastTrim = -1;
  /** Pending ACKs as flat (sn, ts) pairs. */
  private ackList: number[] = [];
  private buffer: Uint8Array;
  /** Send segments whose data buffers can be reused (all of capacity mss). */
  private pool: SendSegment[] = [];

  constructor(
    conv: number,
    private readonly output: KcpOutput,
  ) {
    this.conv = conv >>> 0;
    this.buffer = new Uint8Array(this.mtu);
  }

  // ---- configuration ---------------------------------------------------------------------------

  /** KCP MTU (session MTU minus crypto and FEC overhead). kcp-go refuses below 50. */
  setMtu(mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < 50 || mtu < KCP_OVERHEAD) {
      throw new KcpError("KCP_BAD_OPTION", `KCP MTU ${mtu} is below 50`);
    }
    this.mtu = mtu;
    this.mss = mtu - KCP_OVERHEAD;
    this.buffer = new Uint8Array(mtu);
    this.pool = [];
    this.poolLow = 0;
  }

  /** kcp-go NoDelay: negative values leave a knob unchanged; interval is clamped to 10..5000. */
  setNodelay(nodelay: number, interval: number, resend: number, nc: number): void {
    if (nodelay >= 0) {
      this.nodelay = nodelay;
      this.rxMinrto = nodelay !== 0 ? RTO_NDL : RTO_MIN;
    }
    if (interval >= 0) this.interval = Math.min(5000, Math.max(10, interval));
    if (resend >= 0) this.fastresend = resend;
    if (nc >= 0) this.nocwnd = nc;
  }

  /** Window sizes in segments; values ≤ 0 leave a window unchanged. */
  setWndSize(sndWnd: number, rcvWnd: number): void {
    if (sndWnd > 0) this.sndWnd = sndWnd;
    if (rcvWnd > 0) this.rcvWnd = rcvWnd;
  }

  // ---- application side ------------------------------------------------------------------------

  /** Segments written but not yet acknowledged (snd_buf + snd_queue). */
  get waitSnd(): number {
    return this.sndBuf.length + this.sndQueue.length;
  }

  /** Segments ready for the application. */
  get rcvQueueLength(): number {
    return this.rcvQueue.length;
  }

  /** Bytes waiting in the receive queue (walks the queue; not for hot paths). */
  get rcvQueueBytes(): number {
    let n = 0;
    for (let i = 0; i < this.rcvQueue.length; i++) n += this.rcvQueue.at(i)!.data.byteLength;
    return n;
  }

  /** Pending ACK entries. */
  get ackCount(): number {
    return this.ackList.length >>> 1;
  }

  /**
   * Queues bytes (kcp-go Send). Stream mode first tops up the last unsent segment to MSS, then cuts
   * the rest into MSS segments with frg 0. Returns 0, −1 for an empty buffer, −2 for a message of
   * more than 255 fragments.
   */
  send(buf: Uint8Array): number {
    const total = buf.byteLength;
    if (total === 0) return -1;
    let off = 0;
    if (this.stream) {
      const last = this.sndQueue.last();
      if (last) {
        const room = Math.min(this.mss, last.data.byteLength) - last.len;
        if (room > 0) {
          off = Math.min(room, total);
          last.data.set(off === total ? buf : buf.subarray(0, off), last.len);
          last.len += off;
        }
      }
      if (off === total) return 0;
    }
    const rest = total - off;
    const count = rest <= this.mss ? 1 : Math.ceil(rest / this.mss);
    if (!this.stream && count > 255) return -2;
    for (let i = 0; i < count; i++) {
      const size = Math.min(this.mss, total - off);
      const seg = this.newSendSegment();
      seg.data.set(buf.subarray(off, off + size), 0);
      seg.len = size;
      seg.frg = this.stream ? 0 : count - i - 1;
      this.sndQueue.push(seg);
      off += size;
    }
    return 0;
  }

  /** Size of the next message (stream mode: the next segment), or −1 when none is complete. */
  peekSize(): number {
    const head = this.rcvQueue.at(0);
    if (!head) return -1;
    if (head.frg === 0) return head.data.byteLength;
    if (this.rcvQueue.length < head.frg + 1) return -1;
    let size = 0;
    for (let i = 0; i < this.rcvQueue.length; i++) {
      const seg = this.rcvQueue.at(i)!;
      size += seg.data.byteLength;
      if (seg.frg === 0) break;
    }
    return size;
  }

  /**
   * Takes the next message (stream mode: one segment's bytes, handed over without a copy), or
   * undefined. Re-opening a full receive window requests a WINS for the next flush.
   */
  recv(): Uint8Array | undefined {
    const size = this.peekSize();
    if (size < 0) return undefined;
    const wasFull = this.rcvQueue.length >= this.rcvWnd;
    let out: Uint8Array;
    const head = this.rcvQueue.shift()!;
    if (head.frg === 0) {
      out = head.data;
    } else {
      out = new Uint8Array(size);
      out.set(head.data, 0);
      let off = head.data.byteLength;
      for (;;) {
        const seg = this.rcvQueue.shift()!;
        out.set(seg.data, off);
        off += seg.data.byteLength;
        if (seg.frg === 0) break;
      }
    }
    this.moveRcvBuf();
    if (wasFull && this.rcvQueue.length < this.rcvWnd) this.probe |= ASK_TELL;
    return out;
  }

  // ---- input -----------------------------------------------------------------------------------

  /**
   * Processes one datagram's KCP bytes (kcp-go Input). `regular` is false for packets rebuilt by
   * FEC: they update neither the remote window nor the RTT. Flushes through `output` as kcp-go
   * does: fully when una advanced or a fast resend is due, ACK-only when many ACKs are pending or
   * `ackNoDelay` is on.
   */
  input(data: Uint8Array, current: number, regular = true, ackNoDelay = false): InputResult {
    const prevUna = this.sndUna;
    const end = data.byteLength;
    if (end < KCP_OVERHEAD) {
      this.stats.inErrors++;
      return InputResult.TooShort;
    }
    let latest = 0;
    let sawAck = false;
    let windowSlides = false;
    let fastDue = false;
    let off = 0;
    while (end - off >= KCP_OVERHEAD) {
      if (readU32(data, off) !== this.conv) {
        this.stats.inErrors++;
        return InputResult.ConvMismatch;
      }
      const cmd = data[off + SEG_CMD]!;
      const frg = data[off + SEG_FRG]!;
      const wnd = readU16(data, off + SEG_WND);
      const ts = readU32(data, off + SEG_TS);
      const sn = readU32(data, off + SEG_SN);
      const una = readU32(data, off + SEG_UNA);
      const len = readU32(data, off + SEG_LEN);
      off += KCP_OVERHEAD;
      if (end - off < len) {
        this.stats.inErrors++;
        return InputResult.Truncated;
      }
      if (!isCmd(cmd)) {
        this.stats.inErrors++;
        return InputResult.BadCmd;
      }
      if (regular) this.rmtWnd = wnd;
      if (this.parseUna(una) > 0) windowSlides = true;
      this.shrinkBuf();

      if (cmd === Cmd.Ack) {
        this.parseAck(sn);
        if (this.parseFastack(sn, ts)) fastDue = true;
        sawAck = true;
        latest = ts;
      } else if (cmd === Cmd.Push) {
        let repeat = true;
        if (timediff(sn, (this.rcvNxt + this.rcvWnd) >>> 0) < 0) {
          this.ackList.push(sn, ts);
          if (timediff(sn, this.rcvNxt) >= 0) repeat = this.parseData(sn, frg, data, off, len);
        }
        if (regular && repeat) this.stats.repeatSegs++;
      } else if (cmd === Cmd.Wask) {
        this.probe |= ASK_TELL;
      }
      this.stats.inSegs++;
      off += len;
    }

    if (sawAck && regular) {
      const rtt = timediff(current, latest);
      if (rtt >= 0) this.updateAck(rtt);
    }

    if (this.nocwnd === 0 && timediff(this.sndUna, prevUna) > 0 && this.cwnd < this.rmtWnd) {
      const mss = this.mss;
      if (this.cwnd < this.ssthresh) {
        this.cwnd++;
        this.incr += mss;
      } else {
        if (this.incr < mss) this.incr = mss;
        this.incr += Math.floor((mss * mss) / this.incr) + Math.floor(mss / 16);
        if ((this.cwnd + 1) * mss <= this.incr) this.cwnd = Math.ceil(this.incr / mss);
      }
      if (this.cwnd > this.rmtWnd) {
        this.cwnd = this.rmtWnd;
        this.incr = this.rmtWnd * mss;
      }
    }

    if (windowSlides || fastDue) this.flush(current, false);
    else if (this.ackCount >= Math.floor(this.mtu / KCP_OVERHEAD)) this.flush(current, true);
    else if (ackNoDelay && this.ackList.length > 0) this.flush(current, true);
    return InputResult.Ok;
  }

  // ---- flush -----------------------------------------------------------------------------------

  /**
   * Builds and emits datagrams (§6.4). An ACK-only flush sends pending ACKs and probe commands and
   * admits queued data to the window without transmitting it. A full flush also (re)transmits.
   * Returns the ms until the next flush is due: the interval, or sooner for a pending resend.
   */
  flush(current: number, ackOnly = false): number {
    current >>>= 0;
    const buf = this.buffer;
    const mtu = this.mtu;
    const wnd = this.wndUnused();
    const una = this.rcvNxt;
    let ptr = 0;
    // WASK/WINS carry whatever sn/ts the last emitted ACK had.
    let tplSn = 0;
    let tplTs = 0;

    const acks = this.ackList;
    const nAcks = acks.length >>> 1;
    for (let i = 0; i < nAcks; i++) {
      if (ptr + KCP_OVERHEAD > mtu) {
        this.emit(ptr);
        ptr = 0;
      }
      const sn = acks[2 * i]!;
      // In-order data is acknowledged through una; only out-of-order sns and the last entry go out.
      if (timediff(sn, this.rcvNxt) >= 0 || i === nAcks - 1) {
        tplSn = sn;
        tplTs = acks[2 * i + 1]!;
        ptr = this.writeHeader(ptr, Cmd.Ack, 0, wnd, tplTs, tplSn, una, 0);
      }
    }
    acks.length = 0;

    if (this.rmtWnd === 0) {
      if (this.probeWait === 0) {
        this.probeWait = PROBE_INIT;
        this.tsProbe = (current + this.probeWait) >>> 0;
      } else if (timediff(current, this.tsProbe) >= 0) {
        if (this.probeWait < PROBE_INIT) this.probeWait = PROBE_INIT;
        this.probeWait += Math.floor(this.probeWait / 2);
        if (this.probeWait > PROBE_LIMIT) this.probeWait = PROBE_LIMIT;
        this.tsProbe = (current + this.probeWait) >>> 0;
        this.probe |= ASK_SEND;
      }
    } else {
      this.tsProbe = 0;
      this.probeWait = 0;
    }

    if (this.probe & ASK_SEND) {
      if (ptr + KCP_OVERHEAD > mtu) {
        this.emit(ptr);
        ptr = 0;
      }
      ptr = this.writeHeader(ptr, Cmd.Wask, 0, wnd, tplTs, tplSn, una, 0);
    }
    if (this.probe & ASK_TELL) {
      if (ptr + KCP_OVERHEAD > mtu) {
        this.emit(ptr);
        ptr = 0;
      }
      ptr = this.writeHeader(ptr, Cmd.Wins, 0, wnd, tplTs, tplSn, una, 0);
    }
    this.probe = 0;

    let cwnd = Math.min(this.sndWnd, this.rmtWnd);
    if (this.nocwnd === 0) cwnd = Math.min(this.cwnd, cwnd);
    let newSegs = 0;
    const queue = this.sndQueue;
    while (newSegs < queue.length && timediff(this.sndNxt, (this.sndUna + cwnd) >>> 0) < 0) {
      const seg = queue.at(newSegs)!;
      seg.sn = this.sndNxt;
      this.sndBuf.push(seg);
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      newSegs++;
    }
    if (newSegs > 0) queue.drop(newSegs);

    if (ackOnly) {
      if (ptr > 0) this.emit(ptr);
      return this.interval;
    }

    const resent = this.fastresend > 0 ? this.fastresend : FASTACK_DONE;
    let change = 0;
    let lost = 0;
    let minrto = this.interval;
    const sndBuf = this.sndBuf;
    const inFlight = sndBuf.length;
    for (let i = 0; i < inFlight; i++) {
      const seg = sndBuf.at(i)!;
      if (seg.acked) continue;
      let needsend = false;
      if (seg.xmit === 0) {
        needsend = true;
        seg.rto = this.rxRto;
        seg.resendts = (current + seg.rto) >>> 0;
      } else if (seg.fastack !== FASTACK_DONE && seg.fastack >= resent) {
        needsend = true;
        seg.fastack = seg.xmit + 1 < FAST_RESEND_LIMIT ? 0 : FASTACK_DONE;
        seg.rto = this.rxRto;
        seg.resendts = (current + seg.rto) >>> 0;
        change++;
        this.stats.fastRetransSegs++;
      } else if (seg.fastack !== FASTACK_DONE && seg.fastack > 0 && newSegs === 0) {
        needsend = true;
        seg.fastack = FASTACK_DONE;
        seg.rto = this.rxRto;
        seg.resendts = (current + seg.rto) >>> 0;
        change++;
        this.stats.earlyRetransSegs++;
      } else if (timediff(current, seg.resendts) >= 0) {
        needsend = true;
        seg.rto += this.nodelay === 0 ? this.rxRto : Math.floor(this.rxRto / 2);
        seg.fastack = 0;
        seg.resendts = (current + seg.rto) >>> 0;
        lost++;
        this.stats.lostSegs++;
      }

      if (needsend) {
        seg.xmit++;
        seg.ts = current;
        seg.wnd = wnd;
        seg.una = una;
        const need = KCP_OVERHEAD + seg.len;
        if (ptr + need > mtu) {
          this.emit(ptr);
          ptr = 0;
        }
        ptr = this.writeHeader(ptr, Cmd.Push, seg.frg, wnd, current, seg.sn, una, seg.len);
        buf.set(seg.len === seg.data.byteLength ? seg.data : seg.data.subarray(0, seg.len), ptr);
        ptr += seg.len;
        if (this.deadLink > 0 && seg.xmit >= this.deadLink) this.state = STATE_DEAD;
      }

      const rto = timediff(seg.resendts, current);
      if (rto > 0 && rto < minrto) minrto = rto;
    }
    if (ptr > 0) this.emit(ptr);

    if (this.nocwnd === 0) {
      if (change > 0) {
        const inflight = (this.sndNxt - this.sndUna) >>> 0;
        this.ssthresh = Math.max(Math.floor(inflight / 2), THRESH_MIN);
        this.cwnd = this.ssthresh + this.fastresend;
        this.incr = this.cwnd * this.mss;
      }
      if (lost > 0) {
        this.ssthresh = Math.max(Math.floor(cwnd / 2), THRESH_MIN);
        this.cwnd = 1;
        this.incr = this.mss;
      }
      if (this.cwnd < 1) {
        this.cwnd = 1;
        this.incr = this.mss;
      }
    }
    return minrto;
  }

  // ---- internals -------------------------------------------------------------------------------

  private emit(size: number): void {
    // The buffer is exactly one MTU long, so a full datagram needs no new view.
    this.output(size === this.buffer.byteLength ? this.buffer : this.buffer.subarray(0, size));
  }

  private writeHeader(
    ptr: number,
    cmd: number,
    frg: number,
    wnd: number,
    ts: number,
    sn: number,
    una: number,
    len: number,
  ): number {
    const b = this.buffer;
    writeU32(b, ptr, this.conv);
    b[ptr + SEG_CMD] = cmd;
    b[ptr + SEG_FRG] = frg;
    writeU16(b, ptr + SEG_WND, wnd);
    writeU32(b, ptr + SEG_TS, ts);
    writeU32(b, ptr + SEG_SN, sn);
    writeU32(b, ptr + SEG_UNA, una);
    writeU32(b, ptr + SEG_LEN, len);
    this.stats.outSegs++;
    return ptr + KCP_OVERHEAD;
  }

  private wndUnused(): number {
    return this.rcvQueue.length < this.rcvWnd ? this.rcvWnd - this.rcvQueue.length : 0;
  }

  /** Called from the periodic update; gives back, once per TRIM_PERIOD_MS, what went unused (see there). */
  trim(current: number): void {
    if (this.lastTrim >= 0 && timediff(current, this.lastTrim) < TRIM_PERIOD_MS) return;
    const first = this.lastTrim < 0;
    this.lastTrim = current;
    if (!first && this.poolLow > 0) this.pool.length -= this.poolLow;
    this.poolLow = this.pool.length;
    // Views already handed out keep their slab alive on their own.
    if (!first && this.rxSinceTrim < RX_SLAB_FIRST && this.rxSlab.byteLength > RX_SLAB_FIRST) {
      this.rxSlab = EMPTY_SLAB;
      this.rxSlabBytes = EMPTY_SLAB_BYTES;
      this.rxSlabOff = 0;
      this.rxSlabNext = RX_SLAB_FIRST;
    }
    this.rxSinceTrim = 0;
  }

  /**
   * Nothing queued, in flight, to acknowledge or to probe: a flush now would send nothing and set
   * no timer, so the periodic update has nothing to do until the session is used again.
   */
  get quiet(): boolean {
    return this.sndQueue.length === 0 && this.sndBuf.length === 0 && this.ackList.length === 0 && this.probe === 0;
  }

  /** Send segments kept for reuse (tests and diagnostics). */
  get pooledSegments(): number {
    return this.pool.length;
  }

  /** Bytes of the current receive slab (tests and diagnostics). */
  get rxSlabBytesHeld(): number {
    return this.rxSlab.byteLength;
  }

  private newSendSegment(): SendSegment {
    const seg = this.pool.pop();
    if (this.pool.length < this.poolLow) this.poolLow = this.pool.length;
    if (!seg) return new SendSegment(new Uint8Array(this.mss));
    seg.frg = 0;
    seg.xmit = 0;
    seg.fastack = 0;
    seg.acked = false;
    seg.len = 0;
    return seg;
  }

  private shrinkBuf(): void {
    const head = this.sndBuf.at(0);
    this.sndUna = head ? head.sn : this.sndNxt;
  }

  private parseUna(una: number): number {
    const buf = this.sndBuf;
    let count = 0;
    while (count < buf.length && timediff(una, buf.at(count)!.sn) > 0) count++;
    if (count > 0) {
      for (let i = 0; i < count; i++) {
        const seg = buf.at(i)!;
        if (seg.data.byteLength === this.mss && this.pool.length < this.sndWnd) this.pool.push(seg);
      }
      buf.drop(count);
    }
    return count;
  }

  private parseAck(sn: number): void {
    if (timediff(sn, this.sndUna) < 0 || timediff(sn, this.sndNxt) >= 0) return;
    // snd_buf holds consecutive sns starting at snd_una, so the ACKed one is found by offset.
    const seg = this.sndBuf.at(timediff(sn, this.sndUna));
    if (seg && seg.sn === sn) seg.acked = true;
  }

  /** Counts the ACK against older segments sent no later; true when one reached the fast-resend threshold. */
  private parseFastack(sn: number, ts: number): boolean {
    if (timediff(sn, this.sndUna) < 0 || timediff(sn, this.sndNxt) >= 0) return false;
    let due = false;
    const buf = this.sndBuf;
    const n = Math.min(buf.length, timediff(sn, this.sndUna));
    for (let i = 0; i < n; i++) {
      const seg = buf.at(i)!;
      if (timediff(seg.ts, ts) <= 0 && seg.fastack !== FASTACK_DONE) {
        seg.fastack++;
        if (this.fastresend > 0 && seg.fastack >= this.fastresend) due = true;
      }
    }
    return due;
  }

  /** Stores a copy of a new in-window PUSH (data[off, off+len)); returns true when it was a duplicate. */
  private parseData(sn: number, frg: number, data: Uint8Array, off: number, len: number): boolean {
    if (timediff(sn, (this.rcvNxt + this.rcvWnd) >>> 0) >= 0 || timediff(sn, this.rcvNxt) < 0) return true;
    const buf = this.rcvBuf;
    let insertAt = 0;
    for (let i = buf.length - 1; i >= 0; i--) {
      const s = buf.at(i)!.sn;
      if (s === sn) return true;
      if (timediff(sn, s) > 0) {
        insertAt = i + 1;
        break;
      }
    }
    buf.insert(insertAt, { sn, frg, data: this.copyIn(data, off, len) });
    this.moveRcvBuf();
    return false;
  }

  /** A private copy of data[off, off+len) in the receive slab. */
  private copyIn(data: Uint8Array, off: number, len: number): Uint8Array {
    this.rxSinceTrim += len;
    if (this.rxSlabOff + len > this.rxSlab.byteLength) {
      // Not zero-filled (a third of the cost): every byte is written before a view of it exists.
      this.rxSlab = Buffer.allocUnsafeSlow(Math.max(this.rxSlabNext, len)).buffer as ArrayBuffer;
      if (this.rxSlabNext < RX_SLAB) this.rxSlabNext *= 2;
      this.rxSlabBytes = new Uint8Array(this.rxSlab);
      this.rxSlabOff = 0;
    }
    const at = this.rxSlabOff;
    this.rxSlabBytes.set(data.subarray(off, off + len), at);
    // Keep views 8-byte aligned so consumers may lay wider typed arrays over them.
    this.rxSlabOff = (at + len + 7) & ~7;
    return new Uint8Array(this.rxSlab, at, len);
  }

  private moveRcvBuf(): void {
    const buf = this.rcvBuf;
    let count = 0;
    while (count < buf.length && buf.at(count)!.sn === this.rcvNxt && this.rcvQueue.length < this.rcvWnd) {
      this.rcvQueue.push(buf.at(count)!);
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
      count++;
    }
    if (count > 0) buf.drop(count);
  }

  private updateAck(rtt: number): void {
    if (this.rxSrtt === 0) {
      this.rxSrtt = rtt;
      this.rxRttvar = rtt >> 1;
    } else {
      let delta = (rtt - this.rxSrtt) | 0;
      this.rxSrtt = (this.rxSrtt + (delta >> 3)) | 0;
      if (delta < 0) delta = -delta;
      if (rtt < this.rxSrtt - this.rxRttvar) this.rxRttvar = (this.rxRttvar + ((delta - this.rxRttvar) >> 5)) | 0;
      else this.rxRttvar = (this.rxRttvar + ((delta - this.rxRttvar) >> 2)) | 0;
    }
    const rto = this.rxSrtt + Math.max(this.interval, this.rxRttvar * 4);
    this.rxRto = Math.min(RTO_MAX, Math.max(this.rxMinrto, rto));
  }
}
