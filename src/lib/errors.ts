/**
 * The root of every error paqet throws on purpose.
 *
 * Each layer subclasses it once (PacketError, SocketError, KcpError, ...) and gives every failure a
 * stable `code` such as `PKT_TRUNCATED`, so callers and tests match on codes, never on messages.
 * A brand symbol keeps `isPaqetError` working across duplicate module copies (bundles, workers).
 */
const BRAND = Symbol.for("paqet.error");

export class PaqetError extends Error {
  readonly code: string;
  readonly [BRAND] = true;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export function isPaqetError(err: unknown): err is PaqetError {
  return typeof err === "object" && err !== null && (err as Record<symbol, unknown>)[BRAND] === true;
}

/** A message for logs from anything thrown, without a stack. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
