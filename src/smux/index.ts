/**
 * smux v1.5.53 (versions 1 and 2), byte-compatible with xtaci/smux, over any `Duplex`.
 *
 * `Session.client(duplex, { config })` / `Session.server(...)`; `openStream()`, `onStream(cb)` or
 * `acceptStream()`; each `Stream` is a `Duplex` with an `id`.
 *
 * Where an event-driven API has to differ from Go's blocking one (the wire stays the same):
 * - `Stream.write` queues and returns at once (false = wait for drain); Go's Write blocks until the
 *   frames reach the transport. So `close()` sends what was written before the FIN, as a Go writer
 *   that returned from Write before Close would have; `close(err)` drops it.
 * - Once the peer's FIN has been read past, the stream closes itself (sends its FIN): smux allows
 *   nothing else then, since writes after the peer's FIN fail.
 * - A protocol violation closes the session (Go stops reading and leaves the close to its caller).
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
