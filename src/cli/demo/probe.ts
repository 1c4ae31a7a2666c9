/**
 * The traffic generator that runs inside the client's namespace (the SOCKS5 port listens on that
 * namespace's loopback, which no outside process can reach):
 *
 *   bun src/cli/demo/probe.ts '<json job>'
 *
 * It runs one job and prints one JSON line with the result; it exits 0 even when requests failed
 * (the caller judges), and 2 for a malformed job. Jobs:
 *
 * - `get`: `count` downloads of `GET /bytes/<bytes>` (one new connection each, `concurrency` at a
 *   time), direct or through SOCKS5, each body's sha256 checked against the pattern.
 * - `lat`: `n` small requests with random pauses of 0..gapMs, on one open connection ("keep") or
 *   a new connection + SOCKS5 handshake each ("new"); latency samples in ms.
 * - `udp`: datagrams of the given sizes through SOCKS5 UDP ASSOCIATE to an echo target, or
 *   straight to a UDP address (`socks` absent: a UDP forward's listener); each echo compared.
 * - `raw`: writes the given hex chunks to a TCP address and reports what came back and whether
 *   the peer closed (for malformed SOCKS5 requests).
 */
import { Conn, dial, httpGet, Socks5Udp, type Socks5Addr } from "./socks5-client.ts";
import { patternSha256 } from "./pattern.ts";

export interface GetJob {
  kind: "get";
  socks?: Socks5Addr;
  target: Socks5Addr;
  bytes: number;
  count: number;
  concurrency: number;
  timeoutMs: number;
  /** Hash and compare each body (default true); off for throughput runs, where hashing would compete for CPU. */
  verify?: boolean;
}
export interface GetOutcome {
  ok: number;
  failed: number;
  mismatched: number;
  bytes: number;
  elapsedMs: number;
  errors: string[];
}

export interface LatJob {
  kind: "lat";
  socks?: Socks5Addr;
  target: Socks5Addr;
  mode: "new" | "keep";
  n: number;
  gapMs: number;
  timeoutMs: number;
}
export interface LatOutcome {
  samplesMs: number[];
  failed: number;
  errors: string[];
}

export interface UdpJob {
  kind: "udp";
  socks?: Socks5Addr;
  target: Socks5Addr;
  sizes: number[];
  timeoutMs: number;
}
export interface UdpOutcome {
  results: { size: number; ok: boolean; error?: string }[];
}

export interface RawJob {
  kind: "raw";
  addr: Socks5Addr;
  chunksHex: string[];
  waitMs: number;
}
export interface RawOutcome {
  replyHex: string;
  closed: boolean;
}

export type ProbeJob = GetJob | LatJob | UdpJob | RawJob;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function runGet(job: GetJob): Promise<GetOutcome> {
  const verify = job.verify !== false;
  const want = verify ? patternSha256(job.bytes) : "";
  const out: GetOutcome = { ok: 0, failed: 0, mismatched: 0, bytes: 0, elapsedMs: 0, errors: [] };
  const started = performance.now();
  const deadline = Date.now() + job.timeoutMs;
  let next = 0;
  const worker = async () => {
    while (next < job.count) {
      next++;
      let conn: Conn | undefined;
      try {
        conn = await dial(job.socks, job.target, deadline);
        const r = await httpGet(conn, `${job.target.host}:${job.target.port}`, `/bytes/${job.bytes}`, deadline, verify);
        out.bytes += r.bytes;
        if (r.status !== 200 || (verify && r.sha256 !== want)) {
          out.mismatched++;
          if (out.errors.length < 5) out.errors.push(`status ${r.status}, sha256 ${r.sha256?.slice(0, 16)} != ${want.slice(0, 16)}`);
        } else {
          out.ok++;
        }
      } catch (err) {
        out.failed++;
        if (out.errors.length < 5) out.errors.push(message(err));
      } finally {
        conn?.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(job.concurrency, job.count)) }, worker));
  out.elapsedMs = performance.now() - started;
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function runLat(job: LatJob): Promise<LatOutcome> {
  const out: LatOutcome = { samplesMs: [], failed: 0, errors: [] };
  const host = `${job.target.host}:${job.target.port}`;
  let keep: Conn | undefined;
  for (let i = 0; i < job.n; i++) {
    if (job.gapMs > 0) await sleep(Math.random() * job.gapMs);
    const deadline = Date.now() + job.timeoutMs;
    try {
      if (job.mode === "keep") {
        keep ??= await dial(job.socks, job.target, deadline);
        const t0 = performance.now();
        await httpGet(keep, host, "/small", deadline, false);
        out.samplesMs.push(performance.now() - t0);
      } else {
        const t0 = performance.now();
        const conn = await dial(job.socks, job.target, deadline);
        try {
          await httpGet(conn, host, "/small", deadline, false);
        } finally {
          conn.destroy();
        }
        out.samplesMs.push(performance.now() - t0);
      }
    } catch (err) {
      out.failed++;
      if (out.errors.length < 5) out.errors.push(message(err));
      keep?.destroy();
      keep = undefined;
    }
  }
  keep?.destroy();
  return out;
}

function payloadOf(size: number, seed: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = (i * 31 + seed * 7 + 11) & 0xff;
  return p;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Where a UDP job sends its datagrams: through a SOCKS5 association, or straight to the target. */
interface EchoPath {
  send(payload: Uint8Array): void;
  /** The next datagram that comes back; throws when none does by `until` (ms since the epoch). */
  receive(until: number): Promise<Uint8Array>;
  close(): void;
}

async function socksPath(job: UdpJob & { socks: Socks5Addr }, deadline: number): Promise<EchoPath> {
  const s = await Socks5Udp.open(job.socks, deadline);
  return {
    send: (p) => s.send(job.target, p),
    receive: async (until) => (await s.receive(until)).payload,
    close: () => s.close(),
  };
}

async function directPath(job: UdpJob): Promise<EchoPath> {
  const pending: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  const sock = await Bun.udpSocket({
    socket: {
      data(_s, data) {
        pending.push(new Uint8Array(data));
        const w = wake;
        wake = undefined;
        w?.();
      },
    },
  });
  return {
    send: (p) => sock.send(p, job.target.port, job.target.host),
    async receive(until) {
      while (pending.length === 0 && Date.now() < until) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, until - Date.now());
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
      const got = pending.shift();
      if (!got) throw new Error("no echo before the deadline");
      return got;
    },
    close: () => sock.close(),
  };
}

async function runUdp(job: UdpJob): Promise<UdpOutcome> {
  const out: UdpOutcome = { results: [] };
  const deadline = Date.now() + job.timeoutMs;
  const socks = job.socks;
  const path = socks ? await socksPath({ ...job, socks }, deadline) : await directPath(job);
  try {
    for (const [k, size] of job.sizes.entries()) {
      const p = payloadOf(size, k);
      let ok = false;
      let error: string | undefined;
      // UDP may lose a datagram while the first stream opens; three tries per size.
      for (let attempt = 0; attempt < 3 && !ok; attempt++) {
        path.send(p);
        try {
          const got = await path.receive(Math.min(deadline, Date.now() + Math.max(1000, job.timeoutMs / 4)));
          ok = same(got, p);
          if (!ok) error = `echo of ${size} bytes came back as ${got.length} different bytes`;
        } catch (err) {
          error = message(err);
        }
      }
      out.results.push(ok ? { size, ok } : { size, ok, error });
    }
  } finally {
    path.close();
  }
  return out;
}

async function runRaw(job: RawJob): Promise<RawOutcome> {
  const deadline = Date.now() + job.waitMs;
  const conn = await Conn.connect(job.addr.host, job.addr.port, job.waitMs);
  try {
    for (const hex of job.chunksHex) {
      conn.write(Buffer.from(hex, "hex"));
      await sleep(20);
    }
    const r = await conn.drainUntilClose(deadline);
    return { replyHex: Buffer.from(r.bytes).toString("hex"), closed: r.closed };
  } finally {
    conn.destroy();
  }
}

export async function runProbe(job: ProbeJob): Promise<GetOutcome | LatOutcome | UdpOutcome | RawOutcome> {
  switch (job.kind) {
    case "get":
      return runGet(job);
    case "lat":
      return runLat(job);
    case "udp":
      return runUdp(job);
    case "raw":
      return runRaw(job);
  }
}

if (import.meta.main) {
  let job: ProbeJob;
  try {
    job = JSON.parse(process.argv[2] ?? "") as ProbeJob;
  } catch {
    process.stderr.write("probe: usage: probe.ts '<json job>'\n");
    process.exit(2);
  }
  try {
    const result = await runProbe(job);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exit(0);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ fatal: message(err) })}\n`);
    process.exit(0);
  }
}
