import { PaqetError } from "../lib/errors.ts";

/** Stable codes of the forward layer. */
export type ForwardErrorCode = "FWD_BAD_LISTEN" | "FWD_BAD_TARGET" | "FWD_LISTEN_FAILED";

export class ForwardError extends PaqetError {
  declare readonly code: ForwardErrorCode;
  constructor(code: ForwardErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
