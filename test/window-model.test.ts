/**
 * The bench's window model (bench/lib/window-model.ts): without loss it reaches the window/RTT bound,
 * loss costs throughput, a larger window recovers it, and a seed reproduces a run exactly.
 */
import { describe, expect, test } from "bun:test";
import { windowModelMiBps } from "../bench/lib/window-model.ts";

const base = { window: 512, delayMs: 30, loss: 0.01, mib: 16, seed: 3 };

describe("window model", () => {
  test("lossless: one window per round trip (512 × 1306 B per 60 ms)", () => {
    const bound = (512 * 1306) / 0.06 / 1048576;
    const v = windowModelMiBps({ ...base, loss: 0 });
    expect(v).toBeGreaterThan(bound * 0.9);
    expect(v).toBeLessThanOrEqual(bound * 1.01);
  });

  test("1 % loss each way costs about half; twice the window brings most of it back", () => {
    const lossless = windowModelMiBps({ ...base, loss: 0 });
    const lossy = windowModelMiBps(base);
    expect(lossy).toBeLessThan(lossless * 0.7);
    expect(lossy).toBeGreaterThan(lossless * 0.3);
    expect(windowModelMiBps({ ...base, window: 1024 })).toBeGreaterThan(lossy * 1.5);
  });

  test("a seed reproduces its run; another seed differs", () => {
    expect(windowModelMiBps(base)).toBe(windowModelMiBps(base));
    expect(windowModelMiBps({ ...base, seed: 4 })).not.toBe(windowModelMiBps(base));
  });
});
