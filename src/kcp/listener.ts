/**
 * The kcp-go listener (ServeConn) as paqet's server runs it (kcp-smux-wire.md §7.2): one PacketConn,
 * one PacketCrypt, sessions keyed by the sender's address.
 *
 * Quirk not kept: kcp-go processes a new session's first datagram under library defaults (paqet
 * tunes the session only after Accept). Here the session is tuned before its first datagram; the
 * only wire difference is the `wnd` of the first ACK, which the next segment corrects anyway.
 */
import { errorMessage } from "../lib/errors.ts";
import { logger, RateLimitedLog } from "../lib/log.ts";
import { addrKey, type PacketAddr, type PacketConn } from "../socket/types.ts";
import type { FecCodec, PacketCrypt } from "./codec-types.ts";
import { KcpError } from "./errors.ts";
import { createFec, FEC_TYPE_DATA, FEC_TYPE_OOB, FEC_TYPE_PARITY } from "./fec.ts";
import type { KcpOptions } from "./options.ts";
import { readU16, readU32, KCP_OVERHEAD, SEG_SN } from "./segment.ts";
import { checkOptions, KcpSession, type KcpClock, type KcpScheduler } from "./session.ts";

const log = logger("kcp");

/** Un-accepted sessions kept before new senders are dropped (kcp-go's accept backlog). */
export const ACCEPT_BACKLOG = 128;
/** Smaller decrypted datagrams are dropped: min(KCP header 24, FEC header 8 + conv 4). */
const MIN_INNER = 12;
/** Offsets of conv and sn inside an FEC data shard: the 8-byte FEC header, then KCP. */
const FEC_CONV = 8;
const FEC_SN = 8 + SEG_SN;
const FEC_MIN_WITH_CONV = 8 + KCP_OVERHEAD;

export interface ListenOptions {
  /** Settings for every accepted session. */
  kcp: KcpOptions;
  crypt: PacketCrypt;
  /** A fresh FEC codec per session; default: FEC off (still accepting a peer's FEC). */
  fec?: () => FecCodec;
  backlog?: number;
  scheduler?: KcpScheduler;
  clock?: KcpClock;
}

export interface KcpListenerStats {
  sessionsCreated: number;
  /** Sessions closed because their peer restarted (a new conv with sn 0 from the same address). */
  sessionsReplaced: number;
  /** Datagrams that failed decryption or the CRC/tag (also counted in the crypt's stats). */
  cryptDropped: number;
  /** Decrypted datagrams too short for a header. */
  malformed: number;
  /** Datagrams from an unknown address that carry no conv (e.g. FEC parity). */
  noConv: number;
  /** Datagrams from a known address with another conv and sn ≠ 0. */
  convMismatch: number;
  /** New senders refused because the accept backlog was full. */
  backlogFull: number;
  /** Exceptions caught while handling a datagram (a bug, logged rate-limited). */
  internalErrors: number;
}

export class KcpListener implements AsyncIterable<KcpSession> {
  readonly stats: KcpListenerStats = {
    sessionsCreated: 0,
    sessionsReplaced: 0,
    cryptDropped: 0,
    malformed: 0,
    noConv: 0,
    convMismatch: 0,
    backlogFull: 0,
    internalErrors: 0,
  };
  private readonly sessions = new Map<string, KcpSession>();
  /** The session of the last datagram's sender: a bulk transfer finds it without building a key. */
  private lastIp = "";
  private lastPort = -1;
  private lastSession: KcpSession | undefined;
  private backlog: KcpSession[] = [];
  private waiters: { resolve: (s: KcpSession) => void; reject: (e: Error) => void }[] = [];
  private isClosed = false;
  private readonly maxBacklog: number;
  private readonly errorLog = new RateLimitedLog((m) => log.warn(m));

  constructor(
    private readonly conn: PacketConn,
    private readonly options: ListenOptions,
  ) {
    this.maxBacklog = options.backlog ?? ACCEPT_BACKLOG;
    conn.onPacket(this.onPacket);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Live sessions, accepted or not. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The next new session; rejects with KCP_CLOSED once the listener is closed. */
  accept(): Promise<KcpSession> {
    for (;;) {
      const s = this.backlog.shift();
      if (!s) break;
      if (!s.closed) return Promise.resolve(s);
    }
    if (this.isClosed) return Promise.reject(new KcpError("KCP_CLOSED", "KCP listener is closed"));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<KcpSession> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (err) {
        if (err instanceof KcpError && err.code === "KCP_CLOSED") return;
        throw err;
      }
    }
  }

  /** Stops accepting, closes every session and releases the conn's handler (the conn stays open). */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.conn.onPacket(() => {});
    for (const s of [...this.sessions.values()]) s.close();
    this.sessions.clear();
    this.lastSession = undefined;
    this.backlog = [];
    const err = new KcpError("KCP_CLOSED", "KCP listener is closed");
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private readonly onPacket = (data: Uint8Array, from: PacketAddr): void => {
    try {
      this.route(data, from);
    } catch (err) {
      this.stats.internalErrors++;
      this.errorLog.emit(`KCP listener dropped a datagram from ${addrKey(from)}: ${errorMessage(err)}`);
    }
  };

  private route(data: Uint8Array, from: PacketAddr): void {
    if (this.isClosed) return;
    const inner = this.options.crypt.open(data);
    if (!inner) {
      this.stats.cryptDropped++;
      return;
    }
    if (inner.byteLength < MIN_INNER) {
      this.stats.malformed++;
      return;
    }

    let conv: number | undefined;
    let sn: number | undefined;
    const type = readU16(inner, 4);
    if (type === FEC_TYPE_DATA) {
      if (inner.byteLength >= FEC_MIN_WITH_CONV) {
        conv = readU32(inner, FEC_CONV);
        sn = readU32(inner, FEC_SN);
      }
    } else if (type === FEC_TYPE_OOB) {
      conv = readU32(inner, FEC_CONV);
    } else if (type !== FEC_TYPE_PARITY) {
      if (inner.byteLength < KCP_OVERHEAD) {
        this.stats.malformed++;
        return;
      }
      conv = readU32(inner, 0);
      sn = readU32(inner, SEG_SN);
    }

    const last = this.lastSession;
    if (last && from.port === this.lastPort && from.ip === this.lastIp && !last.closed && (conv === undefined || conv === last.conv)) {
      last.feed(inner);
      return;
    }
    const key = addrKey(from);
    const existing = this.sessions.get(key);
    if (existing) {
      if (conv === undefined || conv === existing.conv) {
        this.lastIp = from.ip;
        this.lastPort = from.port;
        this.lastSession = existing;
        existing.feed(inner);
        return;
      }
      if (sn !== 0) {
        this.stats.convMismatch++;
        return;
      }
      // The peer restarted with a new conv: the old session goes (final flush), a new one comes.
      this.stats.sessionsReplaced++;
      existing.close(new KcpError("KCP_CLOSED", `peer ${key} restarted with conv ${conv}`));
      this.sessions.delete(key);
    }
    if (conv === undefined) {
      this.stats.noConv++;
      return;
    }
    if (this.backlog.length >= this.maxBacklog) {
      this.stats.backlogFull++;
      return;
    }

    const session = new KcpSession({
      conn: this.conn,
      remote: { ip: from.ip, port: from.port },
      conv,
      crypt: this.options.crypt,
      fec: this.options.fec ? this.options.fec() : createFec(0, 0),
      options: this.options.kcp,
      scheduler: this.options.scheduler,
      clock: this.options.clock,
      onClosed: (s) => {
        if (this.sessions.get(key) === s) this.sessions.delete(key);
      },
    });
    this.sessions.set(key, session);
    this.lastIp = from.ip;
    this.lastPort = from.port;
    this.lastSession = session;
    this.stats.sessionsCreated++;
    session.feed(inner);
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(session);
    else this.backlog.push(session);
  }
}

export function listen(conn: PacketConn, options: ListenOptions): KcpListener {
  if (conn.isClosed) throw new KcpError("KCP_CLOSED", "cannot listen on a closed packet conn");
  checkOptions(options.kcp, options.crypt.overhead + (options.fec ? options.fec().overhead : 0));
  return new KcpListener(conn, options);
}
