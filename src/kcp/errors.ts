import { PaqetError } from "../lib/errors.ts";

export type KcpErrorCode =
  /** Fewer bytes than a segment header or than its `len` field promises. */
  | "KCP_TRUNCATED"
  /** A segment command outside 81..84. */
  | "KCP_BAD_CMD"
  /** An option outside what kcp-go accepts (MTU below 50, a window below 1, ...). */
  | "KCP_BAD_OPTION"
  /** The session or listener is closed. */
  | "KCP_CLOSED"
  /** A segment was transmitted dead_link times without being acknowledged. */
  | "KCP_DEAD_LINK"
  /** The PacketConn refused a datagram or closed under the session. */
  | "KCP_SEND_FAILED"
  /** The application's data or drain handler threw; the session closed rather than lose bytes silently. */
  | "KCP_HANDLER_FAILED";

export class KcpError extends PaqetError {
  declare readonly code: KcpErrorCode;
  constructor(code: KcpErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
