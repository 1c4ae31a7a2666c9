import { PaqetError } from "../lib/errors.ts";

/**
 * Stable codes of the tunnel layer (paqet stream protocol and stream requests).
 *
 * Reader codes (untrusted bytes from the peer): TUN_EOF (the stream closed before any byte, the
 * benign "probe" stream of §4.3), TUN_TRUNCATED, TUN_BAD_MAGIC, TUN_BAD_VERSION, TUN_TOO_LONG,
 * TUN_BAD_TYPE, TUN_BAD_HOST_LENGTH, TUN_BAD_TCPF_COUNT.
 * Writer codes (our own caller's mistake): TUN_NO_ADDRESS, TUN_HOST_TOO_LONG, TUN_BAD_PORT,
 * TUN_TOO_MANY_FLAGS, TUN_BAD_FLAG, TUN_BAD_TARGET (not `host:port`), TUN_DATAGRAM_TOO_LONG.
 * Request codes (what opening a stream to a target can end in): TUN_CLOSED, TUN_ABORTED,
 * TUN_TIMEOUT, TUN_REFUSED, TUN_UNREACHABLE, TUN_UNAVAILABLE (no transport connection became ready
 * in time: `no tunnel connections available`, seed-fork §4.4). A client that learns nothing about the target (the
 * alpha.21 one: the server never confirms a dial) only ever reports the first three.
 */
export type TunnelErrorCode =
  | "TUN_EOF"
  | "TUN_TRUNCATED"
  | "TUN_BAD_MAGIC"
  | "TUN_BAD_VERSION"
  | "TUN_TOO_LONG"
  | "TUN_BAD_TYPE"
  | "TUN_BAD_HOST_LENGTH"
  | "TUN_BAD_TCPF_COUNT"
  | "TUN_NO_ADDRESS"
  | "TUN_HOST_TOO_LONG"
  | "TUN_BAD_PORT"
  | "TUN_TOO_MANY_FLAGS"
  | "TUN_BAD_FLAG"
  | "TUN_BAD_TARGET"
  | "TUN_DATAGRAM_TOO_LONG"
  | "TUN_CLOSED"
  | "TUN_ABORTED"
  | "TUN_TIMEOUT"
  | "TUN_REFUSED"
  | "TUN_UNREACHABLE"
  | "TUN_UNAVAILABLE";

export class TunnelError extends PaqetError {
  declare readonly code: TunnelErrorCode;
  constructor(code: TunnelErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
