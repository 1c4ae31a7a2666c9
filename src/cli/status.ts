/**
 * `paqet status`: asks a running paqet's loopback status endpoint (seed-fork §3.5) and prints
 * the text table, or the JSON snapshot with `--json`, verbatim.
 *
 * The address comes from `--addr` (alias `--pprof`, the fork's name), else the config's
 * `debug.pprof`, else 127.0.0.1:6060. Every failure is one line on stderr and exit status 1.
 */
import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { ConfigError, formatProblem, loadConfig, type DebugConfig } from "../conf/index.ts";
import { errorMessage } from "../lib/errors.ts";
import { parseGoDuration } from "../lib/metrics.ts";
import { DEFAULT_STATUS_ADDR, STATUS_PATHS } from "../lib/status-server.ts";

const DEFAULT_CONFIG = "/etc/paqet/config.yaml";

/**
 * Loads and validates the config (seed-fork §3.5) for its `debug` block. A missing file at the
 * default path is fine (undefined); a missing file that was asked for, or an invalid one, throws
 * one line naming the first problem.
 */
function readDebugSettings(path: string, explicit: boolean): DebugConfig | undefined {
  if (!explicit && !existsSync(path)) return undefined;
  try {
    return loadConfig(path).config.debug;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const first = err.problems[0];
    const more = err.problems.length > 1 ? ` (and ${err.problems.length - 1} more; see paqet check -c ${path})` : "";
    throw new Error(`invalid config: ${first ? formatProblem(err.fileName, first) : err.message.split("\n")[0]}${more}`);
  }
}

/** Writes one line to stderr; the exit status it returns becomes the process's (cli/main.ts). */
function fail(line: string): number {
  process.stderr.write(`${line}\n`);
  return 1;
}

/** A fetch failure as a few words (Bun's messages for refused connections are long). */
function reachError(err: unknown, timeoutText: string): string {
  const e = err as { name?: string; code?: string } | undefined;
  if (e?.name === "TimeoutError" || e?.code === "ETIMEDOUT") return `no answer within ${timeoutText}`;
  if (e?.code === "ConnectionRefused" || e?.code === "ECONNREFUSED") return "connection refused";
  return errorMessage(err).split("\n")[0] ?? "";
}

export default defineCommand({
  meta: { name: "status", description: "Show the counters of a running paqet (needs debug.pprof and debug.diag)" },
  args: {
    json: { type: "boolean", description: "Print the JSON snapshot instead of the table" },
    config: { type: "string", alias: "c", description: `Config file to read debug.pprof from (default ${DEFAULT_CONFIG})` },
    addr: { type: "string", alias: "pprof", description: `Status address host:port (default: config, else ${DEFAULT_STATUS_ADDR})` },
    timeout: { type: "string", default: "2s", description: "How long to wait, as a Go duration" },
  },
  async run({ args }) {
    const timeoutText = String(args.timeout);
    const timeoutMs = parseGoDuration(timeoutText);
    if (timeoutMs === undefined || timeoutMs <= 0) return fail(`invalid --timeout ${JSON.stringify(timeoutText)}: use a duration such as 2s or 500ms`);

    let addr = typeof args.addr === "string" && args.addr !== "" ? args.addr : undefined;
    let settings: DebugConfig | undefined;
    if (addr === undefined) {
      const explicit = typeof args.config === "string" && args.config !== "";
      try {
        settings = readDebugSettings(explicit ? String(args.config) : DEFAULT_CONFIG, explicit);
      } catch (err) {
        return fail(errorMessage(err));
      }
      addr = settings?.pprof || DEFAULT_STATUS_ADDR;
    }

    // The endpoint binds `localhost` as 127.0.0.1 (status-server.ts); ask the same address
    // rather than whatever localhost resolves to first here (possibly ::1).
    if (addr.startsWith("localhost:")) addr = `127.0.0.1${addr.slice("localhost".length)}`;
    const url = `http://${addr}${args.json ? STATUS_PATHS.status : STATUS_PATHS.text}`;
    let res: Response;
    let body: string;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(Math.ceil(timeoutMs)) });
      body = await res.text();
    } catch (err) {
      return fail(`failed to reach ${url}: ${reachError(err, timeoutText)}`);
    }
    if (res.status !== 200) {
      const detail = body.trim().split("\n")[0] ?? "";
      const hint =
        res.status === 404 && (settings === undefined || !settings.diag)
          ? " (is it enabled? set debug.pprof: 127.0.0.1:6060 and debug.diag: true in the config, then restart paqet)"
          : "";
      return fail(`status endpoint returned ${res.status}: ${detail}${hint}`);
    }
    process.stdout.write(body);
    return 0;
  },
});
