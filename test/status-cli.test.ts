import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { metrics, provide, registerConfig, resetMetrics } from "../src/lib/metrics.ts";
import { startStatusServer, type StatusServer } from "../src/lib/status-server.ts";
import { runPaqet } from "./helpers/cli.ts";

const ROOT = resolve(import.meta.dir, "..");
const FIXTURE = join(ROOT, "test/fixtures/conf/go-aes-server.yaml");

/** Runs `paqet status ...` as a real subprocess; async so this process can answer its requests. */
const paqetStatus = (...args: string[]) => runPaqet(["status", ...args]);

function start(opts: Parameters<typeof startStatusServer>[0]): StatusServer {
  const r = startStatusServer(opts);
  if (!r.ok) throw r.error;
  return r.server;
}

/** A port that was free a moment ago: bind, read, close. */
async function freePort(): Promise<number> {
  const s = start({ addr: "127.0.0.1:0" });
  const port = s.port;
  await s.stop();
  return port;
}

describe("paqet status", () => {
  let server: StatusServer;
  let off: StatusServer;
  let dir: string;
  beforeAll(() => {
    resetMetrics();
    metrics.rawUpPackets = 4242;
    metrics.tcpDownBytes = 1000;
    metrics.udpDownBytes = 24;
    provide("streams", () => 17);
    registerConfig({ role: "server", interface: "eth0", listen_addr: ":9999", guard: true });
    server = start({ addr: "127.0.0.1:0" });
    off = start({ addr: "127.0.0.1:0", diag: false });
    dir = mkdtempSync(join(tmpdir(), "pq-status-"));
  });
  afterAll(async () => {
    await server.stop();
    await off.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("--json --addr prints the snapshot JSON", async () => {
    const r = await paqetStatus("--json", "--addr", server.addr);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.raw_up_packets).toBe(4242);
    expect(doc.streams).toBe(17);
    expect(doc.config.role).toBe("server");
  });

  test("without --json prints the aligned table", async () => {
    const r = await paqetStatus("--addr", server.addr);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("paqet status");
    expect(r.stdout).toMatch(/^ {2}role: +server$/m);
    expect(r.stdout).toMatch(/^ {2}streams: +17 +sessions: 0$/m);
    expect(r.stdout).toMatch(/^ {2}bytes: +up=0 +down=1024$/m);
    expect(r.stdout).toMatch(/^ {4}raw packets: +up=4242 +down=0$/m);
  });

  test("localhost means 127.0.0.1, as the endpoint binds it", async () => {
    const r = await paqetStatus("--json", "--addr", `localhost:${server.port}`);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).raw_up_packets).toBe(4242);
  });

  test("--pprof is accepted as the fork's name for --addr", async () => {
    const r = await paqetStatus("--json", "--pprof", server.addr);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).raw_up_packets).toBe(4242);
  });

  test("the address comes from debug.pprof in the config", async () => {
    const cfg = join(dir, "server.yaml");
    writeFileSync(cfg, `${readFileSync(FIXTURE, "utf8")}debug:\n  pprof: "${server.addr}"\n  diag: true\n`);
    const r = await paqetStatus("--json", "-c", cfg);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).raw_up_packets).toBe(4242);
  });

  test("unreachable address: exit 1 with one line", async () => {
    const port = await freePort();
    const r = await paqetStatus("--addr", `127.0.0.1:${port}`, "--timeout", "1s");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`failed to reach http://127.0.0.1:${port}/debug/paqet/text: connection refused\n`);
  });

  test("a listener that never answers: exit 1 after --timeout with one line", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const r = await paqetStatus("--addr", `127.0.0.1:${silent.port}`, "--timeout", "300ms");
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`failed to reach http://127.0.0.1:${silent.port}/debug/paqet/text: no answer within 300ms\n`);
    } finally {
      silent.stop(true);
    }
  });

  test("endpoint with diagnostics off: exit 1, one line with the hint", async () => {
    const r = await paqetStatus("--json", "--addr", off.addr);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n")).toHaveLength(2);
    expect(r.stderr).toStartWith("status endpoint returned 404: diagnostics are off");
    expect(r.stderr).toContain("debug.diag: true");
  });

  test("bad flags and configs fail with one line", async () => {
    const bad = await paqetStatus("--addr", server.addr, "--timeout", "soon");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('invalid --timeout "soon": use a duration such as 2s or 500ms\n');

    const missing = await paqetStatus("-c", join(dir, "nope.yaml"));
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toContain("nope.yaml");

    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, "debug:\n  pprof: [1, 2\n");
    const r = await paqetStatus("-c", broken);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toStartWith(`invalid config: ${broken}:`);

    // A config that parses but fails validation is fatal too (seed-fork §3.5): here pprof is public.
    const open = join(dir, "open.yaml");
    writeFileSync(open, `${readFileSync(FIXTURE, "utf8")}debug:\n  pprof: "0.0.0.0:6060"\n  diag: true\n`);
    const v = await paqetStatus("-c", open);
    expect(v.code).toBe(1);
    expect(v.stderr.trim().split("\n")).toHaveLength(1);
    expect(v.stderr).toContain("debug.pprof");
    expect(v.stderr).toContain("loopback");
  });
});
