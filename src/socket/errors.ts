import { PaqetError } from "../lib/errors.ts";

export type SocketErrorCode =
  | "SOCK_CLOSED"
  | "SOCK_SEND_FAILED"
  | "SOCK_BAD_ADDRESS"
  | "SOCK_PCAP"
  | "SOCK_NO_LIBPCAP"
  | "SOCK_PERMISSION"
  | "SOCK_NO_INTERFACE";

export class SocketError extends PaqetError {
  declare readonly code: SocketErrorCode;
  constructor(code: SocketErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
