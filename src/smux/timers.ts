/**
 * The only time source smux uses: periodic timers for keepalive. Injected so tests drive time by
 * hand (`ManualTimers`) instead of sleeping.
 */
export interface TimerSource {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** Real timers, unref'd so an idle session alone does not keep the process alive. */
export const systemTimers: TimerSource = {
  setInterval(fn, ms) {
    const t = setInterval(fn, ms);
    (t as { unref?: () => void }).unref?.();
    return t;
  },
  clearInterval(handle) {
    clearInterval(handle as ReturnType<typeof setInterval>);
  },
};

interface ManualTimer {
  fn: () => void;
  every: number;
  due: number;
  seq: number;
  live: boolean;
}

/**
 * A fake clock for tests: `advance(ms)` fires every interval that falls due, in time order (ties in
 * creation order), and lets microtasks run between firings.
 */
export class ManualTimers implements TimerSource {
  now = 0;
  private timers: ManualTimer[] = [];
  private seq = 0;

  setInterval(fn: () => void, ms: number): unknown {
    const t: ManualTimer = { fn, every: Math.max(1, ms), due: this.now + Math.max(1, ms), seq: this.seq++, live: true };
    this.timers.push(t);
    return t;
  }

  clearInterval(handle: unknown): void {
    const t = handle as ManualTimer;
    t.live = false;
    this.timers = this.timers.filter((x) => x !== t);
  }

  get pending(): number {
    return this.timers.length;
  }

  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.timers) {
        if (t.due <= end && (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      this.now = next.due;
      next.due += next.every;
      next.fn();
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.now = end;
  }
}
