/**
 * A TCP socket (Bun's native socket API) seen as a `Duplex`, plus listen and connect helpers.
 *
 * Bun's `socket.write` is unbuffered: it returns how many bytes the kernel took. The rest is kept
 * here and `write` returns false until it is flushed, when `drain` fires; so a writer that honours
 * false never queues more than one chunk. `pause`/`resume` stop and restart reading from the kernel,
 * which pushes back on the peer through TCP's own window.
 *
 * There is no half-close, as in paqet (spec §4.4): a FIN from the peer ends the whole connection
 * (handlers see an orderly `close`). `close()` sends what is still queued, then FIN and releases the
 * socket; `close(err)` drops the queue. A peer that stops reading cannot hold a closing socket for
 * longer than `flushTimeoutMs`.
 */
import { fullGC } from "bun:jsc";
import type { Duplex, DuplexHandlers } from "./duplex.ts";

export interface TcpDuplexOptions {
  /** Longest wait for queued bytes to leave on a graceful close before the socket is dropped. */
  flushTimeoutMs?: number;
}

const DEFAULT_FLUSH_TIMEOUT_MS = 10_000;
/** Bytes held for a reader that has not installed handlers yet, before reading stops. */
const EARLY_INBOX_LIMIT = 256 * 1024;

/**
 * Bun hands each socket read to JS as a fresh buffer (up to 512 KiB per read under load) whose
 * memory the collector does not weigh. In a relay the chunk stays referenced until the tunnel has
 * sent it, so it outlives the young generation and waits for a full collection, which the JS heap
 * alone rarely triggers: a download piled up ~60 MiB of such garbage (server peak RSS 145 MiB,
 * 18 MiB of live buffers after a forced collection). A full collection after every
 * GC_EVERY_BYTES read keeps it bounded. It is JSC's own fullGC (see GC_DUTY_FACTOR for its cost), not
 * Bun.gc(true), which also hands freed memory back to the OS only for the next reads to fault it
 * in again (client 18.5 -> 14 CPU ms per MiB). Every 8 MiB: while the allocator still returned
 * freed pages after 100 ms, 4 MiB beat 16 (the chunks freed at a time were reused before their
 * pages went; server 21 -> 17 CPU ms per MiB, peak RSS 129 -> 109 MiB). Since `paqet run` keeps
 * them for a second (run.ts), 8 MiB beat 4 in three alternating pairs of veth bench runs: server
 * 6.3/8.1/6.7 -> 5.9/6.5/6.4 CPU ms per MiB, 8 parallel downloads 142/105/134 -> 160/138/140 MiB/s.
 * The price is server peak RSS: 112-120 MiB either way in those short runs, but 118-119 -> 127 MiB
 * over two full suites each. One run at 16 MiB was no better. Bytes written count a quarter:
 * a relay writes the tunnel's own memory (smux's reassembly scratch, views of KCP's receive slabs
 * that the collector does weigh), yet the slabs a download leaves behind still pile up on the
 * client. Counted in full they cost the downloading client about 1.5 of its 5-7 CPU ms per MiB in
 * forced collections; not at all, 10-20 MiB more peak RSS; at a quarter, the same CPU as not at
 * all and the RSS as in full (alternating pairs of tunnel-bench runs).
 */
const GC_EVERY_BYTES = 8 * 1024 * 1024;
/**
 * A forced collection also waits until GC_DUTY_FACTOR times its last duration has passed since it
 * ended, so forced collections take at most ~1/GC_DUTY_FACTOR of the main thread. A full collection
 * costs in proportion to the live heap: 6-9 ms at a 7-16 MiB heap (33,000 objects) in the tunnel
 * bench, and a busy server with hundreds of users (larger heap, more bytes) would otherwise spend
 * ever more of its time, and its latency, in them. A cap of 10 raised server peak RSS from 108-114
 * to 126 MiB; at 5, when the threshold was still 4 MiB, a 768 MiB veth run skipped 319 triggers
 * against ~100 collections, so at full speed the cap, not the byte count, sets their pace.
 */
const GC_DUTY_FACTOR = 5;
let bytesSinceGc = 0;
let gcEndedAt = 0;
let gcTookMs = 0;

function noteRelayed(bytes: number): void {
  bytesSinceGc += bytes;
  if (bytesSinceGc < GC_EVERY_BYTES) return;
  const now = performance.now();
  if (now - gcEndedAt < gcTookMs * GC_DUTY_FACTOR) return;
  bytesSinceGc = 0;
  fullGC();
  gcEndedAt = performance.now();
  gcTookMs = gcEndedAt - now;
}

type BunSocket = import("bun").Socket<TcpDuplex | undefined>;

export class TcpDuplex implements Duplex {
  /** What the kernel does not take at once is copied into the queue. */
  readonly copiesWrites = true;
  closed = false;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;

  #socket: BunSocket;
  #handlers: DuplexHandlers | undefined;
  #inbox: Uint8Array[] = [];
  #inboxBytes = 0;
  #paused = false;
  #readingStopped = false;
  #queue: Uint8Array[] = [];
  #wantDrain = false;
  #socketGone = false;
  #closeErr: Error | undefined;
  #closePending = false;
  #closeDelivered = false;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #flushTimeoutMs: number;

  constructor(socket: BunSocket, options: TcpDuplexOptions = {}) {
    this.#socket = socket;
    this.#flushTimeoutMs = options.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS;
    this.localAddress = socket.localAddress;
    this.localPort = socket.localPort;
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    socket.data = this;
  }

  setHandlers(handlers: DuplexHandlers): void {
    this.#handlers = handlers;
    this.#deliverInbox();
    if (!this.#paused) this.#setReading(true);
    this.#maybeDeliverClose();
  }

  write(chunk: Uint8Array): boolean {
    if (this.closed || this.#socketGone) return false;
    if (this.#queue.length > 0) {
      this.#queue.push(chunk.slice());
      return false;
    }
    noteRelayed(chunk.byteLength >>> 2);
    const n = chunk.byteLength === 0 ? 0 : this.#socket.write(chunk);
    if (n === chunk.byteLength) return true;
    if (n < 0) return false;
    // The caller may reuse its buffer once write returns, so the unsent tail is copied.
    this.#queue.push(chunk.slice(n));
    this.#wantDrain = true;
    return false;
  }

  pause(): void {
    this.#paused = true;
    this.#setReading(false);
  }

  resume(): void {
    this.#paused = false;
    this.#deliverInbox();
    if (!this.#paused && this.#handlers) this.#setReading(true);
  }

  close(err?: Error): void {
    if (this.closed) {
      // A second close with an error turns a pending flush into an abort.
      if (err && this.#queue.length > 0) this.#abortSocket();
      return;
    }
    this.closed = true;
    this.#closeErr ??= err;
    if (err || this.#queue.length === 0) this.#abortSocket();
    else {
      this.#flushTimer = setTimeout(() => this.#abortSocket(), this.#flushTimeoutMs);
      this.#setReading(false);
    }
    this.#scheduleClose();
  }

  // ---- called by the shared Bun handlers ----

  _onData(chunk: Uint8Array): void {
    if (this.closed) return;
    noteRelayed(chunk.byteLength);
    if (this.#handlers && !this.#paused && this.#inbox.length === 0) {
      this.#handlers.data(chunk);
      return;
    }
    this.#inbox.push(chunk);
    this.#inboxBytes += chunk.byteLength;
    if (this.#inboxBytes >= EARLY_INBOX_LIMIT || this.#paused) this.#setReading(false);
  }

  _onDrain(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const n = this.#socket.write(head);
      if (n < 0) return;
      if (n < head.byteLength) {
        this.#queue[0] = head.subarray(n);
        return;
      }
      this.#queue.shift();
    }
    if (this.closed) {
      this.#abortSocket();
      return;
    }
    if (this.#wantDrain) {
      this.#wantDrain = false;
      this.#handlers?.drain();
    }
  }

  /** The peer sent FIN: without half-close that ends the connection, in order. */
  _onEnd(): void {
    this.close();
  }

  _onClose(err?: Error): void {
    this.#socketGone = true;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#queue.length = 0;
    if (!this.closed) {
      this.closed = true;
      this.#closeErr ??= err;
    }
    this.#scheduleClose();
  }

  #abortSocket(): void {
    this.#queue.length = 0;
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    if (this.#socketGone) return;
    this.#socketGone = true;
    // end() sends FIN and releases the socket at once (no wait for the peer's FIN, like close(2)).
    this.#socket.end();
  }

  #setReading(on: boolean): void {
    if (this.#socketGone || this.#readingStopped === !on) return;
    this.#readingStopped = !on;
    if (on) this.#socket.resume();
    else this.#socket.pause();
  }

  #deliverInbox(): void {
    const h = this.#handlers;
    if (!h) return;
    while (!this.#paused && this.#inbox.length > 0 && !this.#closeDelivered) {
      const chunk = this.#inbox.shift()!;
      this.#inboxBytes -= chunk.byteLength;
      h.data(chunk);
    }
  }

  #scheduleClose(): void {
    if (this.#closePending || this.#closeDelivered) return;
    this.#closePending = true;
    // Deferred so a handler never re-enters its own close() call.
    queueMicrotask(() => {
      this.#closePending = false;
      this.#maybeDeliverClose();
    });
  }

  #maybeDeliverClose(): void {
    if (!this.closed || this.#closeDelivered || this.#closePending || !this.#handlers) return;
    // Bytes that arrived before the close still go to the reader first (unless it paused).
    this.#deliverInbox();
    if (this.#inbox.length > 0) return;
    this.#closeDelivered = true;
    this.#handlers.close(this.#closeErr);
  }
}

/** The one Bun handler set every TcpDuplex socket uses; each event goes to `socket.data`. */
const SOCKET_HANDLERS = {
  binaryType: "uint8array",
  data(s: BunSocket, chunk: Uint8Array) {
    s.data?._onData(chunk);
  },
  drain(s: BunSocket) {
    s.data?._onDrain();
  },
  end(s: BunSocket) {
    s.data?._onEnd();
  },
  close(s: BunSocket, err?: Error) {
    s.data?._onClose(err);
  },
  error(s: BunSocket, err: Error) {
    s.data?.close(err);
  },
} as const;

export interface TcpListener {
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting; open connections stay up unless `closeConnections`. */
  stop(closeConnections?: boolean): void;
}

/** Listens on host:port (port 0 = ephemeral) and hands every accepted connection to `onAccept`. */
export function listenTcp(
  hostname: string,
  port: number,
  onAccept: (conn: TcpDuplex) => void,
  options: TcpDuplexOptions = {},
): TcpListener {
  const listener = Bun.listen<TcpDuplex | undefined>({
    hostname,
    port,
    allowHalfOpen: true,
    data: undefined,
    socket: {
      ...SOCKET_HANDLERS,
      open(s: BunSocket) {
        onAccept(new TcpDuplex(s, options));
      },
    },
  });
  return {
    hostname: listener.hostname,
    port: listener.port,
    stop: (closeConnections = false) => listener.stop(closeConnections),
  };
}

/**
 * Connects to host:port. Rejects with the socket error (its `code` says why, e.g. ECONNREFUSED),
 * with an `ETIMEDOUT` error after `timeoutMs`, or with the signal's reason. A connection that
 * completes after the caller gave up is closed at once.
 */
export function connectTcp(
  hostname: string,
  port: number,
  options: TcpDuplexOptions & { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<TcpDuplex> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const connecting = Bun.connect<TcpDuplex | undefined>({
    hostname,
    port,
    allowHalfOpen: true,
    data: undefined,
    socket: {
      ...SOCKET_HANDLERS,
      open(s: BunSocket) {
        new TcpDuplex(s, options);
      },
      connectError() {},
    },
  }).then((s) => s.data!);
  if (!signal && !timeoutMs) return connecting;
  return new Promise<TcpDuplex>((resolve, reject) => {
    let settled = false;
    const settle = (err: unknown, conn?: TcpDuplex) => {
      if (settled) {
        conn?.close();
        return;
      }
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (conn) resolve(conn);
      else reject(err);
    };
    const onAbort = () => settle(signal!.reason);
    const timer = timeoutMs
      ? setTimeout(() => settle(Object.assign(new Error(`connect ${hostname}:${port} timed out`), { code: "ETIMEDOUT" })), timeoutMs)
      : undefined;
    signal?.addEventListener("abort", onAbort, { once: true });
    connecting.then(
      (conn) => settle(undefined, conn),
      (err) => settle(err),
    );
  });
}
