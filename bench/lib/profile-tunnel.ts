/**
 * Profiles one tunnel under load (root): the bench bed, a real `paqet run` pair started with
 * `bun --cpu-prof-md` (optional) and bench/lib/memlog.ts preloaded, a single download and a
 * parallel one through SOCKS5, then CPU ms per MiB, peak RSS and the memory breakdown per side.
 *
 *   bun bench/lib/profile-tunnel.ts [--mib 64] [--parallel 4] [--pmib 16] [--cpu-prof] [--out DIR]
 *
 * Profiles (markdown) and memory logs land in DIR (default a temp directory, printed);
 * PAQET_MEMLOG_MS sets the memory log's period, PAQET_MEMLOG_TYPES=1 adds JS object counts.
 */
import { spawn, spawnSync } from "bun";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clientYaml, DEFAULT_SOCKS_PORT, MAIN_TS, NsProcess, probeIn, procUsage, serverYaml, startTargets, waitListening, WorkDir } from "../../src/cli/demo/harness.ts";
import { createNetBed } from "../../src/cli/demo/netbed.ts";
import type { GetOutcome } from "../../src/cli/demo/probe.ts";

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const mib = Number(opt("--mib", "64"));
const parallel = Number(opt("--parallel", "4"));
const pmib = Number(opt("--pmib", "16"));
const cpuProf = args.includes("--cpu-prof");
const perf = args.includes("--perf");
const heapProf = args.includes("--heap-prof");
const out = args.includes("--out") ? opt("--out", "") : mkdtempSync(join(tmpdir(), "paqet-prof-"));
mkdirSync(out, { recursive: true });
const MEMLOG = join(import.meta.dir, "memlog.ts");

const bed = createNetBed({ prefix: "pqp", layout: "direct" });
const work = new WorkDir();
const procs: NsProcess[] = [];
const socks = { host: "127.0.0.1", port: DEFAULT_SOCKS_PORT };
const target = { host: "127.0.0.1", port: 8080 };

function paqet(name: string, ns: string, config: string): NsProcess {
  const flags = cpuProf ? ["--cpu-prof-md", `--cpu-prof-dir=${out}`, `--cpu-prof-name=${name}.md`] : [];
  if (heapProf) flags.push("--heap-prof-md", `--heap-prof-dir=${out}`, `--heap-prof-name=${name}.heap.md`);
  return new NsProcess(name, ns, [process.execPath, ...flags, "--preload", MEMLOG, MAIN_TS, "run", "-c", config], {
    // Under Bun flags `paqet run` does not start itself again with its allocator setting (run.ts);
    // set here, so the profile shows what an ordinary run does.
    MIMALLOC_PURGE_DELAY: "1000",
    PAQET_MEMLOG: join(out, `${name}.mem.jsonl`),
    PAQET_MEMLOG_MS: process.env.PAQET_MEMLOG_MS ?? "250",
    ...(process.env.PAQET_MEMLOG_TYPES ? { PAQET_MEMLOG_TYPES: process.env.PAQET_MEMLOG_TYPES } : {}),
  });
}

async function get(bytes: number, count: number): Promise<number> {
  const r = await probeIn<GetOutcome>(bed.a.ns, { kind: "get", socks, target, bytes, count, concurrency: count, timeoutMs: 180_000, verify: false }, 200_000);
  if (r.ok !== count) throw new Error(`downloads failed: ${r.errors.join("; ")}`);
  return r.bytes / MiB / (r.elapsedMs / 1000);
}

/** Context switches of all threads of a process (voluntary + involuntary). */
function switches(pid: number): number {
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      n += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)?.[1] ?? 0);
    } catch {
      // thread ended meanwhile
    }
  }
  return n;
}

/** tx counters of an interface inside a namespace. */
function netStats(ns: string, ifname: string): { txPackets: number; txBytes: number } {
  const read = (what: string) => Number(spawnSync(["ip", "netns", "exec", ns, "cat", `/sys/class/net/${ifname}/statistics/${what}`]).stdout.toString().trim());
  return { txPackets: read("tx_packets"), txBytes: read("tx_bytes") };
}

/** utime and stime (ms) of a process, threads included. */
function times(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
}

/** The largest resident mappings of a process (smaps), to see where the RSS sits. */
function topMappings(pid: number, n = 8): string {
  const text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  const maps: { name: string; rss: number }[] = [];
  let cur: { name: string; rss: number } | undefined;
  for (const line of text.split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      cur = { name: head[1] || "[anon]", rss: 0 };
      maps.push(cur);
    } else if (cur && line.startsWith("Rss:")) cur.rss = Number(/(\d+)/.exec(line)![1]);
  }
  const byName = new Map<string, { rss: number; count: number; max: number }>();
  for (const m of maps) {
    const e = byName.get(m.name) ?? { rss: 0, count: 0, max: 0 };
    e.rss += m.rss;
    e.count++;
    e.max = Math.max(e.max, m.rss);
    byName.set(m.name, e);
  }
  return [...byName]
    .sort((a, b) => b[1].rss - a[1].rss)
    .slice(0, n)
    .map(([name, e]) => `  ${(e.rss / 1024).toFixed(1)} MiB in ${e.count} (largest ${(e.max / 1024).toFixed(1)}) ${name}`)
    .join("\n");
}

function memSummary(name: string): string {
  let lines: { rss: number; heapUsed: number; heapTotal: number; arrayBuffers: number; external: number }[] = [];
  try {
    lines = readFileSync(join(out, `${name}.mem.jsonl`), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  } catch {
    return `${name}: no memory log`;
  }
  const max = (k: keyof (typeof lines)[number]) => (Math.max(...lines.map((l) => l[k])) / MiB).toFixed(1);
  return `${name}: max rss ${max("rss")} heapUsed ${max("heapUsed")} heapTotal ${max("heapTotal")} arrayBuffers ${max("arrayBuffers")} external ${max("external")} MiB`;
}

try {
  procs.push(await startTargets(bed.b.ns, 8080, -1));
  const spec = { key: "bench-key", socksPort: socks.port, logLevel: "warn" };
  const server = paqet("server", bed.b.ns, work.write("server.yaml", serverYaml(bed, spec)));
  const client = paqet("client", bed.a.ns, work.write("client.yaml", clientYaml(bed, spec)));
  procs.push(server, client);
  await waitListening(bed.a.ns, socks.port, 20_000, client);
  await get(MiB, 1);
  const c0 = procUsage(client.pid)!;
  const s0 = procUsage(server.pid)!;
  console.log(`RSS after start + 1 MiB: client ${(c0.rssKiB / 1024).toFixed(1)} server ${(s0.rssKiB / 1024).toFixed(1)} MiB`);
  for (const p of [client, server]) console.log(`${p.name} mappings at start:\n${topMappings(p.pid, 4)}`);
  const n0 = [netStats(bed.a.ns, bed.a.ifname), netStats(bed.b.ns, bed.b.ifname)];
  const sw0 = [switches(client.pid), switches(server.pid)];
  const ct0 = times(client.pid);
  const st0 = times(server.pid);
  const perfs = perf
    ? [client, server].map((p) =>
        spawn(["perf", "record", "-F", "499", "-g", "-p", String(p.pid), "-o", join(out, `${p.name}.perf.data`)], { stdout: "ignore", stderr: "ignore" }),
      )
    : [];
  const single = await get(mib * MiB, 1);
  const par = parallel > 0 ? await get(pmib * MiB, parallel) : Number.NaN;
  const c1 = procUsage(client.pid)!;
  const s1 = procUsage(server.pid)!;
  const n1 = [netStats(bed.a.ns, bed.a.ifname), netStats(bed.b.ns, bed.b.ifname)];
  const sw1 = [switches(client.pid), switches(server.pid)];
  const ct1 = times(client.pid);
  const st1 = times(server.pid);
  for (const p of perfs) p.kill("SIGINT");
  await Promise.all(perfs.map((p) => p.exited));
  const moved = mib + parallel * pmib;
  console.log(`single ${mib} MiB: ${single.toFixed(1)} MiB/s; ${parallel}x${pmib} MiB: ${par.toFixed(1)} MiB/s`);
  for (const p of [client, server]) console.log(`${p.name} mappings:\n${topMappings(p.pid)}`);
  const pk = (i: number, k: "txPackets" | "txBytes") => n1[i]![k] - n0[i]![k];
  console.log(
    `frames: client sent ${pk(0, "txPackets")} (${(pk(0, "txBytes") / MiB).toFixed(1)} MiB), server sent ${pk(1, "txPackets")} (${(pk(1, "txBytes") / MiB).toFixed(1)} MiB) for ${mib + parallel * pmib} MiB of payload`,
  );
  console.log(`context switches per MiB: client ${((sw1[0]! - sw0[0]!) / (mib + parallel * pmib)).toFixed(0)} server ${((sw1[1]! - sw0[1]!) / (mib + parallel * pmib)).toFixed(0)}`);
  const per = (a: number, b: number) => ((b - a) / (mib + parallel * pmib)).toFixed(2);
  console.log(`user/sys ms/MiB client ${per(ct0.user, ct1.user)}/${per(ct0.sys, ct1.sys)} server ${per(st0.user, st1.user)}/${per(st0.sys, st1.sys)}`);
  console.log(
    `CPU ms/MiB client ${((c1.cpuMs - c0.cpuMs) / moved).toFixed(2)} server ${((s1.cpuMs - s0.cpuMs) / moved).toFixed(2)}; HWM client ${(c1.hwmKiB / 1024).toFixed(1)} server ${(s1.hwmKiB / 1024).toFixed(1)} MiB`,
  );
} finally {
  await Promise.all(procs.map((p) => p.stop(8000)));
  bed.destroy();
  work.cleanup();
}
console.log(memSummary("client"));
console.log(memSummary("server"));
console.log(`output in ${out}: ${readdirSync(out).join(" ")}`);
