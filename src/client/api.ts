/**
 * What the SOCKS5 server and the port forwards need from the tunnel client (spec §5.4, §5.5).
 *
 * The front-ends see only this interface, never the client itself, so they run over the real
 * client (KCP + smux) or over a test double that dials targets directly.
 */
import type { Duplex } from "../lib/duplex.ts";

/** A UDP stream from the client's pool, as `openUdp` hands it out. */
export interface UdpFlow {
  /** The pool key of (source, target); pass it back to `touchUdp` and `closeUdp`. */
  readonly key: string;
  /**
   * The stream, its UDP header already written. One `write` is one datagram (at most
   * MAX_DATAGRAM bytes; larger ones are the caller's to drop), and each `data` chunk the stream
   * delivers is one datagram from the target (a chunk above MAX_DATAGRAM is to be dropped).
   */
  readonly stream: Duplex;
  /**
   * True when this call created the stream. Only the creator installs handlers on it and relays
   * the target's replies; a caller that gets an existing stream (false) only writes to it.
   */
  readonly isNew: boolean;
}

export interface TunnelClient {
  /**
   * A stream to `target` (`host:port`, IPv6 in brackets) whose TCP header has been written; the
   * payload phase starts at once. The server confirms nothing, so a target that cannot be reached
   * shows up as the stream closing. May wait as long as the tunnel is down; `signal` gives up.
   *
   * Rejects with a PaqetError whose code tells the cause: TUN_BAD_TARGET, TUN_BAD_PORT or
   * TUN_HOST_TOO_LONG for a target the protocol cannot carry; TUN_ABORTED when `signal` fired;
   * TUN_CLOSED when the client is shut down. A client that does learn about the dial may also use
   * TUN_REFUSED, TUN_UNREACHABLE and TUN_TIMEOUT (the SOCKS5 server maps them to reply codes).
   * A stream resolved after `signal` fired is closed by the client, never leaked.
   */
  openTcp(target: string, signal?: AbortSignal): Promise<Duplex>;

  /**
   * The pool's UDP stream for (source, target): `source` is the local application's address as
   * text (`ip:port`, IPv6 in brackets), `target` is `host:port`. Returns the existing stream when
   * the key is in the pool (isNew false), otherwise opens one and writes its UDP header. Two
   * concurrent calls with one key end with one stream in the pool; the loser's stream is closed.
   * Rejects as `openTcp` does.
   */
  openUdp(source: string, target: string, signal?: AbortSignal): Promise<UdpFlow>;

  /** Marks the flow as used now; callers touch on every datagram in both directions (idle expiry). */
  touchUdp(key: string): void;

  /**
   * Removes the flow from the pool and closes its stream, but only if the pool still holds this
   * very `stream` for `key`: a stale close never removes a newer entry. Idempotent.
   */
  closeUdp(key: string, stream: Duplex): void;
}
