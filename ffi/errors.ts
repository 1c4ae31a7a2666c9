import { PaqetError } from "../src/lib/errors.ts";

/**
 * Failures of the libpcap binding. ffi/ sits below src/socket, so it cannot throw SocketError; it
 * throws PcapError with the SAME string codes instead, and the socket layer rethrows them as
 * SocketError (code kept, this error as the cause). Callers match on `code` either way.
 */
export type PcapErrorCode = "SOCK_NO_LIBPCAP" | "SOCK_PCAP" | "SOCK_PERMISSION" | "SOCK_NO_INTERFACE";

export class PcapError extends PaqetError {
  declare readonly code: PcapErrorCode;
  constructor(code: PcapErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
