import { PaqetError } from "../lib/errors.ts";

/**
 * Stable codes for every smux failure. The Go names they mirror are in brackets.
 *
 * - SMUX_INVALID_PROTOCOL: the peer sent a wrong version byte, an unknown cmd, or UPD on v1 [ErrInvalidProtocol].
 * - SMUX_GO_AWAY: stream ids are exhausted; open a new session [ErrGoAway].
 * - SMUX_TIMEOUT: nothing arrived within KeepAliveTimeout [the keepalive close].
 * - SMUX_CLOSED: the session (or stream) is closed [io.ErrClosedPipe].
 * - SMUX_CONSUMED: the peer's UPD claims more bytes consumed than were sent [ErrConsumed].
 * - SMUX_FRAME_TOO_LARGE: a payload does not fit the u16 length field.
 * - SMUX_TRUNCATED: fewer bytes than a header or UPD body needs (pure codec only).
 * - SMUX_BAD_CONFIG: a SmuxConfig that smux.VerifyConfig would reject.
 * - SMUX_TRANSPORT: the underlying duplex failed.
 */
export type SmuxErrorCode =
  | "SMUX_INVALID_PROTOCOL"
  | "SMUX_GO_AWAY"
  | "SMUX_TIMEOUT"
  | "SMUX_CLOSED"
  | "SMUX_CONSUMED"
  | "SMUX_FRAME_TOO_LARGE"
  | "SMUX_TRUNCATED"
  | "SMUX_BAD_CONFIG"
  | "SMUX_TRANSPORT";

export class SmuxError extends PaqetError {
  declare readonly code: SmuxErrorCode;
  constructor(code: SmuxErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
