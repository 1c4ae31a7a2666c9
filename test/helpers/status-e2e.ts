/**
 * Pieces the status, guard and flood end-to-end tests share (on top of helpers/e2e.ts): configs
 * with extra `transport.kcp` keys (guard, limits), `paqet status --json` run inside a namespace,
 * a TCP echo target with an uploader that pushes a known number of bytes both ways through
 * SOCKS5, and a raw frame flood sent from a throw-away process's own PcapPacketConn.
 */
import { join } from "node:path";
import { CHECKOUT, clientYaml, MAIN_TS, NsProcess, serverYaml, startPaqet, type TunnelSpec } from "../../src/cli/demo/harness.ts";
import type { StatusSnapshot } from "../../src/lib/metrics.ts";
import { DEFAULT_SERVER_PORT, type E2E, SOCKS, STATUS_ADDR } from "./e2e.ts";

/** Extra `transport.kcp` lines per side, e.g. `guard: true`, `max_sessions: 1`. */
export interface KcpExtras {
  readonly server?: readonly string[];
  readonly client?: readonly string[];
}

/** Inserts `lines` (indented into `transport.kcp`) right after the config's `key:` line. */
export function withKcpLines(yaml: string, lines: readonly string[] = []): string {
  const m = /^ {4}key: .*$/m.exec(yaml);
  if (!m) throw new Error(`no transport.kcp key line in:\n${yaml}`);
  const at = m.index + m[0].length;
  return yaml.slice(0, at) + lines.map((l) => `\n    ${l}`).join("") + yaml.slice(at);
}

/**
 * (Re)starts the pair with `spec` (from `e2e.specFor`) and the extra kcp lines; waits for the
 * SOCKS5 port and, when `serving`, for a request to get through.
 */
export async function startPair(e2e: E2E, spec: TunnelSpec, extras: KcpExtras, serving = true): Promise<void> {
  await e2e.stopTunnel();
  await e2e.startTargets();
  e2e.spec = spec;
  const sp = e2e.work.write("server.yaml", withKcpLines(serverYaml(e2e.bed, spec), extras.server));
  e2e.server = startPaqet("server", e2e.bed.b.ns, sp);
  await e2e.server.waitFor(/listening for packets/, 20_000);
  const cp = e2e.work.write("client.yaml", withKcpLines(clientYaml(e2e.bed, spec), extras.client));
  e2e.client = startPaqet("client", e2e.bed.a.ns, cp);
  await e2e.client.waitFor(/client ready/, 30_000);
  if (serving) await e2e.waitServing(20_000);
}

/** `paqet status --json --addr <status addr>` inside the side's namespace, parsed. */
export async function statusCli(e2e: E2E, side: "client" | "server"): Promise<StatusSnapshot> {
  const ns = side === "client" ? e2e.bed.a.ns : e2e.bed.b.ns;
  const p = new NsProcess(`status ${side}`, ns, [process.execPath, MAIN_TS, "status", "--json", "--addr", STATUS_ADDR]);
  const t = setTimeout(() => p.kill(), 15_000);
  try {
    await p.done;
  } finally {
    clearTimeout(t);
  }
  if (p.code !== 0) throw new Error(`paqet status --json on the ${side} exited ${p.code}: ${p.output.trim()}`);
  return JSON.parse(p.output) as StatusSnapshot;
}

/** Polls `statusCli` (bounded) until `ok`; returns the last snapshot either way. */
export async function statusUntil(
  e2e: E2E,
  side: "client" | "server",
  ok: (s: StatusSnapshot) => boolean,
  timeoutMs: number,
): Promise<StatusSnapshot> {
  const deadline = Date.now() + timeoutMs;
  let s = await statusCli(e2e, side);
  while (!ok(s) && Date.now() < deadline) {
    await Bun.sleep(300);
    s = await statusCli(e2e, side);
  }
  return s;
}

/** Counter deltas between two snapshots, for the numeric fields. */
export function delta(after: StatusSnapshot, before: StatusSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  const a = after as unknown as Record<string, unknown>;
  const b = before as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(a)) {
    if (typeof v === "number" && typeof b[k] === "number") out[k] = v - (b[k] as number);
  }
  return out;
}

const ECHO_SCRIPT = `
import { createServer } from "node:net";
const port = Number(process.argv[process.argv.length - 1]);
createServer((s) => {
  s.on("error", () => s.destroy());
  s.pipe(s);
}).listen(port, "127.0.0.1", () => console.log("echo ready " + port));
`;

/** A TCP echo on the server namespace's loopback; resolves once it listens. */
export async function startEcho(e2e: E2E, port: number): Promise<NsProcess> {
  const path = e2e.work.write("echo.ts", ECHO_SCRIPT);
  const p = e2e.track(new NsProcess("echo", e2e.bed.b.ns, [process.execPath, path, String(port)]));
  await p.waitFor(/echo ready/, 10_000);
  return p;
}

const UPLOAD_SCRIPT = `
import { dial } from ${JSON.stringify(join(CHECKOUT, "src/cli/demo/socks5-client.ts"))};
const [socksPort, targetPort, bytes, timeoutMs] = process.argv.slice(-4).map(Number);
const deadline = Date.now() + timeoutMs;
const block = new Uint8Array(64 * 1024);
for (let i = 0; i < block.length; i++) block[i] = (i * 131 + 7) & 255;
try {
  const conn = await dial({ host: "127.0.0.1", port: socksPort }, { host: "127.0.0.1", port: targetPort }, deadline);
  let back = 0, bad = 0;
  const reading = conn.stream(bytes, deadline, "echo", (chunk) => {
    for (let i = 0; i < chunk.length; i++) if (chunk[i] !== block[(back + i) % block.length]) bad++;
    back += chunk.length;
  });
  for (let sent = 0; sent < bytes; ) {
    const n = Math.min(block.length, bytes - sent);
    conn.write(block.subarray(0, n));
    sent += n;
  }
  await reading;
  conn.close();
  console.log(JSON.stringify({ back, bad }));
} catch (err) {
  console.log(JSON.stringify({ fatal: String(err) }));
}
`;

/**
 * Sends `bytes` through the client's SOCKS5 port to the echo on `port` and reads them back,
 * compared; resolves with how many came back and how many differed.
 */
export async function echoThrough(e2e: E2E, port: number, bytes: number, timeoutMs = 30_000): Promise<{ back: number; bad: number }> {
  const path = e2e.work.write("upload.ts", UPLOAD_SCRIPT);
  const p = new NsProcess("upload", e2e.bed.a.ns, [process.execPath, path, String(SOCKS.port), String(port), String(bytes), String(timeoutMs)]);
  const t = setTimeout(() => p.kill(), timeoutMs + 10_000);
  try {
    await p.done;
  } finally {
    clearTimeout(t);
  }
  const line = p.output.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`upload gave no result (exit ${p.code}): ${p.tail()}`);
  const r = JSON.parse(line) as { back: number; bad: number; fatal?: string };
  if (r.fatal) throw new Error(`upload: ${r.fatal}`);
  return r;
}

const FLOOD_SCRIPT = `
import { PcapPacketConn } from ${JSON.stringify(join(CHECKOUT, "src/socket/pcap.ts"))};
const job = JSON.parse(process.argv[process.argv.length - 1]);
const conn = new PcapPacketConn({
  interface: job.ifname,
  ipv4: { ip: job.srcIp, routerMac: job.routerMac },
  port: job.srcPort,
  role: "client",
});
await conn.ready;
const pool = new Uint8Array(1 << 20);
crypto.getRandomValues(pool.subarray(0, 65536));
for (let off = 65536; off < pool.length; off += 65536) crypto.getRandomValues(pool.subarray(off, off + 65536));
const to = { ip: job.dstIp, port: job.dstPort };
let sent = 0, errors = 0, at = 0;
for (let i = 0; i < job.frames; i++) {
  const len = job.minLen + ((pool[i & 0xfffff] * 256 + pool[(i * 7 + 1) & 0xfffff]) % (job.maxLen - job.minLen + 1));
  if (at + len > pool.length) at = (i * 4099) % 4096;
  try {
    conn.writeTo(pool.subarray(at, at + len), to);
    sent++;
  } catch {
    errors++;
  }
  at += 613;
  if ((i + 1) % job.batch === 0) await Bun.sleep(job.pauseMs);
}
await conn.close();
console.log(JSON.stringify({ sent, errors }));
`;

export interface FloodJob {
  frames: number;
  /** Random payload length range (bytes). */
  minLen: number;
  maxLen: number;
  /** A pause of `pauseMs` after every `batch` frames, so the flood paces itself. */
  batch: number;
  pauseMs: number;
}

/**
 * `job.frames` frames with random payloads, each a valid Ethernet/IPv4/TCP frame from the client's
 * address (a port of its own) to the server's paqet port, from a throw-away process's
 * PcapPacketConn inside the client namespace. Resolves with how many were sent.
 */
export function flood(e2e: E2E, job: FloodJob, timeoutMs = 40_000): { done: Promise<{ sent: number; errors: number }>; process: NsProcess } {
  const path = e2e.work.write("flood.ts", FLOOD_SCRIPT);
  const full = {
    ...job,
    ifname: e2e.bed.a.ifname,
    srcIp: e2e.bed.a.ipv4,
    routerMac: e2e.bed.a.routerMac,
    srcPort: 40999,
    dstIp: e2e.bed.b.ipv4,
    dstPort: DEFAULT_SERVER_PORT,
  };
  const p = new NsProcess("flood", e2e.bed.a.ns, [process.execPath, path, JSON.stringify(full)]);
  const done = (async () => {
    const t = setTimeout(() => p.kill(), timeoutMs);
    try {
      await p.done;
    } finally {
      clearTimeout(t);
    }
    const line = p.output.split("\n").find((l) => l.startsWith("{"));
    if (!line) throw new Error(`flood gave no result (exit ${p.code}): ${p.tail()}`);
    return JSON.parse(line) as { sent: number; errors: number };
  })();
  return { done, process: p };
}
