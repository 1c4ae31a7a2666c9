/**
 * Relays bytes between two Duplexes until either one closes, with backpressure both ways: when a
 * write returns false the source is paused, and the destination's `drain` resumes it.
 *
 * As in paqet (spec §4.4, §7.4, §8.1) there is no half-close: the first side to close, in order or
 * with an error, closes the other one (an orderly close still delivers what the other side queued).
 */
import type { Duplex } from "./duplex.ts";

export class Pipe {
  /** Bytes relayed from a to b and from b to a; an idle sweeper compares them between ticks. */
  aToB = 0;
  bToA = 0;
  #done = false;

  /**
   * Starts relaying. `headAtoB` is sent to b before anything read from a (bytes a reader already
   * took from a, e.g. sent by a SOCKS client right behind its request). `onEnd` runs once, with
   * the side that closed first ("local" for `close()`) and its error (undefined for an orderly close).
   */
  constructor(
    readonly a: Duplex,
    readonly b: Duplex,
    private readonly onEnd?: (by: "a" | "b" | "local", err?: Error) => void,
    headAtoB?: Uint8Array,
  ) {
    let holdA = false;
    if (headAtoB && headAtoB.byteLength > 0) {
      this.aToB += headAtoB.byteLength;
      holdA = !b.write(headAtoB);
    }
    // Each chunk is written on before `data` returns; where that write copies, the source may
    // hand over memory it reuses.
    a.setHandlers({
      transient: b.copiesWrites === true,
      data: (chunk) => {
        this.aToB += chunk.byteLength;
        if (!b.write(chunk)) a.pause();
      },
      drain: () => b.resume(),
      close: (err) => this.#end("a", err),
    });
    b.setHandlers({
      transient: a.copiesWrites === true,
      data: (chunk) => {
        this.bToA += chunk.byteLength;
        if (!a.write(chunk)) b.pause();
      },
      drain: () => a.resume(),
      close: (err) => this.#end("b", err),
    });
    // Either side may come in paused (e.g. by holdDuplex); from here on only backpressure pauses.
    if (holdA) a.pause();
    else a.resume();
    b.resume();
    // A side that closed before this pipe existed (say, while held) will not report it again.
    // Deferred so `onEnd` never runs inside the constructor, before the caller holds the pipe.
    if (a.closed || b.closed) queueMicrotask(() => this.#end(a.closed ? "a" : "b"));
  }

  get done(): boolean {
    return this.#done;
  }

  /** Ends the relay from outside (idle timeout, shutdown): both sides close with `err`. */
  close(err?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.a.close(err);
    this.b.close(err);
    this.onEnd?.("local", err);
  }

  #end(by: "a" | "b", err?: Error): void {
    if (this.#done) return;
    this.#done = true;
    (by === "a" ? this.b : this.a).close(err);
    this.onEnd?.(by, err);
  }
}

/**
 * Holds a connection while its other side is being opened: keeps what it sends (up to `limit`
 * bytes, then stops reading) and aborts `signal` if it closes meanwhile, so the opener can give up.
 * `release()` returns the held bytes (once: a second call gets none); the caller then installs its
 * own handlers (e.g. a Pipe).
 * The close is reported once, to the holder: check `signal.aborted` before relaying.
 */
export function holdDuplex(conn: Duplex, initial?: Uint8Array, limit = 64 * 1024): { signal: AbortSignal; release(): Uint8Array } {
  const abort = new AbortController();
  const chunks: Uint8Array[] = initial && initial.byteLength > 0 ? [initial] : [];
  let held = initial?.byteLength ?? 0;
  conn.setHandlers({
    data(chunk) {
      chunks.push(chunk);
      held += chunk.byteLength;
      if (held >= limit) conn.pause();
    },
    drain() {},
    close(err) {
      abort.abort(err ?? new Error("connection closed while the tunnel stream was opening"));
    },
  });
  return {
    signal: abort.signal,
    release() {
      // Emptied here: closures over this hold can outlive it (for as long as the relay it led to).
      const parts = chunks.splice(0);
      const total = held;
      held = 0;
      if (parts.length === 1) return parts[0]!;
      const out = new Uint8Array(total);
      let at = 0;
      for (const c of parts) {
        out.set(c, at);
        at += c.byteLength;
      }
      return out;
    },
  };
}
