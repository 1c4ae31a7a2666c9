/**
 * execve(2) from the C library: replaces this process image with another program, keeping the PID,
 * the open descriptors (stdio included) and what a supervisor waits on. Used once at start-up to
 * set allocator options that are read from the environment only when a process starts (see
 * src/cli/run.ts). Linux only; elsewhere it reports why not.
 */
import { CString, ptr, read } from "bun:ffi";
import { libcExec } from "./libpcap.ts";

function cString(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

/**
 * Runs `path` with `argv` and `env` in place of this process. Returns only when that failed, with
 * the reason (no C library, or execve's error).
 */
export function execSelf(path: string, argv: readonly string[], env: Readonly<Record<string, string | undefined>>): string {
  // The argv/envp tables below are arrays of 64-bit pointers.
  if (process.arch !== "x64" && process.arch !== "arm64") return `not supported on ${process.arch}`;
  const lib = libcExec();
  if (lib === null) return process.platform === "linux" ? "no C library to call execve" : `not supported on ${process.platform}`;
  // The strings stay referenced by `keep` through the call (bun-probe.md, pitfall 1: a bare pointer
  // number does not keep its buffer alive).
  const keep: Buffer[] = [];
  const table = (items: readonly string[]): BigUint64Array => {
    const t = new BigUint64Array(items.length + 1);
    items.forEach((s, i) => {
      const b = cString(s);
      keep.push(b);
      t[i] = BigInt(ptr(b));
    });
    return t;
  };
  const file = cString(path);
  const args = table(argv);
  const envp = table(Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])));
  lib.execve(file, args, envp);
  keep.length = 0;
  const errnoAt = lib.__errno_location();
  const errno = errnoAt === null ? 0 : read.i32(errnoAt, 0);
  const text = lib.strerror(errno);
  return `execve ${path}: ${text === null ? `errno ${errno}` : new CString(text).toString()}`;
}
