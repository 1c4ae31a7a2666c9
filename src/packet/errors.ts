import { PaqetError } from "../lib/errors.ts";

/**
 * Every failure of the packet codecs. Parsers of untrusted bytes throw only this (or return
 * undefined in their non-throwing variants); they never read out of bounds.
 */
export type PacketErrorCode =
  /** The buffer ends before a header or a length field says it should. */
  | "PKT_TRUNCATED"
  /** IP version nibble or pcap magic is not the expected one. */
  | "PKT_BAD_VERSION"
  /** A length field is impossible (IHL < 5, total length < header, data offset < 5, ...). */
  | "PKT_BAD_LENGTH"
  /** A checksum does not verify. */
  | "PKT_BAD_CHECKSUM"
  /** A TCP option is malformed (length < 2, overruns the header, wrong size for its kind). */
  | "PKT_BAD_OPTION"
  /** Text that is not an IP address, MAC address or TCP flag string. */
  | "PKT_BAD_ADDRESS"
  | "PKT_BAD_FLAGS"
  /** A well-formed thing this code does not handle (link type, address family not configured). */
  | "PKT_UNSUPPORTED"
  /** The caller's output buffer is too small, or a value does not fit its field. */
  | "PKT_TOO_LARGE";

export class PacketError extends PaqetError {
  declare readonly code: PacketErrorCode;
  constructor(code: PacketErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
