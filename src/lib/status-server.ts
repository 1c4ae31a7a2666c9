/**
 * The loopback HTTP status endpoint (seed-fork §3.1–3.2), plus `/metrics` for Prometheus.
 *
 * It has no authentication, so it only ever listens on a loopback address: anything else is
 * refused before a socket is opened. Starting never throws; a failure comes back as a value
 * so `run` can log it and keep proxying, as the fork does.
 */
import { errorMessage, PaqetError } from "./errors.ts";
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus, renderText, snapshot as processSnapshot, type StatusSnapshot } from "./metrics.ts";

export type StatusErrorCode = "STATUS_BAD_ADDRESS" | "STATUS_NOT_LOOPBACK" | "STATUS_LISTEN_FAILED";

export class StatusError extends PaqetError {
  declare readonly code: StatusErrorCode;
  constructor(code: StatusErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export const DEFAULT_STATUS_ADDR = "127.0.0.1:6060";

export const STATUS_PATHS = {
  healthz: "/debug/paqet/healthz",
  status: "/debug/paqet/status",
  text: "/debug/paqet/text",
  metrics: "/metrics",
} as const;

/** A loopback listen address split into the host Bun.serve wants and a port. */
export interface LoopbackAddr {
  host: string;
  port: number;
}

function isLoopbackV4(host: string): boolean {
  const parts = host.split(".");
  if (parts.length !== 4) return false;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return false;
  }
  return parts[0] === "127";
}

/** True for an IPv6 literal equal to ::1 or to an IPv4-mapped 127.x address, however written. */
function isLoopbackV6(host: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(host) || !host.includes(":")) return false;
  let canonical: string;
  try {
    canonical = new URL(`http://[${host}]/`).hostname;
  } catch {
    return false;
  }
  return canonical === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}

/**
 * Checks `host:port` (`[::1]:port` for IPv6) and that the host is a loopback IP (127.0.0.0/8,
 * ::1) or `localhost`. Port 0 asks the kernel for a free port. Throws StatusError.
 */
export function parseLoopbackAddr(addr: string): LoopbackAddr {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr.trim());
  if (!m) throw new StatusError("STATUS_BAD_ADDRESS", `status address ${JSON.stringify(addr)} is not host:port`);
  const port = Number(m[3]);
  if (port > 65535) throw new StatusError("STATUS_BAD_ADDRESS", `status address ${addr}: port ${port} is out of range`);
  const host = m[1] ?? m[2] ?? "";
  if (host === "localhost") return { host: "127.0.0.1", port };
  if (isLoopbackV4(host) || (m[1] !== undefined && isLoopbackV6(host))) return { host, port };
  const what = host === "" || host === "0.0.0.0" || host === "::" ? "all interfaces" : host;
  throw new StatusError(
    "STATUS_NOT_LOOPBACK",
    `status address ${addr} would listen on ${what}; it must be a loopback address such as 127.0.0.1:6060 or [::1]:6060`,
  );
}

export interface StatusServerOptions {
  /** `host:port` on loopback; default 127.0.0.1:6060. */
  addr?: string;
  /** Builds the document served; default: the process registry (metrics.ts). */
  snapshot?: () => StatusSnapshot;
  /**
   * False serves only 404s with a hint, as the fork does with `debug.diag: false`, so
   * `paqet status` can explain what to enable. Default true.
   */
  diag?: boolean;
}

export interface StatusServer {
  /** The bound address, with the real port when 0 was asked for. */
  readonly addr: string;
  readonly port: number;
  /** Base URL, e.g. `http://127.0.0.1:6060`. */
  readonly url: string;
  /** Stops listening and drops open connections. */
  stop(): Promise<void>;
}

export type StartResult = { ok: true; server: StatusServer } | { ok: false; error: StatusError };

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";

function reply(status: number, body: string, type: string, extra?: Record<string, string>): Response {
  return new Response(body, { status, headers: { "content-type": type, "cache-control": "no-store", ...extra } });
}

function handler(opts: Required<StatusServerOptions>): (req: Request) => Response {
  const known = new Set<string>(Object.values(STATUS_PATHS));
  return (req) => {
    const path = new URL(req.url).pathname;
    if (!known.has(path)) return reply(404, "404 page not found\n", TEXT);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return reply(405, "method not allowed\n", TEXT, { allow: "GET, HEAD" });
    }
    if (!opts.diag) return reply(404, "diagnostics are off (debug.diag: false)\n", TEXT);
    if (path === STATUS_PATHS.healthz) return reply(200, "ok\n", TEXT);
    let snap: StatusSnapshot;
    try {
      snap = opts.snapshot();
    } catch (err) {
      return reply(500, `snapshot failed: ${errorMessage(err)}\n`, TEXT);
    }
    switch (path) {
      case STATUS_PATHS.status:
        return reply(200, `${JSON.stringify(snap, null, 2)}\n`, JSON_TYPE);
      case STATUS_PATHS.text:
        return reply(200, renderText(snap), TEXT);
      default:
        return reply(200, renderPrometheus(snap), PROMETHEUS_CONTENT_TYPE);
    }
  };
}

/** Starts the endpoint. Never throws: a bad address or a failed listen comes back as `error`. */
export function startStatusServer(options: StatusServerOptions = {}): StartResult {
  const addr = options.addr ?? DEFAULT_STATUS_ADDR;
  let where: LoopbackAddr;
  try {
    where = parseLoopbackAddr(addr);
  } catch (err) {
    return { ok: false, error: err as StatusError };
  }
  const opts: Required<StatusServerOptions> = {
    addr,
    snapshot: options.snapshot ?? (() => processSnapshot()),
    diag: options.diag ?? true,
  };
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({ hostname: where.host, port: where.port, fetch: handler(opts) });
  } catch (err) {
    return {
      ok: false,
      error: new StatusError("STATUS_LISTEN_FAILED", `status endpoint could not listen on ${addr}: ${errorMessage(err)}`, {
        cause: err,
      }),
    };
  }
  const port = server.port ?? where.port;
  const hostText = where.host.includes(":") ? `[${where.host}]` : where.host;
  return {
    ok: true,
    server: {
      addr: `${hostText}:${port}`,
      port,
      url: `http://${hostText}:${port}`,
      stop: () => server.stop(true),
    },
  };
}
