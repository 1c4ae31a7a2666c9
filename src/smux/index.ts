/**
 * smux v1.5.53 (versions 1 and 2), byte-compatible with xtaci/smux, over any `Duplex`.
 *
 * `Session.client(duplex, { config })` / `Session.server(...)`; `openStream()`, `onStream(cb)` or
 * `acceptStream()`; each `Stream` is a `Duplex` with an `id`.
 */
export { Session, ACCEPT_BACKLOG, DEFAULT_WRITE_HIGH_WATER_MARK } from "./session.ts";
export type { SessionOptions, SmuxStats } from "./session.ts";
export { Stream, StreamState } from "./stream.ts";
export { SmuxError } from "./errors.ts";
export type { SmuxErrorCode } from "./errors.ts";
export { defaultSmuxConfig, paqetSmuxConfig, smuxConfigProblems, verifySmuxConfig } from "./config.ts";
export type { SmuxConfig } from "./config.ts";
export { systemTimers, ManualTimers } from "./timers.ts";
export type { TimerSource } from "./timers.ts";
export {
  Cmd,
  FrameDecoder,
  HEADER_SIZE,
  INITIAL_PEER_WINDOW,
  MAX_PAYLOAD,
  UPD_SIZE,
  decodeHeader,
  decodeUpd,
  encodeFrame,
  encodeHeader,
  encodeUpd,
  encodeUpdFrame,
  receiveBodyLength,
} from "./frame.ts";
export type { FrameHeader } from "./frame.ts";
