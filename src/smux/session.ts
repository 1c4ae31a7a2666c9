/**
 * An smux session (v1.5.53, versions 1 and 2) over any `Duplex` (spec §8). It never touches KCP:
 * the tunnel hands it a KCP session, tests hand it `duplexPair()`.
 *
 * Receive: bytes go through `FrameDecoder` and are handled frame by frame while the receive token
 * bucket (MaxReceiveBuffer) is positive; when it is exhausted the session pauses the transport, as
 * smux's recvLoop stops reading, and resumes once the application has read. A PSH payload reaches
 * its stream piece by piece as the transport delivers it (views of the transport's chunks, never
 * reassembled into one buffer); smux would have buffered the same bytes for the same stream.
 *
 * Send: one frame at a time, streams served round-robin, control frames (SYN, UPD) before data
 * (PSH, FIN) within a stream (§8.7). When the transport's `write` returns false, sending waits for
 * `drain`; each stream then holds its own unsent writes and reports backpressure to its writer.
 */
import type { Duplex } from "../lib/duplex.ts";
import { errorMessage } from "../lib/errors.ts";
import { RateLimitedLog, logger } from "../lib/log.ts";
import { defaultSmuxConfig, verifySmuxConfig, type SmuxConfig } from "./config.ts";
import { SmuxError } from "./errors.ts";
import { Cmd, FrameDecoder, HEADER_SIZE, UPD_SIZE, decodeUpd, encodeHeader, encodeUpd } from "./frame.ts";
import { Stream, type StreamHost } from "./stream.ts";
import { systemTimers, type TimerSource } from "./timers.ts";

const log = logger("smux");
/** Protocol violations are warnings, but a flood of bad sessions must stay a few lines. */
const violationLog = new RateLimitedLog((m) => log.warn(m));

/** Go smux's accept backlog: the receive loop waits while this many streams are unaccepted. */
export const ACCEPT_BACKLOG = 1024;
/** Default per-stream limit of unsent bytes before `write` returns false. */
export const DEFAULT_WRITE_HIGH_WATER_MARK = 256 * 1024;
/** Payloads up to this size are copied behind their header into one write; larger ones go as a second write. */
const GATHER_COPY_LIMIT = 1024;
const MAX_U32 = 0xffffffff;

export interface SessionOptions {
  /** Defaults to `defaultSmuxConfig` (smux.DefaultConfig()). */
  config?: SmuxConfig;
  /** Keepalive timers; defaults to real timers. */
  timers?: TimerSource;
  /** Per-stream unsent bytes at which `Stream.write` starts returning false. */
  writeHighWaterMark?: number;
}

/** Counters for the status endpoint. */
export interface SmuxStats {
  /** Streams in the session table now. */
  streams: number;
  streamsOpened: number;
  streamsAccepted: number;
  /** PSH payload bytes received / sent. */
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
  /** PSH payload bytes for unknown or locally closed streams, read and dropped as smux does. */
  discardedBytes: number;
  /** Bytes the application wrote that were never sent (stream closed, peer FIN, session gone). */
  droppedWriteBytes: number;
  /** Free space in the receive token bucket. */
  receiveBucket: number;
}

/** The keepalive NOP, scheduled like a stream with sid 0. */
interface Sender {
  inSendQueue: boolean;
  hasWork(): boolean;
  sendOne(): boolean;
}

export class Session implements StreamHost {
  readonly config: SmuxConfig;
  readonly isClient: boolean;
  readonly writeHighWaterMark: number;

  private readonly decoder: FrameDecoder;
  private readonly streams = new Map<number, Stream>();
  private nextStreamId: number;
  private goAway = false;
  private bucket: number;

  private _closed = false;
  private _closeReason: Error | undefined;
  private readonly closeCallbacks: ((err?: Error) => void)[] = [];

  private streamCallback: ((stream: Stream) => void) | undefined;
  private readonly backlog: Stream[] = [];
  private readonly acceptWaiters: { resolve: (s: Stream) => void; reject: (e: Error) => void }[] = [];

  private sendQueue: Sender[] = [];
  private sendHead = 0;
  private flushing = false;
  private flushScheduled = false;
  private transportBlocked = false;
  private readonly nop: Sender;

  private pumping = false;
  private pumpScheduled = false;
  private recvPaused = false;

  private active = false;
  private readonly timers: TimerSource;
  private pingTimer: unknown;
  private timeoutTimer: unknown;

  private readonly counters = {
    streamsOpened: 0,
    streamsAccepted: 0,
    bytesIn: 0,
    bytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    discardedBytes: 0,
    droppedWriteBytes: 0,
  };

  static client(transport: Duplex, options: SessionOptions = {}): Session {
    return new Session(transport, true, options);
  }

  static server(transport: Duplex, options: SessionOptions = {}): Session {
    return new Session(transport, false, options);
  }

  /** Throws SMUX_BAD_CONFIG for a config smux.VerifyConfig rejects. */
  constructor(
    private readonly transport: Duplex,
    isClient: boolean,
    options: SessionOptions = {},
  ) {
    this.config = verifySmuxConfig(options.config ?? defaultSmuxConfig);
    this.isClient = isClient;
    this.writeHighWaterMark = Math.max(1, options.writeHighWaterMark ?? DEFAULT_WRITE_HIGH_WATER_MARK);
    this.timers = options.timers ?? systemTimers;
    this.decoder = new FrameDecoder(this.config.version);
    this.bucket = this.config.maxReceiveBuffer;
    // smux counts before use, so the client's first stream is 3 and the server's is 2 (§8.3).
    this.nextStreamId = isClient ? 1 : 0;
    const session = this;
    let nopPending = false;
    this.nop = {
      inSendQueue: false,
      hasWork: () => nopPending,
      sendOne() {
        if (!nopPending) return false;
        nopPending = false;
        session.emit(Cmd.NOP, 0);
        return true;
      },
    };
    if (!this.config.keepAliveDisabled) {
      this.pingTimer = this.timers.setInterval(() => {
        // One NOP at a time: smux's keepalive gives up a ping that is not written within an interval.
        nopPending = true;
        this.scheduleSender(this.nop);
      }, this.config.keepAliveInterval);
      this.timeoutTimer = this.timers.setInterval(() => this.checkAlive(), this.config.keepAliveTimeout);
    }
    transport.setHandlers({
      data: (chunk) => this.onData(chunk),
      drain: () => {
        this.transportBlocked = false;
        this.flush();
      },
      close: (err) =>
        this.close(
          err
            ? new SmuxError("SMUX_TRANSPORT", `smux: transport failed: ${errorMessage(err)}`, { cause: err })
            : new SmuxError("SMUX_CLOSED", "smux: transport closed"),
        ),
    });
  }

  get closed(): boolean {
    return this._closed;
  }

  /** Why the session closed (undefined for a plain local `close()`). */
  get closeReason(): Error | undefined {
    return this._closeReason;
  }

  get numStreams(): number {
    return this.streams.size;
  }

  stats(): SmuxStats {
    return { streams: this.streams.size, receiveBucket: this.bucket, ...this.counters };
  }

  /**
   * Opens a stream: allocates the next id, queues its SYN, and returns it ready for writes (smux has
   * no SYN-ACK). Throws SMUX_CLOSED on a closed session and SMUX_GO_AWAY when ids are exhausted.
   */
  openStream(): Stream {
    if (this._closed) throw new SmuxError("SMUX_CLOSED", "smux: session closed");
    if (this.goAway || this.nextStreamId + 2 > MAX_U32) {
      this.goAway = true;
      throw new SmuxError("SMUX_GO_AWAY", "smux: stream id overflows, should start a new connection");
    }
    this.nextStreamId += 2;
    const stream = new Stream(this.nextStreamId, this);
    stream.synPending = true;
    // smux overwrites a same-id stream the peer may have opened; that one is orphaned.
    this.streams.get(stream.id)?.sessionClosed(new SmuxError("SMUX_CLOSED", "smux: stream id reused locally"));
    this.streams.set(stream.id, stream);
    this.counters.streamsOpened++;
    this.schedule(stream);
    return stream;
  }

  /** Delivers every stream the peer opens (the backlog first). Replaces any previous callback. */
  onStream(callback: (stream: Stream) => void): void {
    this.streamCallback = callback;
    while (this.backlog.length > 0 && this.streamCallback === callback) callback(this.backlog.shift()!);
    this.schedulePump();
  }

  /** The next stream the peer opens; rejects when the session closes. */
  acceptStream(): Promise<Stream> {
    const queued = this.backlog.shift();
    if (queued) {
      this.schedulePump();
      return Promise.resolve(queued);
    }
    if (this._closed) return Promise.reject(this._closeReason ?? new SmuxError("SMUX_CLOSED", "smux: session closed"));
    return new Promise((resolve, reject) => this.acceptWaiters.push({ resolve, reject }));
  }

  onClose(callback: (err?: Error) => void): void {
    if (this._closed) queueMicrotask(() => callback(this._closeReason));
    else this.closeCallbacks.push(callback);
  }

  /**
   * Closes every stream and the transport. Like smux, nothing is sent: the peer notices through
   * its keepalive or the transport. Idempotent.
   */
  close(err?: Error): void {
    if (this._closed) return;
    this._closed = true;
    this._closeReason = err;
    if (this.pingTimer !== undefined) this.timers.clearInterval(this.pingTimer);
    if (this.timeoutTimer !== undefined) this.timers.clearInterval(this.timeoutTimer);
    const streamErr = err ?? new SmuxError("SMUX_CLOSED", "smux: session closed");
    for (const s of this.streams.values()) s.sessionClosed(streamErr);
    for (const s of this.backlog) s.sessionClosed(streamErr);
    this.streams.clear();
    this.backlog.length = 0;
    this.sendQueue = [];
    this.sendHead = 0;
    for (const w of this.acceptWaiters.splice(0)) w.reject(streamErr);
    if (err instanceof SmuxError && err.code === "SMUX_INVALID_PROTOCOL") violationLog.emit(`session closed: ${err.message}`);
    else if (err) log.debug(`session closed: ${err.message}`);
    this.transport.close();
    for (const cb of this.closeCallbacks.splice(0)) cb(err);
  }

  // ---- StreamHost ----

  schedule(stream: Stream): void {
    this.scheduleSender(stream);
  }

  emit(cmd: Cmd, sid: number, payload?: Uint8Array): void {
    const n = payload?.byteLength ?? 0;
    let ok: boolean;
    if (n > GATHER_COPY_LIMIT) {
      const header = new Uint8Array(HEADER_SIZE);
      encodeHeader(header, 0, this.config.version, cmd, n, sid);
      this.transport.write(header);
      ok = this.transport.write(payload!);
    } else {
      const frame = new Uint8Array(HEADER_SIZE + n);
      encodeHeader(frame, 0, this.config.version, cmd, n, sid);
      if (payload) frame.set(payload, HEADER_SIZE);
      ok = this.transport.write(frame);
    }
    this.counters.framesOut++;
    if (cmd === Cmd.PSH) this.counters.bytesOut += n;
    if (!ok) this.transportBlocked = true;
  }

  emitUpd(sid: number, consumed: number, window: number): void {
    const frame = new Uint8Array(HEADER_SIZE + UPD_SIZE);
    encodeHeader(frame, 0, this.config.version, Cmd.UPD, UPD_SIZE, sid);
    encodeUpd(frame, HEADER_SIZE, consumed, window);
    this.counters.framesOut++;
    if (!this.transport.write(frame)) this.transportBlocked = true;
  }

  returnTokens(n: number): void {
    this.bucket += n;
    if (this.recvPaused && this.bucket > 0) this.schedulePump();
  }

  finished(stream: Stream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
  }

  countDroppedWrite(n: number): void {
    this.counters.droppedWriteBytes += n;
  }

  // ---- send scheduling ----

  private scheduleSender(sender: Sender): void {
    if (this._closed) return;
    if (!sender.inSendQueue) {
      sender.inSendQueue = true;
      this.sendQueue.push(sender);
    }
    if (this.flushing || this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Round-robin: one frame from the head sender, which goes to the back if it has more. */
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (!this._closed && !this.transportBlocked && this.sendHead < this.sendQueue.length) {
        const sender = this.sendQueue[this.sendHead]!;
        this.sendHead++;
        sender.inSendQueue = false;
        if (sender.sendOne() && sender.hasWork() && !sender.inSendQueue) {
          sender.inSendQueue = true;
          this.sendQueue.push(sender);
        }
        if (this.sendHead >= 1024 && this.sendHead * 2 >= this.sendQueue.length) {
          this.sendQueue = this.sendQueue.slice(this.sendHead);
          this.sendHead = 0;
        }
      }
      if (this.sendHead === this.sendQueue.length) {
        this.sendQueue.length = 0;
        this.sendHead = 0;
      }
    } finally {
      this.flushing = false;
    }
  }

  // ---- receive ----

  private onData(chunk: Uint8Array): void {
    if (this._closed) return;
    this.decoder.push(chunk);
    this.pump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this._closed) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Handles buffered frames while the bucket has tokens and the backlog has room, like smux's recvLoop. */
  private pump(): void {
    if (this.pumping || this._closed) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this._closed) return;
        if (this.bucket <= 0 || this.backlog.length >= ACCEPT_BACKLOG) {
          if (!this.recvPaused) {
            this.recvPaused = true;
            this.transport.pause();
          }
          return;
        }
        if (!this.decoder.nextPiece(this.markActive)) break;
        this.handleFrame();
      }
      if (this.recvPaused) {
        this.recvPaused = false;
        this.transport.resume();
      }
    } catch (err) {
      if (err instanceof SmuxError) this.close(err);
      else {
        log.error(`stream handler threw: ${errorMessage(err)}`);
        this.close(new SmuxError("SMUX_CLOSED", `smux: a handler threw: ${errorMessage(err)}`, { cause: err }));
      }
    } finally {
      this.pumping = false;
    }
  }

  private readonly markActive = (): void => {
    this.active = true;
  };

  /** One whole frame, or one piece of a PSH payload (the decoder never reassembles them). */
  private handleFrame(): void {
    const d = this.decoder;
    if (d.firstPiece) this.counters.framesIn++;
    switch (d.cmd) {
      case Cmd.NOP:
        return;
      case Cmd.SYN: {
        if (this.streams.has(d.sid)) return;
        const stream = new Stream(d.sid, this);
        this.streams.set(d.sid, stream);
        this.counters.streamsAccepted++;
        this.deliverAccepted(stream);
        return;
      }
      case Cmd.FIN:
        this.streams.get(d.sid)?.finReceived();
        return;
      case Cmd.PSH: {
        const n = d.body.byteLength;
        if (n === 0) return;
        this.counters.bytesIn += n;
        const stream = this.streams.get(d.sid);
        if (stream && stream.acceptsData) {
          this.bucket -= n;
          stream.pushData(d.body, d.bodyLeft === 0);
        } else {
          this.counters.discardedBytes += n;
        }
        return;
      }
      case Cmd.UPD: {
        const stream = this.streams.get(d.sid);
        if (stream) {
          const { consumed, window } = decodeUpd(d.body);
          stream.update(consumed, window);
        }
        return;
      }
    }
  }

  private deliverAccepted(stream: Stream): void {
    const waiter = this.acceptWaiters.shift();
    if (waiter) waiter.resolve(stream);
    else if (this.streamCallback) this.streamCallback(stream);
    else this.backlog.push(stream);
  }

  /** Every KeepAliveTimeout: close when no frame arrived since the last check, unless reading is paused on a full bucket. */
  private checkAlive(): void {
    if (this.active) {
      this.active = false;
      return;
    }
    if (this.bucket > 0) {
      this.close(new SmuxError("SMUX_TIMEOUT", `smux: no frame within ${this.config.keepAliveTimeout} ms`));
    }
  }
}
