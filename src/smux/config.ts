/**
 * smux session options as a plain object (times in milliseconds). Field meanings and limits follow
 * smux.Config and smux.VerifyConfig (v1.5.53); conf builds one of these from paqet's YAML.
 */
import { SmuxError } from "./errors.ts";
import { MAX_PAYLOAD } from "./frame.ts";

export interface SmuxConfig {
  /** Protocol version, 1 or 2; both peers must agree. paqet uses 2. */
  readonly version: 1 | 2;
  /** No NOP pings and no timeout close. */
  readonly keepAliveDisabled: boolean;
  /** How often a NOP is sent (ms). */
  readonly keepAliveInterval: number;
  /** The session closes when no frame arrived during one such period (ms); ≥ keepAliveInterval. */
  readonly keepAliveTimeout: number;
  /** The largest PSH payload this side sends, 1..65535. Receiving accepts up to 65535 regardless. */
  readonly maxFrameSize: number;
  /** The session's receive token bucket (bytes buffered and unread across all streams). */
  readonly maxReceiveBuffer: number;
  /** v2: the window offered in UPD, and twice the consumed-bytes threshold for sending one. */
  readonly maxStreamBuffer: number;
}

const MAX_INT32 = 0x7fffffff;

/** smux.DefaultConfig(). */
export const defaultSmuxConfig: SmuxConfig = Object.freeze({
  version: 1,
  keepAliveDisabled: false,
  keepAliveInterval: 10_000,
  keepAliveTimeout: 30_000,
  maxFrameSize: 32768,
  maxReceiveBuffer: 4194304,
  maxStreamBuffer: 65536,
});

/** What paqet passes to smux with its YAML defaults (smuxkalive 2, smuxktimeout 8, smuxbuf 4 MiB, streambuf 2 MiB); spec §8.8. */
export const paqetSmuxConfig: SmuxConfig = Object.freeze({
  version: 2,
  keepAliveDisabled: false,
  keepAliveInterval: 2_000,
  keepAliveTimeout: 8_000,
  maxFrameSize: 65535,
  maxReceiveBuffer: 4194304,
  maxStreamBuffer: 2097152,
});

/** The problems smux.VerifyConfig would report (it stops at the first; we list all). */
export function smuxConfigProblems(c: SmuxConfig): string[] {
  const problems: string[] = [];
  if (c.version !== 1 && c.version !== 2) problems.push("unsupported protocol version");
  if (!c.keepAliveDisabled) {
    if (!(c.keepAliveInterval > 0)) problems.push("keep-alive interval must be positive");
    if (!(c.keepAliveTimeout >= c.keepAliveInterval)) {
      problems.push("keep-alive timeout must be larger than keep-alive interval");
    }
  }
  if (!Number.isInteger(c.maxFrameSize) || c.maxFrameSize <= 0) problems.push("max frame size must be positive");
  else if (c.maxFrameSize > MAX_PAYLOAD) problems.push("max frame size must not be larger than 65535");
  if (!Number.isInteger(c.maxReceiveBuffer) || c.maxReceiveBuffer <= 0) {
    problems.push("max receive buffer must be positive");
  } else if (c.maxReceiveBuffer > MAX_INT32) {
    problems.push("max receive buffer cannot be larger than 2147483647");
  }
  if (!Number.isInteger(c.maxStreamBuffer) || c.maxStreamBuffer <= 0) {
    problems.push("max stream buffer must be positive");
  } else {
    if (c.maxStreamBuffer > c.maxReceiveBuffer) {
      problems.push("max stream buffer must not be larger than max receive buffer");
    }
    if (c.maxStreamBuffer > MAX_INT32) problems.push("max stream buffer cannot be larger than 2147483647");
  }
  return problems;
}

/** Throws SMUX_BAD_CONFIG listing every problem; returns a frozen copy otherwise. */
export function verifySmuxConfig(c: SmuxConfig): SmuxConfig {
  const problems = smuxConfigProblems(c);
  if (problems.length > 0) throw new SmuxError("SMUX_BAD_CONFIG", `smux: bad config: ${problems.join("; ")}`);
  return Object.freeze({ ...c });
}
