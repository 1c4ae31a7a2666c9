/** DueHeap (src/lib/due-heap.ts): pops in `due` order whatever the push order, ties included. */
import { describe, expect, test } from "bun:test";
import { DueHeap } from "../src/lib/due-heap.ts";

describe("DueHeap", () => {
  test("10,000 random pushes interleaved with pops come out in order", () => {
    const heap = new DueHeap<{ due: number }>();
    let seed = 7;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % 1000;
    const out: number[] = [];
    let lastPopped = -Infinity;
    for (let i = 0; i < 10_000; i++) {
      heap.push({ due: lastPopped === -Infinity ? rnd() : lastPopped + rnd() });
      if (i % 3 === 0) {
        const e = heap.pop()!;
        expect(e.due).toBeGreaterThanOrEqual(lastPopped);
        lastPopped = e.due;
      }
    }
    while (heap.size > 0) out.push(heap.pop()!.due);
    for (let i = 1; i < out.length; i++) expect(out[i]!).toBeGreaterThanOrEqual(out[i - 1]!);
    expect(heap.pop()).toBeUndefined();
    expect(heap.peek()).toBeUndefined();
  });
});
