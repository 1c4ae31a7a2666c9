/**
 * `paqet demo` (root): a real client and server on two fresh network namespaces joined by a veth,
 * an HTTP target beside the server, and a download through the client's SOCKS5 port, checked by
 * sha256. Everything it creates is removed again, on success, failure or Ctrl-C.
 */
import { defineCommand } from "citty";
import { errorMessage } from "../lib/errors.ts";
import { newSecret } from "./secret.ts";
import {
  clientYaml,
  DEFAULT_SOCKS_PORT,
  type NsProcess,
  probeIn,
  serverYaml,
  startPaqet,
  startTargets,
  type TunnelSpec,
  waitListening,
  WorkDir,
} from "./demo/harness.ts";
import { createNetBed, netbedUnavailable, type NetBed } from "./demo/netbed.ts";
import { patternSha256 } from "./demo/pattern.ts";
import type { GetOutcome, LatOutcome } from "./demo/probe.ts";

const HTTP_PORT = 8080;

function say(line: string): void {
  process.stdout.write(`demo: ${line}\n`);
}

export default defineCommand({
  meta: { name: "demo", description: "Run a client and a server in two network namespaces and fetch through SOCKS5 (root)" },
  args: {
    size: { type: "string", default: "32", description: "MiB to download through the tunnel" },
    block: { type: "string", default: "aes", description: "transport.kcp.block for both sides" },
  },
  async run({ args }) {
    const sizeMiB = Number(args.size);
    if (!Number.isInteger(sizeMiB) || sizeMiB < 1 || sizeMiB > 4096) {
      process.stderr.write(`paqet demo: --size must be a whole number of MiB in 1..4096, not ${JSON.stringify(args.size)}\n`);
      return 1;
    }
    const why = netbedUnavailable();
    if (why !== undefined) {
      process.stderr.write(`paqet demo: ${why}; run it as root on Linux, e.g. sudo npm run demo\n`);
      return 1;
    }
    return runDemo(sizeMiB, String(args.block));
  },
});

async function runDemo(sizeMiB: number, block: string): Promise<number> {
  const started = performance.now();
  const work = new WorkDir();
  let bed: NetBed | undefined;
  const procs: NsProcess[] = [];
  let cleaned = false;
  let interrupted = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await Promise.all(procs.map((p) => p.stop(2000)));
    bed?.destroy();
    work.cleanup();
  };
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    say("interrupted; cleaning up");
    void cleanup().then(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  try {
    bed = createNetBed({ prefix: "pqd" });
    say(`[1/5] namespaces ${bed.a.ns} (client) and ${bed.b.ns} (server), veth ${bed.a.ipv4} <-> ${bed.b.ipv4}`);

    const spec: TunnelSpec = { key: newSecret(), block, socksPort: DEFAULT_SOCKS_PORT, logLevel: "info" };
    const serverCfg = work.write("server.yaml", serverYaml(bed, spec));
    const clientCfg = work.write("client.yaml", clientYaml(bed, spec));
    say(`[2/5] configs in ${work.path}: block ${block}, a fresh key, server ${bed.b.ipv4}:47000, SOCKS5 127.0.0.1:${DEFAULT_SOCKS_PORT}`);

    const targets = await startTargets(bed.b.ns, HTTP_PORT, -1);
    procs.push(targets);
    const server = startPaqet("server", bed.b.ns, serverCfg);
    procs.push(server);
    const client = startPaqet("client", bed.a.ns, clientCfg);
    procs.push(client);
    say(`[3/5] started HTTP target ${bed.b.ipv4}:${HTTP_PORT} and paqet run (server pid ${server.pid}, client pid ${client.pid})`);

    await waitListening(bed.a.ns, DEFAULT_SOCKS_PORT, 15_000, client);
    if (server.exited) throw new Error(`server exited (code ${server.code}); output:\n${server.tail()}`);
    const socks = { host: "127.0.0.1", port: DEFAULT_SOCKS_PORT };
    const target = { host: bed.b.ipv4, port: HTTP_PORT };
    const t0 = performance.now();
    let warm: LatOutcome | undefined;
    for (let i = 0; i < 5 && (warm?.samplesMs.length ?? 0) === 0; i++) {
      warm = await probeIn<LatOutcome>(bed.a.ns, { kind: "lat", socks, target, mode: "new", n: 1, gapMs: 0, timeoutMs: 4000 }, 8000);
    }
    if (!warm || warm.samplesMs.length === 0) throw new Error(`no request got through the tunnel: ${warm?.errors.join("; ")}`);
    say(`[4/5] SOCKS5 is up; first request through the tunnel answered after ${(performance.now() - t0).toFixed(0)} ms`);

    const bytes = sizeMiB * 1024 * 1024;
    const got = await probeIn<GetOutcome>(bed.a.ns, { kind: "get", socks, target, bytes, count: 1, concurrency: 1, timeoutMs: 120_000 }, 130_000);
    const want = patternSha256(bytes);
    if (got.ok !== 1) throw new Error(`download failed: ${got.errors.join("; ") || "no result"}`);
    const secs = got.elapsedMs / 1000;
    say(`[5/5] fetched ${bytes} bytes through SOCKS5 in ${secs.toFixed(2)} s (${(sizeMiB / secs).toFixed(1)} MiB/s), sha256 ${want.slice(0, 16)}… matches`);
    await cleanup();
    say(`done in ${((performance.now() - started) / 1000).toFixed(1)} s; namespaces and processes removed`);
    return 0;
  } catch (err) {
    // After Ctrl-C the steps fail as their processes go away; the signal handler reports and exits.
    if (interrupted) return 130;
    process.stderr.write(`paqet demo: failed: ${errorMessage(err)}\n`);
    for (const p of procs) {
      if (p.name === "targets") continue;
      process.stderr.write(`--- ${p.name} output (last lines) ---\n${p.tail(20)}\n`);
    }
    await cleanup();
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
