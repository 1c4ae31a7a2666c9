/**
 * Layout of the SharedArrayBuffer ring between the capture worker (single producer) and the main
 * thread (single consumer). No FFI here: both sides import it.
 *
 *   bytes 0..127    Int32 control words; the write and read indices sit on separate cache lines
 *   bytes 128..191  Float64 counters written only by the worker (plain stores; read for stats)
 *   bytes 256..     `slots` fixed slots of `slotSize` bytes:
 *                   u32 caplen | u32 wire length | u32 ts seconds | u32 ts microseconds | frame
 *
 * Indices are free-running int32 counters (wrapping), the slot of index i is `i & (slots - 1)`,
 * and `(write - read) | 0` is the fill level. The worker publishes `write` once per batch and
 * notifies; the main thread publishes `read` after each drain and notifies, which wakes a worker
 * that waits because the ring is full (backpressure instead of loss).
 */
export const CTRL_INTS = 32;
export const CTRL = {
  write: 0,
  /** main -> worker: 1 = stop */
  stop: 1,
  /** worker state, see WorkerState */
  state: 2,
  /** 1 while the worker sleeps on a full ring (the main thread then notifies the read index) */
  waiting: 3,
  read: 16,
} as const;

export const WorkerState = { starting: 0, running: 1, stopped: 2, failed: 3 } as const;

export const COUNTERS_OFFSET = 128;
export const COUNTERS = {
  frames: 0,
  bytes: 1,
  /** times the worker found the ring full and waited for the main thread */
  ringWaits: 2,
  /** frames larger than a slot: counted and not delivered */
  oversize: 3,
  /** frames whose caplen was below their wire length (snaplen cut) */
  truncated: 4,
} as const;
export const COUNTER_COUNT = 8;

export const SLOTS_OFFSET = 256;
export const SLOT_HEADER = 16;
export const SLOT = { caplen: 0, len: 1, tsSec: 2, tsUsec: 3 } as const;

export const DEFAULT_SLOTS = 8192;
export const DEFAULT_SLOT_SIZE = 2048;

export function ringBytes(slots: number, slotSize: number): number {
  return SLOTS_OFFSET + slots * slotSize;
}

/** Validates ring geometry: slots a power of two, slot size a multiple of 16 with room for a frame. */
export function checkGeometry(slots: number, slotSize: number): void {
  if (!Number.isInteger(slots) || slots < 2 || slots > 1 << 20 || (slots & (slots - 1)) !== 0) {
    throw new RangeError(`ring slots must be a power of two in 2..1048576, got ${slots}`);
  }
  if (!Number.isInteger(slotSize) || slotSize < 128 || slotSize % 16 !== 0 || slotSize > 1 << 17) {
    throw new RangeError(`ring slot size must be a multiple of 16 in 128..131072, got ${slotSize}`);
  }
}

/** The message that starts a capture worker. */
export interface CaptureStart {
  readonly type: "start";
  /** pcap_t pointer of an activated handle owned by the main thread */
  readonly handle: number;
  readonly sab: SharedArrayBuffer;
  readonly slots: number;
  readonly slotSize: number;
  /** most frames copied before the write index is published */
  readonly batch: number;
}

export type CaptureEvent =
  | { readonly type: "running" }
  | { readonly type: "stopped" }
  | { readonly type: "error"; readonly message: string };
