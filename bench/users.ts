/**
 * Memory per user on the server: paqet's TunnelServer (default server configuration, block aes)
 * in a process of its own, with a growing number of users, each a PaqetClient of its own (default
 * client configuration, one KCP session) holding one open TCP stream through the server to an
 * echo target after 256 KiB went there and back. The baseline, measured in the same run the same
 * way, is a plain TCP relay process holding the same number of connections.
 *
 *   bun bench/users.ts [--users 0,100,200,400] [--echo-kib 256] [--rounds 3]
 *
 * The packet conns are UDP sockets on loopback (bench/lib/udp-packet-conn.ts): one pcap capture
 * per client would put hundreds of capture workers into one process. The bytes each side holds
 * per user are the same as over pcap; the server's capture ring (one per server) is not counted.
 *
 * At each step the users sit quiet for 3 s (what a connected user mostly does) while the server's
 * CPU time is taken; then the server collects garbage fully and reports RSS, JS heap and the bytes
 * held outside it (buffers). The table shows them with the growth per user against the empty
 * server. After the users close, the server must drop every session and stream (it sees no close
 * on the wire: the smux keepalive timeout ends the sessions) and its memory is reported once more.
 * Then the same number of users come and go again (three rounds in all by default), so that
 * memory a departed user leaves behind shows as growth from round to round.
 */
import { spawn, type Subprocess } from "bun";
import { mkdirSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { PaqetClient } from "../src/client/index.ts";
import { parseConfig } from "../src/conf/index.ts";
import type { Duplex } from "../src/lib/duplex.ts";
import { tunnelOptionsFromConfig, type TunnelOptions } from "../src/tunnel/index.ts";
import { withTimeout } from "../test/helpers/kcp-pair.ts";
import { UdpPacketConn } from "./lib/udp-packet-conn.ts";
import { benchConfigYaml, type UsersServerStats } from "./lib/users-server.ts";

const MiB = 1024 * 1024;
const KEY = "bench-users-key";
/** Users opened at once while stepping up. */
const BATCH = 20;
const STEP_TIMEOUT_MS = 60_000;
/** Quiet time before each measurement: idle sessions let go of their buffers after a second (src/kcp/core.ts IDLE_RELEASE_MS). */
const SETTLE_MS = 3000;
/** How long the server may take to drop the sessions of users that left (keepalive timeout 8 s). */
const DRAIN_TIMEOUT_MS = 60_000;
const SERVER_TS = join(import.meta.dir, "lib/users-server.ts");

type Mode = "tunnel" | "relay";

interface Step {
  users: number;
  stats: UsersServerStats;
  /** Server CPU while the users sat quiet, in % of one core. */
  idleCpuPct: number;
}

interface ModeResult {
  mode: Mode;
  steps: Step[];
  /** After each round's users left and the server dropped them. */
  afterRounds: UsersServerStats[];
  error?: string;
}

/** The server child: spawn, read `ready PORT`, then ask it for `cpu` and `stats`. */
class ServerProcess {
  private readonly proc: Subprocess<"pipe", "pipe", "inherit">;
  private readonly lines: AsyncIterator<string>;

  constructor(mode: Mode, arg: string) {
    this.proc = spawn([process.execPath, SERVER_TS, mode, arg], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    this.lines = readLines(this.proc.stdout);
  }

  async ready(): Promise<number> {
    const line = await this.next();
    const m = /^ready (\d+)$/.exec(line);
    if (!m) throw new Error(`users server said "${line}" instead of ready`);
    return Number(m[1]);
  }

  async stats(): Promise<UsersServerStats> {
    return JSON.parse(await this.ask("stats")) as UsersServerStats;
  }

  /** CPU time the server has used so far, ms. */
  async cpuMs(): Promise<number> {
    return Number(await this.ask("cpu"));
  }

  private async ask(command: string): Promise<string> {
    this.proc.stdin.write(`${command}\n`);
    await this.proc.stdin.flush();
    return this.next();
  }

  async stop(): Promise<void> {
    try {
      this.proc.stdin.write("exit\n");
      await this.proc.stdin.flush();
    } catch {
      // already gone
    }
    const exited = await Promise.race([this.proc.exited, Bun.sleep(5000).then(() => undefined)]);
    if (exited === undefined) this.proc.kill("SIGKILL");
  }

  private async next(): Promise<string> {
    const r = await withTimeout(this.lines.next(), 20_000, "a line from the users server");
    if (r.done) throw new Error("the users server exited");
    return r.value;
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
}

/**
 * Sends `bytes` in 16 KiB writes, honouring backpressure, and resolves once as many came back.
 * `write` returns false when the writer wants `drain` before the next write.
 */
function echoOnce(
  bytes: number,
  write: (b: Uint8Array) => boolean,
  listen: (onData: (chunk: Uint8Array) => void, onDrain: () => void, onClose: () => void) => void,
): Promise<void> {
  const piece = new Uint8Array(16 * 1024).fill(0x75);
  return new Promise((resolve, reject) => {
    let got = 0;
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes) {
        const n = Math.min(piece.byteLength, bytes - sent);
        sent += n;
        if (!write(n === piece.byteLength ? piece : piece.subarray(0, n))) return;
      }
    };
    listen(
      (chunk) => {
        got += chunk.byteLength;
        if (got >= bytes) resolve();
      },
      pump,
      () => (got < bytes ? reject(new Error(`closed after ${got} of ${bytes} echoed bytes`)) : undefined),
    );
    pump();
  });
}

interface User {
  close(): Promise<void>;
}

async function relayUser(port: number, bytes: number): Promise<User> {
  const s: Socket = createConnection({ host: "127.0.0.1", port });
  s.on("error", () => {});
  try {
    await echoOnce(
      bytes,
      (b) => s.write(b),
      (onData, onDrain, onClose) => {
        s.on("data", onData);
        s.on("drain", onDrain);
        s.on("close", onClose);
      },
    );
  } catch (err) {
    s.destroy();
    throw err;
  }
  return { close: async () => void s.destroy() };
}

async function tunnelUser(port: number, tunnel: TunnelOptions, target: string, bytes: number): Promise<User> {
  const client = new PaqetClient({ tunnel, server: { ip: "127.0.0.1", port }, openPacket: () => UdpPacketConn.bind() });
  try {
    await client.start();
    const stream: Duplex = await client.openTcp(target);
    await echoOnce(
      bytes,
      (b) => stream.write(b),
      (onData, onDrain, onClose) => stream.setHandlers({ data: onData, drain: onDrain, close: onClose }),
    );
  } catch (err) {
    await client.close();
    throw err;
  }
  return { close: () => client.close() };
}

async function runMode(mode: Mode, o: UsersOptions, echoPort: number, log: (s: string) => void): Promise<ModeResult> {
  const result: ModeResult = { mode, steps: [], afterRounds: [] };
  const server = new ServerProcess(mode, mode === "tunnel" ? KEY : String(echoPort));
  const users: User[] = [];
  try {
    const port = await server.ready();
    const tunnel = tunnelOptionsFromConfig(parseConfig(benchConfigYaml("client", KEY, port)).config);
    const target = `127.0.0.1:${echoPort}`;
    const bytes = o.echoKiB * 1024;
    const open = () => (mode === "tunnel" ? tunnelUser(port, tunnel, target, bytes) : relayUser(port, bytes));
    const growTo = async (n: number): Promise<void> => {
      while (users.length < n) {
        const batch = Math.min(BATCH, n - users.length);
        const opened = await withTimeout(Promise.allSettled(Array.from({ length: batch }, open)), STEP_TIMEOUT_MS, `${batch} ${mode} users`);
        // The ones that made it are closed with the rest, whatever happened to the others.
        for (const r of opened) if (r.status === "fulfilled") users.push(r.value);
        const failed = opened.find((r) => r.status === "rejected");
        if (failed) throw failed.reason;
      }
    };
    const most = o.steps.at(-1)!;
    for (let round = 1; round <= o.rounds; round++) {
      // The first round measures each step on the way up; later ones only come and go.
      for (const n of round === 1 ? o.steps : [most]) {
        await growTo(n);
        if (round > 1) continue;
        const cpu0 = await server.cpuMs();
        const t0 = performance.now();
        await Bun.sleep(SETTLE_MS);
        const idleCpuPct = ((await server.cpuMs()) - cpu0) / (performance.now() - t0) * 100;
        const stats = await server.stats();
        if (stats.streams < n) throw new Error(`${mode} server holds ${stats.streams} streams for ${n} users`);
        result.steps.push({ users: n, stats, idleCpuPct });
        log(`${mode}: ${n} users, server RSS ${(stats.rss / MiB).toFixed(1)} MiB`);
      }
      await Promise.all(users.splice(0).map((u) => u.close()));
      const deadline = performance.now() + DRAIN_TIMEOUT_MS;
      let after = await server.stats();
      while ((after.sessions > 0 || after.streams > 0) && performance.now() < deadline) {
        await Bun.sleep(1000);
        after = await server.stats();
      }
      result.afterRounds.push(after);
      log(`${mode}: round ${round}, all ${most} users left, server RSS ${(after.rss / MiB).toFixed(1)} MiB`);
      if (after.sessions > 0 || after.streams > 0) {
        throw new Error(`${after.sessions} sessions and ${after.streams} streams still held ${DRAIN_TIMEOUT_MS / 1000} s after the users left`);
      }
    }
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
  } finally {
    await Promise.all(users.map((u) => u.close()));
    await server.stop();
  }
  return result;
}

function startEcho(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on("error", () => s.destroy());
    s.pipe(s);
  });
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r({ server, port: (server.address() as { port: number }).port })));
}

const mib = (b: number) => (b / MiB).toFixed(1);

/** Growth per user from the empty server to the last step, in KiB. */
function perUserKiB(r: ModeResult, pick: (s: UsersServerStats) => number): number | undefined {
  const first = r.steps[0];
  const last = r.steps.at(-1);
  if (!first || !last || last.users === first.users) return undefined;
  return (pick(last.stats) - pick(first.stats)) / (last.users - first.users) / 1024;
}

function report(results: ModeResult[], o: UsersOptions): string {
  const lines = [
    `users each echoing ${o.echoKiB} KiB through their stream, then holding it open`,
    "",
    "| users | server | RSS MiB | JS heap MiB | external MiB | sessions | streams | CPU while quiet, % of a core |",
    "|---|---|---|---|---|---|---|---|",
  ];
  const row = (users: string, r: ModeResult, s: UsersServerStats, cpu?: number) =>
    lines.push(`| ${users} | ${r.mode} | ${mib(s.rss)} | ${mib(s.heap)} | ${mib(s.external)} | ${s.sessions} | ${s.streams} | ${cpu?.toFixed(1) ?? "-"} |`);
  for (const r of results) {
    for (const s of r.steps) row(String(s.users), r, s.stats, s.idleCpuPct);
    r.afterRounds.forEach((a, i) => row(`round ${i + 1}: all left`, r, a));
  }
  lines.push("");
  const [relay, tunnel] = [results.find((r) => r.mode === "relay"), results.find((r) => r.mode === "tunnel")];
  const rss = (s: UsersServerStats) => s.rss;
  const held = (s: UsersServerStats) => s.heap + s.external;
  for (const [what, pick] of [["RSS", rss], ["JS heap + external", held]] as const) {
    const t = tunnel && perUserKiB(tunnel, pick);
    const b = relay && perUserKiB(relay, pick);
    const ratio = t !== undefined && b !== undefined && b > 0 ? ` (${(t / b).toFixed(1)} x the relay)` : "";
    lines.push(`growth per user, ${what}: tunnel ${t?.toFixed(0) ?? "-"} KiB, plain TCP relay ${b?.toFixed(0) ?? "-"} KiB${ratio}`);
  }
  for (const r of results) if (r.error) lines.push(`ERROR (${r.mode}): ${r.error}`);
  return lines.join("\n");
}

export interface UsersOptions {
  /** Rising user counts; the first is usually 0, the empty server. */
  steps: readonly number[];
  /** What each user sends through its stream and gets back before holding it open. */
  echoKiB: number;
  /** How many times the users come and go (the last step's count in later rounds). */
  rounds: number;
}

export const DEFAULTS: UsersOptions = { steps: [0, 100, 200, 400], echoKiB: 256, rounds: 3 };

export async function runUsersBench(o: UsersOptions): Promise<ModeResult[]> {
  const log = (s: string) => process.stderr.write(`users: ${s}\n`);
  const echo = await startEcho();
  const results: ModeResult[] = [];
  try {
    for (const mode of ["relay", "tunnel"] as const) results.push(await runMode(mode, o, echo.port, log));
  } finally {
    echo.server.close();
  }
  console.log(report(results, o));
  const dir = join(import.meta.dir, "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `users-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify({ when: new Date().toISOString(), options: o, results }, null, 2)}\n`);
  console.log(`numbers written to ${file}`);
  return results;
}

/** The `bun run bench` section. */
export async function bench(): Promise<void> {
  const results = await runUsersBench(DEFAULTS);
  const failed = results.filter((r) => r.error);
  if (failed.length > 0) throw new Error(`users bench had errors: ${failed.map((r) => `${r.mode}: ${r.error}`).join("; ")}`);
}

function parseArgs(argv: readonly string[]): UsersOptions {
  const o = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i] ?? "";
    if (a === "--users") {
      const steps = v.split(",").map(Number);
      if (steps.length < 2 || steps.some((n, k) => !Number.isInteger(n) || n < 0 || (k > 0 && n <= steps[k - 1]!))) {
        throw new Error(`--users wants rising counts like 0,100,200, not ${v || "nothing"}`);
      }
      o.steps = steps;
    } else if (a === "--echo-kib") {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--echo-kib wants a whole number of KiB (1 or more), not ${v || "nothing"}`);
      o.echoKiB = n;
    } else if (a === "--rounds") {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--rounds wants a whole number (1 or more), not ${v || "nothing"}`);
      o.rounds = n;
    } else throw new Error(`unknown option ${a}; use --users 0,100,200, --echo-kib N and --rounds N`);
  }
  return o;
}

if (import.meta.main) {
  const results = await runUsersBench(parseArgs(process.argv.slice(2)));
  process.exit(results.some((r) => r.error) ? 1 : 0);
}
