/**
 * TCP port forward (spec §8.1): every connection accepted on `listen` gets a tunnel stream to the
 * fixed `target`, and bytes are relayed both ways until either side closes. There is no handshake;
 * bytes the application sends while the stream opens are held and sent first.
 */
import type { TunnelClient } from "../client/api.ts";
import { errorMessage } from "../lib/errors.ts";
import { logger, RateLimitedLog } from "../lib/log.ts";
import { holdDuplex, Pipe } from "../lib/pipe.ts";
import { listenTcp, type TcpDuplex, type TcpListener } from "../lib/tcp-duplex.ts";
import { splitHostPort } from "../tunnel/protocol.ts";
import { ForwardError } from "./errors.ts";

export interface TcpForwardOptions {
  /** Listen address `ip:port` (IPv6 in brackets); port 0 picks a free one (see `port`). */
  readonly listen: string;
  /** `host:port` as the server should dial it; passed on unchanged. */
  readonly target: string;
  /** Closes a relay with no bytes either way for this long; 0 (default) never, as Go paqet. */
  readonly idleTimeoutMs?: number;
}

export interface TcpForwardStats {
  accepted: number;
  active: number;
  /** Connections closed because no stream could be opened. */
  failed: number;
}

const log = logger("forward");

export class TcpForward {
  readonly stats: TcpForwardStats = { accepted: 0, active: 0, failed: 0 };
  readonly #listener: TcpListener;
  readonly #conns = new Set<TcpDuplex>();
  readonly #pipes = new Map<Pipe, { bytes: number; since: number }>();
  readonly #errors = new RateLimitedLog((m) => log.error(m));
  readonly #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /** Binds and starts accepting; a bind failure throws (fatal for `run`). */
  constructor(
    readonly client: TunnelClient,
    readonly options: TcpForwardOptions,
  ) {
    const { host, port } = parseListen(options.listen);
    try {
      splitHostPort(options.target);
    } catch (cause) {
      throw new ForwardError("FWD_BAD_TARGET", `bad forward target ${JSON.stringify(options.target)}`, { cause });
    }
    try {
      this.#listener = listenTcp(host, port, (conn) => this.#accept(conn));
    } catch (cause) {
      throw new ForwardError("FWD_LISTEN_FAILED", `cannot listen on ${options.listen}: ${errorMessage(cause)}`, { cause });
    }
    const idle = options.idleTimeoutMs ?? 0;
    if (idle > 0) this.#sweeper = setInterval(() => this.#sweep(idle), Math.max(50, Math.min(1000, idle / 4)));
    log.info(`TCP forwarder listening on ${host}:${this.port} -> ${options.target}`);
  }

  get port(): number {
    return this.#listener.port;
  }

  /** Stops listening and closes every connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#listener.stop(false);
    for (const p of this.#pipes.keys()) p.close();
    for (const c of this.#conns) c.close();
  }

  #accept(conn: TcpDuplex): void {
    if (this.#closed) {
      conn.close();
      return;
    }
    this.stats.accepted++;
    this.stats.active++;
    this.#conns.add(conn);
    const peer = `${conn.remoteAddress}:${conn.remotePort}`;
    const done = () => {
      if (this.#conns.delete(conn)) this.stats.active--;
    };
    const held = holdDuplex(conn);
    this.client.openTcp(this.options.target, held.signal).then(
      (stream) => {
        if (held.signal.aborted || this.#closed) {
          stream.close();
          conn.close();
          done();
          return;
        }
        log.info(`accepted TCP connection ${peer} -> ${this.options.target}`);
        const pipe = new Pipe(
          conn,
          stream,
          (by, err) => {
            if (err) log.debug(`TCP forward ${peer}: relay ended by ${by}: ${err.message}`);
            this.#pipes.delete(pipe);
            done();
          },
          held.release(),
        );
        if (!pipe.done) this.#pipes.set(pipe, { bytes: -1, since: 0 });
      },
      (err) => {
        if (!held.signal.aborted) {
          this.stats.failed++;
          this.#errors.emit(`TCP forward ${peer}: cannot open a stream to ${this.options.target}: ${errorMessage(err)}`);
        }
        conn.close();
        done();
      },
    );
  }

  #sweep(idleMs: number): void {
    const now = performance.now();
    for (const [p, mark] of this.#pipes) {
      const bytes = p.aToB + p.bToA;
      if (bytes !== mark.bytes) {
        mark.bytes = bytes;
        mark.since = now;
      } else if (now - mark.since >= idleMs) {
        log.debug("TCP forward: closing idle relay");
        p.close();
      }
    }
  }
}

export function parseListen(listen: string): { host: string; port: number } {
  try {
    return splitHostPort(listen);
  } catch (cause) {
    throw new ForwardError("FWD_BAD_LISTEN", `bad forward listen address ${JSON.stringify(listen)}`, { cause });
  }
}
