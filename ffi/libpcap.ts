/**
 * The libpcap and libc symbol tables, opened lazily on first use.
 *
 * Nothing here runs at import time, so unit tests and commands that never touch the network (check,
 * secret, version without libpcap) load this module on machines without libpcap. The first call to
 * `pcap()` tries the platform's library names in order (or only `PAQET_LIBPCAP` when set) and
 * throws a PcapError(SOCK_NO_LIBPCAP) whose message says how to install libpcap on this OS.
 *
 * Argument types follow the probe's findings (notes/bun-probe.md): buffers are passed as `ptr`
 * (FFIType.buffer arguments fail with "invalid ABI type" in Bun 1.4), and the pcap_t handle is a
 * plain pointer number so it can be handed to the capture worker.
 */
import { dlopen, type FFIFunction, FFIType, type Library } from "bun:ffi";
import { existsSync, readFileSync } from "node:fs";
import { PcapError } from "./errors.ts";

const { ptr, i32, u32, u64, void: voidT } = FFIType;

const PCAP_SYMBOLS = {
  pcap_lib_version: { args: [], returns: ptr },
  pcap_findalldevs: { args: [ptr, ptr], returns: i32 },
  pcap_freealldevs: { args: [ptr], returns: voidT },
  pcap_create: { args: [ptr, ptr], returns: ptr },
  pcap_set_snaplen: { args: [ptr, i32], returns: i32 },
  pcap_set_promisc: { args: [ptr, i32], returns: i32 },
  pcap_set_immediate_mode: { args: [ptr, i32], returns: i32 },
  pcap_set_buffer_size: { args: [ptr, i32], returns: i32 },
  pcap_set_timeout: { args: [ptr, i32], returns: i32 },
  pcap_activate: { args: [ptr], returns: i32 },
  pcap_compile: { args: [ptr, ptr, ptr, i32, u32], returns: i32 },
  pcap_setfilter: { args: [ptr, ptr], returns: i32 },
  pcap_freecode: { args: [ptr], returns: voidT },
  pcap_setdirection: { args: [ptr, i32], returns: i32 },
  pcap_setnonblock: { args: [ptr, i32, ptr], returns: i32 },
  pcap_sendpacket: { args: [ptr, ptr, i32], returns: i32 },
  pcap_next_ex: { args: [ptr, ptr, ptr], returns: i32 },
  pcap_dispatch: { args: [ptr, i32, ptr, ptr], returns: i32 },
  pcap_breakloop: { args: [ptr], returns: voidT },
  pcap_geterr: { args: [ptr], returns: ptr },
  pcap_close: { args: [ptr], returns: voidT },
  pcap_stats: { args: [ptr, ptr], returns: i32 },
  pcap_datalink: { args: [ptr], returns: i32 },
  pcap_fileno: { args: [ptr], returns: i32 },
} as const;

const LIBC_SYMBOLS = {
  memcpy: { args: [ptr, ptr, u64], returns: ptr },
} as const;

/** Linux only: batched sends on the handle's packet socket, and the errno of a failed one. */
const LINUX_SEND_SYMBOLS = {
  sendmmsg: { args: [i32, ptr, u32, i32], returns: i32 },
  __errno_location: { args: [], returns: ptr },
  strerror: { args: [i32], returns: ptr },
} as const;

/** Replacing the process image (ffi/exec.ts). */
const EXEC_SYMBOLS = {
  execve: { args: [ptr, ptr, ptr], returns: i32 },
  __errno_location: { args: [], returns: ptr },
  strerror: { args: [i32], returns: ptr },
} as const;

export type PcapLib = Library<typeof PCAP_SYMBOLS>["symbols"];
export type ExecLib = Library<typeof EXEC_SYMBOLS>["symbols"];
export type LinuxSendLib = Library<typeof LINUX_SEND_SYMBOLS>["symbols"];
export type LibcLib = Library<typeof LIBC_SYMBOLS>["symbols"];

export const IS_WINDOWS = process.platform === "win32";
export const IS_MACOS = process.platform === "darwin";

/**
 * `struct pcap_pkthdr` field offsets. 64-bit Linux/macOS: a 16-byte timeval, caplen@16, len@20.
 * Windows is LLP64, so its timeval is two 32-bit longs: caplen@8, len@12. The seconds and
 * microseconds are read as their low 32 bits (enough until 2106).
 */
export const PKTHDR = IS_WINDOWS
  ? { tsSec: 0, tsUsec: 4, caplen: 8, len: 12 }
  : { tsSec: 0, tsUsec: 8, caplen: 16, len: 20 };

/** Library names to try, in order, for this platform. */
export function libpcapCandidates(platform: NodeJS.Platform = process.platform): string[] {
  const override = process.env.PAQET_LIBPCAP;
  if (override) return [override];
  switch (platform) {
    case "darwin":
      return [
        "/usr/lib/libpcap.A.dylib",
        "/opt/homebrew/opt/libpcap/lib/libpcap.dylib",
        "/usr/local/opt/libpcap/lib/libpcap.dylib",
      ];
    case "win32": {
      const root = process.env.SystemRoot ?? "C:\\Windows";
      return [`${root}\\System32\\Npcap\\wpcap.dll`, "wpcap.dll"];
    }
    default:
      return [
        "libpcap.so.1",
        "libpcap.so.0.8",
        "libpcap.so",
        "/usr/lib64/libpcap.so.1",
        "/usr/lib/libpcap.so.1",
        "/usr/lib/x86_64-linux-gnu/libpcap.so.0.8",
        "/usr/lib/aarch64-linux-gnu/libpcap.so.0.8",
      ];
  }
}

/** One line telling the user how to get libpcap on this OS. */
export function installHint(platform: NodeJS.Platform = process.platform): string {
  if (platform === "darwin") return "libpcap ships with macOS; if it was removed, run: brew install libpcap";
  if (platform === "win32") return "install Npcap from https://npcap.com (paqet loads System32\\Npcap\\wpcap.dll)";
  let id = "";
  try {
    const osr = readFileSync("/etc/os-release", "utf8");
    id = `${/^ID=(.*)$/m.exec(osr)?.[1] ?? ""} ${/^ID_LIKE=(.*)$/m.exec(osr)?.[1] ?? ""}`.replaceAll('"', "");
  } catch {
    // no os-release: fall through to the generic hint
  }
  if (/\b(debian|ubuntu)\b/.test(id)) return "install it with: apt-get install libpcap0.8";
  if (/\balpine\b/.test(id)) return "install it with: apk add libpcap";
  if (/\b(arch|manjaro)\b/.test(id)) return "install it with: pacman -S libpcap";
  if (/\b(suse|opensuse)\b/.test(id)) return "install it with: zypper install libpcap1";
  if (/\b(fedora|rhel|centos|rocky|almalinux)\b/.test(id)) return "install it with: dnf install libpcap";
  return "install libpcap (apt-get install libpcap0.8 | dnf install libpcap | apk add libpcap)";
}

let pcapLib: { symbols: PcapLib; path: string } | undefined;
let pcapFailure: PcapError | undefined;

/** The libpcap symbols; opens the library on first call. Throws PcapError(SOCK_NO_LIBPCAP). */
export function pcap(): PcapLib {
  if (pcapLib) return pcapLib.symbols;
  if (pcapFailure) throw pcapFailure;
  const tried: string[] = [];
  for (const name of libpcapCandidates()) {
    try {
      const lib = dlopen(name, PCAP_SYMBOLS);
      pcapLib = { symbols: lib.symbols, path: name };
      return lib.symbols;
    } catch (err) {
      tried.push(`${name} (${err instanceof Error ? err.message.split("\n")[0] : String(err)})`);
    }
  }
  const how = process.env.PAQET_LIBPCAP ? "PAQET_LIBPCAP points at a library that does not load" : installHint();
  pcapFailure = new PcapError("SOCK_NO_LIBPCAP", `libpcap not found: ${how}; tried ${tried.join(", ")}`);
  throw pcapFailure;
}

/** The path or soname libpcap was loaded from (after a successful `pcap()`). */
export function libpcapPath(): string | undefined {
  return pcapLib?.path;
}

function libcCandidates(): string[] {
  if (IS_MACOS) return ["/usr/lib/libSystem.B.dylib"];
  if (IS_WINDOWS) return ["msvcrt.dll"];
  const arch = process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch;
  return ["libc.so.6", `libc.musl-${arch}.so.1`, `/lib/ld-musl-${arch}.so.1`];
}

let libcLib: LibcLib | null | undefined;

/**
 * libc's memcpy, used to copy captured frames out of libpcap's buffer in one FFI call. Returns null
 * when no libc loads; callers then copy through `toArrayBuffer` (slower, same result).
 */
export function libc(): LibcLib | null {
  if (libcLib === undefined) libcLib = openLibc(LIBC_SYMBOLS);
  return libcLib;
}

/** The symbols from the first C library name that loads with all of them, or null. */
function openLibc<S extends Record<string, FFIFunction>>(symbols: S): Library<S>["symbols"] | null {
  for (const name of libcCandidates()) {
    if (name.startsWith("/") && !existsSync(name)) continue;
    try {
      return dlopen(name, symbols).symbols;
    } catch {
      // try the next name
    }
  }
  return null;
}

let linuxSendLib: LinuxSendLib | null | undefined;

/**
 * `sendmmsg` and errno access from the C library, on 64-bit Linux only (the `struct mmsghdr`
 * layout in send-batch.ts is the LP64 one). Null elsewhere or when no libc loads; senders then
 * fall back to one `pcap_sendpacket` per frame.
 */
export function linuxSend(): LinuxSendLib | null {
  if (linuxSendLib === undefined) {
    const lp64Linux = process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64");
    linuxSendLib = lp64Linux ? openLibc(LINUX_SEND_SYMBOLS) : null;
  }
  return linuxSendLib;
}

let execLib: ExecLib | null | undefined;

/** `execve` and errno access from the C library, on Linux; null elsewhere or when none loads. */
export function libcExec(): ExecLib | null {
  if (execLib === undefined) execLib = process.platform === "linux" ? openLibc(EXEC_SYMBOLS) : null;
  return execLib;
}
