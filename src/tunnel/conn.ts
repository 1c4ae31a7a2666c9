/**
 * One transport connection (paqet-app.md §4.1): a KCP session over a PacketConn, with an smux
 * session (v2) over it. The client dials one per pool slot; the server wraps every session its
 * KCP listener accepts.
 *
 * Close order: smux, then KCP, then the raw socket when this connection owns it. The client keeps
 * its raw socket across reconnects (seed fork "closeConnKeepPacket"): `close({ keepPacket: true })`
 * ends smux and KCP and leaves the socket for the next dial, which picks a new conv.
 */
import { errorMessage } from "../lib/errors.ts";
import { createFec, dial, type KcpSession } from "../kcp/index.ts";
import { Session, type Stream } from "../smux/index.ts";
import { guardPacketConn } from "../socket/guard.ts";
import type { PacketAddr, PacketConn } from "../socket/types.ts";
import { TunnelError } from "./errors.ts";
import type { TunnelOptions } from "./options.ts";

/** Closes any PacketConn flavour; a pcap conn's release promise is not awaited. */
export function closePacket(conn: PacketConn): void {
  if (conn.isClosed) return;
  // PcapPacketConn.close returns a promise (handles released later); nothing here waits for it.
  const r = conn.close() as unknown;
  if (r instanceof Promise) r.catch(() => {});
}

/** The PacketConn KCP sees: the raw one, or the guard wrapper around it when the guard is on. */
export function transportPacketConn(raw: PacketConn, options: Pick<TunnelOptions, "guard">): PacketConn {
  return options.guard ? guardPacketConn(raw, options.guard) : raw;
}

export class TunnelConn {
  private closeCallbacks: ((err?: Error) => void)[] = [];
  private ended = false;

  private constructor(
    readonly kcp: KcpSession,
    readonly smux: Session,
    /** The socket to close with this connection, when it owns one. */
    private readonly ownedPacket: PacketConn | undefined,
  ) {
    smux.onClose((err) => this.ended || this.end(err));
  }

  /**
   * A client connection to `remote` over `packet` (already guard-wrapped if needed). With
   * `ownsPacket` the socket closes with the connection; otherwise the caller keeps it.
   */
  static dial(packet: PacketConn, remote: PacketAddr, options: TunnelOptions, ownsPacket = false): TunnelConn {
    const kcp = dial(packet, remote, {
      kcp: options.kcp,
      crypt: options.crypt,
      fec: createFec(options.dataShards, options.parityShards),
    });
    let smux: Session;
    try {
      smux = Session.client(kcp, { config: options.smux });
    } catch (err) {
      kcp.close();
      throw err;
    }
    return new TunnelConn(kcp, smux, ownsPacket ? packet : undefined);
  }

  /** A server connection around a session the KCP listener accepted (the listener owns the socket). */
  static accept(kcp: KcpSession, options: TunnelOptions): TunnelConn {
    let smux: Session;
    try {
      smux = Session.server(kcp, { config: options.smux });
    } catch (err) {
      kcp.close();
      throw err;
    }
    return new TunnelConn(kcp, smux, undefined);
  }

  get remote(): PacketAddr {
    return this.kcp.remote;
  }

  get closed(): boolean {
    return this.smux.closed;
  }

  /** Opens a stream; throws TUN_CLOSED when the smux session is gone. */
  openStream(): Stream {
    try {
      return this.smux.openStream();
    } catch (err) {
      throw new TunnelError("TUN_CLOSED", `cannot open a stream: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** Runs once when the connection ends, for whatever reason (keepalive timeout, dead link, close). */
  onClose(callback: (err?: Error) => void): void {
    if (this.ended) queueMicrotask(() => callback(this.smux.closeReason));
    else this.closeCallbacks.push(callback);
  }

  /** smux, then KCP, then (unless `keepPacket`) the owned raw socket. Idempotent. */
  close(opts: { keepPacket?: boolean; err?: Error } = {}): void {
    this.smux.close(opts.err);
    this.kcp.close(opts.err);
    if (this.ownedPacket && !opts.keepPacket) closePacket(this.ownedPacket);
    if (!this.ended) this.end(opts.err);
  }

  private end(err?: Error): boolean {
    this.ended = true;
    // The smux session is gone; KCP must not keep retransmitting into the void.
    this.kcp.close();
    for (const cb of this.closeCallbacks.splice(0)) cb(err);
    return true;
  }
}
