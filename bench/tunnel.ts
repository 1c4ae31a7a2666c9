/**
 * The tunnel benchmark (root): a real `paqet run` client and server from this checkout on a bed of
 * network namespaces, default configuration on both sides (block aes, mode fast), against the
 * direct veth path measured in the same run.
 *
 *   bun bench/tunnel.ts [--profile veth|impaired|all] [--reps N] [--quick] [--direct-only] [--paqet-env K=V]... [--bin PATH]
 *                      [--relay auto|c|ts]
 *
 * Profile "veth" (direct link): single-stream download of 256 MiB, 8 parallel downloads of
 * 64 MiB, request latency on an open connection and with a new connection (+ SOCKS5 handshake)
 * per request (200 each, random pauses 0..40 ms), tunnel CPU ms per MiB per process (utime+stime
 * from /proc/<pid>/stat over the tunnel downloads) and peak RSS (VmHWM). Downloads are repeated
 * (5 times by default) and reported as medians; direct and tunnel take turns, so that the slow
 * spells of a shared machine fall on both.
 * Profile "impaired": the same bed with a user-space relay in the middle adding 30 ms delay and 1 %
 * loss each way; single-stream download, direct and tunnel, beside what kcp-go's window rules allow
 * there at all (bench/lib/window-model.ts, the client's rcvwnd 512). `--relay c` (the default when
 * gcc and ../shared/tools/netbed-relay.c are there) runs the shared test bed's C relay, the one the
 * Go paqet's reference numbers came from; `--relay ts` runs ours (bench/lib/relay.ts), which needs
 * nothing but Bun and libpcap but holds frames a little longer (timers, the capture worker).
 *
 * Prints a table with tunnel/direct ratios and the bars of issue 7, and writes every number to
 * bench/results/<timestamp>.json. `--paqet-env` adds an environment variable to both paqet processes
 * (e.g. MIMALLOC_PURGE_DELAY=-1, to weigh allocator settings); the default run sets none. Downloads are timed without hashing (the probe would compete
 * for the same two cores); a separate 16 MiB download checks the tunnel's integrity first.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import {
  clientYaml,
  DEFAULT_SOCKS_PORT,
  MAIN_TS,
  NsProcess,
  probeIn,
  procUsage,
  serverYaml,
  startTargets,
  type TunnelSpec,
  waitListening,
  WorkDir,
} from "../src/cli/demo/harness.ts";
import { createNetBed, netbedUnavailable, type NetBed } from "../src/cli/demo/netbed.ts";
import type { GetOutcome, LatOutcome } from "../src/cli/demo/probe.ts";
import type { Socks5Addr } from "../src/cli/demo/socks5-client.ts";
import { windowModelMiBps } from "./lib/window-model.ts";

const MiB = 1024 * 1024;
const HTTP_PORT = 8080;
const SOCKS: Socks5Addr = { host: "127.0.0.1", port: DEFAULT_SOCKS_PORT };
const RELAY_TS = join(import.meta.dir, "lib/relay.ts");
const RELAY_C = resolve(import.meta.dir, "../../shared/tools/netbed-relay.c");

type RelayKind = "auto" | "c" | "ts";

export interface BenchOptions {
  profiles: ("veth" | "impaired")[];
  reps: number;
  singleMiB: number;
  parallel: number;
  parallelMiB: number;
  latN: number;
  latGapMs: number;
  impairedMiB: number;
  delayMs: number;
  lossPct: number;
  directOnly: boolean;
  /** Extra environment of both paqet processes (none by default). */
  paqetEnv: Record<string, string>;
  /** A built binary (build.ts) to run instead of this checkout's source under Bun. */
  bin?: string;
  /** The impaired profile's relay: the shared bed's C relay, ours in TypeScript, or C when it builds. */
  relay: RelayKind;
}

export const DEFAULTS: BenchOptions = {
  profiles: ["veth", "impaired"],
  reps: 5,
  singleMiB: 256,
  parallel: 8,
  parallelMiB: 64,
  latN: 200,
  latGapMs: 40,
  impairedMiB: 64,
  delayMs: 30,
  lossPct: 1,
  directOnly: false,
  paqetEnv: {},
  relay: "auto",
};

interface Latency {
  n: number;
  failed: number;
  p50: number;
  p99: number;
}

interface PathResult {
  singleMiBps: number[];
  parallelMiBps: number[];
  latKeep?: Latency;
  latNew?: Latency;
}

interface TunnelUsage {
  clientCpuMsPerMiB: number;
  serverCpuMsPerMiB: number;
  clientPeakRssMiB: number;
  serverPeakRssMiB: number;
  mibMoved: number;
}

interface ProfileResult {
  profile: string;
  impairment: string;
  direct: PathResult;
  tunnel?: PathResult;
  usage?: TunnelUsage;
  integrity?: string;
  /** Impaired profile: what kcp-go's window rules allow on this link (bench/lib/window-model.ts). */
  windowModel?: { window: number; seeds: number; mibps: number[] };
  errors: string[];
}

/** The client's default rcvwnd (paqet-app.md: role defaults), the window of a download. */
const CLIENT_RCVWND = 512;
const MODEL_SEEDS = 6;

function windowModel(o: BenchOptions): NonNullable<ProfileResult["windowModel"]> {
  const mibps = Array.from({ length: MODEL_SEEDS }, (_, seed) =>
    windowModelMiBps({ window: CLIENT_RCVWND, delayMs: o.delayMs, loss: o.lossPct / 100, mib: o.impairedMiB, seed }),
  );
  return { window: CLIENT_RCVWND, seeds: MODEL_SEEDS, mibps };
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]!;
}

function latency(o: LatOutcome): Latency {
  const s = [...o.samplesMs].sort((a, b) => a - b);
  return { n: s.length, failed: o.failed, p50: percentile(s, 0.5), p99: percentile(s, 0.99) };
}

/** One download run: MiB/s over the whole run (aggregate for parallel); throws on any failure. */
async function download(ns: string, socks: Socks5Addr | undefined, target: Socks5Addr, mib: number, count: number): Promise<number> {
  const timeoutMs = 180_000;
  const r = await probeIn<GetOutcome>(
    ns,
    { kind: "get", socks, target, bytes: mib * MiB, count, concurrency: count, timeoutMs, verify: false },
    timeoutMs + 10_000,
  );
  if (r.ok !== count) throw new Error(`${r.ok} of ${count} downloads of ${mib} MiB completed: ${r.errors.join("; ")}`);
  return (r.bytes / MiB) / (r.elapsedMs / 1000);
}

async function lat(ns: string, socks: Socks5Addr | undefined, target: Socks5Addr, mode: "keep" | "new", o: BenchOptions): Promise<Latency> {
  const r = await probeIn<LatOutcome>(ns, { kind: "lat", socks, target, mode, n: o.latN, gapMs: o.latGapMs, timeoutMs: 10_000 }, o.latN * (o.latGapMs + 200) + 30_000);
  return latency(r);
}

async function measurePath(bed: NetBed, socks: Socks5Addr | undefined, target: Socks5Addr, o: BenchOptions, full: boolean, singleMiB: number): Promise<PathResult> {
  const res: PathResult = { singleMiBps: [], parallelMiBps: [] };
  for (let i = 0; i < o.reps; i++) res.singleMiBps.push(await download(bed.a.ns, socks, target, singleMiB, 1));
  if (!full) return res;
  for (let i = 0; i < o.reps; i++) res.parallelMiBps.push(await download(bed.a.ns, socks, target, o.parallelMiB, o.parallel));
  res.latKeep = await lat(bed.a.ns, socks, target, "keep", o);
  res.latNew = await lat(bed.a.ns, socks, target, "new", o);
  return res;
}

/** The relay's command line, building the C relay into `work` when that is the one asked for. */
function relayCommand(o: BenchOptions, work: WorkDir, args: string[]): { argv: string[]; ready: RegExp; what: string } {
  const ts = { argv: [process.execPath, RELAY_TS, ...args], ready: /relay ready/, what: "user-space relay bench/lib/relay.ts" };
  if (o.relay === "ts") return ts;
  const why = !existsSync(RELAY_C) ? `${RELAY_C} is missing` : buildRelay(join(work.path, "netbed-relay"));
  if (why === undefined) return { argv: [join(work.path, "netbed-relay"), ...args], ready: /relay \S+ <-> \S+ delay/, what: "user-space relay netbed-relay.c" };
  if (o.relay === "c") throw new Error(`--relay c: ${why}`);
  process.stderr.write(`tunnel: the C relay is not available (${why}); using bench/lib/relay.ts\n`);
  return ts;
}

function buildRelay(out: string): string | undefined {
  const r = spawnSync("gcc", ["-O2", "-Wall", "-o", out, RELAY_C], { encoding: "utf8" });
  if (r.error) return `gcc: ${r.error.message}`;
  return r.status === 0 ? undefined : `gcc failed: ${r.stderr.trim()}`;
}

/** Starts server and client, waits for SOCKS5 and a first request through; returns both. */
async function startTunnel(bed: NetBed, work: WorkDir, target: Socks5Addr, env: Record<string, string>, bin: string | undefined): Promise<{ server: NsProcess; client: NsProcess }> {
  const spec: TunnelSpec = { key: "bench-key", socksPort: SOCKS.port, logLevel: "warn" };
  // PAQET_BUN_ARGS (space-separated) goes between bun and the script, e.g. to profile a run:
  // PAQET_BUN_ARGS="--cpu-prof-md --cpu-prof-dir=/tmp/prof" bun bench/tunnel.ts --quick
  const bunArgs = (process.env.PAQET_BUN_ARGS ?? "").split(" ").filter((a) => a !== "");
  // Under Bun flags `paqet run` does not start itself again with its allocator setting (run.ts),
  // so a profiled run gets the setting here, to profile what an ordinary run does.
  const runEnv = bunArgs.length > 0 ? { MIMALLOC_PURGE_DELAY: "1000", ...env } : env;
  const cmd = bin !== undefined ? [bin] : [process.execPath, ...bunArgs, MAIN_TS];
  const paqet = (name: string, ns: string, config: string) => new NsProcess(name, ns, [...cmd, "run", "-c", config], runEnv);
  const server = paqet("server", bed.b.ns, work.write("server.yaml", serverYaml(bed, spec)));
  const client = paqet("client", bed.a.ns, work.write("client.yaml", clientYaml(bed, spec)));
  try {
    await waitListening(bed.a.ns, SOCKS.port, 20_000, client);
    let errors = "";
    for (let i = 0; i < 8; i++) {
      const r = await probeIn<LatOutcome>(bed.a.ns, { kind: "lat", socks: SOCKS, target, mode: "new", n: 1, gapMs: 0, timeoutMs: 4000 }, 8000);
      if (r.samplesMs.length === 1) return { server, client };
      errors = r.errors.join("; ");
      if (server.exited) break;
    }
    throw new Error(`tunnel not ready: ${errors}\n--- server ---\n${server.tail()}\n--- client ---\n${client.tail()}`);
  } catch (err) {
    await Promise.all([server.stop(), client.stop()]);
    throw err;
  }
}

async function runProfile(profile: "veth" | "impaired", o: BenchOptions, log: (s: string) => void): Promise<ProfileResult> {
  const impaired = profile === "impaired";
  const bed = createNetBed({ prefix: "pqb", layout: impaired ? "relay" : "direct" });
  const work = new WorkDir();
  const procs: NsProcess[] = [];
  const result: ProfileResult = {
    profile,
    impairment: "none (direct veth)",
    direct: { singleMiBps: [], parallelMiBps: [] },
    errors: [],
  };
  try {
    if (impaired) {
      const m = bed.middle!;
      const cmd = relayCommand(o, work, [m.toA, m.toB, String(o.delayMs), String(o.lossPct)]);
      result.impairment = `${o.delayMs} ms + ${o.lossPct} % loss each way (${cmd.what})`;
      const relay = new NsProcess("relay", m.ns, cmd.argv);
      procs.push(relay);
      await relay.waitFor(cmd.ready, 15_000);
    }
    procs.push(await startTargets(bed.b.ns, HTTP_PORT, -1));
    const singleMiB = impaired ? o.impairedMiB : o.singleMiB;
    const direct = { host: bed.b.ipv4, port: HTTP_PORT };
    if (o.directOnly) {
      log(`${profile}: direct path`);
      result.direct = await measurePath(bed, undefined, direct, o, !impaired, singleMiB);
      return result;
    }

    log(`${profile}: tunnel and direct path, run by turns`);
    const target = { host: "127.0.0.1", port: HTTP_PORT };
    const { server, client } = await startTunnel(bed, work, target, o.paqetEnv, o.bin);
    procs.push(server, client);
    const check = await probeIn<GetOutcome>(bed.a.ns, { kind: "get", socks: SOCKS, target, bytes: 16 * MiB, count: 1, concurrency: 1, timeoutMs: 60_000 }, 70_000);
    result.integrity = check.ok === 1 ? "16 MiB through SOCKS5, sha256 matches" : `FAILED: ${check.errors.join("; ")}`;

    // Each tunnel download follows a direct one, so a slow spell of this shared machine weighs on
    // both sides of a ratio instead of on one; CPU is counted over the tunnel downloads only.
    const tunnel: PathResult = { singleMiBps: [], parallelMiBps: [] };
    const cpu = { client: 0, server: 0, complete: true };
    const viaTunnel = async (mib: number, count: number): Promise<number> => {
      const c0 = procUsage(client.pid);
      const s0 = procUsage(server.pid);
      const r = await download(bed.a.ns, SOCKS, target, mib, count);
      const c1 = procUsage(client.pid);
      const s1 = procUsage(server.pid);
      if (c0 && c1 && s0 && s1) {
        cpu.client += c1.cpuMs - c0.cpuMs;
        cpu.server += s1.cpuMs - s0.cpuMs;
      } else cpu.complete = false;
      return r;
    };
    for (let i = 0; i < o.reps; i++) {
      result.direct.singleMiBps.push(await download(bed.a.ns, undefined, direct, singleMiB, 1));
      tunnel.singleMiBps.push(await viaTunnel(singleMiB, 1));
    }
    if (!impaired) {
      for (let i = 0; i < o.reps; i++) {
        result.direct.parallelMiBps.push(await download(bed.a.ns, undefined, direct, o.parallelMiB, o.parallel));
        tunnel.parallelMiBps.push(await viaTunnel(o.parallelMiB, o.parallel));
      }
    }
    const moved = o.reps * (singleMiB + (impaired ? 0 : o.parallel * o.parallelMiB));
    if (!impaired) {
      result.direct.latKeep = await lat(bed.a.ns, undefined, direct, "keep", o);
      tunnel.latKeep = await lat(bed.a.ns, SOCKS, target, "keep", o);
      result.direct.latNew = await lat(bed.a.ns, undefined, direct, "new", o);
      tunnel.latNew = await lat(bed.a.ns, SOCKS, target, "new", o);
    }
    result.tunnel = tunnel;
    const c2 = procUsage(client.pid);
    const s2 = procUsage(server.pid);
    if (cpu.complete && c2 && s2) {
      result.usage = {
        clientCpuMsPerMiB: cpu.client / moved,
        serverCpuMsPerMiB: cpu.server / moved,
        clientPeakRssMiB: c2.hwmKiB / 1024,
        serverPeakRssMiB: s2.hwmKiB / 1024,
        mibMoved: moved,
      };
    }
    if (server.exited || client.exited) result.errors.push(`a tunnel process exited during the run (server ${server.code}, client ${client.code})`);
  } catch (err) {
    result.errors.push(err instanceof Error ? err.message : String(err));
  } finally {
    await Promise.all(procs.map((p) => p.stop(2000)));
    bed.destroy();
    work.cleanup();
  }
  return result;
}

const fmt = (v: number | undefined, d = 1) => (v === undefined || Number.isNaN(v) ? "-" : v.toFixed(d));

interface Bar {
  what: string;
  value: number | undefined;
  limit: number;
  higherIsBetter: boolean;
}

function bars(results: ProfileResult[]): Bar[] {
  const veth = results.find((r) => r.profile === "veth");
  const imp = results.find((r) => r.profile === "impaired");
  const out: Bar[] = [];
  if (veth?.tunnel) {
    const ratio = (t: number[], d: number[]) => median(t) / median(d);
    out.push({ what: "single stream / direct", value: ratio(veth.tunnel.singleMiBps, veth.direct.singleMiBps), limit: 0.14, higherIsBetter: true });
    out.push({ what: "8 parallel / direct", value: ratio(veth.tunnel.parallelMiBps, veth.direct.parallelMiBps), limit: 0.22, higherIsBetter: true });
    out.push({ what: "open-connection request p50 ms", value: veth.tunnel.latKeep?.p50, limit: 5, higherIsBetter: false });
    out.push({ what: "open-connection request p99 ms", value: veth.tunnel.latKeep?.p99, limit: 20, higherIsBetter: false });
  }
  if (veth?.usage) {
    out.push({ what: "client CPU ms per MiB", value: veth.usage.clientCpuMsPerMiB, limit: 4.8, higherIsBetter: false });
    out.push({ what: "server CPU ms per MiB", value: veth.usage.serverCpuMsPerMiB, limit: 8.3, higherIsBetter: false });
    out.push({ what: "client peak RSS MiB", value: veth.usage.clientPeakRssMiB, limit: 80, higherIsBetter: false });
    out.push({ what: "server peak RSS MiB", value: veth.usage.serverPeakRssMiB, limit: 80, higherIsBetter: false });
  }
  if (imp?.tunnel) out.push({ what: "30 ms + 1 % loss single stream MiB/s", value: median(imp.tunnel.singleMiBps), limit: 5.5, higherIsBetter: true });
  return out;
}

function report(results: ProfileResult[], o: BenchOptions): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push("", `tunnel bench, profile ${r.profile}: ${r.impairment}`);
    lines.push(`| test | tunnel | direct | tunnel/direct |`, `|---|---|---|---|`);
    const row = (name: string, t: number[] | undefined, d: number[]) => {
      const tm = t ? median(t) : Number.NaN;
      lines.push(`| ${name} | ${fmt(tm)} | ${fmt(median(d))} | ${t ? fmt(tm / median(d), 3) : "-"} |`);
    };
    const single = r.profile === "impaired" ? o.impairedMiB : o.singleMiB;
    row(`single ${single} MiB download, MiB/s (median of ${o.reps})`, r.tunnel?.singleMiBps, r.direct.singleMiBps);
    if (r.direct.parallelMiBps.length > 0) row(`${o.parallel}x${o.parallelMiB} MiB parallel, MiB/s aggregate`, r.tunnel?.parallelMiBps, r.direct.parallelMiBps);
    const latRow = (name: string, t: Latency | undefined, d: Latency | undefined) => {
      if (!d) return;
      const show = (l: Latency | undefined) => (l ? `${fmt(l.p50, 2)} / ${fmt(l.p99, 2)}${l.failed ? ` (${l.failed} failed)` : ""}` : "-");
      lines.push(`| ${name} | ${show(t)} | ${show(d)} | |`);
    };
    latRow(`request on open conn, ms p50 / p99 (n=${o.latN})`, r.tunnel?.latKeep, r.direct.latKeep);
    latRow(`new conn (+SOCKS5) per request, ms p50 / p99 (n=${o.latN})`, r.tunnel?.latNew, r.direct.latNew);
    if (r.usage) {
      lines.push(
        `tunnel CPU per MiB: client ${fmt(r.usage.clientCpuMsPerMiB, 2)} ms, server ${fmt(r.usage.serverCpuMsPerMiB, 2)} ms (over ${r.usage.mibMoved} MiB); peak RSS client ${fmt(r.usage.clientPeakRssMiB)} MiB, server ${fmt(r.usage.serverPeakRssMiB)} MiB`,
      );
    }
    if (r.windowModel) {
      const m = r.windowModel.mibps;
      lines.push(
        `window model (kcp-go's rules, window ${r.windowModel.window}, this delay and loss, no processing time): ${fmt(median(m), 2)} MiB/s (median of ${m.length} seeds, ${fmt(Math.min(...m), 2)}-${fmt(Math.max(...m), 2)})`,
      );
    }
    if (r.integrity) lines.push(`integrity: ${r.integrity}`);
    for (const e of r.errors) lines.push(`ERROR: ${e}`);
  }
  const b = bars(results);
  if (b.length > 0) {
    lines.push("", "| bar | measured | limit | |", "|---|---|---|---|");
    for (const x of b) {
      const ok = x.value !== undefined && !Number.isNaN(x.value) && (x.higherIsBetter ? x.value >= x.limit : x.value <= x.limit);
      lines.push(`| ${x.what} | ${fmt(x.value, 3)} | ${x.higherIsBetter ? ">=" : "<="} ${x.limit} | ${ok ? "met" : "NOT met"} |`);
    }
  }
  lines.push("", `host: ${cpus().length} cores, load average ${loadavg().map((v) => v.toFixed(2)).join(" ")} (shared machine: other work competes for CPU)`);
  return lines.join("\n");
}

export async function runTunnelBench(o: BenchOptions = DEFAULTS): Promise<{ results: ProfileResult[]; file: string | undefined }> {
  const results: ProfileResult[] = [];
  const log = (s: string) => process.stderr.write(`tunnel: ${s}\n`);
  for (const p of o.profiles) results.push(await runProfile(p, o, log));
  for (const r of results) if (r.profile === "impaired") r.windowModel = windowModel(o);
  console.log(report(results, o));
  const dir = join(import.meta.dir, "results");
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = join(dir, `${stamp}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ when: new Date().toISOString(), cores: cpus().length, loadavg: loadavg(), options: o, results, bars: bars(results) }, null, 2)}\n`,
  );
  console.log(`numbers written to ${file}`);
  return { results, file };
}

/** The `bun run bench` section: skips with the reason unless root with working namespaces. */
export async function bench(): Promise<void> {
  const why = netbedUnavailable();
  if (why !== undefined) {
    console.log(`tunnel: skipped (${why})`);
    return;
  }
  const { results } = await runTunnelBench(DEFAULTS);
  const failed = results.flatMap((r) => r.errors);
  if (failed.length > 0) throw new Error(`tunnel bench had errors: ${failed.join("; ")}`);
}

function parseArgs(argv: readonly string[]): BenchOptions {
  const o: BenchOptions = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") Object.assign(o, { reps: 1, singleMiB: 64, parallelMiB: 16, latN: 50, impairedMiB: 16 });
    else if (a === "--direct-only") o.directOnly = true;
    else if (a === "--bin") {
      const bin = argv[++i];
      if (bin === undefined || !existsSync(bin)) throw new Error(`--bin wants the path of a built paqet binary (bun run build.ts), not ${bin ?? "nothing"}`);
      o.bin = resolve(bin);
    } else if (a === "--relay") {
      const r = argv[++i];
      if (r !== "auto" && r !== "c" && r !== "ts") throw new Error(`--relay must be auto, c or ts, not ${r ?? "nothing"}`);
      o.relay = r;
    } else if (a === "--reps") o.reps = Math.max(1, Number(argv[++i]));
    else if (a === "--paqet-env") {
      const kv = argv[++i] ?? "";
      const eq = kv.indexOf("=");
      if (eq < 1) throw new Error(`--paqet-env wants NAME=VALUE, not ${kv}`);
      o.paqetEnv = { ...o.paqetEnv, [kv.slice(0, eq)]: kv.slice(eq + 1) };
    }
    else if (a === "--profile") {
      const p = argv[++i];
      o.profiles = p === "all" ? ["veth", "impaired"] : p === "veth" || p === "impaired" ? [p] : o.profiles;
      if (p !== "all" && p !== "veth" && p !== "impaired") throw new Error(`--profile must be veth, impaired or all, not ${p}`);
    } else throw new Error(`unknown option ${a}; use --profile veth|impaired|all, --reps N, --quick, --direct-only, --paqet-env NAME=VALUE, --bin PATH, --relay auto|c|ts`);
  }
  return o;
}

if (import.meta.main) {
  const why = netbedUnavailable();
  if (why !== undefined) {
    process.stderr.write(`tunnel bench: ${why}\n`);
    process.exit(1);
  }
  const { results } = await runTunnelBench(parseArgs(process.argv.slice(2)));
  process.exit(results.some((r) => r.errors.length > 0) ? 1 : 0);
}
