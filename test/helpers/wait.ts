/** Bounded polling for tests that wait on state another task changes. */

/** Polls `cond` every 20 ms for at most `ms`; returns whether it became true. */
export async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await Bun.sleep(20);
  }
  return cond();
}
