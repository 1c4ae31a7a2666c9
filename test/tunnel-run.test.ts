/**
 * `paqet run` and `paqet ping --tunnel` as subprocesses, on the failures that need no root: each
 * ends with exit status 1 and one clear line on stderr.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MAIN_TS } from "../src/cli/demo/harness.ts";
import { runPaqet } from "./helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "paqet-run-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const paqet = (...args: string[]) => runPaqet(args, { timeoutMs: 20_000 });
const paqetWithEnv = (env: Record<string, string>, ...args: string[]) => runPaqet(args, { timeoutMs: 20_000, env });

function config(name: string, role: "client" | "server"): string {
  const head =
    role === "server"
      ? `role: server\nlisten:\n  addr: ":47000"\n`
      : `role: client\nserver:\n  addr: "10.77.0.2:47000"\nsocks5:\n  - listen: "127.0.0.1:1080"\n`;
  const path = join(dir, name);
  writeFileSync(
    path,
    `${head}log:\n  level: info\nnetwork:\n  interface: "pqnosuchif0"\n  ipv4:\n    addr: "10.77.0.1:${role === "server" ? 47000 : 0}"\n    router_mac: "02:00:00:00:00:01"\ntransport:\n  protocol: kcp\n  kcp:\n    key: "k"\n`,
  );
  return path;
}

/** Lines the Go-style standard logger wrote (`YYYY/MM/DD HH:MM:SS message`). */
function stdLogLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /.test(l));
}

/** The purge_delay values mimalloc reports at start (MIMALLOC_VERBOSE), one per process image. */
function purgeDelays(stderr: string): string[] {
  return [...stderr.matchAll(/option 'purge_delay': (-?\d+)/g)].map((m) => m[1]!);
}

describe.skipIf(process.platform !== "linux")("paqet run tunes the allocator by starting itself again", () => {
  test("without MIMALLOC_PURGE_DELAY: a second image with 1000 ms, then the usual behaviour", async () => {
    const r = await paqetWithEnv({ MIMALLOC_VERBOSE: "1" }, "run", "-c", join(dir, "absent.yaml"));
    const delays = purgeDelays(r.stderr);
    expect(delays.length).toBe(2);
    expect(delays[1]).toBe("1000");
    expect(r.code).toBe(1);
    expect(stdLogLines(r.stderr).length).toBe(1);
  }, 30_000);

  test("a value from the environment is kept, and PAQET_NO_REEXEC keeps the defaults", async () => {
    const kept = await paqetWithEnv({ MIMALLOC_VERBOSE: "1", MIMALLOC_PURGE_DELAY: "10" }, "run", "-c", join(dir, "absent.yaml"));
    expect(purgeDelays(kept.stderr)).toEqual(["10"]);
    const off = await paqetWithEnv({ MIMALLOC_VERBOSE: "1", PAQET_NO_REEXEC: "1" }, "run", "-c", join(dir, "absent.yaml"));
    expect(purgeDelays(off.stderr).length).toBe(1);
    expect(off.code).toBe(1);
  }, 30_000);

  test("under Bun runtime flags it does not start itself again", async () => {
    const { spawn } = await import("bun");
    const proc = spawn([process.execPath, "--smol", MAIN_TS, "run", "-c", join(dir, "absent.yaml")], {
      env: { ...process.env, NO_COLOR: "1", MIMALLOC_VERBOSE: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    expect(purgeDelays(stderr).length).toBe(1);
    expect(code).toBe(1);
  }, 30_000);
});

describe("paqet run", () => {
  test("a missing config file is one fatal line and exit 1", async () => {
    const r = await paqet("run", "-c", join(dir, "absent.yaml"));
    expect(r.code).toBe(1);
    const lines = stdLogLines(r.stderr);
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("failed to parse configuration:");
  }, 30_000);

  test("a server on an interface that does not exist: exit 1, one fatal line naming it", async () => {
    const r = await paqet("run", "-c", config("server.yaml", "server"));
    expect(r.code).toBe(1);
    const lines = stdLogLines(r.stderr);
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("server encountered an error:");
    expect(lines[0]).toContain("pqnosuchif0");
  }, 30_000);

  test("a client on an interface that does not exist: exit 1, one fatal line naming it", async () => {
    const r = await paqet("run", "-c", config("client.yaml", "client"));
    expect(r.code).toBe(1);
    const lines = stdLogLines(r.stderr);
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("client encountered an error:");
    expect(lines[0]).toContain("pqnosuchif0");
  }, 30_000);
});

describe("paqet ping --tunnel", () => {
  test("needs a client config", async () => {
    const r = await paqet("ping", "--tunnel", "-c", config("server2.yaml", "server"));
    expect(r.code).toBe(1);
    expect(stdLogLines(r.stderr)[0]).toContain("ping command requires client configuration");
  }, 30_000);

  test("a bad --count is refused", async () => {
    const r = await paqet("ping", "--tunnel", "--count", "0", "-c", config("client2.yaml", "client"));
    expect(r.code).toBe(1);
    expect(stdLogLines(r.stderr)[0]).toContain("--count");
  }, 30_000);

  test("an interface that does not exist fails before any ping", async () => {
    const r = await paqet("ping", "--tunnel", "-c", config("client3.yaml", "client"));
    expect(r.code).toBe(1);
    expect(stdLogLines(r.stderr)[0]).toContain("failed to create raw socket:");
    expect(r.stdout).not.toContain("PONG");
  }, 30_000);
});
