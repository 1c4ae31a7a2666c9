/**
 * The paqet server (paqet-app.md §6, seed-fork §4.1): one raw socket, one KCP listener, an smux
 * server per KCP session, and one handler per stream that reads the protocol header and then
 * answers PING, stores TCPF flags, or relays to a TCP or UDP target it dials.
 *
 * Limits (seed fork): max sessions (checked after accept; the session is closed at once), streams
 * per session and in total (non-blocking; the stream is closed), and a header deadline per stream.
 * Every refusal goes through `limitRefused`. Shutdown stops accepting, lets the relays drain up to
 * a grace period, then closes everything.
 */
import type { Socket as UdpSocket } from "node:dgram";
import { errorMessage } from "../lib/errors.ts";
import { limitRefused } from "../lib/limits-log.ts";
import { logger, RateLimitedLog } from "../lib/log.ts";
import { metrics, provide, provideRetransmits } from "../lib/metrics.ts";
import { Pipe } from "../lib/pipe.ts";
import { connectTcp } from "../lib/tcp-duplex.ts";
import { createFec, KcpListener, listen, type KcpSession } from "../kcp/index.ts";
import type { Stream } from "../smux/index.ts";
import { isGuardPacketConn, provideGuardMetrics } from "../socket/guard.ts";
import { addrKey, type PacketAddr, type PacketConn } from "../socket/types.ts";
import {
  encodeMessage,
  joinHostPort,
  MAX_DATAGRAM,
  MessageDecoder,
  MessageType,
  transportPacketConn,
  TunnelConn,
  TunnelError,
  type Message,
  type TunnelOptions,
} from "../tunnel/index.ts";
import { dialUdp } from "./udp-dial.ts";

const log = logger("server");

/** Seed-fork §4.1: target dials (TCP and UDP) give up after this long. */
export const DIAL_TIMEOUT_MS = 10_000;
/** Seed-fork §4.1: how long shutdown waits for relays before closing them. */
export const SHUTDOWN_GRACE_MS = 10_000;
/** Accept errors back off from 5 ms, doubling to 1 s (seed-fork §4.1). */
const ACCEPT_BACKOFF_MIN_MS = 5;
const ACCEPT_BACKOFF_MAX_MS = 1000;
/** Bytes held from a TCP stream while its target is dialled before the stream is paused. */
const HOLD_LIMIT = 64 * 1024;
/** Datagrams held from a UDP stream while its target is dialled; later ones are dropped. */
const EARLY_DATAGRAMS = 64;
/** A UDP target's replies are dropped while the stream holds this many unsent bytes. */
const UDP_STREAM_BACKLOG = 256 * 1024;

/** Where a TCPF list goes: the raw socket's per-peer flag cycle (PcapPacketConn has this API). */
export interface PeerFlagSink {
  setPeerFlags(addr: PacketAddr, flags: readonly (string | number)[]): void;
  clearPeerFlags(addr: PacketAddr): void;
}

function isFlagSink(conn: PacketConn): conn is PacketConn & PeerFlagSink {
  const c = conn as Partial<PeerFlagSink>;
  return typeof c.setPeerFlags === "function" && typeof c.clearPeerFlags === "function";
}

export interface ServerOptions {
  tunnel: TunnelOptions;
  /** Close the raw socket with the server (run does; tests that reuse one do not). */
  ownsPacket?: boolean;
  dialTimeoutMs?: number;
  /** Shown in the "listening" log line (listen.addr's port). */
  listenPort?: number;
}

export interface ServerStats {
  sessionsAccepted: number;
  streamsAccepted: number;
  /** Probe streams (closed with zero bytes), as Go clients open before each stream. */
  probeStreams: number;
  pings: number;
  tcpf: number;
  tcpStreams: number;
  udpStreams: number;
  dialFailures: number;
  headerErrors: number;
  /** UDP datagrams dropped: over 4096 bytes either way, or the stream backed up. */
  udpDrops: number;
}

interface SessionState {
  readonly conn: TunnelConn;
  readonly peer: string;
  streams: number;
}

/** A live relay or a dial in progress, so shutdown can wait for it or end it. */
interface Work {
  end(): void;
}

const ServerState = { New: 0, Running: 1, Draining: 2, Closed: 3 } as const;
type ServerState = (typeof ServerState)[keyof typeof ServerState];

export class TunnelServer {
  readonly stats: ServerStats = {
    sessionsAccepted: 0,
    streamsAccepted: 0,
    probeStreams: 0,
    pings: 0,
    tcpf: 0,
    tcpStreams: 0,
    udpStreams: 0,
    dialFailures: 0,
    headerErrors: 0,
    udpDrops: 0,
  };
  /** The TCPF list stored per client address, with the session that sent it. */
  readonly peerFlags = new Map<string, { owner: SessionState; flags: readonly number[] }>();

  private state: ServerState = ServerState.New;
  private listener: KcpListener | undefined;
  private readonly transport: PacketConn;
  private readonly flagSink: PeerFlagSink | undefined;
  private readonly sessions = new Set<SessionState>();
  private readonly work = new Set<Work>();
  private totalStreams = 0;
  private readonly shutdown = new AbortController();
  private readonly unprovide: (() => void)[] = [];
  private readonly errorLog = new RateLimitedLog((m) => log.error(m));
  private drained: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly raw: PacketConn,
    private readonly options: ServerOptions,
  ) {
    this.transport = transportPacketConn(raw, options.tunnel);
    this.flagSink = isFlagSink(raw) ? raw : undefined;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get streamCount(): number {
    return this.totalStreams;
  }

  /** Relays and dials in progress. */
  get activeWork(): number {
    return this.work.size;
  }

  /** Starts the KCP listener and the accept loop. Throws if the socket is already closed. */
  start(): void {
    if (this.state !== ServerState.New) throw new Error("server already started");
    const t = this.options.tunnel;
    this.listener = listen(this.transport, {
      kcp: t.kcp,
      crypt: t.crypt,
      fec: () => createFec(t.dataShards, t.parityShards),
    });
    this.state = ServerState.Running;
    this.unprovide.push(
      provide("sessions", () => this.sessions.size),
      provide("streams", () => this.totalStreams),
    );
    if (isGuardPacketConn(this.transport)) this.unprovide.push(provideGuardMetrics(this.transport.stats));
    void this.acceptLoop(this.listener);
    log.info(`server listening for packets on :${this.options.listenPort ?? this.raw.localAddr.port}`);
  }

  /**
   * Stops accepting, waits up to `graceMs` for relays to finish, then closes every session, the
   * listener and (when owned) the raw socket. Resolves when all of that is done.
   */
  close(graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
    this.closing ??= this.shutDown(graceMs);
    return this.closing;
  }

  private async shutDown(graceMs: number): Promise<void> {
    const wasRunning = this.state === ServerState.Running;
    this.state = ServerState.Draining;
    if (wasRunning && this.work.size > 0 && graceMs > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        timer = setTimeout(resolve, graceMs);
      });
      clearTimeout(timer);
      this.drained = undefined;
      if (this.work.size > 0) log.warn(`shutdown: ${this.work.size} relays still open after ${graceMs} ms, closing them`);
    }
    this.state = ServerState.Closed;
    this.shutdown.abort(new TunnelError("TUN_CLOSED", "server is shutting down"));
    for (const w of [...this.work]) w.end();
    for (const s of [...this.sessions]) s.conn.close();
    this.listener?.close();
    for (const off of this.unprovide.splice(0)) off();
    if (this.options.ownsPacket && !this.raw.isClosed) {
      // A pcap conn resolves once libpcap released its handles.
      const released = this.raw.close() as unknown;
      if (released instanceof Promise) await released.catch(() => {});
    }
  }

  // ---- sessions ----

  private async acceptLoop(listener: KcpListener): Promise<void> {
    let backoff = ACCEPT_BACKOFF_MIN_MS;
    while (!listener.closed) {
      let kcp: KcpSession;
      try {
        kcp = await listener.accept();
      } catch (err) {
        if (listener.closed) return;
        log.debug(`accept failed: ${errorMessage(err)}`);
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, ACCEPT_BACKOFF_MAX_MS);
        continue;
      }
      backoff = ACCEPT_BACKOFF_MIN_MS;
      this.onSession(kcp);
    }
  }

  private onSession(kcp: KcpSession): void {
    const peer = addrKey(kcp.remote);
    if (this.state !== ServerState.Running) {
      kcp.close();
      return;
    }
    let conn: TunnelConn;
    try {
      conn = TunnelConn.accept(kcp, this.options.tunnel);
    } catch (err) {
      this.errorLog.emit(`cannot start smux on the connection from ${peer}: ${errorMessage(err)}`);
      return;
    }
    const max = this.options.tunnel.limits.maxSessions;
    if (max > 0 && this.sessions.size >= max) {
      limitRefused("sessions", peer);
      conn.close();
      return;
    }
    const session: SessionState = { conn, peer, streams: 0 };
    this.sessions.add(session);
    this.stats.sessionsAccepted++;
    log.info(`accepted new connection from ${peer} (local: <nil>)`);
    const unprovide = provideRetransmits(kcp.core.stats);
    conn.onClose((err) => {
      unprovide();
      this.sessions.delete(session);
      this.clearFlags(session);
      log.debug(`connection from ${peer} closed${err ? `: ${err.message}` : ""}`);
    });
    conn.smux.onStream((stream) => this.onStream(session, stream));
  }

  // ---- TCPF ----

  private storeFlags(session: SessionState, flags: readonly number[]): void {
    const key = addrKey(session.conn.remote);
    if (flags.length === 0) {
      this.peerFlags.delete(key);
      this.flagSink?.clearPeerFlags(session.conn.remote);
      return;
    }
    this.peerFlags.set(key, { owner: session, flags });
    this.flagSink?.setPeerFlags(session.conn.remote, flags);
  }

  /** The session ended: forget its list, unless a newer session from the same address replaced it. */
  private clearFlags(session: SessionState): void {
    const key = addrKey(session.conn.remote);
    if (this.peerFlags.get(key)?.owner !== session) return;
    this.peerFlags.delete(key);
    this.flagSink?.clearPeerFlags(session.conn.remote);
  }

  // ---- streams ----

  private onStream(session: SessionState, stream: Stream): void {
    const limits = this.options.tunnel.limits;
    if (this.state !== ServerState.Running) {
      stream.close();
      return;
    }
    if (limits.maxStreamsPerSession > 0 && session.streams >= limits.maxStreamsPerSession) {
      limitRefused("streams_per_session", session.peer);
      stream.close();
      return;
    }
    if (limits.maxStreamsTotal > 0 && this.totalStreams >= limits.maxStreamsTotal) {
      limitRefused("streams_total", session.peer);
      stream.close();
      return;
    }
    session.streams++;
    this.totalStreams++;
    this.stats.streamsAccepted++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      session.streams--;
      this.totalStreams--;
    };

    const decoder = new MessageDecoder();
    let decided = false;
    const timer = setTimeout(() => {
      if (decided) return;
      decided = true;
      limitRefused("header_timeout", session.peer);
      stream.close();
      release();
    }, this.options.tunnel.headerTimeoutMs);
    stream.setHandlers({
      data: (chunk) => {
        if (decided) return;
        let result;
        try {
          result = decoder.push(chunk);
        } catch (err) {
          decided = true;
          clearTimeout(timer);
          this.stats.headerErrors++;
          this.errorLog.emit(`failed to read protocol message on stream ${stream.id} from ${session.peer}: ${errorMessage(err)}`);
          stream.close();
          release();
          return;
        }
        if (!result) return;
        decided = true;
        clearTimeout(timer);
        this.dispatch(session, stream, result.message, result.rest, release);
      },
      drain() {},
      close: () => {
        if (decided) return;
        decided = true;
        clearTimeout(timer);
        try {
          decoder.end();
        } catch (err) {
          if (err instanceof TunnelError && err.code === "TUN_EOF") {
            this.stats.probeStreams++;
          } else {
            this.stats.headerErrors++;
            this.errorLog.emit(`failed to read protocol message on stream ${stream.id} from ${session.peer}: ${errorMessage(err)}`);
          }
        }
        release();
      },
    });
  }

  private dispatch(session: SessionState, stream: Stream, message: Message, rest: Uint8Array, release: () => void): void {
    switch (message.type) {
      case MessageType.Ping:
        this.stats.pings++;
        stream.write(encodeMessage({ type: MessageType.Pong }));
        stream.close();
        release();
        return;
      case MessageType.Tcpf:
        this.stats.tcpf++;
        this.storeFlags(session, message.flags);
        stream.close();
        release();
        return;
      case MessageType.Tcp:
        this.stats.tcpStreams++;
        this.relayTcp(session, stream, message.host, message.port, rest, release);
        return;
      case MessageType.Udp:
        this.stats.udpStreams++;
        this.relayUdp(session, stream, message.host, message.port, rest, release);
        return;
      default:
        this.errorLog.emit(`unknown protocol type ${message.type} on stream ${stream.id} from ${session.peer}`);
        stream.close();
        release();
    }
  }

  /** Registers a unit of work; `done` removes it and wakes a draining shutdown when it was the last. */
  private track(work: Work): () => void {
    this.work.add(work);
    return () => {
      this.work.delete(work);
      if (this.work.size === 0) this.drained?.();
    };
  }

  /**
   * Dials the target and relays. Bytes that arrive while dialling are held (the stream pauses at
   * 64 KiB). If the client closes the stream meanwhile, the dial goes on only when it sent bytes
   * (Go's copy loop would still deliver them, then close); an empty stream cancels the dial.
   */
  private relayTcp(session: SessionState, stream: Stream, host: string, port: number, rest: Uint8Array, release: () => void): void {
    const target = joinHostPort(host, port);
    log.info(`accepted TCP stream ${stream.id}: ${session.peer} -> ${target}`);
    const held: Uint8Array[] = rest.byteLength > 0 ? [rest] : [];
    let heldBytes = rest.byteLength;
    let streamEnded = false;
    const cancel = new AbortController();
    stream.setHandlers({
      data(chunk) {
        held.push(chunk);
        heldBytes += chunk.byteLength;
        if (heldBytes >= HOLD_LIMIT) stream.pause();
      },
      drain() {},
      close() {
        streamEnded = true;
        if (heldBytes === 0) cancel.abort(new TunnelError("TUN_CLOSED", "stream closed before the target answered"));
      },
    });
    const stopOnShutdown = (): void => cancel.abort(this.shutdown.signal.reason);
    this.shutdown.signal.addEventListener("abort", stopOnShutdown, { once: true });
    let pipe: Pipe | undefined;
    const done = this.track({
      end: () => {
        cancel.abort(new TunnelError("TUN_CLOSED", "server is shutting down"));
        pipe?.close();
      },
    });
    const finish = (): void => {
      this.shutdown.signal.removeEventListener("abort", stopOnShutdown);
      release();
      done();
    };
    connectTcp(host === "" ? "127.0.0.1" : host, port, {
      timeoutMs: this.options.dialTimeoutMs ?? DIAL_TIMEOUT_MS,
      signal: cancel.signal,
    }).then(
      (socket) => {
        if (cancel.signal.aborted) {
          socket.close();
          stream.close();
          finish();
          return;
        }
        const head = concat(held, heldBytes);
        // The closures of this relay live as long as it does; the held chunks need not.
        held.length = 0;
        if (streamEnded) {
          metrics.tcpUpBytes += head.byteLength;
          socket.write(head);
          socket.close();
          log.debug(`TCP stream ${stream.id} to ${target}: client closed before the dial finished; ${head.byteLength} bytes delivered`);
          finish();
          return;
        }
        const p = new Pipe(
          stream,
          socket,
          (by, err) => {
            metrics.tcpUpBytes += p.aToB;
            metrics.tcpDownBytes += p.bToA;
            if (err && !isBenign(err)) this.errorLog.emit(`TCP stream ${stream.id} (${session.peer} -> ${target}) failed: ${errorMessage(err)}`);
            else log.debug(`TCP stream ${stream.id} to ${target} closed by ${by === "a" ? "client" : by === "b" ? "target" : "server"}`);
            finish();
          },
          head,
        );
        pipe = p;
      },
      (err) => {
        if (!cancel.signal.aborted) {
          this.stats.dialFailures++;
          this.errorLog.emit(`failed to dial TCP ${target} for stream ${stream.id} from ${session.peer}: ${errorMessage(err)}`);
        }
        stream.close();
        finish();
      },
    );
  }

  private relayUdp(session: SessionState, stream: Stream, host: string, port: number, rest: Uint8Array, release: () => void): void {
    const target = joinHostPort(host, port);
    log.info(`accepted UDP stream ${stream.id}: ${session.peer} -> ${target}`);
    // Datagrams that arrive while the target is dialled, kept one per chunk (boundaries matter).
    const early: Uint8Array[] = rest.byteLength > 0 ? [rest] : [];
    let socket: UdpSocket | undefined;
    let ended = false;
    /** The client closed the stream while dialling, after sending datagrams: send them, then end. */
    let endAfterDial = false;
    const cancel = new AbortController();
    const end = (err?: unknown): void => {
      if (ended) return;
      ended = true;
      cancel.abort(new TunnelError("TUN_CLOSED", "UDP flow ended"));
      if (err && !isBenign(err)) this.errorLog.emit(`UDP stream ${stream.id} (${session.peer} -> ${target}) failed: ${errorMessage(err)}`);
      if (socket) {
        try {
          socket.close();
        } catch {
          // Already closed by an error; nothing left to release.
        }
      }
      stream.close();
      this.shutdown.signal.removeEventListener("abort", onShutdown);
      release();
      done();
    };
    const onShutdown = (): void => end();
    this.shutdown.signal.addEventListener("abort", onShutdown, { once: true });
    const done = this.track({ end: () => end() });
    const toTarget = (datagram: Uint8Array): void => {
      if (datagram.byteLength === 0 || datagram.byteLength > MAX_DATAGRAM) {
        this.stats.udpDrops++;
        return;
      }
      metrics.udpUpBytes += datagram.byteLength;
      socket!.send(datagram);
    };
    stream.setHandlers({
      data: (chunk) => {
        if (socket) toTarget(chunk);
        else if (early.length < EARLY_DATAGRAMS) early.push(chunk);
        else this.stats.udpDrops++;
      },
      drain() {},
      close: () => {
        if (!socket && early.length > 0) endAfterDial = true;
        else end();
      },
    });
    dialUdp(host === "" ? "127.0.0.1" : host, port, {
      timeoutMs: this.options.dialTimeoutMs ?? DIAL_TIMEOUT_MS,
      signal: cancel.signal,
    }).then(
      (s) => {
        if (ended) {
          s.close();
          return;
        }
        socket = s;
        s.on("message", (msg: Uint8Array) => {
          if (msg.byteLength === 0 || msg.byteLength > MAX_DATAGRAM || stream.bufferedAmount > UDP_STREAM_BACKLOG) {
            this.stats.udpDrops++;
            return;
          }
          metrics.udpDownBytes += msg.byteLength;
          stream.write(msg);
        });
        s.on("error", (err) => end(err));
        for (const d of early.splice(0)) toTarget(d);
        if (endAfterDial) end();
      },
      (err) => {
        if (ended) return;
        this.stats.dialFailures++;
        this.errorLog.emit(`failed to dial UDP ${target} for stream ${stream.id} from ${session.peer}: ${errorMessage(err)}`);
        end();
      },
    );
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Ends of a relay that are not worth an error line, as paqet's logger drops EOF-like errors and
 * any error that reports itself as a timeout (§9.1). A client that goes away says nothing on the
 * wire, so its session ends by the smux keepalive timeout or KCP's dead-link rule, and every
 * stream it had ends with that error: without these codes each departing user logged an ERROR.
 */
function isBenign(err: unknown): boolean {
  if (err instanceof TunnelError && err.code === "TUN_CLOSED") return true;
  const code = (err as { code?: unknown })?.code;
  return BENIGN_CODES.has(code as string);
}

const BENIGN_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOBUFS",
  "ENOMEM",
  "SMUX_CLOSED",
  "SMUX_TRANSPORT",
  "SMUX_TIMEOUT",
  "KCP_DEAD_LINK",
]);
