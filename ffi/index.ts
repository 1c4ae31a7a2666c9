/**
 * The libpcap binding: the only place in paqet that imports bun:ffi.
 *
 * - `libpcapVersion()`, `findAllDevs()`: library facts (throw PcapError SOCK_NO_LIBPCAP when absent).
 * - `PcapHandle`: one pcap_t, owned and closed idempotently; sends frames from the calling thread.
 * - `SendBatch`: frames queued and sent in one sendmmsg (Linux), or one by one elsewhere.
 * - `Capture`: a worker-backed receive path over a SharedArrayBuffer ring that never blocks the loop.
 *
 * libpcap is opened lazily on first use, so importing this module costs nothing.
 */
export { PcapError, type PcapErrorCode } from "./errors.ts";
export {
  breakloopWakes,
  DLT_EN10MB,
  findAllDevs,
  ipv6Text,
  libpcapVersion,
  libpcapVersionNumbers,
  PcapHandle,
  type PcapDevice,
  type PcapDirection,
  type PcapOpenOptions,
  type PcapStats,
} from "./handle.ts";
export { Capture, type CaptureOptions, type CaptureStats, type FrameHandler } from "./capture.ts";
export { installHint, libpcapCandidates, libpcapPath, PKTHDR } from "./libpcap.ts";
export { DEFAULT_SLOT_SIZE, DEFAULT_SLOTS } from "./ring.ts";
export { DEFAULT_BATCH_SLOTS, EMSGSIZE, ERRNO, SendBatch, type SendBatchOptions, type SendDropHandler } from "./send-batch.ts";
