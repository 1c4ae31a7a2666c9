/**
 * The SOCKS5 server of the client role (spec §7): RFC 1928 with no-auth or RFC 1929
 * username/password, CONNECT and UDP ASSOCIATE over a TunnelClient.
 *
 * Sockets are Bun's native TCP API (through TcpDuplex): it is the fastest socket path Bun has and
 * hands us `pause`/`resume` and per-write byte counts, which map one to one onto the Duplex
 * backpressure contract the tunnel streams use. node:net would add its own buffering layer between.
 *
 * Each connection runs one state machine (SessionState, changed only in `#to`). Malformed input
 * closes that connection only, with a debug line; nothing a client sends can throw out of here.
 */
import type { TunnelClient } from "../client/api.ts";
import { errorMessage, isPaqetError } from "../lib/errors.ts";
import { logger, RateLimitedLog } from "../lib/log.ts";
import { holdDuplex, Pipe } from "../lib/pipe.ts";
import { listenTcp, type TcpDuplex, type TcpListener } from "../lib/tcp-duplex.ts";
import { splitHostPort } from "../tunnel/protocol.ts";
import {
  AuthStatus,
  Command,
  encodeAuthStatus,
  encodeMethodChoice,
  encodeReply,
  Method,
  parseAuth,
  parseGreeting,
  parseRequest,
  Reply,
  replyForError,
  type Request,
} from "./codec.ts";
import { Socks5Error } from "./errors.ts";
import { newUdpStats, UdpAssociation, type UdpStats } from "./udp.ts";

export interface Socks5Options {
  /** Listen address `ip:port` (IPv6 in brackets); port 0 picks a free one (see `port`). */
  readonly listen: string;
  /** Non-empty username or password makes username/password auth (method 0x02) mandatory. */
  readonly username?: string;
  readonly password?: string;
  /** One deadline from the greeting through the request (Go paqet: 8 s). */
  readonly handshakeTimeoutMs?: number;
  /** Closes a CONNECT relay with no bytes either way for this long; 0 (default) never, as Go paqet. */
  readonly idleTimeoutMs?: number;
  /** Closes a UDP flow with no datagram either way for this long (Go paqet's pool expiry: 60 s); 0 never. */
  readonly udpIdleTimeoutMs?: number;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 8_000;
export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 60_000;

export interface Socks5Stats {
  accepted: number;
  active: number;
  /** Closed during the handshake: malformed input, timeout, no acceptable method. */
  handshakeFailures: number;
  authFailures: number;
  connects: number;
  connectFailures: number;
  associations: number;
  udp: UdpStats;
}

enum SessionState {
  Greeting,
  Auth,
  Request,
  /** CONNECT: waiting for the tunnel stream. */
  Opening,
  Relaying,
  /** UDP ASSOCIATE: binding the relay socket, then relaying until the control connection ends. */
  Associating,
  Associated,
  Closed,
}

const log = logger("socks5");
const EMPTY = new Uint8Array(0);

export class Socks5Server {
  readonly stats: Socks5Stats = {
    accepted: 0,
    active: 0,
    handshakeFailures: 0,
    authFailures: 0,
    connects: 0,
    connectFailures: 0,
    associations: 0,
    udp: newUdpStats(),
  };
  readonly #listener: TcpListener;
  readonly #sessions = new Set<Session>();
  readonly #sweeper: ReturnType<typeof setInterval> | undefined;
  /** Username and password as bytes, or undefined for no-auth. */
  readonly credentials: { username: Uint8Array; password: Uint8Array } | undefined;
  readonly handshakeTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly udpIdleTimeoutMs: number;
  readonly errors = new RateLimitedLog((m) => log.error(m));
  #closed = false;

  /** Binds and starts accepting at once; a bind failure throws (fatal for `run`, spec §7.1). */
  constructor(
    readonly client: TunnelClient,
    options: Socks5Options,
  ) {
    let host: string;
    let port: number;
    try {
      ({ host, port } = splitHostPort(options.listen));
    } catch (cause) {
      throw new Socks5Error("SOCKS_BAD_LISTEN", `bad SOCKS5 listen address ${JSON.stringify(options.listen)}`, { cause });
    }
    const user = options.username ?? "";
    const pass = options.password ?? "";
    const enc = new TextEncoder();
    this.credentials = user || pass ? { username: enc.encode(user), password: enc.encode(pass) } : undefined;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.udpIdleTimeoutMs = options.udpIdleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
    try {
      this.#listener = listenTcp(host, port, (conn) => this.#accept(conn));
    } catch (cause) {
      throw new Socks5Error("SOCKS_LISTEN_FAILED", `cannot listen on ${options.listen}: ${errorMessage(cause)}`, { cause });
    }
    if (this.idleTimeoutMs > 0) {
      this.#sweeper = setInterval(() => this.#sweep(), Math.max(50, Math.min(1000, this.idleTimeoutMs / 4)));
    }
    log.info(`SOCKS5 server listening on ${options.listen.replace(/:0$/, `:${this.port}`)}`);
  }

  get hostname(): string {
    return this.#listener.hostname;
  }

  get port(): number {
    return this.#listener.port;
  }

  /** Stops listening and closes every connection and association. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#listener.stop(false);
    for (const s of this.#sessions) s.close();
  }

  _removed(s: Session): void {
    if (this.#sessions.delete(s)) this.stats.active--;
  }

  #accept(conn: TcpDuplex): void {
    if (this.#closed) {
      conn.close();
      return;
    }
    this.stats.accepted++;
    this.stats.active++;
    this.#sessions.add(new Session(this, conn));
  }

  #sweep(): void {
    const now = performance.now();
    for (const s of this.#sessions) s.checkIdle(now, this.idleTimeoutMs);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

class Session {
  #state = SessionState.Greeting;
  #buf: Uint8Array = EMPTY;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #pipe: Pipe | undefined;
  #association: UdpAssociation | undefined;
  #idleBytes = -1;
  #idleSince = 0;
  readonly #peer: string;

  constructor(
    private readonly server: Socks5Server,
    private readonly conn: TcpDuplex,
  ) {
    this.#peer = `${conn.remoteAddress}:${conn.remotePort}`;
    conn.setHandlers({
      data: (chunk) => this.#onHandshakeData(chunk),
      drain() {},
      close: (err) => this.#ended(err),
    });
    this.#timer = setTimeout(
      () => this.#fail(new Socks5Error("SOCKS_HANDSHAKE_TIMEOUT", `no complete request within ${server.handshakeTimeoutMs} ms`)),
      server.handshakeTimeoutMs,
    );
  }

  /** The one place the state changes. */
  #to(next: SessionState): void {
    if (this.#state === SessionState.Closed) return;
    if (next === SessionState.Closed) {
      if (this.#timer) clearTimeout(this.#timer);
      this.server._removed(this);
    } else if (next >= SessionState.Opening && this.#timer) {
      // The handshake deadline covers greeting through request only.
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#state = next;
  }

  close(): void {
    this.#pipe?.close();
    this.#association?.close();
    this.conn.close();
    this.#to(SessionState.Closed);
  }

  checkIdle(now: number, idleMs: number): void {
    const p = this.#pipe;
    if (!p || this.#state !== SessionState.Relaying) return;
    const bytes = p.aToB + p.bToA;
    if (bytes !== this.#idleBytes) {
      this.#idleBytes = bytes;
      this.#idleSince = now;
    } else if (now - this.#idleSince >= idleMs) {
      log.debug(`SOCKS5 ${this.#peer}: closing idle relay`);
      p.close();
    }
  }

  #onHandshakeData(chunk: Uint8Array): void {
    if (this.#state > SessionState.Request) return;
    if (this.#buf.length === 0) this.#buf = chunk;
    else {
      const b = new Uint8Array(this.#buf.length + chunk.length);
      b.set(this.#buf);
      b.set(chunk, this.#buf.length);
      this.#buf = b;
    }
    try {
      this.#advance();
    } catch (err) {
      // The parsers throw only Socks5Error; anything else is a bug, but still ends this client only.
      if (err instanceof Socks5Error) this.#fail(err);
      else this.#fail(new Socks5Error("SOCKS_BAD_VERSION", `handshake failed: ${errorMessage(err)}`, { cause: err }));
    }
  }

  /**
   * Parses as many handshake messages as the buffer holds (clients may send them back to back).
   * Every message bounds itself (greeting <= 257, auth <= 513, request <= 262 bytes, an unknown
   * ATYP fails at once), so an incomplete one never holds more than that.
   */
  #advance(): void {
    for (;;) {
      const buf = this.#buf;
      switch (this.#state) {
        case SessionState.Greeting: {
          const g = parseGreeting(buf);
          if (!g) return;
          this.#buf = buf.subarray(g.length);
          const want = this.server.credentials ? Method.UserPass : Method.NoAuth;
          if (!g.methods.includes(want)) {
            this.conn.write(encodeMethodChoice(Method.NoAcceptable));
            return this.#fail(new Socks5Error("SOCKS_NO_METHOD", `no acceptable method offered (want 0x0${want})`));
          }
          this.conn.write(encodeMethodChoice(want));
          this.#to(want === Method.UserPass ? SessionState.Auth : SessionState.Request);
          break;
        }
        case SessionState.Auth: {
          const c = parseAuth(buf);
          if (!c) return;
          this.#buf = buf.subarray(c.length);
          const want = this.server.credentials!;
          if (!sameBytes(c.username, want.username) || !sameBytes(c.password, want.password)) {
            this.server.stats.authFailures++;
            this.conn.write(encodeAuthStatus(AuthStatus.Failure));
            return this.#fail(new Socks5Error("SOCKS_AUTH_FAILED", "wrong username or password"));
          }
          this.conn.write(encodeAuthStatus(AuthStatus.Success));
          this.#to(SessionState.Request);
          break;
        }
        case SessionState.Request: {
          const r = parseRequest(buf);
          if (!r) return;
          this.#buf = EMPTY;
          return this.#request(r, buf.subarray(r.length));
        }
        default:
          return;
      }
    }
  }

  #request(r: Request, leftover: Uint8Array): void {
    switch (r.command) {
      case Command.Connect:
        return this.#connect(r, leftover);
      case Command.UdpAssociate:
        return this.#associate(r);
      default:
        this.conn.write(encodeReply(Reply.CommandNotSupported));
        return this.#fail(new Socks5Error("SOCKS_BAD_COMMAND", `unsupported command 0x${r.command.toString(16)}`));
    }
  }

  #connect(r: Request, leftover: Uint8Array): void {
    this.#to(SessionState.Opening);
    // Bytes the client sends before the reply (optimistic clients) go to the target first.
    const held = holdDuplex(this.conn, leftover);
    const target = r.address.target;
    this.server.client.openTcp(target, held.signal).then(
      (stream) => {
        if (held.signal.aborted || this.#state !== SessionState.Opening) {
          stream.close();
          this.#ended();
          return;
        }
        this.server.stats.connects++;
        log.info(`SOCKS5 accepted TCP connection ${this.#peer} -> ${target}`);
        this.conn.write(encodeReply(Reply.Succeeded, { host: this.conn.localAddress, port: this.conn.localPort }));
        this.#to(SessionState.Relaying);
        this.#pipe = new Pipe(this.conn, stream, (by, err) => this.#relayEnded(by, err), held.release());
      },
      (err) => {
        if (held.signal.aborted || this.#state !== SessionState.Opening) {
          this.#ended();
          return;
        }
        this.server.stats.connectFailures++;
        const reply = replyForError(err);
        const text = `SOCKS5 ${this.#peer}: cannot open a stream to ${target}: ${errorMessage(err)}`;
        // Targets the tunnel cannot carry are the client's mistake; the rest are tunnel trouble.
        if (isPaqetError(err) && /^TUN_(BAD_|HOST_TOO_LONG|REFUSED|UNREACHABLE)/.test(err.code)) log.debug(text);
        else this.server.errors.emit(text);
        this.conn.write(encodeReply(reply));
        this.conn.close();
        this.#to(SessionState.Closed);
      },
    );
  }

  #associate(r: Request): void {
    this.#to(SessionState.Associating);
    // RFC 1928 §7: the association lives as long as the control connection; what the client
    // sends on it from now on is read and discarded.
    this.conn.setHandlers({
      data() {},
      drain() {},
      close: (err) => this.#ended(err),
    });
    UdpAssociation.open(
      this.server.client,
      this.conn.localAddress,
      r.address,
      this.conn.remoteAddress,
      { idleTimeoutMs: this.server.udpIdleTimeoutMs, onEnd: () => this.#ended() },
      this.server.stats.udp,
      log,
    ).then(
      (a) => {
        if (this.#state !== SessionState.Associating) {
          a.close();
          return;
        }
        this.#association = a;
        this.server.stats.associations++;
        this.conn.write(encodeReply(Reply.Succeeded, a.bound));
        this.#to(SessionState.Associated);
        log.debug(`SOCKS5 ${this.#peer}: UDP relay on ${a.bound.host}:${a.bound.port}`);
      },
      (err) => {
        if (this.#state !== SessionState.Associating) return;
        this.server.errors.emit(`SOCKS5 ${this.#peer}: cannot open a UDP relay socket: ${errorMessage(err)}`);
        this.conn.write(encodeReply(Reply.GeneralFailure));
        this.conn.close();
        this.#to(SessionState.Closed);
      },
    );
  }

  #relayEnded(by: "a" | "b" | "local", err?: Error): void {
    if (err) log.debug(`SOCKS5 ${this.#peer}: relay ended by ${by === "a" ? "client" : by === "b" ? "tunnel" : "server"}: ${err.message}`);
    this.#to(SessionState.Closed);
  }

  /** Handshake failure: debug log only; the reply (if any) was queued before and is flushed. */
  #fail(err: Socks5Error): void {
    if (this.#state === SessionState.Closed) return;
    this.server.stats.handshakeFailures++;
    log.debug(`SOCKS5 ${this.#peer}: ${err.message}`);
    if (err.reply !== undefined) this.conn.write(encodeReply(err.reply));
    this.conn.close();
    this.#to(SessionState.Closed);
  }

  /** The client connection closed (or the session was given up); releases what the state holds. */
  #ended(err?: Error): void {
    if (this.#state === SessionState.Closed) return;
    if (err && this.#state <= SessionState.Request) log.debug(`SOCKS5 ${this.#peer}: closed during handshake: ${err.message}`);
    this.#association?.close();
    this.conn.close();
    this.#to(SessionState.Closed);
  }
}
