/**
 * A stream as the front-ends see it: the smux stream itself, with the bytes counted into the
 * process metrics and an optional hook when it ends (the UDP pool drops its entry then).
 */
import type { Duplex, DuplexHandlers } from "../lib/duplex.ts";
import { metrics } from "../lib/metrics.ts";

export type MeterKind = "tcp" | "udp";

export class MeteredStream implements Duplex {
  private ended = false;

  constructor(
    readonly inner: Duplex,
    private readonly kind: MeterKind,
    private readonly onEnd?: () => void,
  ) {}

  setHandlers(handlers: DuplexHandlers): void {
    const udp = this.kind === "udp";
    this.inner.setHandlers({
      transient: handlers.transient,
      data: (chunk) => {
        if (udp) metrics.udpDownBytes += chunk.byteLength;
        else metrics.tcpDownBytes += chunk.byteLength;
        handlers.data(chunk);
      },
      drain: () => handlers.drain(),
      close: (err) => {
        this.end();
        handlers.close(err);
      },
    });
  }

  write(chunk: Uint8Array): boolean {
    if (!this.inner.closed) {
      if (this.kind === "udp") metrics.udpUpBytes += chunk.byteLength;
      else metrics.tcpUpBytes += chunk.byteLength;
    }
    return this.inner.write(chunk);
  }

  pause(): void {
    this.inner.pause();
  }

  resume(): void {
    this.inner.resume();
  }

  close(err?: Error): void {
    this.inner.close(err);
    this.end();
  }

  get closed(): boolean {
    return this.inner.closed;
  }

  get copiesWrites(): boolean | undefined {
    return this.inner.copiesWrites;
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd?.();
  }
}
