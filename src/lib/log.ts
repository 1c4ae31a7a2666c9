/**
 * Logging through consola, one tagged logger per layer.
 *
 * Levels follow paqet's YAML (`log.level`: none, debug, info, warn, error, fatal). Hot paths never
 * log per packet: benign closes are reported once per connection at debug, and repeated events go
 * through `RateLimitedLog` so a flood cannot fill a disk.
 */
import { createConsola, type ConsolaInstance } from "consola";

export type LogLevel = "none" | "debug" | "info" | "warn" | "error" | "fatal";

const CONSOLA_LEVEL: Record<LogLevel, number> = {
  none: -999,
  fatal: 0,
  error: 0,
  warn: 1,
  info: 3,
  debug: 4,
};

const root: ConsolaInstance = createConsola({
  level: CONSOLA_LEVEL[(process.env.PAQET_LOG_LEVEL as LogLevel) ?? "info"] ?? CONSOLA_LEVEL.info,
  stderr: process.stderr,
  stdout: process.stderr,
});

/** Every tagged logger: consola copies the level into a child at `withTag`, so each is updated here. */
const tagged: ConsolaInstance[] = [];

export function setLogLevel(level: LogLevel): void {
  root.level = CONSOLA_LEVEL[level];
  for (const l of tagged) l.level = root.level;
}

export function logLevelEnabled(level: Exclude<LogLevel, "none">): boolean {
  return root.level >= CONSOLA_LEVEL[level];
}

export type Logger = ConsolaInstance;

/** A logger whose lines carry `tag` (the layer: socket, kcp, smux, tunnel, client, server, ...). */
export function logger(tag: string): Logger {
  const l = root.withTag(tag);
  tagged.push(l);
  return l;
}

/**
 * Emits at most `burst` lines per `intervalMs` for one kind of event and then one summary line
 * with the number suppressed, so a flood of refusals stays a few lines.
 */
export class RateLimitedLog {
  private windowStart = 0;
  private emitted = 0;
  private suppressed = 0;

  constructor(
    private readonly log: (message: string) => void,
    private readonly burst = 10,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  emit(message: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.intervalMs) {
      if (this.suppressed > 0) this.log(`${this.suppressed} more like this suppressed`);
      this.windowStart = t;
      this.emitted = 0;
      this.suppressed = 0;
    }
    if (this.emitted < this.burst) {
      this.emitted++;
      this.log(message);
    } else {
      this.suppressed++;
    }
  }
}
