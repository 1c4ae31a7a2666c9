/**
 * Logging through consola, one tagged logger per layer.
 *
 * Levels follow paqet's YAML (`log.level`: none, debug, info, warn, error, fatal). Hot paths never
 * log per packet: benign closes are reported once per connection at debug, and repeated events go
 * through `RateLimitedLog` so a flood cannot fill a disk.
 */
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from "consola/core";
import { formatWithOptions } from "node:util";

export type LogLevel = "none" | "debug" | "info" | "warn" | "error" | "fatal";

const CONSOLA_LEVEL: Record<LogLevel, number> = {
  none: -999,
  fatal: 0,
  error: 0,
  warn: 1,
  info: 3,
  debug: 4,
};

const LEVEL_LABEL: Record<string, string> = {
  fatal: "FATAL",
  error: "ERROR",
  warn: "WARN",
  log: "INFO",
  info: "INFO",
  success: "INFO",
  ready: "INFO",
  start: "INFO",
  box: "INFO",
  debug: "DEBUG",
  trace: "DEBUG",
  verbose: "DEBUG",
};

const pad = (n: number, w = 2): string => String(n).padStart(w, "0");

/** One line per entry, as Go paqet's runtime logger: `YYYY-MM-DD HH:MM:SS.mmm [LEVEL] [tag] message`. */
export function formatLogLine(obj: Pick<LogObject, "date" | "type" | "tag" | "args">): string {
  const d = obj.date;
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const label = LEVEL_LABEL[obj.type] ?? obj.type.toUpperCase();
  const args = obj.args.map((a: unknown) => (a instanceof Error ? a.message : a));
  const text = formatWithOptions({ colors: false, breakLength: Infinity }, ...args);
  return `${stamp} [${label}]${obj.tag ? ` [${obj.tag}]` : ""} ${text}\n`;
}

/**
 * consola/core with this reporter instead of consola's default entry: the default pulls in its
 * fancy reporters and prompt support, about 10 MiB of resident memory per process for nothing a
 * daemon prints.
 */
const lineReporter: ConsolaReporter = {
  log(obj) {
    process.stderr.write(formatLogLine(obj));
  },
};

const root: ConsolaInstance = createConsola({
  level: CONSOLA_LEVEL[(process.env.PAQET_LOG_LEVEL as LogLevel) ?? "info"] ?? CONSOLA_LEVEL.info,
  reporters: [lineReporter],
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
