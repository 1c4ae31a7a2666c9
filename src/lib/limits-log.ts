/**
 * WARN lines for server limit refusals (seed-fork §4.1), counted in metrics and rate-limited per
 * kind so a flood of refused peers costs a few lines, not a disk.
 *
 * Per kind and per window: the first `burst` refusals are logged with their peer, the rest are
 * only counted, and once the window is over one summary line says how many were left out. The
 * summary is written by a timer at the end of the window, not by the next refusal (as
 * `RateLimitedLog` would), because the end of a flood is exactly when an operator wants the count.
 */
import { logger } from "./log.ts";
import { metrics, type CounterKey, type Counters } from "./metrics.ts";

export type LimitKind = "sessions" | "streams_total" | "streams_per_session" | "header_timeout";

const KINDS: readonly LimitKind[] = ["sessions", "streams_total", "streams_per_session", "header_timeout"];

const WHAT: Record<LimitKind, { counter: CounterKey; line: (peer: string) => string; summary: string }> = {
  sessions: {
    counter: "refusedSessions",
    line: (peer) => `refused session from ${peer}: max_sessions reached`,
    summary: "sessions refused (max_sessions)",
  },
  streams_total: {
    counter: "refusedStreamsTotal",
    line: (peer) => `refused stream from ${peer}: max_streams_total reached`,
    summary: "streams refused (max_streams_total)",
  },
  streams_per_session: {
    counter: "refusedStreamsPerSession",
    line: (peer) => `refused stream from ${peer}: max_streams_per_session reached`,
    summary: "streams refused (max_streams_per_session)",
  },
  header_timeout: {
    counter: "refusedHeaderTimeout",
    line: (peer) => `closed stream from ${peer}: no header within header_timeout`,
    summary: "streams closed (header_timeout)",
  },
};

export interface RefusalLogOptions {
  /** Where lines go; default: the `server` logger at WARN. */
  write?: (line: string) => void;
  /** Lines logged per kind per window before suppression. Default 10. */
  burst?: number;
  /** Window length. Default 10 s. */
  intervalMs?: number;
  now?: () => number;
  /** Runs `fn` after `ms`; default an unref'd setTimeout so a pending summary never keeps the process alive. */
  schedule?: (fn: () => void, ms: number) => void;
  /** Registry to count into; default the process registry. */
  counters?: Counters;
}

interface KindState {
  windowStart: number;
  logged: number;
  suppressed: number;
  summaryPending: boolean;
}

export class RefusalLog {
  private readonly write: (line: string) => void;
  private readonly burst: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly schedule: (fn: () => void, ms: number) => void;
  private readonly counters: Counters;
  private readonly state: Record<LimitKind, KindState>;

  constructor(opts: RefusalLogOptions = {}) {
    this.write = opts.write ?? defaultWrite;
    this.burst = opts.burst ?? 10;
    this.intervalMs = opts.intervalMs ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.schedule = opts.schedule ?? ((fn, ms) => void setTimeout(fn, ms).unref());
    this.counters = opts.counters ?? metrics;
    const fresh = (): KindState => ({ windowStart: -Infinity, logged: 0, suppressed: 0, summaryPending: false });
    this.state = { sessions: fresh(), streams_total: fresh(), streams_per_session: fresh(), header_timeout: fresh() };
  }

  /** Counts one refusal of `kind` for `peer` (ip:port) and logs it unless this window is full. */
  refused(kind: LimitKind, peer: string): void {
    const what = WHAT[kind];
    this.counters[what.counter]++;
    const st = this.state[kind];
    const t = this.now();
    if (t - st.windowStart >= this.intervalMs) {
      this.summarize(kind);
      st.windowStart = t;
      st.logged = 0;
    }
    if (st.logged < this.burst) {
      st.logged++;
      this.write(what.line(peer));
      return;
    }
    st.suppressed++;
    if (!st.summaryPending) {
      st.summaryPending = true;
      this.schedule(() => this.flushKind(kind), Math.max(0, st.windowStart + this.intervalMs - t));
    }
  }

  /** Writes the pending summary of every kind whose window has ended (the timers call this too). */
  flush(): void {
    for (const kind of KINDS) this.flushKind(kind);
  }

  private flushKind(kind: LimitKind): void {
    const st = this.state[kind];
    if (!st.summaryPending) return;
    const left = st.windowStart + this.intervalMs - this.now();
    if (left <= 0) this.summarize(kind);
    else this.schedule(() => this.flushKind(kind), left);
  }

  private summarize(kind: LimitKind): void {
    const st = this.state[kind];
    st.summaryPending = false;
    if (st.suppressed === 0) return;
    this.write(`${st.suppressed} more ${WHAT[kind].summary} not logged in the last ${Math.round(this.intervalMs / 1000)}s`);
    st.suppressed = 0;
  }
}

const serverLog = logger("server");
function defaultWrite(line: string): void {
  serverLog.warn(line);
}

const processLog = new RefusalLog();

/** Counts and (rate-limited) logs one refusal by a server limit; `peer` is the remote ip:port. */
export function limitRefused(kind: LimitKind, peer: string): void {
  processLog.refused(kind, peer);
}
