/**
 * Runs this checkout's `paqet` (src/main.ts under the running Bun) as a child process, the way a
 * user would, and collects its exit code and output. Every run is bounded: SIGKILL after
 * `timeoutMs` (default 30 s), so a hung command fails its test instead of the whole run.
 */
import { spawn, spawnSync } from "bun";
import { CHECKOUT, MAIN_TS } from "../../src/cli/demo/harness.ts";

export interface CliOptions {
  /** Working directory; the checkout by default. */
  readonly cwd?: string;
  /** Added to this process's environment (NO_COLOR=1 is always set). */
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

function spawnOptions(opts: CliOptions) {
  return {
    cwd: opts.cwd ?? CHECKOUT,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
  } as const;
}

/** `paqet <args>`, asynchronously (this process stays free to answer the child, e.g. a status server). */
export async function runPaqet(args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
  const proc = spawn([process.execPath, MAIN_TS, ...args], spawnOptions(opts));
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** `paqet <args>`, blocking until it exits. */
export function runPaqetSync(args: readonly string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync([process.execPath, MAIN_TS, ...args], { ...spawnOptions(opts), timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
