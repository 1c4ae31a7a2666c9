/**
 * Capture worker: blocks in `pcap_dispatch` on a handle the main thread opened. Each call waits
 * until frames are ready, then hands over every frame already queued (up to `batch`) through one
 * JSCallback per frame, which copies it into the shared ring (ring.ts) with one libc memcpy. After
 * each call the worker publishes the write index and notifies the main thread once; if the main
 * thread is still busy with earlier frames, it pauses (BUSY_WAIT_MS) before reading again, so under
 * load frames arrive in batches rather than one kernel wake-up each.
 *
 * Why pcap_dispatch and not pcap_next_ex + non-blocking drains: on Linux libpcap 1.10, switching
 * non-blocking mode on and off closes and re-creates the eventfd that `pcap_breakloop` writes to
 * (two extra syscalls per batch, and a window in which a breakloop from the main thread writes to
 * a closed or reused descriptor). A blocking dispatch drains what is ready without that toggle.
 *
 * When the ring is full the callback publishes what it has and sleeps on the read index until the
 * main thread frees slots, so a slow consumer pushes back into the kernel buffer (where pcap_stats
 * counts any overflow) instead of losing frames here. It stops when the stop word is set: the main
 * thread also calls `pcap_breakloop`, which wakes a blocked dispatch on Linux libpcap >= 1.10;
 * elsewhere the handle has a read timeout and the loop sees the word within one timeout.
 *
 * This exact path is an extra entrypoint of `bun build --compile` (build.ts); without it the
 * compiled binary fails at run time resolving the worker.
 */
import { CString, FFIType, JSCallback, ptr, read, toArrayBuffer, type Pointer } from "bun:ffi";
import { libc, pcap, PKTHDR } from "./libpcap.ts";
import {
  type CaptureEvent,
  type CaptureStart,
  COUNTER_COUNT,
  COUNTERS,
  COUNTERS_OFFSET,
  CTRL,
  CTRL_INTS,
  SLOT,
  SLOT_HEADER,
  SLOTS_OFFSET,
  WorkerState,
} from "./ring.ts";

interface WorkerScope {
  postMessage(message: CaptureEvent): void;
  addEventListener(type: "message", listener: (event: MessageEvent<CaptureStart>) => void): void;
}
const scope = globalThis as unknown as WorkerScope;

const PCAP_ERROR_BREAK = -2;
/** How long a full-ring wait sleeps before re-checking the stop word (ms). */
const FULL_WAIT_MS = 50;

/**
 * After publishing a batch, while the main thread has not yet taken the previous frames, the
 * worker pauses this long (or until it sees the drain) instead of reading again at once. A busy
 * main thread could not handle those frames sooner anyway, and meanwhile frames gather in the
 * kernel buffer without waking anybody: in immediate mode the kernel otherwise wakes this thread
 * for every frame, and those wake-ups (an IPI each on a VM) cost more than the copying. A main
 * thread that keeps up (request/response traffic) never sees the pause. Measured (bench --quick):
 * a 1 ms wait ended by a notify from the drain cut client CPU from 19 to 13-15 ms per MiB, but the
 * notify itself was 11 % of the client's main thread; this timed pause without it gives 11-18.
 */
const BUSY_WAIT_MS = 0.5;

/** Everything native code touches stays reachable from this long-lived object (pitfall 1). */
interface Ring {
  readonly ctrl: Int32Array;
  readonly counters: Float64Array;
  readonly words: Uint32Array;
  readonly bytes: Uint8Array;
  base: number;
  callback: JSCallback | undefined;
}

function run(start: CaptureStart): void {
  const lib = pcap();
  const c = libc();
  const h = start.handle as Pointer;
  const { sab, slots, slotSize, batch } = start;
  const mask = slots - 1;
  const ring: Ring = {
    ctrl: new Int32Array(sab, 0, CTRL_INTS),
    counters: new Float64Array(sab, COUNTERS_OFFSET, COUNTER_COUNT),
    words: new Uint32Array(sab),
    bytes: new Uint8Array(sab),
    base: 0,
    callback: undefined,
  };
  ring.base = ptr(ring.bytes);
  const { ctrl, counters, words, bytes } = ring;
  const maxFrame = slotSize - SLOT_HEADER;
  let write = Atomics.load(ctrl, CTRL.write);
  let stopping = false;

  const publish = (): void => {
    Atomics.store(ctrl, CTRL.write, write);
    Atomics.notify(ctrl, CTRL.write);
  };

  /** Waits until a slot is free; false when asked to stop meanwhile. */
  const waitForRoom = (): boolean => {
    publish();
    counters[COUNTERS.ringWaits] = (counters[COUNTERS.ringWaits] ?? 0) + 1;
    for (;;) {
      const r = Atomics.load(ctrl, CTRL.read);
      if (((write - r) | 0) < slots) return true;
      if (Atomics.load(ctrl, CTRL.stop) !== 0) return false;
      Atomics.store(ctrl, CTRL.waiting, 1);
      Atomics.wait(ctrl, CTRL.read, r, FULL_WAIT_MS);
      Atomics.store(ctrl, CTRL.waiting, 0);
    }
  };

  /** pcap_handler: copies one frame into the next slot (`hdr`/`data` are valid only during the call). */
  const onPacket = (_user: Pointer | null, hdr: Pointer | null, data: Pointer | null): void => {
    if (stopping || hdr === null || data === null) return;
    if (((write - Atomics.load(ctrl, CTRL.read)) | 0) >= slots && !waitForRoom()) {
      stopping = true;
      lib.pcap_breakloop(h);
      return;
    }
    const caplen = read.u32(hdr, PKTHDR.caplen);
    const len = read.u32(hdr, PKTHDR.len);
    if (caplen > maxFrame) {
      counters[COUNTERS.oversize] = (counters[COUNTERS.oversize] ?? 0) + 1;
      return;
    }
    if (caplen < len) counters[COUNTERS.truncated] = (counters[COUNTERS.truncated] ?? 0) + 1;
    const off = SLOTS_OFFSET + (write & mask) * slotSize;
    const w = off >>> 2;
    words[w + SLOT.caplen] = caplen;
    words[w + SLOT.len] = len;
    words[w + SLOT.tsSec] = read.u32(hdr, PKTHDR.tsSec);
    words[w + SLOT.tsUsec] = read.u32(hdr, PKTHDR.tsUsec);
    if (c) c.memcpy((ring.base + off + SLOT_HEADER) as Pointer, data, caplen);
    else if (caplen > 0) bytes.set(new Uint8Array(toArrayBuffer(data, 0, caplen)), off + SLOT_HEADER);
    write = (write + 1) | 0;
    counters[COUNTERS.frames] = (counters[COUNTERS.frames] ?? 0) + 1;
    counters[COUNTERS.bytes] = (counters[COUNTERS.bytes] ?? 0) + caplen;
  };
  ring.callback = new JSCallback(onPacket, { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.void });
  const cb = ring.callback.ptr;
  if (cb === null) throw new Error("JSCallback has no pointer");

  const fail = (what: string): void => {
    const p = lib.pcap_geterr(h);
    const detail = p ? new CString(p).toString() : "";
    Atomics.store(ctrl, CTRL.state, WorkerState.failed);
    publish();
    scope.postMessage({ type: "error", message: `${what}: ${detail || "unknown pcap error"}` });
  };

  Atomics.store(ctrl, CTRL.state, WorkerState.running);
  scope.postMessage({ type: "running" });
  try {
    while (!stopping && Atomics.load(ctrl, CTRL.stop) === 0) {
      const rc = lib.pcap_dispatch(h, batch, cb, null);
      publish();
      // 0: a read timeout (macOS, Windows, old libpcap): look at the stop word again.
      if (rc === PCAP_ERROR_BREAK) break;
      if (rc < 0) return fail("pcap_dispatch");
      if (rc > 0 && rc < batch) {
        // Not announced through `waiting`: the main thread does not notify for this wait, so it
        // pays no wake-up call per drain; the worker looks again after BUSY_WAIT_MS at the latest
        // (at once if the drain came before the wait). Only when this read emptied the kernel
        // buffer (fewer than `batch` frames): with more queued there, a pause (which sleeps 1-2 ms
        // rather than 0.5 on this VM) caps the drain at `batch` frames per pause, and the kernel
        // buffer overflows while the shared ring still has room.
        const r = Atomics.load(ctrl, CTRL.read);
        if (r !== write) Atomics.wait(ctrl, CTRL.read, r, BUSY_WAIT_MS);
      }
    }
  } finally {
    ring.callback.close();
  }
  publish();
  Atomics.store(ctrl, CTRL.state, WorkerState.stopped);
  scope.postMessage({ type: "stopped" });
}

scope.addEventListener("message", (event) => {
  if (event.data?.type !== "start") return;
  try {
    run(event.data);
  } catch (err) {
    const ctrl = new Int32Array(event.data.sab, 0, CTRL_INTS);
    Atomics.store(ctrl, CTRL.state, WorkerState.failed);
    Atomics.notify(ctrl, CTRL.write);
    scope.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
});
