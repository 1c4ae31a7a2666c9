import { describe, expect, test } from "bun:test";
import { backoffDelay, DEFAULT_TIMINGS } from "../src/client/index.ts";

describe("reconnect backoff (seed-fork §4.4)", () => {
  test("each sleep is uniform in [0.75 b, 1.25 b)", () => {
    expect(backoffDelay(500, () => 0)).toBe(375);
    expect(backoffDelay(500, () => 0.5)).toBe(500);
    expect(backoffDelay(500, () => 0.999999)).toBeLessThan(625);
    expect(backoffDelay(500, () => 0.999999)).toBeGreaterThan(624);
  });

  test("defaults: 500 ms doubling to a 30 s cap, 3 s wait for a stream, 30 s health checks", () => {
    expect(DEFAULT_TIMINGS.backoffInitialMs).toBe(500);
    expect(DEFAULT_TIMINGS.backoffMaxMs).toBe(30_000);
    expect(DEFAULT_TIMINGS.waitMs).toBe(3_000);
    expect(DEFAULT_TIMINGS.healthyIntervalMs).toBe(30_000);
  });
});
