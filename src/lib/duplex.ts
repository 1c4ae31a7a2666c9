/**
 * A reliable, ordered byte stream between two peers, as smux and the tunnel see their transport.
 *
 * It is push-based to fit Bun's event loop: the transport calls the handlers, and backpressure
 * works both ways. `write` returning false asks the writer to wait for `drain`; `pause` asks the
 * transport to stop calling `data` until `resume` (a reader that cannot keep up slows the peer
 * through the transport's own window, e.g. KCP's receive window).
 */
export interface DuplexHandlers {
  /**
   * Bytes from the peer. The array is owned by the receiver after the call, unless `transient`.
   */
  data(chunk: Uint8Array): void;
  /**
   * `data` only reads each chunk during the call (a relay that writes it at once to a duplex that
   * `copiesWrites`), so the transport may hand over memory it reuses.
   */
  readonly transient?: boolean;
  /** The transport accepts writes again after `write` returned false. */
  drain(): void;
  /** The transport is gone; `err` is undefined for an orderly close. Called at most once. */
  close(err?: Error): void;
}

export interface Duplex {
  /** Installs the handlers; bytes that arrived before are delivered right after. */
  setHandlers(handlers: DuplexHandlers): void;
  /** Queues bytes for the peer; false means "wait for drain before writing more". */
  write(chunk: Uint8Array): boolean;
  pause(): void;
  resume(): void;
  /** Closes both directions; idempotent. */
  close(err?: Error): void;
  readonly closed: boolean;
  /** `write` copies or consumes `chunk` before it returns, so the caller may reuse that memory. */
  readonly copiesWrites?: boolean;
}

/** Two connected in-memory duplexes for tests and for composing layers in-process. */
export function duplexPair(options: { highWaterMark?: number } = {}): [Duplex, Duplex] {
  const highWaterMark = options.highWaterMark ?? 1 << 20;
  const a = new MemoryDuplex(highWaterMark);
  const b = new MemoryDuplex(highWaterMark);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

const NOOP_HANDLERS: DuplexHandlers = { data() {}, drain() {}, close() {} };

class MemoryDuplex implements Duplex {
  readonly copiesWrites = true;
  peer!: MemoryDuplex;
  closed = false;
  private handlers: DuplexHandlers | undefined;
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private paused = false;
  private scheduled = false;
  private closeErr: Error | undefined;
  private closeDelivered = false;
  private wantDrain = false;

  constructor(private readonly highWaterMark: number) {}

  setHandlers(handlers: DuplexHandlers): void {
    this.handlers = handlers;
    this.schedule();
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed) return false;
    const peer = this.peer;
    if (peer.closed) return false;
    if (chunk.byteLength > 0) {
      peer.inbox.push(chunk.slice());
      peer.inboxBytes += chunk.byteLength;
      peer.schedule();
    }
    if (peer.inboxBytes >= this.highWaterMark) {
      this.wantDrain = true;
      return false;
    }
    return true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeErr = err;
    this.schedule();
    const peer = this.peer;
    if (!peer.closed) {
      peer.closed = true;
      peer.schedule();
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.deliver();
    });
  }

  private deliver(): void {
    const h = this.handlers;
    if (!h) return;
    while (!this.paused && this.inbox.length > 0) {
      const chunk = this.inbox.shift()!;
      this.inboxBytes -= chunk.byteLength;
      h.data(chunk);
    }
    const writer = this.peer;
    if (writer.wantDrain && this.inboxBytes < writer.highWaterMark) {
      writer.wantDrain = false;
      (writer.handlers ?? NOOP_HANDLERS).drain();
    }
    if (this.closed && this.inbox.length === 0 && !this.closeDelivered) {
      this.closeDelivered = true;
      h.close(this.closeErr);
    }
  }
}
