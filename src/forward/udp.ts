/**
 * UDP port forward (spec §8.2): datagrams arriving on `listen` go to the fixed `target` over one
 * pooled tunnel UDP stream per sender (IP, port), and the target's replies go back to that sender.
 *
 * A session starts with the sender's first datagram. Up to SESSION_QUEUE datagrams wait while its
 * stream opens; a full queue, a backed-up stream or a datagram above MAX_DATAGRAM is a counted drop.
 * A session with no datagram either way for `idleTimeoutMs` ends (Go relies on the client pool's
 * 60 s expiry for this); the sender's next datagram starts a fresh one.
 */
import type { TunnelClient } from "../client/api.ts";
import type { Duplex } from "../lib/duplex.ts";
import { errorMessage } from "../lib/errors.ts";
import { logger, RateLimitedLog } from "../lib/log.ts";
import { datagramFits, joinHostPort, splitHostPort } from "../tunnel/protocol.ts";
import { ForwardError } from "./errors.ts";
import { parseListen } from "./tcp.ts";

export interface UdpForwardOptions {
  readonly listen: string;
  readonly target: string;
  /** Ends a session with no datagram either way for this long (default 60 s); 0 never. */
  readonly idleTimeoutMs?: number;
}

export const DEFAULT_UDP_IDLE_TIMEOUT_MS = 60_000;
/** Datagrams held per session while its stream opens (Go: a 64-slot channel). */
const SESSION_QUEUE = 64;

export interface UdpForwardStats {
  sessions: number;
  active: number;
  toTunnel: number;
  toSender: number;
  dropped: { size: number; congested: number; tunnel: number; reply: number };
}

interface Session {
  /** Sender as `ip:port` text (netip form, IPv6 in brackets): the pool key's source. */
  readonly source: string;
  readonly address: string;
  readonly port: number;
  opening: boolean;
  queue: Uint8Array[];
  key: string;
  stream: Duplex | undefined;
  owner: boolean;
  congested: boolean;
  lastActive: number;
  ended: boolean;
}

type UdpSocket = import("bun").udp.Socket<"uint8array">;

const log = logger("forward");

export class UdpForward {
  readonly stats: UdpForwardStats = {
    sessions: 0,
    active: 0,
    toTunnel: 0,
    toSender: 0,
    dropped: { size: 0, congested: 0, tunnel: 0, reply: 0 },
  };
  readonly #sessions = new Map<string, Session>();
  readonly #errors = new RateLimitedLog((m) => log.error(m));
  readonly #abort = new AbortController();
  #socket!: UdpSocket;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #now = performance.now();
  #closed = false;

  private constructor(
    readonly client: TunnelClient,
    readonly options: UdpForwardOptions,
  ) {}

  /** Binds the UDP socket; a bad address or a bind failure rejects (fatal for `run`). */
  static async open(client: TunnelClient, options: UdpForwardOptions): Promise<UdpForward> {
    const { host, port } = parseListen(options.listen);
    try {
      splitHostPort(options.target);
    } catch (cause) {
      throw new ForwardError("FWD_BAD_TARGET", `bad forward target ${JSON.stringify(options.target)}`, { cause });
    }
    const f = new UdpForward(client, options);
    try {
      f.#socket = await Bun.udpSocket({
        hostname: host,
        port,
        binaryType: "uint8array",
        socket: {
          data: (_s, buf, p, a) => f.#onDatagram(buf, p, a),
          error: (_s, err) => f.#errors.emit(`UDP forward on ${options.listen}: socket error: ${errorMessage(err)}`),
        },
      });
    } catch (cause) {
      throw new ForwardError("FWD_LISTEN_FAILED", `cannot listen on ${options.listen}: ${errorMessage(cause)}`, { cause });
    }
    const idle = options.idleTimeoutMs ?? DEFAULT_UDP_IDLE_TIMEOUT_MS;
    if (idle > 0) f.#sweeper = setInterval(() => f.#sweep(idle), Math.max(50, Math.min(1000, idle / 4)));
    log.info(`UDP forwarder listening on ${host}:${f.port} -> ${options.target}`);
    return f;
  }

  get port(): number {
    return this.#socket.port;
  }

  /** Closes the socket and ends every session. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort(new Error("UDP forward closed"));
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#socket.close();
    for (const s of [...this.#sessions.values()]) this.#end(s);
  }

  #onDatagram(buf: Uint8Array, port: number, address: string): void {
    if (this.#closed) return;
    if (!datagramFits(buf.length)) {
      this.stats.dropped.size++;
      return;
    }
    const source = joinHostPort(address, port);
    let s = this.#sessions.get(source);
    if (!s) {
      s = {
        source,
        address,
        port,
        opening: true,
        queue: [],
        key: "",
        stream: undefined,
        owner: false,
        congested: false,
        lastActive: this.#now,
        ended: false,
      };
      this.#sessions.set(source, s);
      this.stats.sessions++;
      this.stats.active++;
      this.#open(s);
    }
    s.lastActive = this.#now;
    if (s.opening) {
      if (s.queue.length >= SESSION_QUEUE) this.stats.dropped.congested++;
      else s.queue.push(buf);
      return;
    }
    this.#send(s, buf);
  }

  #open(s: Session): void {
    this.client.openUdp(s.source, this.options.target, this.#abort.signal).then(
      (f) => {
        if (s.ended) {
          if (f.isNew) this.client.closeUdp(f.key, f.stream);
          return;
        }
        s.opening = false;
        s.key = f.key;
        s.stream = f.stream;
        s.owner = f.isNew;
        if (f.isNew) {
          log.info(`accepted UDP connection ${s.source} -> ${this.options.target}`);
          f.stream.setHandlers({
            data: (chunk) => this.#reply(s, chunk),
            drain: () => {
              s.congested = false;
            },
            close: (err) => {
              if (err) log.debug(`UDP forward ${s.source}: stream closed: ${err.message}`);
              this.#end(s);
            },
          });
        }
        const queued = s.queue;
        s.queue = [];
        for (const d of queued) this.#send(s, d);
      },
      (err) => {
        if (s.ended) return;
        this.#errors.emit(`UDP forward ${s.source}: cannot open a stream to ${this.options.target}: ${errorMessage(err)}`);
        this.stats.dropped.tunnel += s.queue.length;
        this.#end(s);
      },
    );
  }

  #send(s: Session, data: Uint8Array): void {
    const stream = s.stream;
    if (!stream || stream.closed) {
      this.stats.dropped.tunnel++;
      this.#end(s);
      return;
    }
    if (s.congested) {
      this.stats.dropped.congested++;
      return;
    }
    // One write is one datagram (§4.5); false means "queued": hold off until drain.
    if (!stream.write(data) && s.owner) s.congested = true;
    this.stats.toTunnel++;
    this.client.touchUdp(s.key);
  }

  #reply(s: Session, chunk: Uint8Array): void {
    if (!datagramFits(chunk.length)) {
      this.stats.dropped.size++;
      return;
    }
    s.lastActive = this.#now;
    this.client.touchUdp(s.key);
    if (this.#socket.send(chunk, s.port, s.address)) this.stats.toSender++;
    else this.stats.dropped.reply++;
  }

  /** Ends a session once: releases its stream and forgets it (if the map still holds this one). */
  #end(s: Session): void {
    if (s.ended) return;
    s.ended = true;
    this.stats.active--;
    if (s.owner && s.stream) this.client.closeUdp(s.key, s.stream);
    s.stream = undefined;
    s.queue = [];
    if (this.#sessions.get(s.source) === s) this.#sessions.delete(s.source);
  }

  #sweep(idleMs: number): void {
    this.#now = performance.now();
    const limit = this.#now - idleMs;
    for (const s of this.#sessions.values()) {
      if (!s.opening && s.lastActive <= limit) {
        log.debug(`UDP forward ${s.source}: closing idle session`);
        this.#end(s);
      }
    }
  }
}
