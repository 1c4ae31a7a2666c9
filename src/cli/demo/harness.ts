/**
 * Running a real paqet pair on a NetBed: configs for both roles, child processes inside the
 * namespaces with their output kept, bounded waits, and the probe (probe.ts) run on the client
 * side. Shared by `paqet demo`, the end-to-end tests and the tunnel benchmark.
 */
import { spawn, spawnSync, type Subprocess } from "bun";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BedEnd, NetBed } from "./netbed.ts";
import { inNs } from "./netbed.ts";
import type { ProbeJob } from "./probe.ts";

/** The checkout's root (this file is src/cli/demo/harness.ts). */
export const CHECKOUT = resolve(import.meta.dir, "../../..");
export const MAIN_TS = join(CHECKOUT, "src/main.ts");
export const TARGETS_TS = join(import.meta.dir, "targets.ts");
export const PROBE_TS = join(import.meta.dir, "probe.ts");

export const DEFAULT_SERVER_PORT = 47000;
export const DEFAULT_SOCKS_PORT = 1080;

export interface ForwardSpec {
  readonly listen: string;
  readonly target: string;
  readonly protocol: "tcp" | "udp";
}

export interface TunnelSpec {
  readonly key: string;
  readonly block?: string;
  readonly mode?: string;
  readonly conn?: number;
  /** The carrier's address family (default 4). */
  readonly family?: 4 | 6;
  readonly serverPort?: number;
  /** SOCKS5 listen port on the client's loopback; omit for none. */
  readonly socksPort?: number;
  readonly forwards?: readonly ForwardSpec[];
  readonly logLevel?: string;
  /** Loopback `host:port` of the status endpoint on both sides (debug.pprof + debug.diag). */
  readonly statusAddr?: string;
  /** A different key for the client only (wrong-key tests). */
  readonly clientKey?: string;
}

const q = (s: string | number) => JSON.stringify(String(s));

function networkYaml(side: BedEnd, family: 4 | 6, port: number): string[] {
  const lines = ["network:", `  interface: ${q(side.ifname)}`];
  if (family === 4) lines.push("  ipv4:", `    addr: ${q(`${side.ipv4}:${port}`)}`, `    router_mac: ${q(side.routerMac)}`);
  else lines.push("  ipv6:", `    addr: ${q(`[${side.ipv6}]:${port}`)}`, `    router_mac: ${q(side.routerMac)}`);
  return lines;
}

function transportYaml(spec: TunnelSpec, key: string, withConn: boolean): string[] {
  const lines = ["transport:", '  protocol: "kcp"'];
  if (withConn && spec.conn !== undefined) lines.push(`  conn: ${spec.conn}`);
  lines.push("  kcp:", `    mode: ${q(spec.mode ?? "fast")}`, `    block: ${q(spec.block ?? "aes")}`, `    key: ${q(key)}`);
  return lines;
}

function debugYaml(spec: TunnelSpec): string[] {
  return spec.statusAddr ? ["debug:", `  pprof: ${q(spec.statusAddr)}`, "  diag: true"] : [];
}

export function serverYaml(bed: NetBed, spec: TunnelSpec): string {
  const port = spec.serverPort ?? DEFAULT_SERVER_PORT;
  return [
    'role: "server"',
    "log:",
    `  level: ${q(spec.logLevel ?? "info")}`,
    "listen:",
    `  addr: ${q(`:${port}`)}`,
    ...networkYaml(bed.b, spec.family ?? 4, port),
    ...transportYaml(spec, spec.key, false),
    ...debugYaml(spec),
    "",
  ].join("\n");
}

export function clientYaml(bed: NetBed, spec: TunnelSpec): string {
  const family = spec.family ?? 4;
  const port = spec.serverPort ?? DEFAULT_SERVER_PORT;
  const lines = ['role: "client"', "log:", `  level: ${q(spec.logLevel ?? "info")}`];
  if (spec.socksPort !== undefined) lines.push("socks5:", `  - listen: ${q(`127.0.0.1:${spec.socksPort}`)}`);
  if (spec.forwards && spec.forwards.length > 0) {
    lines.push("forward:");
    for (const f of spec.forwards) lines.push(`  - listen: ${q(f.listen)}`, `    target: ${q(f.target)}`, `    protocol: ${q(f.protocol)}`);
  }
  lines.push(...networkYaml(bed.a, family, 0));
  lines.push("server:", `  addr: ${q(family === 4 ? `${bed.b.ipv4}:${port}` : `[${bed.b.ipv6}]:${port}`)}`);
  lines.push(...transportYaml(spec, spec.clientKey ?? spec.key, true), ...debugYaml(spec), "");
  return lines.join("\n");
}

/** A child process inside a namespace whose stdout+stderr are kept as text. */
export class NsProcess {
  readonly child: Subprocess<"ignore", "pipe", "pipe">;
  output = "";
  private waiters: (() => void)[] = [];
  readonly done: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    ns: string,
    argv: readonly string[],
    env: Record<string, string> = {},
  ) {
    this.child = spawn(inNs(ns, argv), {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...env },
    });
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of stream) {
        this.output += dec.decode(chunk, { stream: true });
        for (const w of this.waiters.splice(0)) w();
      }
    };
    const pumps = Promise.all([pump(this.child.stdout), pump(this.child.stderr)]);
    this.done = this.child.exited.then(async (code) => {
      await Promise.race([pumps, Bun.sleep(500)]);
      this.exitCode = code;
      for (const w of this.waiters.splice(0)) w();
      return code;
    });
  }

  /** The paqet/bun pid (`ip netns exec` execs the command in place). */
  get pid(): number {
    return this.child.pid;
  }

  get exited(): boolean {
    return this.exitCode !== undefined;
  }

  get code(): number | null | undefined {
    return this.exitCode;
  }

  /** Waits until the output matches `re`; throws with the output on exit or timeout. */
  async waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.output.match(re);
      if (m) return m;
      if (this.exited) throw new Error(`${this.name} exited (code ${this.exitCode}) before ${re}; output:\n${this.tail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${re} within ${timeoutMs} ms; output:\n${this.tail()}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  tail(lines = 40): string {
    return this.output.split("\n").slice(-lines).join("\n");
  }

  /**
   * SIGTERM; a second SIGTERM after half of `graceMs` (paqet run exits at once on a second signal,
   * still through process.exit, so exit hooks such as --cpu-prof run); SIGKILL after `graceMs`.
   * Resolves with the exit code. Bounded.
   */
  async stop(graceMs = 3000): Promise<number | null> {
    if (!this.exited) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const again = setTimeout(() => {
        try {
          this.child.kill("SIGTERM");
        } catch {
          // already gone
        }
      }, graceMs / 2);
      const t = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, graceMs);
      await this.done;
      clearTimeout(again);
      clearTimeout(t);
    }
    return this.exitCode ?? null;
  }

  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** A temp directory for configs and logs; removed by `cleanup()`. */
export class WorkDir {
  readonly path = mkdtempSync(join(tmpdir(), "paqet-e2e-"));
  write(name: string, text: string): string {
    const p = join(this.path, name);
    writeFileSync(p, text);
    return p;
  }
  read(name: string): string {
    return readFileSync(join(this.path, name), "utf8");
  }
  cleanup(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** `paqet run -c <config>` from this checkout inside `ns`. */
export function startPaqet(name: string, ns: string, configPath: string): NsProcess {
  return new NsProcess(name, ns, [process.execPath, MAIN_TS, "run", "-c", configPath]);
}

/** The HTTP + UDP echo targets inside `ns`; resolves once they listen. */
export async function startTargets(ns: string, http: number, udp: number, timeoutMs = 10_000): Promise<NsProcess> {
  const p = new NsProcess("targets", ns, [process.execPath, TARGETS_TS, "--http", String(http), "--udp", String(udp)]);
  try {
    await p.waitFor(/^ready http=\d+ udp=-?\d+$/m, timeoutMs);
  } catch (err) {
    p.kill();
    throw err;
  }
  return p;
}

/** True when something listens on TCP `port` inside `ns` (`ss`). */
export function listening(ns: string, port: number, proto: "tcp" | "udp" = "tcp"): boolean {
  const r = spawnSync(inNs(ns, ["ss", "-Hln", proto === "tcp" ? "-t" : "-u", `sport = :${port}`]), { stdout: "pipe", stderr: "ignore" });
  return r.exitCode === 0 && r.stdout.toString().trim() !== "";
}

/** Polls `listening` until true; throws after `timeoutMs` or when `watch` exits. */
export async function waitListening(ns: string, port: number, timeoutMs: number, watch?: NsProcess, proto: "tcp" | "udp" = "tcp"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!listening(ns, port, proto)) {
    if (watch?.exited) throw new Error(`${watch.name} exited (code ${watch.code}) before listening on ${port}; output:\n${watch.tail()}`);
    if (Date.now() >= deadline) throw new Error(`nothing listened on ${proto} port ${port} in ${ns} within ${timeoutMs} ms${watch ? `; ${watch.name} output:\n${watch.tail()}` : ""}`);
    await Bun.sleep(100);
  }
}

/** Runs one probe job inside `ns` and returns its JSON result; bounded by `timeoutMs` (SIGKILL). */
export async function probeIn<T>(ns: string, job: ProbeJob, timeoutMs: number): Promise<T> {
  const p = new NsProcess("probe", ns, [process.execPath, PROBE_TS, JSON.stringify(job)]);
  const t = setTimeout(() => p.kill(), timeoutMs);
  try {
    await p.done;
  } finally {
    clearTimeout(t);
  }
  const line = p.output.trim().split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`probe ${job.kind} gave no result (exit ${p.code}); output:\n${p.tail()}`);
  const result = JSON.parse(line) as T & { fatal?: string };
  if (result.fatal !== undefined) throw new Error(`probe ${job.kind}: ${result.fatal}`);
  return result;
}

/** CPU time (user+system, ms) and peak RSS (VmHWM, KiB) of a live process; undefined once gone. */
export function procUsage(pid: number): { cpuMs: number; hwmKiB: number; rssKiB: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After "(comm) ": state is field 0, utime 11, stime 12 (clock ticks).
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const hwm = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    return { cpuMs: (ticks * 1000) / clockTicks(), hwmKiB: hwm, rssKiB: rss };
  } catch {
    return undefined;
  }
}

let hz: number | undefined;
function clockTicks(): number {
  if (hz === undefined) {
    const r = spawnSync(["getconf", "CLK_TCK"], { stdout: "pipe", stderr: "ignore" });
    const v = Number(r.stdout.toString().trim());
    hz = Number.isFinite(v) && v > 0 ? v : 100;
  }
  return hz;
}
