/**
 * A pcap_t handle that owns its pointer: open (create + settings + activate + filter), send,
 * stats, break, close. Every failure carries libpcap's own text (`pcap_geterr` or the errbuf).
 *
 * Buffers handed to native code are allocated as `new T(new ArrayBuffer(n))` (small typed arrays
 * otherwise move when `.buffer` is first touched) and are passed as typed arrays, which keeps them
 * alive for the duration of the call (a bare `ptr()` number does not; see bun-probe.md pitfall 1).
 */
import { ipv6GroupsText } from "../src/lib/ipv6-text.ts";
import { CString, read, type Pointer } from "bun:ffi";
import { PcapError, type PcapErrorCode } from "./errors.ts";
import { IS_WINDOWS, pcap } from "./libpcap.ts";

const ERRBUF_SIZE = 256;
const BPF_PROGRAM_SIZE = 16;
const PCAP_STAT_SIZE = 16;
const PCAP_NETMASK_UNKNOWN = 0xffffffff;

/** pcap_activate / pcap_* return codes that get their own error code. */
const PCAP_ERROR_NO_SUCH_DEVICE = -5;
const PCAP_ERROR_PERM_DENIED = -8;
const PCAP_ERROR_IFACE_NOT_UP = -9;
const PCAP_ERROR_PROMISC_PERM_DENIED = -11;

export type PcapDirection = "inout" | "in" | "out";
const DIRECTION: Record<PcapDirection, number> = { inout: 0, in: 1, out: 2 };

/** DLT_EN10MB: the only link type paqet's frames decode from. */
export const DLT_EN10MB = 1;

export interface PcapOpenOptions {
  /** Device name (on Windows the `\Device\NPF_{GUID}` name). */
  readonly device: string;
  readonly snaplen?: number;
  readonly promisc?: boolean;
  readonly immediate?: boolean;
  /** Kernel buffer in bytes; left at libpcap's default when absent. */
  readonly bufferSize?: number;
  /** Read timeout in ms; 0 blocks forever (Linux immediate mode ignores it anyway). */
  readonly timeoutMs?: number;
  /** Not applied on Windows, where Npcap does not support it. */
  readonly direction?: PcapDirection;
  /** A BPF expression applied after activation. */
  readonly filter?: string;
}

export interface PcapStats {
  /** Packets the kernel passed to this handle's filter (OS-dependent meaning). */
  readonly received: number;
  /** Packets dropped because the handle's buffer was full. */
  readonly dropped: number;
  /** Packets dropped by the interface or its driver. */
  readonly ifDropped: number;
}

function cstr(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(`${s}\0`);
  const out = new Uint8Array(new ArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

function errbufText(buf: Uint8Array): string {
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

function codeFor(rc: number): PcapErrorCode {
  if (rc === PCAP_ERROR_PERM_DENIED || rc === PCAP_ERROR_PROMISC_PERM_DENIED) return "SOCK_PERMISSION";
  if (rc === PCAP_ERROR_NO_SUCH_DEVICE) return "SOCK_NO_INTERFACE";
  return "SOCK_PCAP";
}

function hintFor(code: PcapErrorCode): string {
  if (code === "SOCK_PERMISSION") {
    return IS_WINDOWS
      ? " (run as Administrator or install Npcap without the admin-only option)"
      : " (run as root, or give the binary cap_net_raw,cap_net_admin: setcap cap_net_raw,cap_net_admin+ep <binary>)";
  }
  return "";
}

/** `pcap_lib_version()` text, e.g. "libpcap version 1.10.3 (with TPACKET_V3)". Throws when missing. */
export function libpcapVersion(): string {
  const p = pcap().pcap_lib_version();
  return p ? new CString(p).toString() : "unknown";
}

/** [major, minor] of the loaded libpcap (Npcap reports the libpcap it is based on). */
export function libpcapVersionNumbers(text = libpcapVersion()): [number, number] {
  const m = /libpcap version (\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/**
 * True when `pcap_breakloop` wakes a thread blocked in `pcap_next_ex` (Linux, libpcap >= 1.10,
 * through an eventfd). Elsewhere the capture worker needs a read timeout to notice a stop request.
 */
export function breakloopWakes(): boolean {
  if (process.platform !== "linux") return false;
  const [major, minor] = libpcapVersionNumbers();
  return major > 1 || (major === 1 && minor >= 10);
}

export class PcapHandle {
  private handle: Pointer | null;
  private readonly statBuf = new Uint32Array(new ArrayBuffer(PCAP_STAT_SIZE));
  private readonly errbuf = new Uint8Array(new ArrayBuffer(ERRBUF_SIZE));

  private constructor(
    readonly device: string,
    handle: Pointer,
  ) {
    this.handle = handle;
  }

  /** Creates, configures and activates a handle; closes it again if any step fails. */
  static open(options: PcapOpenOptions): PcapHandle {
    const lib = pcap();
    const errbuf = new Uint8Array(new ArrayBuffer(ERRBUF_SIZE));
    const raw = lib.pcap_create(cstr(options.device), errbuf);
    if (!raw) {
      throw new PcapError("SOCK_PCAP", `pcap_create ${options.device}: ${errbufText(errbuf) || "failed"}`);
    }
    const h = new PcapHandle(options.device, raw as Pointer);
    try {
      h.check("pcap_set_snaplen", lib.pcap_set_snaplen(raw, options.snaplen ?? 65536));
      h.check("pcap_set_promisc", lib.pcap_set_promisc(raw, options.promisc ? 1 : 0));
      h.check("pcap_set_immediate_mode", lib.pcap_set_immediate_mode(raw, options.immediate === false ? 0 : 1));
      if (options.bufferSize !== undefined) {
        h.check("pcap_set_buffer_size", lib.pcap_set_buffer_size(raw, options.bufferSize));
      }
      h.check("pcap_set_timeout", lib.pcap_set_timeout(raw, options.timeoutMs ?? 0));
      const rc = lib.pcap_activate(raw);
      if (rc < 0) {
        const detail = h.lastError();
        const code = codeFor(rc);
        const what = rc === PCAP_ERROR_IFACE_NOT_UP ? "interface is down" : detail;
        throw new PcapError(code, `pcap_activate ${options.device}: ${what}${hintFor(code)}`);
      }
      if (options.direction && !IS_WINDOWS) h.setDirection(options.direction);
      if (options.filter !== undefined) h.setFilter(options.filter);
      return h;
    } catch (err) {
      h.close();
      throw err;
    }
  }

  get isClosed(): boolean {
    return this.handle === null;
  }

  /** The raw pcap_t pointer, for the capture worker. Throws once closed. */
  get pointer(): number {
    return this.live();
  }

  setFilter(expression: string): void {
    const lib = pcap();
    const h = this.live();
    const prog = new Uint8Array(new ArrayBuffer(BPF_PROGRAM_SIZE));
    if (lib.pcap_compile(h, prog, cstr(expression), 1, PCAP_NETMASK_UNKNOWN) !== 0) {
      throw new PcapError("SOCK_PCAP", `bad BPF filter "${expression}": ${this.lastError()}`);
    }
    const rc = lib.pcap_setfilter(h, prog);
    lib.pcap_freecode(prog);
    if (rc !== 0) throw new PcapError("SOCK_PCAP", `pcap_setfilter "${expression}": ${this.lastError()}`);
  }

  setDirection(direction: PcapDirection): void {
    const rc = pcap().pcap_setdirection(this.live(), DIRECTION[direction]);
    if (rc !== 0) throw new PcapError("SOCK_PCAP", `pcap_setdirection ${direction}: ${this.lastError()}`);
  }

  setNonblock(on: boolean): void {
    if (pcap().pcap_setnonblock(this.live(), on ? 1 : 0, this.errbuf) !== 0) {
      throw new PcapError("SOCK_PCAP", `pcap_setnonblock: ${errbufText(this.errbuf)}`);
    }
  }

  datalink(): number {
    return pcap().pcap_datalink(this.live());
  }

  /**
   * Injects one frame: the first `length` bytes of `frame`. Synchronous; nothing is kept.
   * Throws PcapError(SOCK_PCAP) with libpcap's text when the link refuses it.
   */
  send(frame: Uint8Array, length: number = frame.length): void {
    const h = this.handle;
    if (h === null) throw new PcapError("SOCK_PCAP", `pcap handle on ${this.device} is closed`);
    if (length > frame.length) throw new RangeError(`send length ${length} > buffer ${frame.length}`);
    if (pcap().pcap_sendpacket(h, frame, length) !== 0) {
      throw new PcapError("SOCK_PCAP", `pcap_sendpacket on ${this.device}: ${this.lastError()}`);
    }
  }

  /** The handle's socket descriptor (`pcap_fileno`); on Linux the AF_PACKET socket it sends on. */
  fileno(): number {
    return pcap().pcap_fileno(this.live());
  }

  /** Kernel counters of this handle (cumulative since activation). */
  stats(): PcapStats {
    const s = this.statBuf;
    if (pcap().pcap_stats(this.live(), s) !== 0) {
      throw new PcapError("SOCK_PCAP", `pcap_stats: ${this.lastError()}`);
    }
    return { received: s[0] ?? 0, dropped: s[1] ?? 0, ifDropped: s[2] ?? 0 };
  }

  /** Makes a blocked or the next `pcap_next_ex` return -2. Safe from another thread on libpcap >= 1.10. */
  breakLoop(): void {
    if (this.handle !== null) pcap().pcap_breakloop(this.handle);
  }

  /** Idempotent. Callers must make sure no other thread is inside a call on this handle. */
  close(): void {
    const h = this.handle;
    if (h === null) return;
    this.handle = null;
    pcap().pcap_close(h);
  }

  /** `pcap_geterr` text (empty when the handle is closed). */
  lastError(): string {
    if (this.handle === null) return "";
    const p = pcap().pcap_geterr(this.handle);
    return p ? new CString(p).toString() : "";
  }

  private live(): Pointer {
    if (this.handle === null) throw new PcapError("SOCK_PCAP", `pcap handle on ${this.device} is closed`);
    return this.handle;
  }

  private check(what: string, rc: number): void {
    if (rc !== 0) throw new PcapError("SOCK_PCAP", `${what} on ${this.device}: ${this.lastError() || `error ${rc}`}`);
  }
}

export interface PcapDevice {
  readonly name: string;
  readonly description: string;
  readonly flags: number;
  readonly loopback: boolean;
  readonly up: boolean;
  readonly running: boolean;
  /** IPv4 and IPv6 addresses as text. */
  readonly addresses: readonly string[];
}

const PCAP_IF = { next: 0, name: 8, description: 16, addresses: 24, flags: 32 } as const;
const PCAP_ADDR = { next: 0, addr: 8 } as const;
const AF_INET = 2;
const AF_INET6 = process.platform === "darwin" ? 30 : process.platform === "win32" ? 23 : 10;

function sockaddrText(sa: number): string | undefined {
  // BSD sockaddrs start with a length byte, then an 8-bit family; Linux/Windows use a 16-bit family.
  const family = process.platform === "darwin" ? read.u8(sa as Pointer, 1) : read.u16(sa as Pointer, 0);
  if (family === AF_INET) {
    const b = [4, 5, 6, 7].map((o) => read.u8(sa as Pointer, o));
    return b.join(".");
  }
  if (family === AF_INET6) {
    const words: number[] = [];
    for (let i = 0; i < 8; i++) words.push((read.u8(sa as Pointer, 8 + 2 * i) << 8) | read.u8(sa as Pointer, 9 + 2 * i));
    return ipv6Text(words);
  }
  return undefined;
}

/** RFC 5952 text of eight 16-bit words (device addresses from pcap_findalldevs). */
export const ipv6Text = ipv6GroupsText;

/** Every device libpcap can open (`pcap_findalldevs`). */
export function findAllDevs(): PcapDevice[] {
  const lib = pcap();
  const head = new BigUint64Array(new ArrayBuffer(8));
  const errbuf = new Uint8Array(new ArrayBuffer(ERRBUF_SIZE));
  if (lib.pcap_findalldevs(head, errbuf) !== 0) {
    throw new PcapError("SOCK_PCAP", `pcap_findalldevs: ${errbufText(errbuf)}`);
  }
  const first = Number(head[0]);
  const out: PcapDevice[] = [];
  try {
    for (let dev = first, n = 0; dev !== 0 && n < 4096; n++) {
      const p = dev as Pointer;
      const namePtr = read.ptr(p, PCAP_IF.name);
      const descPtr = read.ptr(p, PCAP_IF.description);
      const flags = read.u32(p, PCAP_IF.flags);
      const addresses: string[] = [];
      for (let a = read.ptr(p, PCAP_IF.addresses), m = 0; a !== 0 && m < 256; m++) {
        const sa = read.ptr(a as Pointer, PCAP_ADDR.addr);
        const text = sa ? sockaddrText(sa) : undefined;
        if (text) addresses.push(text);
        a = read.ptr(a as Pointer, PCAP_ADDR.next);
      }
      out.push({
        name: namePtr ? new CString(namePtr as Pointer).toString() : "",
        description: descPtr ? new CString(descPtr as Pointer).toString() : "",
        flags,
        loopback: (flags & 1) !== 0,
        up: (flags & 2) !== 0,
        running: (flags & 4) !== 0,
        addresses,
      });
      dev = read.ptr(p, PCAP_IF.next);
    }
  } finally {
    if (first !== 0) lib.pcap_freealldevs(first as Pointer);
  }
  return out;
}
