/**
 * A TunnelClient without a tunnel: openTcp dials the target itself and openUdp relays through a
 * real connected UDP socket, so the SOCKS5 server and the forwards run end to end on loopback.
 *
 * Targets are checked with the real protocol encoder first, so a target the wire cannot carry
 * fails exactly as with the real client. In `optimistic` mode openTcp behaves like the alpha.21
 * client: the stream is handed out at once and a failed dial shows up as the stream closing.
 */
import type { TunnelClient, UdpFlow } from "../../src/client/api.ts";
import { type Duplex, duplexPair } from "../../src/lib/duplex.ts";
import { Pipe } from "../../src/lib/pipe.ts";
import { connectTcp, listenTcp, type TcpDuplex, type TcpListener } from "../../src/lib/tcp-duplex.ts";
import { TunnelError } from "../../src/tunnel/errors.ts";
import { datagramFits, encodeMessage, MessageType, targetMessage } from "../../src/tunnel/protocol.ts";

interface PoolEntry {
  stream: Duplex;
  socket: import("bun").udp.ConnectedSocket<"uint8array"> | undefined;
  lastUse: number;
}

export class FakeTunnel implements TunnelClient {
  readonly pool = new Map<string, PoolEntry>();
  /** Everything opened, for leak checks in tests. */
  readonly tcpStreams: Duplex[] = [];
  udpOpened = 0;
  udpClosed = 0;
  /** Datagrams dropped because they were too large for the UDP stream. */
  udpDropped = 0;
  #relays = new Set<Pipe>();

  constructor(readonly options: { optimistic?: boolean; dialTimeoutMs?: number } = {}) {}

  async openTcp(target: string, signal?: AbortSignal): Promise<Duplex> {
    const msg = targetMessage(MessageType.Tcp, target);
    encodeMessage(msg);
    if (signal?.aborted) throw new TunnelError("TUN_ABORTED", "aborted");
    const dial = connectTcp(msg.host, msg.port, { signal, timeoutMs: this.options.dialTimeoutMs ?? 8000 });
    const [near, far] = duplexPair();
    this.tcpStreams.push(near);
    if (this.options.optimistic) {
      dial.then(
        (conn) => this.#relay(far, conn),
        () => far.close(),
      );
      return near;
    }
    try {
      this.#relay(far, await dial);
      return near;
    } catch (err) {
      near.close();
      throw mapDialError(err, signal);
    }
  }

  #relay(far: Duplex, conn: Duplex): void {
    const p = new Pipe(far, conn, () => this.#relays.delete(p));
    this.#relays.add(p);
  }

  async openUdp(source: string, target: string, signal?: AbortSignal): Promise<UdpFlow> {
    const key = `${source}\u0000${target}`;
    const hit = this.pool.get(key);
    if (hit) {
      hit.lastUse = Date.now();
      return { key, stream: hit.stream, isNew: false };
    }
    const msg = targetMessage(MessageType.Udp, target);
    encodeMessage(msg);
    if (signal?.aborted) throw new TunnelError("TUN_ABORTED", "aborted");
    const [near, far] = duplexPair();
    const entry: PoolEntry = { stream: near, socket: undefined, lastUse: Date.now() };
    const socket = await Bun.udpSocket({
      binaryType: "uint8array",
      connect: { hostname: msg.host, port: msg.port },
      socket: {
        data: (_s, buf) => {
          // One datagram from the target is one stream write (§4.5).
          if (datagramFits(buf.length)) far.write(buf);
          else this.udpDropped++;
        },
      },
    });
    far.setHandlers({
      data: (chunk) => {
        if (datagramFits(chunk.length)) socket.send(chunk);
        else this.udpDropped++;
      },
      drain() {},
      close: () => socket.close(),
    });
    entry.socket = socket;
    const raced = this.pool.get(key);
    if (raced) {
      near.close();
      return { key, stream: raced.stream, isNew: false };
    }
    this.pool.set(key, entry);
    this.udpOpened++;
    return { key, stream: near, isNew: true };
  }

  touchUdp(key: string): void {
    const e = this.pool.get(key);
    if (e) e.lastUse = Date.now();
  }

  closeUdp(key: string, stream: Duplex): void {
    const e = this.pool.get(key);
    if (!e || e.stream !== stream) return;
    this.pool.delete(key);
    this.udpClosed++;
    stream.close();
  }

  /** Closes every stream and socket it made. */
  close(): void {
    for (const [key, e] of this.pool) this.closeUdp(key, e.stream);
    for (const p of this.#relays) p.close();
    for (const s of this.tcpStreams) s.close();
  }
}

function mapDialError(err: unknown, signal?: AbortSignal): TunnelError {
  if (signal?.aborted) return new TunnelError("TUN_ABORTED", "aborted", { cause: err });
  const code = (err as { code?: string } | null)?.code;
  const text = err instanceof Error ? err.message : String(err);
  switch (code) {
    case "ECONNREFUSED":
      return new TunnelError("TUN_REFUSED", text, { cause: err });
    case "ETIMEDOUT":
      return new TunnelError("TUN_TIMEOUT", text, { cause: err });
    default:
      return new TunnelError("TUN_UNREACHABLE", text, { cause: err });
  }
}

// ---- loopback fixtures shared by the SOCKS5 and forward tests ------------------------------------

/** Every wait in these tests is bounded by this unless a test says otherwise. */
export const WAIT_MS = 5000;

export function withTimeout<T>(p: Promise<T>, ms = WAIT_MS, what = "operation"): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]);
}

/** A TCP echo server on 127.0.0.1 with backpressure (a slow reader slows the echo). */
export function startTcpEcho(host = "127.0.0.1"): TcpListener {
  return listenTcp(host, 0, (conn) => {
    conn.setHandlers({
      data(chunk) {
        if (!conn.write(chunk)) conn.pause();
      },
      drain() {
        conn.resume();
      },
      close() {},
    });
  });
}

/** A UDP echo server: every datagram goes back to its sender unchanged. */
export async function startUdpEcho(host = "127.0.0.1") {
  return Bun.udpSocket({
    hostname: host,
    port: 0,
    binaryType: "uint8array",
    socket: {
      data(s, buf, port, address) {
        s.send(buf, port, address);
      },
    },
  });
}

/**
 * A client UDP socket on 127.0.0.1 collecting datagrams, with a bounded wait for the next one.
 * Its close goes on `cleanups` (the test file's afterEach list).
 */
export async function udpClient(cleanups: (() => void)[]) {
  const inbox: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  const sock = await Bun.udpSocket({
    hostname: "127.0.0.1",
    port: 0,
    binaryType: "uint8array",
    socket: {
      data(_s, buf) {
        inbox.push(buf);
        wake?.();
      },
    },
  });
  cleanups.push(() => sock.close());
  return {
    sock,
    inbox,
    async next(ms = WAIT_MS): Promise<Uint8Array> {
      const deadline = Date.now() + ms;
      while (inbox.length === 0) {
        if (Date.now() > deadline) throw new Error("no datagram");
        await withTimeout(new Promise<void>((r) => (wake = r)), Math.max(1, deadline - Date.now()), "datagram").catch(() => {});
      }
      return inbox.shift()!;
    },
  };
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export function closedPort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** A test-side TCP client that reads exact byte counts with bounded waits. */
export class TestConn {
  #buf: Uint8Array[] = [];
  #bytes = 0;
  #closed = false;
  #waiters: (() => void)[] = [];
  #drainWaiters: (() => void)[] = [];

  private constructor(readonly conn: TcpDuplex) {
    conn.setHandlers({
      data: (chunk) => {
        this.#buf.push(chunk);
        this.#bytes += chunk.length;
        this.#wake();
      },
      drain: () => {
        const w = this.#drainWaiters;
        this.#drainWaiters = [];
        for (const f of w) f();
      },
      close: () => {
        this.#closed = true;
        this.#wake();
        for (const f of this.#drainWaiters) f();
      },
    });
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<TestConn> {
    return new TestConn(await withTimeout(connectTcp(host, port), WAIT_MS, "connect"));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get buffered(): number {
    return this.#bytes;
  }

  write(bytes: Uint8Array | number[]): boolean {
    return this.conn.write(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
  }

  /** Writes a large buffer in chunks, waiting for drain whenever the socket pushes back. */
  async writeAll(bytes: Uint8Array, chunk = 64 * 1024): Promise<void> {
    for (let at = 0; at < bytes.length; at += chunk) {
      if (this.#closed) throw new Error("closed while writing");
      if (!this.conn.write(bytes.subarray(at, at + chunk))) {
        await withTimeout(new Promise<void>((r) => this.#drainWaiters.push(r)), WAIT_MS, "drain");
      }
    }
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Exactly n bytes; rejects if the connection closes first or the wait runs out. */
  async read(n: number, ms = WAIT_MS): Promise<Uint8Array> {
    const deadline = Date.now() + ms;
    while (this.#bytes < n) {
      if (this.#closed) throw new Error(`closed after ${this.#bytes} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`read ${this.#bytes} of ${n} bytes within ${ms} ms`);
      await withTimeout(new Promise<void>((r) => this.#waiters.push(r)), left, "read").catch(() => {});
    }
    const all = new Uint8Array(this.#bytes);
    let at = 0;
    for (const c of this.#buf) {
      all.set(c, at);
      at += c.length;
    }
    this.#buf = n < all.length ? [all.slice(n)] : [];
    this.#bytes = all.length - n;
    return all.subarray(0, n);
  }

  /** Resolves once the peer has closed (bytes still buffered are kept); rejects after `ms`. */
  async waitClosed(ms = WAIT_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`not closed within ${ms} ms`);
      await withTimeout(new Promise<void>((r) => this.#waiters.push(r)), left, "close").catch(() => {});
    }
  }

  close(): void {
    this.conn.close();
  }
}
