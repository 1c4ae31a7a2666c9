import { describe, expect, test } from "bun:test";
import { limitRefused, RefusalLog, type LimitKind } from "../src/lib/limits-log.ts";
import { Counters, metrics, snapshot } from "../src/lib/metrics.ts";

function harness(burst = 10, intervalMs = 10_000) {
  let now = 1_000_000;
  const lines: string[] = [];
  const timers: { at: number; fn: () => void }[] = [];
  const counters = new Counters();
  const log = new RefusalLog({
    write: (l) => lines.push(l),
    burst,
    intervalMs,
    now: () => now,
    schedule: (fn, ms) => timers.push({ at: now + ms, fn }),
    counters,
  });
  return {
    log,
    lines,
    counters,
    timers,
    advance(ms: number) {
      now += ms;
      for (const t of timers.splice(0)) {
        if (t.at <= now) t.fn();
        else timers.push(t);
      }
    },
  };
}

describe("limit refusal log", () => {
  test("a flood of 10,000 refusals in one window writes at most burst+1 lines, and all are counted", () => {
    const h = harness(10);
    for (let i = 0; i < 10_000; i++) h.log.refused("sessions", `10.77.0.${i % 250}:${40000 + (i % 1000)}`);
    expect(h.lines.length).toBeLessThanOrEqual(11);
    expect(h.lines.length).toBe(10);
    expect(h.lines[0]).toBe("refused session from 10.77.0.0:40000: max_sessions reached");
    expect(h.counters.refusedSessions).toBe(10_000);
    expect(h.timers.length).toBe(1);

    h.advance(10_000);
    expect(h.lines.length).toBe(11);
    expect(h.lines[10]).toBe("9990 more sessions refused (max_sessions) not logged in the last 10s");
    // The summary is written once.
    h.advance(60_000);
    h.log.flush();
    expect(h.lines.length).toBe(11);
  });

  test("a new window logs again and carries a summary the timer has not written yet", () => {
    const h = harness(2, 1000);
    for (let i = 0; i < 5; i++) h.log.refused("streams_total", "10.77.0.1:1");
    expect(h.lines.length).toBe(2);
    h.timers.length = 0; // the timer is lost: the next refusal must still report the 3 left out
    h.advance(1500);
    h.log.refused("streams_total", "10.77.0.2:2");
    expect(h.lines.slice(2)).toEqual([
      "3 more streams refused (max_streams_total) not logged in the last 1s",
      "refused stream from 10.77.0.2:2: max_streams_total reached",
    ]);
  });

  test("kinds are limited separately and counted in their own counters", () => {
    const h = harness(1);
    const kinds: LimitKind[] = ["sessions", "streams_total", "streams_per_session", "header_timeout"];
    for (const kind of kinds) for (let i = 0; i < 3; i++) h.log.refused(kind, "[fd77::1]:5");
    expect(h.lines).toEqual([
      "refused session from [fd77::1]:5: max_sessions reached",
      "refused stream from [fd77::1]:5: max_streams_total reached",
      "refused stream from [fd77::1]:5: max_streams_per_session reached",
      "closed stream from [fd77::1]:5: no header within header_timeout",
    ]);
    expect([h.counters.refusedSessions, h.counters.refusedStreamsTotal, h.counters.refusedStreamsPerSession, h.counters.refusedHeaderTimeout]).toEqual([3, 3, 3, 3]);
    h.advance(10_000);
    expect(h.lines.length).toBe(8);
    expect(h.lines.slice(4).every((l) => l.startsWith("2 more "))).toBe(true);
  });

  test("a timer that fires before the window ends waits for the rest instead of losing the summary", () => {
    const h = harness(1, 1000);
    h.log.refused("sessions", "a");
    h.log.refused("sessions", "b");
    const early = h.timers.splice(0)[0]!;
    h.advance(500);
    early.fn();
    expect(h.lines.length).toBe(1);
    expect(h.timers.length).toBe(1);
    h.advance(500);
    expect(h.lines).toEqual(["refused session from a: max_sessions reached", "1 more sessions refused (max_sessions) not logged in the last 1s"]);
  });

  test("limitRefused counts into the process registry", () => {
    const before = metrics.refusedStreamsPerSession;
    limitRefused("streams_per_session", "10.77.0.9:1234");
    expect(metrics.refusedStreamsPerSession).toBe(before + 1);
    expect(snapshot().refused_streams_per_session).toBe(before + 1);
  });
});
