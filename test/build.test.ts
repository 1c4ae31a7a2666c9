/**
 * Compiles the host binary once with build.ts into a temp dir and runs it: `version` shows the
 * injected build identity, `secret` works, and `check` reads a config (the yaml/citty bundle).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const outdir = mkdtempSync(join(tmpdir(), "paqet-build-"));
const os = process.platform === "win32" ? "windows" : process.platform;
const binary = join(outdir, `paqet-${os}-${process.arch}${os === "windows" ? ".exe" : ""}`);
let buildLog = "";

async function run(cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  const r = await run([process.execPath, "build.ts", "--outdir", outdir]);
  buildLog = r.stdout + r.stderr;
  if (r.code !== 0) throw new Error(`build.ts failed (${r.code}):\n${buildLog}`);
}, 180_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe("compiled host binary", () => {
  test("build.ts wrote the binary and printed its version", () => {
    expect(statSync(binary).size).toBeGreaterThan(1_000_000);
    expect(buildLog).toContain(`$ ${binary} version`);
    expect(buildLog).toContain("capture-worker.ts");
  });

  test("version carries package.json's version and the git commit", async () => {
    const pkg = (await Bun.file(join(ROOT, "package.json")).json()) as { version: string };
    const commit = (await run(["git", "rev-parse", "--short", "HEAD"])).stdout.trim() || "unknown";
    const r = await run([binary, "version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Version:    ${pkg.version}\n`);
    expect(r.stdout).toContain(`Git Commit: ${commit}\n`);
    expect(r.stdout).toMatch(/Build Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n/);
    expect(r.stdout).toContain(`Runtime:    bun ${Bun.version}\n`);
  });

  test("secret prints 64 hex characters", async () => {
    const r = await run([binary, "secret"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
  });

  test("check accepts an example and rejects a bad config", async () => {
    expect((await run([binary, "check", "-c", join(ROOT, "examples", "server.yaml")])).code).toBe(0);
    const bad = await run([binary, "check", "-c", join(ROOT, "test", "fixtures", "conf", "ten-mistakes.yaml")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("10 problems");
  });
});
