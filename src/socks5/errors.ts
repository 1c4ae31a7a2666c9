import { PaqetError } from "../lib/errors.ts";

/**
 * Stable codes of the SOCKS5 layer. `reply` is the RFC 1928 reply code sent before closing, when
 * the failure gets one; without it the connection closes with no reply (spec §7.2).
 */
export type Socks5ErrorCode =
  | "SOCKS_BAD_VERSION"
  | "SOCKS_BAD_AUTH_VERSION"
  | "SOCKS_BAD_ADDRESS_TYPE"
  | "SOCKS_BAD_ADDRESS"
  | "SOCKS_NO_METHOD"
  | "SOCKS_AUTH_FAILED"
  | "SOCKS_BAD_COMMAND"
  | "SOCKS_HANDSHAKE_TIMEOUT"
  | "SOCKS_BAD_LISTEN"
  | "SOCKS_LISTEN_FAILED";

export class Socks5Error extends PaqetError {
  declare readonly code: Socks5ErrorCode;
  readonly reply: number | undefined;
  constructor(code: Socks5ErrorCode, message: string, options?: { cause?: unknown; reply?: number }) {
    super(code, message, options);
    this.reply = options?.reply;
  }
}
