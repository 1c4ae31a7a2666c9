/**
 * PcapPacketConn: paqet's raw packet socket (paqet-app.md §3) over libpcap.
 *
 * Two handles on one interface, as upstream: a send handle (snaplen 128, 256 KiB, a filter that
 * matches nothing, so the kernel never queues captures into it) used from the calling thread, and
 * a receive handle (snaplen 65536, `sockbuf` bytes, immediate mode, inbound only,
 * `tcp and dst port P`) drained by a capture worker into a shared ring (ffi/capture.ts). Frames
 * are built by FrameBuilder and parsed in place by parseFrameAt (framing.ts); each datagram's payload reaches
 * the handler as a view into the ring, valid only during the call.
 *
 * The local port is the configured one, or a fresh random port in 32768..65535 per conn when it is
 * 0 (§3.2). Flag cycling: the conn's own `localFlags` cycle by default; `setPeerFlags` (the
 * server's reaction to a TCPF message) gives one peer its own cycle, restarted at entry 0.
 *
 * Sending: `writeTo` builds the frame at once (so errors about the datagram itself are thrown
 * there) and queues it in a SendBatch (ffi/send-batch.ts); the queue goes out in one `sendmmsg`
 * at the end of the current turn (a microtask), or at once when it is full. A KCP flush writes its
 * segments in one turn, so they leave in one syscall instead of one each. A send the link refuses
 * with ENOBUFS/ENOMEM/EAGAIN is retried on seed-fork §4.3's schedule (8 attempts, 200 us doubling
 * while below 10 ms, without blocking the loop); after that, or on any other error, the datagram
 * is dropped and counted (sendErrors): KCP resends it like any lost datagram.
 */
import {
  breakloopWakes,
  Capture,
  type CaptureStats,
  DLT_EN10MB,
  EMSGSIZE,
  ERRNO,
  PcapError,
  PcapHandle,
  SendBatch,
} from "../../ffi/index.ts";
import { isPaqetError } from "../lib/errors.ts";
import { logger, RateLimitedLog } from "../lib/log.ts";
import { interfaceExists, interfaceMac } from "../lib/netinfo.ts";
import { SocketError, type SocketErrorCode } from "./errors.ts";
import { FrameBuilder, type FrameStats, newFrameFields, newFrameStats, parseFrameAt, resolveLocalPort } from "./framing.ts";
import type { PacketAddr, PacketConn, PacketHandler } from "./types.ts";

const log = logger("socket");

export type PcapRole = "client" | "server";

/** paqet-app.md §2.2 `network.pcap.sockbuf` defaults. */
export const DEFAULT_SOCKBUF: Readonly<Record<PcapRole, number>> = { client: 4 * 1024 * 1024, server: 8 * 1024 * 1024 };
/**
 * Capture ring slots per role (2 KiB each): server 4 MiB, client 2 MiB per socket. The ring only
 * has to cover what the worker copies while the main thread is busy: when it is full the worker
 * waits and frames queue in the kernel buffer (`sockbuf`, 8/4 MiB, mapped into the process anyway),
 * so a larger ring bought nothing but resident memory (a 16 MiB ring is fully touched after one
 * fast download: server peak RSS 145 MiB against a bar of 80).
 */
export const DEFAULT_RING_SLOTS: Readonly<Record<PcapRole, number>> = { client: 1024, server: 2048 };
/** §3.3: the send handle's fixed kernel buffer and snap length. */
export const SEND_BUFFER = 256 * 1024;
export const SEND_SNAPLEN = 128;
export const RECV_SNAPLEN = 65536;
/** §3.3: receive read timeout; only matters where pcap_breakloop cannot wake a blocked read. */
export const RECV_TIMEOUT_MS = 100;
/** Batching delay when immediate mode is off (the seed fork's default `timeout_ms`). */
export const BATCH_TIMEOUT_MS = 5;

export interface PcapFamilyOptions {
  /** This host's address of the family (the IP of network.ipv4/ipv6.addr). */
  readonly ip: string;
  /** network.ipv4/ipv6.router_mac: the next hop for every frame of this family. */
  readonly routerMac: string;
}

export interface PcapConnOptions {
  /** network.interface: the OS interface name (source MAC, existence check). */
  readonly interface: string;
  /** The pcap device name when it differs from the interface (Windows: `\Device\NPF_{GUID}`). */
  readonly device?: string;
  /** The interface's MAC; looked up from the OS when absent. */
  readonly srcMac?: string;
  readonly ipv4?: PcapFamilyOptions;
  readonly ipv6?: PcapFamilyOptions;
  /** network.Port: the local TCP port; 0 draws a random one in 32768..65535 for this conn. */
  readonly port: number;
  /** Selects the sockbuf default. */
  readonly role: PcapRole;
  /** network.pcap.sockbuf: kernel buffer of the receive handle (bytes). */
  readonly sockbuf?: number;
  /** network.tcp.local_flag (default ["PA"]). */
  readonly localFlags?: readonly string[];
  /** Overrides the receive filter (default `tcp and dst port <port>`, upstream's). */
  readonly filter?: string;
  /**
   * Immediate mode (alpha.21: on). Off trades latency for CPU: the kernel hands over frames in
   * blocks, at the latest after `readTimeoutMs` (the seed fork's `network.pcap.immediate: false`).
   */
  readonly immediate?: boolean;
  /**
   * Read timeout of the receive handle in ms. With immediate mode off it bounds the batching delay
   * (default 5, the fork's `timeout_ms`); with it on it only matters where pcap_breakloop cannot
   * wake a blocked read (default 100, upstream's).
   */
  readonly readTimeoutMs?: number;
  /** Capture ring geometry (see ffi/ring.ts). */
  readonly ringSlots?: number;
  readonly ringSlotSize?: number;
  /** Frames per send batch (default 64); 1 sends each frame when its turn ends, alone. */
  readonly sendBatch?: number;
  /** One pcap_sendpacket per frame instead of sendmmsg (tests of the portable path). */
  readonly sendPerFrame?: boolean;
}

/** seed-fork §4.3: raw-send retries after ENOBUFS/ENOMEM before a datagram is dropped. */
export const SEND_RETRY_ATTEMPTS = 8;
const SEND_RETRY_FIRST_MS = 0.2;
const SEND_RETRY_DOUBLE_BELOW_MS = 10;

export interface PcapConnStats {
  readonly port: number;
  readonly sent: number;
  readonly sentBytes: number;
  readonly sendErrors: number;
  /** Payload bytes of the failed sends. */
  readonly sendErrorBytes: number;
  /** Retries of a send the link refused with ENOBUFS or ENOMEM (EAGAIN retries are not counted). */
  readonly enobufsRetries: number;
  /** Datagrams queued and not yet handed to the kernel. */
  readonly sendQueued: number;
  /** True when sends go out in batches (sendmmsg); false on the one-frame-per-call path. */
  readonly sendBatched: boolean;
  /** Datagrams handed to the handler, and their payload bytes. */
  readonly received: number;
  readonly receivedBytes: number;
  /** Epoch ms of a sampled send and receive (the first, then every 64th); 0 = never. */
  readonly lastSentAt: number;
  readonly lastReceivedAt: number;
  /** Datagrams that arrived while no handler was installed. */
  readonly unhandled: number;
  readonly frames: Readonly<FrameStats>;
  readonly capture: CaptureStats;
}

function socketError(err: unknown, fallback: SocketErrorCode, context: string): SocketError {
  if (err instanceof SocketError) return err;
  if (err instanceof PcapError) return new SocketError(err.code, err.message, { cause: err });
  if (isPaqetError(err) && err.code === "PKT_BAD_ADDRESS") {
    return new SocketError("SOCK_BAD_ADDRESS", `${context}: ${err.message}`, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SocketError(fallback, `${context}: ${message}`, { cause: err });
}

export class PcapPacketConn implements PacketConn {
  readonly localAddr: PacketAddr;
  readonly port: number;
  private readonly builder: FrameBuilder;
  private readonly sendHandle: PcapHandle;
  private readonly batch: SendBatch;
  private flushQueued = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryAttempt = 0;
  private enobufsRetries = 0;
  private sentSampled = 0;
  private readonly capture: Capture;
  /** Frames given up after retries or at close: congestion, logged at debug. */
  private readonly sendLog = new RateLimitedLog((m) => log.debug(m));
  /** Frames the link refused outright (wrong MTU, interface gone): a setup problem, a warning. */
  private readonly refusedLog = new RateLimitedLog((m) => log.warn(m));
  private readonly frameStats = newFrameStats();
  private readonly addrCache = new Map<string, Map<number, PacketAddr>>();
  private lastAddr: PacketAddr | undefined;
  private readonly fields = newFrameFields();
  private handler: PacketHandler | undefined;
  private errorHandler: ((err: SocketError) => void) | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private sendErrors = 0;
  private sendErrorBytes = 0;
  private received = 0;
  private receivedBytes = 0;
  private lastSentAt = 0;
  private lastReceivedAt = 0;
  private unhandled = 0;
  private closeHooks: (() => void)[] = [];
  private readonly handlerLog = new RateLimitedLog((m) => log.warn(m));

  /**
   * Opens both handles and starts capturing. Throws SocketError: SOCK_NO_LIBPCAP, SOCK_PERMISSION,
   * SOCK_NO_INTERFACE, SOCK_BAD_ADDRESS (bad IP/MAC/flags) or SOCK_PCAP (libpcap refused).
   */
  constructor(options: PcapConnOptions) {
    if (!options.ipv4 && !options.ipv6) {
      throw new SocketError("SOCK_BAD_ADDRESS", "at least one address family (IPv4 or IPv6) must be configured");
    }
    const device = options.device ?? options.interface;
    if (!options.device && !interfaceExists(options.interface)) {
      throw new SocketError("SOCK_NO_INTERFACE", `network interface ${options.interface} not found`);
    }
    const srcMac = options.srcMac ?? interfaceMac(options.interface);
    if (!srcMac) {
      throw new SocketError("SOCK_NO_INTERFACE", `network interface ${options.interface} has no hardware (MAC) address`);
    }
    this.port = resolveLocalPort(options.port);
    try {
      this.builder = new FrameBuilder({
        srcMac,
        ipv4: options.ipv4,
        ipv6: options.ipv6,
        srcPort: this.port,
        localFlags: options.localFlags,
      });
    } catch (err) {
      throw socketError(err, "SOCK_BAD_ADDRESS", "bad network settings");
    }
    this.localAddr = { ip: options.ipv4?.ip ?? options.ipv6!.ip, port: this.port };

    try {
      this.sendHandle = PcapHandle.open({
        device,
        snaplen: SEND_SNAPLEN,
        bufferSize: SEND_BUFFER,
        immediate: true,
        direction: "in",
        filter: "less 1",
      });
    } catch (err) {
      throw socketError(err, "SOCK_PCAP", `send handle on ${device}`);
    }
    try {
      this.batch = new SendBatch(this.sendHandle, {
        slots: options.sendBatch,
        perFrame: options.sendPerFrame,
        onDrop: (bytes, err, errno) => this.sendDropped(bytes, err, errno),
      });
    } catch (err) {
      this.sendHandle.close();
      throw socketError(err, "SOCK_PCAP", `send queue on ${device}`);
    }

    let recv: PcapHandle | undefined;
    try {
      recv = PcapHandle.open({
        device,
        snaplen: RECV_SNAPLEN,
        bufferSize: options.sockbuf ?? DEFAULT_SOCKBUF[options.role],
        immediate: options.immediate !== false,
        timeoutMs:
          options.readTimeoutMs ?? (options.immediate === false ? BATCH_TIMEOUT_MS : breakloopWakes() ? 0 : RECV_TIMEOUT_MS),
        direction: "in",
        filter: options.filter ?? `tcp and dst port ${this.port}`,
      });
      const link = recv.datalink();
      if (link !== DLT_EN10MB) {
        throw new SocketError("SOCK_PCAP", `interface ${options.interface} is not Ethernet (pcap link type ${link})`);
      }
      this.capture = new Capture({
        handle: recv,
        slots: options.ringSlots ?? DEFAULT_RING_SLOTS[options.role],
        slotSize: options.ringSlotSize,
        onFrame: this.onFrame,
        onError: (err) => this.captureFailed(err),
        onHandlerError: (err) => this.handlerLog.emit(`packet handler threw: ${err instanceof Error ? err.message : String(err)}`),
      });
    } catch (err) {
      recv?.close();
      this.sendHandle.close();
      throw socketError(err, "SOCK_PCAP", `receive handle on ${device}`);
    }
  }

  /**
   * Resolves when the capture worker is reading (it never rejects). Datagrams that arrive earlier
   * are kept by the kernel and delivered then; awaiting this only makes the first delivery prompt.
   */
  get ready(): Promise<void> {
    return this.capture.ready;
  }

  onPacket(handler: PacketHandler): void {
    this.handler = handler;
  }

  /**
   * Builds the frame and queues it; it leaves at the end of this turn (see the header). Throws
   * SocketError when the conn is closed, the frame cannot be built (SOCK_SEND_FAILED), or, for a
   * frame too large for a queue slot that is sent alone, when the link refuses it.
   */
  writeTo(data: Uint8Array, to: PacketAddr): void {
    if (this.closed) throw new SocketError("SOCK_CLOSED", "raw socket is closed");
    let frame: Uint8Array;
    try {
      frame = this.builder.build(data, to);
    } catch (err) {
      this.sendErrors++;
      this.sendErrorBytes += data.length;
      throw socketError(err, "SOCK_SEND_FAILED", "cannot build frame");
    }
    const batch = this.batch;
    if (!batch.push(frame, data.length)) {
      if (this.retryTimer === undefined) this.flushSends();
      if (!batch.push(frame, data.length)) {
        this.sendAlone(frame, data.length);
        return;
      }
    }
    if (batch.length >= batch.slots) {
      if (this.retryTimer === undefined) this.flushSends();
    } else if (!this.flushQueued && this.retryTimer === undefined) {
      this.flushQueued = true;
      queueMicrotask(this.flushAtEndOfTurn);
    }
  }

  /** A frame the queue cannot take: larger than a slot, or the queue is full behind a retry. */
  private sendAlone(frame: Uint8Array, bytes: number): void {
    if (this.batch.length > 0) {
      this.sendDropped(bytes, new PcapError("SOCK_PCAP", "send queue full while the link refuses frames"), undefined);
      return;
    }
    try {
      this.sendHandle.send(frame);
    } catch (err) {
      this.sendErrors++;
      this.sendErrorBytes += bytes;
      throw socketError(err, "SOCK_SEND_FAILED", "send");
    }
    this.batch.countSentAlone(bytes);
    this.noteSent();
  }

  private readonly flushAtEndOfTurn = (): void => {
    this.flushQueued = false;
    if (this.retryTimer === undefined && !this.closed) this.flushSends();
  };

  /** Hands the queue to the kernel; a transient refusal starts the retry schedule. */
  private flushSends(): void {
    const errno = this.batch.flush();
    this.noteSent();
    if (errno === 0) {
      this.retryAttempt = 0;
      return;
    }
    if (this.retryAttempt >= SEND_RETRY_ATTEMPTS) {
      // The oldest frame had its retries: drop it and give the rest a fresh schedule.
      this.batch.dropHead(new PcapError("SOCK_PCAP", `send refused ${SEND_RETRY_ATTEMPTS} times (errno ${errno})`));
      this.retryAttempt = 0;
    }
    if (errno !== ERRNO.EAGAIN) this.enobufsRetries++;
    let delay = SEND_RETRY_FIRST_MS;
    for (let i = 0; i < this.retryAttempt && delay < SEND_RETRY_DOUBLE_BELOW_MS; i++) delay *= 2;
    this.retryAttempt++;
    this.retryTimer = setTimeout(this.retrySends, delay);
  }

  private readonly retrySends = (): void => {
    this.retryTimer = undefined;
    if (!this.closed) this.flushSends();
  };

  /** Samples lastSentAt on the first send and each time the count passes a multiple of 64. */
  private noteSent(): void {
    const before = this.sentSampled;
    const now = this.batch.sentFrames;
    if (now === before) return;
    if (before === 0 || before >>> 6 !== now >>> 6) this.lastSentAt = Date.now();
    this.sentSampled = now;
  }

  private sendDropped(bytes: number, err: PcapError, errno: number | undefined): void {
    this.sendErrors++;
    this.sendErrorBytes += bytes;
    if (errno === undefined) {
      this.sendLog.emit(`raw send dropped a datagram: ${err.message}`);
      return;
    }
    const hint = errno === EMSGSIZE ? " (is transport.kcp.mtu larger than the interface MTU allows?)" : "";
    this.refusedLog.emit(`raw send refused a ${bytes}-byte datagram: ${err.message}${hint}`);
  }

  /**
   * Called once if capturing stops on its own (the interface went away, libpcap failed, the worker
   * could not start); the conn is closed by then. Without a handler the error is logged.
   */
  onError(handler: (err: SocketError) => void): void {
    this.errorHandler = handler;
  }

  /** Server, on a TCPF message: `addr` gets its own flag cycle, restarted at entry 0 (empty clears it). */
  setPeerFlags(addr: PacketAddr, flags: readonly (string | number)[]): void {
    this.builder.setPeerFlags(addr, flags);
  }

  /** Server, when that client's connection ends: back to the shared local_flag cycle. */
  clearPeerFlags(addr: PacketAddr): void {
    this.builder.clearPeerFlags(addr);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Runs `hook` once when the conn closes, however it closes (close(), or the capture failing),
   * before the handles are released; at once when it is closed already. For bookkeeping such as
   * taking final stats.
   */
  onClose(hook: () => void): void {
    if (this.closed) hook();
    else this.closeHooks.push(hook);
  }

  /** Stops receiving at once; the returned promise resolves when libpcap has released both handles. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.handler = undefined;
    for (const hook of this.closeHooks.splice(0)) hook();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.batch.length > 0) this.batch.flush();
    const closing = new PcapError("SOCK_PCAP", "raw socket closed with the frame still queued");
    while (this.batch.length > 0) this.batch.dropHead(closing);
    this.sendHandle.close();
    this.closing = this.capture.close();
    return this.closing;
  }

  /** Lets the process exit while this conn is open (the capture worker keeps it alive otherwise). */
  unref(): void {
    this.capture.unref();
  }

  ref(): void {
    this.capture.ref();
  }

  stats(): PcapConnStats {
    return {
      port: this.port,
      sent: this.batch.sentFrames,
      sentBytes: this.batch.sentTags,
      sendErrors: this.sendErrors,
      sendErrorBytes: this.sendErrorBytes,
      enobufsRetries: this.enobufsRetries,
      sendQueued: this.batch.length,
      sendBatched: this.batch.batched,
      received: this.received,
      receivedBytes: this.receivedBytes,
      lastSentAt: this.lastSentAt,
      lastReceivedAt: this.lastReceivedAt,
      unhandled: this.unhandled,
      frames: { ...this.frameStats },
      capture: this.capture.stats(),
    };
  }

  private captureFailed(err: unknown): void {
    if (this.closed) return;
    const e = socketError(err, "SOCK_PCAP", "capture");
    const handler = this.errorHandler;
    void this.close();
    if (handler) handler(e);
    else log.error(`raw socket on port ${this.port} stopped receiving: ${e.message}`);
  }

  /** Per frame: parsed in place on the ring; the payload view is the only allocation. */
  private readonly onFrame = (ring: Uint8Array, offset: number, length: number): void => {
    const f = this.fields;
    if (!parseFrameAt(ring, offset, length, f, this.frameStats)) return;
    const h = this.handler;
    if (!h) {
      this.unhandled++;
      return;
    }
    this.received++;
    this.receivedBytes += f.payloadEnd - f.payloadStart;
    if ((this.received & 63) === 1) this.lastReceivedAt = Date.now();
    h(ring.subarray(f.payloadStart, f.payloadEnd), this.stableAddr(f.srcIp, f.srcPort));
  };

  /**
   * One PacketAddr object per peer, so upper layers and the FrameBuilder's per-object cache see the
   * same object for every datagram of a peer. Bounded: cleared past 4096 peers. The last peer is
   * remembered (a transfer is a run of frames from one peer; the IP text comes from framing's cache,
   * so the comparison is usually by reference).
   */
  private stableAddr(ip: string, port: number): PacketAddr {
    const last = this.lastAddr;
    if (last !== undefined && last.port === port && last.ip === ip) return last;
    let byPort = this.addrCache.get(ip);
    if (!byPort) {
      if (this.addrCache.size >= 4096) this.addrCache.clear();
      byPort = new Map();
      this.addrCache.set(ip, byPort);
    }
    let addr = byPort.get(port);
    if (!addr) {
      if (byPort.size >= 4096) byPort.clear();
      addr = Object.freeze({ ip, port });
      byPort.set(port, addr);
    }
    this.lastAddr = addr;
    return addr;
  }
}
