/**
 * Targets that sit beside the paqet server (run as a child inside the server's namespace):
 *
 *   bun src/cli/demo/targets.ts [--http PORT] [--udp PORT] [--host ADDR]
 *
 * - HTTP: `GET /bytes/N` streams N bytes of the pattern (pattern.ts), `GET /small` answers "ok\n";
 *   keep-alive, so one connection can carry many requests.
 * - UDP echo: every datagram goes back to its sender unchanged.
 *
 * Prints one line `ready http=<port> udp=<port>` once both listen (port 0 = kernel-chosen), then
 * runs until SIGTERM/SIGINT.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { BLOCK_SIZE, patternBlock } from "./pattern.ts";

interface TargetArgs {
  http: number;
  udp: number;
  host: string;
}

function parseArgs(argv: readonly string[]): TargetArgs {
  const out: TargetArgs = { http: 0, udp: -1, host: "0.0.0.0" };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`targets: ${key} needs a value`);
    if (key === "--http") out.http = Number(value);
    else if (key === "--udp") out.udp = Number(value);
    else if (key === "--host") out.host = value;
    else throw new Error(`targets: unknown option ${key}`);
  }
  return out;
}

/** Streams `n` pattern bytes with backpressure (no 256 MiB buffer). */
function sendPattern(res: ServerResponse, n: number): void {
  const block = patternBlock();
  let left = n;
  let aborted = false;
  res.on("close", () => {
    aborted = true;
  });
  const pump = (): void => {
    while (left > 0 && !aborted) {
      const take = Math.min(left, BLOCK_SIZE);
      left -= take;
      if (!res.write(take === BLOCK_SIZE ? block : block.subarray(0, take))) {
        res.once("drain", pump);
        return;
      }
    }
    if (!aborted) res.end();
  };
  pump();
}

/**
 * node:http rather than Bun.serve: Bun.serve answers a streamed body with chunked encoding and
 * drops the Content-Length, which clients here use to know the size up front.
 */
export function startHttpTarget(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const m = /^\/bytes\/(\d+)$/.exec(path);
    if (m) {
      const n = Number(m[1]);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": n });
      sendPattern(res, n);
      return;
    }
    if (path === "/small" || path === "/") {
      res.writeHead(200, { "content-type": "text/plain", "content-length": 3 });
      res.end("ok\n");
      return;
    }
    res.writeHead(404, { "content-length": 0 });
    res.end();
  });
  server.keepAliveTimeout = 60_000;
  return new Promise<Server>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

export async function startUdpEcho(host: string, port: number): Promise<{ port: number; close(): void }> {
  const sock = await Bun.udpSocket({
    hostname: host,
    port,
    socket: {
      data(s, data, remotePort, remoteAddr) {
        s.send(data, remotePort, remoteAddr);
      },
    },
  });
  return { port: sock.port, close: () => sock.close() };
}

if (import.meta.main) {
  const args = parseArgs(process.argv.slice(2));
  const http = await startHttpTarget(args.host, args.http);
  const udp = args.udp >= 0 ? await startUdpEcho(args.host, args.udp) : undefined;
  const stop = () => {
    http.close();
    udp?.close();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdout.write(`ready http=${(http.address() as AddressInfo).port} udp=${udp?.port ?? -1}\n`);
}
