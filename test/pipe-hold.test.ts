/** holdDuplex: what a connection sends while its other side is being opened. */
import { expect, test } from "bun:test";
import { duplexPair } from "../src/lib/duplex.ts";
import { holdDuplex } from "../src/lib/pipe.ts";

test("release hands over the held bytes in order, once: the hold keeps no reference to them", async () => {
  const [near, far] = duplexPair();
  const held = holdDuplex(near, new Uint8Array([1, 2]));
  far.write(new Uint8Array([3, 4, 5]));
  far.write(new Uint8Array([6]));
  // In-memory delivery runs in a microtask.
  await Promise.resolve();
  await Promise.resolve();
  expect([...held.release()]).toEqual([1, 2, 3, 4, 5, 6]);
  // A relay's closures may keep the hold alive as long as the relay runs; the bytes are gone from it.
  expect(held.release().byteLength).toBe(0);
  expect(held.signal.aborted).toBe(false);
});
