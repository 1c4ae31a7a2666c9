/**
 * One smux stream as a `Duplex` (spec §8.4, §8.5). The session owns the transport; the stream keeps
 * its receive buffer, its queue of unsent writes and, on v2, its flow-control counters, and hands
 * the session one frame at a time when the scheduler asks (`sendOne`).
 */
import type { Duplex, DuplexHandlers } from "../lib/duplex.ts";
import type { SmuxConfig } from "./config.ts";
import { SmuxError } from "./errors.ts";
import { Cmd, INITIAL_PEER_WINDOW } from "./frame.ts";

/** What a stream needs from its session. */
export interface StreamHost {
  readonly config: SmuxConfig;
  readonly writeHighWaterMark: number;
  /** The stream has a frame to send; put it in the round-robin queue. */
  schedule(stream: Stream): void;
  /** Writes one frame to the transport. */
  emit(cmd: Cmd, sid: number, payload?: Uint8Array): void;
  emitUpd(sid: number, consumed: number, window: number): void;
  /** The application consumed `n` received bytes (or they were discarded): refill the bucket. */
  returnTokens(n: number): void;
  /** The FIN went out: drop the stream from the session table. */
  finished(stream: Stream): void;
  countDroppedWrite(n: number): void;
}

export enum StreamState {
  /** Reads and writes work. */
  Open = "open",
  /** The peer's FIN arrived: reads drain the buffer, then end; writes fail (smux has no half-close). */
  PeerClosed = "peer-closed",
  /** Closed locally: unsent data still goes out (v2: within the window), then the FIN; received data is discarded. */
  Closing = "closing",
  /** FIN sent or session gone; no longer in the session table. */
  Closed = "closed",
}

const ALLOWED: Record<StreamState, readonly StreamState[]> = {
  [StreamState.Open]: [StreamState.PeerClosed, StreamState.Closing, StreamState.Closed],
  [StreamState.PeerClosed]: [StreamState.Closing, StreamState.Closed],
  [StreamState.Closing]: [StreamState.Closed],
  [StreamState.Closed]: [],
};

const EMPTY = new Uint8Array(0);
/**
 * Reassembly buffer for payloads handed straight to a transient handler (a relay). Fresh buffers
 * there (one per 64 KiB frame) were a third of a downloading client's copying, in page faults, and
 * garbage that needed forced full collections. One for all streams: `data` runs synchronously.
 */
const ASSEMBLY_SCRATCH = new Uint8Array(65536);

export class Stream implements Duplex {
  readonly id: number;
  private _state = StreamState.Open;
  private handlers: DuplexHandlers | undefined;
  private paused = false;
  private delivering = false;
  private deliverScheduled = false;
  private endDelivered = false;
  private peerFin = false;

  /** Received, not yet consumed; `recvEnds[i]` marks a chunk that ends its PSH frame. */
  private recv: Uint8Array[] = [];
  private recvEnds: boolean[] = [];
  private recvHead = 0;
  private recvBytes = 0;
  /**
   * Bytes consumed from a PSH frame whose last piece is not consumed yet. Consumption is reported
   * (tokens, UPD) per whole frame, as Go smux's reader takes a frame's buffer at once, so a frame
   * that arrives in pieces sends the same UPDs as one that arrives whole.
   */
  private unreported = 0;
  /** Whole-frame delivery: pieces of the PSH frame still arriving. */
  private partial: Uint8Array[] = [];
  private partialBytes = 0;
  private wantPieces = false;

  /** Written by the application, not yet framed; `sendOffset` is how much of the head chunk went out. */
  private send: Uint8Array[] = [];
  private sendHead = 0;
  private sendOffset = 0;
  private pendingBytes = 0;
  private needDrain = false;

  /** In the session's send queue (maintained by the session). */
  inSendQueue = false;
  /** A SYN must go out first. */
  synPending = false;
  private updPending = false;
  private updConsumed = 0;

  /** v2 counters, u32 arithmetic as in smux. */
  private numWritten = 0;
  private peerConsumed = 0;
  private peerWindow = INITIAL_PEER_WINDOW;
  private numRead = 0;
  private incr = 0;

  constructor(id: number, private readonly host: StreamHost) {
    this.id = id;
  }

  get state(): StreamState {
    return this._state;
  }

  /** True once closed locally, by EOF, or by the session. */
  get closed(): boolean {
    return this._state === StreamState.Closing || this._state === StreamState.Closed;
  }

  /** Bytes written and not yet handed to the transport. */
  get bufferedAmount(): number {
    return this.pendingBytes;
  }

  /** Bytes received and not yet read. */
  get readableLength(): number {
    return this.recvBytes;
  }

  /** v2: how much the writer may send now (smux's `win`); negative or zero means it waits for a UPD. */
  get sendWindow(): number {
    const inflight = (this.numWritten - this.peerConsumed) | 0;
    return ((this.peerWindow | 0) - inflight) | 0;
  }

  /** The one place the state changes; every edge is listed in ALLOWED. */
  private setState(next: StreamState): void {
    if (next === this._state) return;
    if (!ALLOWED[this._state].includes(next)) {
      throw new SmuxError("SMUX_CLOSED", `smux: stream ${this.id}: ${this._state} => ${next} is not a transition`);
    }
    this._state = next;
  }

  // ---- Duplex: application side ----

  setHandlers(handlers: DuplexHandlers): void {
    this.handlers = handlers;
    this.scheduleDeliver();
  }

  /**
   * Queues `chunk` for the peer. The stream keeps a reference until the bytes are framed, so the
   * caller must not modify it afterwards. Writes after the peer's FIN or after close are dropped
   * (counted) and return false, as smux's Write fails with EOF / ErrClosedPipe.
   */
  write(chunk: Uint8Array): boolean {
    if (this._state !== StreamState.Open) {
      this.host.countDroppedWrite(chunk.byteLength);
      return false;
    }
    if (chunk.byteLength === 0) return this.pendingBytes < this.host.writeHighWaterMark;
    if (this.host.config.version === 2 && ((this.numWritten - this.peerConsumed) | 0) < 0) {
      this.fail(new SmuxError("SMUX_CONSUMED", `smux: stream ${this.id}: peer consumed more than sent`));
      this.host.countDroppedWrite(chunk.byteLength);
      return false;
    }
    this.send.push(chunk);
    this.pendingBytes += chunk.byteLength;
    this.host.schedule(this);
    if (this.pendingBytes >= this.host.writeHighWaterMark) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.scheduleDeliver();
  }

  /**
   * Pull-style read, as smux's Read: returns at most `max` bytes from the oldest received buffer (never
   * spanning two), or undefined when nothing is buffered. Sends UPD by smux's rule on v2.
   */
  read(max = Number.MAX_SAFE_INTEGER): Uint8Array | undefined {
    if (this.recvBytes === 0 || max <= 0) {
      this.maybeEnd(true);
      return undefined;
    }
    const head = this.recv[this.recvHead]!;
    let out: Uint8Array;
    if (head.byteLength > max) {
      out = head.subarray(0, max);
      this.recv[this.recvHead] = head.subarray(max);
    } else if (head.byteLength === max || this.recvEnds[this.recvHead] || this.recvHead + 1 === this.recv.length) {
      out = head;
      this.shiftRecv();
    } else {
      out = this.gatherFrame(max);
    }
    this.recvBytes -= out.byteLength;
    // A pull read reports what it took at once, as Go smux's Read does.
    const n = this.unreported + out.byteLength;
    this.unreported = 0;
    this.consumed(n);
    return out;
  }

  /** True once the peer's FIN was read past (EOF). */
  get eof(): boolean {
    return this.peerFin && this.endDelivered && this.recvBytes === 0;
  }

  /**
   * Closes the stream. Without `err`, data already written still goes out before the FIN; with
   * `err`, unsent data is dropped and the FIN goes out at once. Idempotent.
   */
  close(err?: Error): void {
    if (this.closed) return;
    if (err || this._state === StreamState.PeerClosed) this.dropPending();
    this.discardReceived();
    this.setState(StreamState.Closing);
    this.host.schedule(this);
    this.deliverEnd(err);
  }

  // ---- session side ----

  /** False once the stream no longer keeps received data (closed locally); the session then discards PSH. */
  get acceptsData(): boolean {
    return this._state === StreamState.Open || this._state === StreamState.PeerClosed;
  }

  /**
   * A PSH payload, or one piece of it (`frameEnd` false for all but the last), for this stream; the
   * session already took the tokens.
   */
  pushData(payload: Uint8Array, frameEnd = true): void {
    const to = !this.paused && this.recvBytes === 0 && !this.delivering ? this.handlers : undefined;
    if ((!frameEnd && !this.wantPieces) || this.partialBytes > 0) {
      this.partial.push(payload);
      this.partialBytes += payload.byteLength;
      if (!frameEnd) return;
      payload = this.assemble(to?.transient === true);
    }
    if (to) {
      this.consumedPiece(payload.byteLength, frameEnd);
      to.data(payload);
      return;
    }
    this.recv.push(payload);
    this.recvEnds.push(frameEnd);
    this.recvBytes += payload.byteLength;
  }

  /**
   * Lets `data` receive a PSH payload in pieces, as the transport delivers them, instead of whole:
   * for byte-stream consumers (TCP relays), it spares reassembling each payload that spans
   * several KCP segments. By default every `data` call is exactly one PSH payload, as Go smux's
   * Read returns one frame's buffer at a time; datagram relays (UDP over a stream) rely on that.
   */
  deliverPieces(): void {
    this.wantPieces = true;
  }

  /** The peer's FIN. */
  finReceived(): void {
    if (this._state !== StreamState.Closed) this.peerFin = true;
    if (this._state === StreamState.Open) {
      this.dropPending();
      this.setState(StreamState.PeerClosed);
      this.maybeEnd(false);
    } else if (this._state === StreamState.Closing) {
      this.dropPending();
      this.host.schedule(this);
    }
  }

  /** A UPD from the peer (v2): overwrite the peer's counters and wake the writer. */
  update(consumed: number, window: number): void {
    this.peerConsumed = consumed >>> 0;
    this.peerWindow = window >>> 0;
    if (this.pendingBytes > 0) {
      if (((this.numWritten - this.peerConsumed) | 0) < 0) {
        this.fail(new SmuxError("SMUX_CONSUMED", `smux: stream ${this.id}: peer consumed more than sent`));
        return;
      }
      if (this.hasWork()) this.host.schedule(this);
    }
  }

  /** The session is gone: no more frames, tell the application. */
  sessionClosed(err: Error): void {
    if (this._state === StreamState.Closed) return;
    this.dropPending();
    this.discardReceived();
    this.synPending = false;
    this.updPending = false;
    this.setState(StreamState.Closed);
    this.deliverEnd(err);
  }

  /** Whether `sendOne` would emit a frame now. */
  hasWork(): boolean {
    if (this._state === StreamState.Closed) return false;
    if (this.synPending || this.updPending) return true;
    if (this.pendingBytes > 0) return this.host.config.version === 1 || this.sendWindow > 0;
    return this._state === StreamState.Closing;
  }

  /**
   * Emits this stream's next frame: control class first (SYN, UPD), then data class (PSH, then FIN
   * once everything written has gone out). Returns false when there was nothing to send.
   */
  sendOne(): boolean {
    if (this._state === StreamState.Closed) return false;
    if (this.synPending) {
      this.synPending = false;
      this.host.emit(Cmd.SYN, this.id);
      return true;
    }
    if (this.updPending) {
      this.updPending = false;
      this.host.emitUpd(this.id, this.updConsumed, this.host.config.maxStreamBuffer);
      return true;
    }
    if (this.pendingBytes > 0) return this.sendData();
    if (this._state === StreamState.Closing) {
      this.host.emit(Cmd.FIN, this.id);
      this.setState(StreamState.Closed);
      this.host.finished(this);
      return true;
    }
    return false;
  }

  private sendData(): boolean {
    let size = this.host.config.maxFrameSize;
    if (this.host.config.version === 2) {
      const win = this.sendWindow;
      if (win <= 0) return false;
      if (win < size) size = win;
    }
    const head = this.send[this.sendHead]!;
    const left = head.byteLength - this.sendOffset;
    if (left < size) size = left;
    const payload = size === head.byteLength ? head : head.subarray(this.sendOffset, this.sendOffset + size);
    this.sendOffset += size;
    if (this.sendOffset === head.byteLength) {
      this.send[this.sendHead] = EMPTY;
      this.sendHead++;
      this.sendOffset = 0;
      if (this.sendHead === this.send.length) {
        this.send.length = 0;
        this.sendHead = 0;
      }
    }
    this.pendingBytes -= size;
    this.numWritten = (this.numWritten + size) >>> 0;
    this.host.emit(Cmd.PSH, this.id, payload);
    if (this.needDrain && this.pendingBytes < this.host.writeHighWaterMark && this._state === StreamState.Open) {
      this.needDrain = false;
      this.handlers?.drain();
    }
    return true;
  }

  // ---- internals ----

  /**
   * Up to `max` bytes of the frame whose pieces head the receive queue, copied into one buffer: a
   * pull read returns what Go's Read would, one frame's buffer at a time, however it arrived.
   */
  private gatherFrame(max: number): Uint8Array {
    let want = 0;
    for (let i = this.recvHead; i < this.recv.length && want < max; i++) {
      want += this.recv[i]!.byteLength;
      if (this.recvEnds[i]) break;
    }
    if (want > max) want = max;
    const out = new Uint8Array(want);
    let filled = 0;
    while (filled < want) {
      const chunk = this.recv[this.recvHead]!;
      const k = Math.min(chunk.byteLength, want - filled);
      out.set(k === chunk.byteLength ? chunk : chunk.subarray(0, k), filled);
      filled += k;
      if (k === chunk.byteLength) this.shiftRecv();
      else this.recv[this.recvHead] = chunk.subarray(k);
    }
    return out;
  }

  /**
   * The collected pieces of one PSH payload as one buffer: the shared scratch buffer when `transient`
   * (handed to a transient handler at once, so it is free again when that returns), else its own.
   */
  private assemble(transient: boolean): Uint8Array {
    const parts = this.partial;
    const n = this.partialBytes;
    this.partial = [];
    this.partialBytes = 0;
    if (parts.length === 1) return parts[0]!;
    // Not zero-filled: the pieces cover every byte. A plain Uint8Array over the memory, so
    // consumers keep Uint8Array semantics (Buffer's slice() would be a view, not a copy).
    const out =
      transient && n <= ASSEMBLY_SCRATCH.byteLength ? ASSEMBLY_SCRATCH.subarray(0, n) : new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.byteLength;
    }
    return out;
  }

  /** Removes the head of the receive queue; returns whether it ended its frame. */
  private shiftRecv(): boolean {
    const end = this.recvEnds[this.recvHead]!;
    this.recv[this.recvHead] = EMPTY;
    this.recvHead++;
    if (this.recvHead === this.recv.length) {
      this.recv.length = 0;
      this.recvEnds.length = 0;
      this.recvHead = 0;
    }
    return end;
  }

  private consumedPiece(n: number, frameEnd: boolean): void {
    if (!frameEnd) {
      this.unreported += n;
      return;
    }
    const total = this.unreported + n;
    this.unreported = 0;
    this.consumed(total);
  }

  /** The application consumed `n` bytes: return tokens and, on v2, send UPD by smux's rule. */
  private consumed(n: number): void {
    if (n === 0) return;
    this.host.returnTokens(n);
    if (this.host.config.version !== 2) return;
    this.numRead = (this.numRead + n) >>> 0;
    this.incr = (this.incr + n) >>> 0;
    if (this.incr >= Math.floor(this.host.config.maxStreamBuffer / 2) || this.numRead === n) {
      this.incr = 0;
      // smux sends nothing when the running total is exactly 0 mod 2^32.
      if (this.numRead !== 0) {
        this.updConsumed = this.numRead;
        this.updPending = true;
        this.host.schedule(this);
      }
    }
  }

  private fail(err: SmuxError): void {
    this.close(err);
  }

  private dropPending(): void {
    if (this.pendingBytes > 0) this.host.countDroppedWrite(this.pendingBytes);
    this.send = [];
    this.sendHead = 0;
    this.sendOffset = 0;
    this.pendingBytes = 0;
    this.needDrain = false;
  }

  private discardReceived(): void {
    const held = this.recvBytes + this.unreported + this.partialBytes;
    if (held > 0) this.host.returnTokens(held);
    this.unreported = 0;
    this.partial = [];
    this.partialBytes = 0;
    this.recv = [];
    this.recvEnds = [];
    this.recvHead = 0;
    this.recvBytes = 0;
  }

  private scheduleDeliver(): void {
    if (this.deliverScheduled) return;
    this.deliverScheduled = true;
    queueMicrotask(() => {
      this.deliverScheduled = false;
      this.deliver();
    });
  }

  private deliver(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.handlers && !this.paused && this.recvBytes > 0 && this.acceptsData) {
        const chunk = this.recv[this.recvHead]!;
        const end = this.shiftRecv();
        this.recvBytes -= chunk.byteLength;
        this.consumedPiece(chunk.byteLength, end);
        this.handlers.data(chunk);
      }
    } finally {
      this.delivering = false;
    }
    this.maybeEnd(false);
  }

  /**
   * After the peer's FIN, once the buffer is drained and someone is reading (handlers installed, or
   * a pull `read`), deliver EOF and close our side (FIN), which is all smux lets the application do next.
   */
  private maybeEnd(pulled: boolean): void {
    if (this._state !== StreamState.PeerClosed || this.recvBytes > 0 || this.endDelivered) return;
    if (!pulled && (!this.handlers || this.delivering)) return;
    this.close();
  }

  private deliverEnd(err: Error | undefined): void {
    if (this.endDelivered) return;
    this.endDelivered = true;
    this.handlers?.close(err);
  }
}
