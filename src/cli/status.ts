/**
 * `paqet status`: asks a running paqet's loopback status endpoint (seed-fork §3.5) and prints
 * the text table, or the JSON snapshot with `--json`, verbatim.
 *
 * The address comes from `--addr` (alias `--pprof`, the fork's name), else the config's
 * `debug.pprof`, else 127.0.0.1:6060. Every failure is one line on stderr and exit status 1.
 */
import { existsSync, readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { parse as parseYaml } from "yaml";
import { errorMessage } from "../lib/errors.ts";
import { parseGoDuration } from "../lib/metrics.ts";
import { DEFAULT_STATUS_ADDR, STATUS_PATHS } from "../lib/status-server.ts";

const DEFAULT_CONFIG = "/etc/paqet/config.yaml";

interface DebugSettings {
  pprof: string;
  diag: boolean;
}

/**
 * Reads `debug.pprof` and `debug.diag` from the config. A missing file at the default path is
 * fine (undefined); a missing file that was asked for, or one that does not parse, throws.
 */
function readDebugSettings(path: string, explicit: boolean): DebugSettings | undefined {
  if (!existsSync(path)) {
    if (explicit) throw new Error(`config file ${path} does not exist`);
    return undefined;
  }
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`config file ${path}: ${errorMessage(err).split("\n")[0]}`);
  }
  const debug = typeof doc === "object" && doc !== null ? (doc as Record<string, unknown>).debug : undefined;
  if (debug === undefined || debug === null) return { pprof: "", diag: false };
  if (typeof debug !== "object") throw new Error(`config file ${path}: debug must be a mapping`);
  const { pprof, diag } = debug as Record<string, unknown>;
  if (pprof !== undefined && pprof !== null && typeof pprof !== "string") {
    throw new Error(`config file ${path}: debug.pprof must be a string such as 127.0.0.1:6060`);
  }
  if (diag !== undefined && diag !== null && typeof diag !== "boolean") {
    throw new Error(`config file ${path}: debug.diag must be true or false`);
  }
  return { pprof: pprof ?? "", diag: diag ?? false };
}

function fail(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(1);
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
    if (timeoutMs === undefined || timeoutMs <= 0) fail(`invalid --timeout ${JSON.stringify(timeoutText)}: use a duration such as 2s or 500ms`);

    let addr = typeof args.addr === "string" && args.addr !== "" ? args.addr : undefined;
    let settings: DebugSettings | undefined;
    if (addr === undefined) {
      const explicit = typeof args.config === "string" && args.config !== "";
      try {
        settings = readDebugSettings(explicit ? String(args.config) : DEFAULT_CONFIG, explicit);
      } catch (err) {
        fail(errorMessage(err));
      }
      addr = settings?.pprof || DEFAULT_STATUS_ADDR;
    }

    const url = `http://${addr}${args.json ? STATUS_PATHS.status : STATUS_PATHS.text}`;
    let res: Response;
    let body: string;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(Math.ceil(timeoutMs)) });
      body = await res.text();
    } catch (err) {
      fail(`failed to reach ${url}: ${reachError(err, timeoutText)}`);
    }
    if (res.status !== 200) {
      const detail = body.trim().split("\n")[0] ?? "";
      const hint =
        res.status === 404 && (settings === undefined || !settings.diag)
          ? " (is it enabled? set debug.pprof: 127.0.0.1:6060 and debug.diag: true in the config, then restart paqet)"
          : "";
      fail(`status endpoint returned ${res.status}: ${detail}${hint}`);
    }
    process.stdout.write(body);
  },
});
