/**
 * The main-thread half of the capture path: a worker (capture-worker.ts) blocks in libpcap and
 * fills a SharedArrayBuffer ring; this side drains the ring in an `Atomics.waitAsync` continuation
 * and hands each frame to `onFrame` as (ring bytes, offset, length), a view valid only during the
 * call. The event loop never blocks and never spins: an idle capture costs nothing but the worker's
 * sleeping thread (bun-probe.md §3, mode "sab").
 *
 * The running Worker keeps the process alive (a pending waitAsync alone does not); `unref()` lets
 * the process exit while capturing. `close()` sets the stop word, calls `pcap_breakloop`, waits
 * (bounded) for the worker to say it stopped, terminates it and only then closes the handle, so no
 * thread is ever inside libpcap on a closed handle.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PcapError } from "./errors.ts";
import type { PcapHandle } from "./handle.ts";
import {
  type CaptureEvent,
  type CaptureStart,
  checkGeometry,
  COUNTER_COUNT,
  COUNTERS,
  COUNTERS_OFFSET,
  CTRL,
  CTRL_INTS,
  DEFAULT_SLOT_SIZE,
  DEFAULT_SLOTS,
  ringBytes,
  SLOT,
  SLOT_HEADER,
  SLOTS_OFFSET,
  WorkerState,
} from "./ring.ts";

/**
 * Called once per captured frame. `frame[offset .. offset + length)` is the frame; the view is
 * valid only during the call (the slot is reused afterwards). `wireLength` is the length on the
 * wire (larger than `length` when snaplen cut the frame); the timestamp is libpcap's.
 */
export type FrameHandler = (
  frame: Uint8Array,
  offset: number,
  length: number,
  wireLength: number,
  tsSec: number,
  tsUsec: number,
) => void;

export interface CaptureOptions {
  /** An activated receive handle; the capture owns it from now on and closes it. */
  readonly handle: PcapHandle;
  readonly onFrame: FrameHandler;
  /** A fatal capture error (the worker stopped); frames stop arriving. */
  readonly onError?: (err: PcapError) => void;
  /** Called when `onFrame` throws; the frame counts as delivered and capture goes on. */
  readonly onHandlerError?: (err: unknown) => void;
  /** Ring slots, a power of two (default 8192). */
  readonly slots?: number;
  /** Bytes per slot including its 16-byte header (default 2048): larger frames are counted as oversize. */
  readonly slotSize?: number;
  /** Most frames the worker copies before publishing (default 256). */
  readonly batch?: number;
  /** How long close() waits for the worker to leave libpcap (default 2000 ms). */
  readonly stopTimeoutMs?: number;
}

export interface CaptureStats {
  /** Frames the worker copied into the ring. */
  readonly frames: number;
  readonly bytes: number;
  /** Frames handed to onFrame. */
  readonly delivered: number;
  /** Times the worker found the ring full and waited (backpressure, not loss). */
  readonly ringWaits: number;
  /** Frames bigger than a slot (counted, not delivered). */
  readonly oversize: number;
  /** Frames cut by snaplen (delivered with their captured length). */
  readonly truncated: number;
  /** onFrame calls that threw. */
  readonly handlerErrors: number;
  /** pcap_stats: dropped because the kernel buffer was full. */
  readonly kernelDrops: number;
  /** pcap_stats: dropped by the interface or driver. */
  readonly ifDrops: number;
}

/**
 * Where the worker module is. From source it sits next to this file. In a `bun build --compile`
 * binary every module is bundled, `import.meta.url` names the binary inside the embedded file
 * system, and the worker (an extra entrypoint) keeps its path relative to the entrypoints' common
 * root (`ffi/capture-worker.js` when built from the repository root), so look for it there.
 */
function workerSpecifier(): string {
  const url = import.meta.url;
  if (!url.includes("$bunfs") && !url.includes("~BUN")) return new URL("./capture-worker.ts", url).href;
  for (const rel of ["ffi/capture-worker.js", "capture-worker.js", "ffi/capture-worker.ts", "capture-worker.ts"]) {
    const path = join(import.meta.dir, rel);
    if (existsSync(path)) return path;
  }
  return new URL("./ffi/capture-worker.ts", url).href;
}

export class Capture {
  private readonly handle: PcapHandle;
  private readonly onFrame: FrameHandler;
  private readonly onError: ((err: PcapError) => void) | undefined;
  private readonly onHandlerError: ((err: unknown) => void) | undefined;
  private readonly worker: Worker;
  private readonly ctrl: Int32Array;
  private readonly counters: Float64Array;
  private readonly words: Uint32Array;
  private readonly bytes: Uint8Array;
  private readonly mask: number;
  private readonly slotSize: number;
  private readonly stopTimeoutMs: number;
  private readIndex = 0;
  private delivered = 0;
  private handlerErrors = 0;
  private stopping = false;
  private workerDone = false;
  private closing: Promise<void> | undefined;
  private onWorkerDone: (() => void) | undefined;
  private lastKernel = { dropped: 0, ifDropped: 0 };
  private markReady: (() => void) | undefined;
  /**
   * Resolves once the worker is inside libpcap (frames that arrived earlier wait in the kernel
   * buffer and are not lost), or when the capture failed or closed first; it never rejects.
   */
  readonly ready: Promise<void> = new Promise<void>((resolve) => {
    this.markReady = resolve;
  });

  constructor(options: CaptureOptions) {
    const slots = options.slots ?? DEFAULT_SLOTS;
    const slotSize = options.slotSize ?? DEFAULT_SLOT_SIZE;
    checkGeometry(slots, slotSize);
    this.handle = options.handle;
    this.onFrame = options.onFrame;
    this.onError = options.onError;
    this.onHandlerError = options.onHandlerError;
    this.mask = slots - 1;
    this.slotSize = slotSize;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 2000;
    const sab = new SharedArrayBuffer(ringBytes(slots, slotSize));
    // Touch every page now: measured, the first pass of a fresh ring through page faults held the
    // worker near 70 000 frames/s for its first ~40 ms, and a 300 000/s burst then overflowed the
    // kernel buffer. The memory would be resident after the first busy moment anyway.
    new Uint8Array(sab).fill(0);
    this.ctrl = new Int32Array(sab, 0, CTRL_INTS);
    this.counters = new Float64Array(sab, COUNTERS_OFFSET, COUNTER_COUNT);
    this.words = new Uint32Array(sab);
    this.bytes = new Uint8Array(sab);

    this.worker = new Worker(workerSpecifier());
    this.worker.addEventListener("message", (event: MessageEvent<CaptureEvent>) => this.onWorkerEvent(event.data));
    this.worker.addEventListener("error", (event: ErrorEvent) => {
      this.finishWorker();
      this.fail(new PcapError("SOCK_PCAP", `capture worker failed: ${event.message}`));
    });
    const start: CaptureStart = {
      type: "start",
      handle: this.handle.pointer,
      sab,
      slots,
      slotSize,
      batch: options.batch ?? 256,
    };
    this.worker.postMessage(start);
    this.arm();
  }

  /** Keeps the process alive while capturing (the default). */
  ref(): void {
    this.worker.ref();
  }

  /** Lets the process exit even though the capture is running. */
  unref(): void {
    this.worker.unref();
  }

  get isClosed(): boolean {
    return this.stopping;
  }

  stats(): CaptureStats {
    const c = this.counters;
    if (!this.handle.isClosed) {
      try {
        const k = this.handle.stats();
        this.lastKernel = { dropped: k.dropped, ifDropped: k.ifDropped };
      } catch {
        // keep the last figures; a failing pcap_stats must not break a status report
      }
    }
    return {
      frames: c[COUNTERS.frames] ?? 0,
      bytes: c[COUNTERS.bytes] ?? 0,
      delivered: this.delivered,
      ringWaits: c[COUNTERS.ringWaits] ?? 0,
      oversize: c[COUNTERS.oversize] ?? 0,
      truncated: c[COUNTERS.truncated] ?? 0,
      handlerErrors: this.handlerErrors,
      kernelDrops: this.lastKernel.dropped,
      ifDrops: this.lastKernel.ifDropped,
    };
  }

  /**
   * Stops capturing: no onFrame call happens after this returns. The promise resolves when the
   * worker has left libpcap and the handle is closed (or, if the worker never answers within
   * stopTimeoutMs, when it has been terminated; the handle is then left open rather than closed
   * under a thread that may still use it).
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.stopping = true;
    this.markReady?.();
    Atomics.store(this.ctrl, CTRL.stop, 1);
    Atomics.notify(this.ctrl, CTRL.stop);
    Atomics.notify(this.ctrl, CTRL.read);
    Atomics.notify(this.ctrl, CTRL.write);
    this.handle.breakLoop();
    this.closing = new Promise<void>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = () => {
        if (timer) clearTimeout(timer);
        this.onWorkerDone = undefined;
        const state = Atomics.load(this.ctrl, CTRL.state);
        const left = this.workerDone || state === WorkerState.stopped || state === WorkerState.failed;
        this.worker.terminate();
        if (left) this.handle.close();
        else this.worker.unref();
        resolve();
      };
      if (this.workerDone) return finish();
      this.onWorkerDone = finish;
      timer = setTimeout(finish, this.stopTimeoutMs);
    });
    return this.closing;
  }

  private onWorkerEvent(event: CaptureEvent): void {
    if (event.type === "running") {
      this.markReady?.();
    } else if (event.type === "stopped") {
      this.finishWorker();
    } else if (event.type === "error") {
      this.finishWorker();
      this.fail(new PcapError("SOCK_PCAP", `capture on ${this.handle.device}: ${event.message}`));
    }
  }

  private finishWorker(): void {
    this.workerDone = true;
    this.markReady?.();
    this.onWorkerDone?.();
  }

  private fail(err: PcapError): void {
    if (this.stopping) return;
    this.drain();
    this.onError?.(err);
  }

  private arm(): void {
    if (this.stopping) return;
    const res = Atomics.waitAsync(this.ctrl, CTRL.write, this.readIndex);
    if (res.async) void res.value.then(this.wake);
    else setImmediate(this.wake);
  }

  private readonly wake = (): void => {
    if (this.stopping) return;
    this.drain();
    this.arm();
  };

  private drain(): void {
    const ctrl = this.ctrl;
    const write = Atomics.load(ctrl, CTRL.write);
    let r = this.readIndex;
    const { words, bytes, mask, slotSize } = this;
    while (r !== write && !this.stopping) {
      const off = SLOTS_OFFSET + (r & mask) * slotSize;
      const w = off >>> 2;
      r = (r + 1) | 0;
      this.delivered++;
      try {
        this.onFrame(
          bytes,
          off + SLOT_HEADER,
          words[w + SLOT.caplen]!,
          words[w + SLOT.len]!,
          words[w + SLOT.tsSec]!,
          words[w + SLOT.tsUsec]!,
        );
      } catch (err) {
        this.handlerErrors++;
        this.onHandlerError?.(err);
      }
    }
    this.readIndex = r;
    Atomics.store(ctrl, CTRL.read, r);
    if (Atomics.load(ctrl, CTRL.waiting) !== 0) Atomics.notify(ctrl, CTRL.read);
  }
}
