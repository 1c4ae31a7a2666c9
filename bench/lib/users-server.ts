/**
 * The server half of bench/users.ts, in a process of its own so that its memory is the server's
 * alone. Either paqet's TunnelServer with the default server configuration over a UDP packet conn
 * on loopback, or, as the baseline, a plain TCP relay that pipes each accepted connection to one
 * target:
 *
 *   bun bench/lib/users-server.ts tunnel KEY
 *   bun bench/lib/users-server.ts relay TARGET_PORT
 *
 * Prints `ready PORT` once listening. Then, per line on stdin: `cpu` prints the process's CPU
 * time so far (ms, user + system) as a JSON number; `stats` collects garbage fully, waits a moment
 * and prints one JSON line (RSS, JS heap, bytes outside it such as buffers, sessions, streams);
 * `exit` closes everything and exits 0.
 */
import { heapSize } from "bun:jsc";
import { createConnection, createServer, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { stringify } from "yaml";
import { parseConfig } from "../../src/conf/index.ts";
import { setLogLevel } from "../../src/lib/log.ts";
import { TunnelServer } from "../../src/server/index.ts";
import { tunnelOptionsFromConfig } from "../../src/tunnel/index.ts";
import { UdpPacketConn } from "./udp-packet-conn.ts";

export interface UsersServerStats {
  rss: number;
  heap: number;
  /** Bytes held outside the JS heap for JS objects: array buffers, socket buffers. */
  external: number;
  sessions: number;
  streams: number;
}

/** paqet's default configuration for `role` with this key; the network block is a placeholder. */
export function benchConfigYaml(role: "client" | "server", key: string, serverPort: number): string {
  const ends = role === "server" ? { listen: { addr: `:${serverPort}` } } : { server: { addr: `127.0.0.1:${serverPort}` }, socks5: [{ listen: "127.0.0.1:1080" }] };
  return stringify({
    role,
    ...ends,
    network: { interface: "lo", ipv4: { addr: role === "server" ? `127.0.0.1:${serverPort}` : "127.0.0.1:0", router_mac: "02:00:00:00:00:01" } },
    transport: { protocol: "kcp", kcp: { key } },
  });
}

async function startTunnel(key: string): Promise<{ port: number; counts: () => [number, number]; close: () => Promise<void> }> {
  const conn = await UdpPacketConn.bind();
  const { config } = parseConfig(benchConfigYaml("server", key, conn.localAddr.port));
  const server = new TunnelServer(conn, { tunnel: tunnelOptionsFromConfig(config), ownsPacket: true });
  server.start();
  return { port: conn.localAddr.port, counts: () => [server.sessionCount, server.streamCount], close: () => server.close(0) };
}

async function startRelay(targetPort: number): Promise<{ port: number; counts: () => [number, number]; close: () => Promise<void> }> {
  const open = new Set<Socket>();
  const relay = createServer((inbound) => {
    const outbound = createConnection({ host: "127.0.0.1", port: targetPort });
    for (const s of [inbound, outbound]) {
      open.add(s);
      s.on("error", () => s.destroy());
      s.on("close", () => {
        open.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
  const port = (relay.address() as { port: number }).port;
  return {
    port,
    counts: () => [0, open.size / 2],
    close: () =>
      new Promise((r) => {
        for (const s of open) s.destroy();
        relay.close(() => r());
      }),
  };
}

async function measure(counts: () => [number, number]): Promise<UsersServerStats> {
  Bun.gc(true);
  await Bun.sleep(200);
  Bun.gc(true);
  const [sessions, streams] = counts();
  return { rss: process.memoryUsage.rss(), heap: heapSize(), external: process.memoryUsage().external, sessions, streams };
}

if (import.meta.main) {
  const [mode, arg] = process.argv.slice(2);
  if ((mode !== "tunnel" && mode !== "relay") || arg === undefined) {
    process.stderr.write("usage: users-server.ts tunnel KEY | relay TARGET_PORT\n");
    process.exit(2);
  }
  // paqet logs every accepted stream at info, as Go paqet does: hundreds of lines here.
  setLogLevel("warn");
  const side = mode === "tunnel" ? await startTunnel(arg) : await startRelay(Number(arg));
  process.stdout.write(`ready ${side.port}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === "cpu") {
      const u = process.cpuUsage();
      process.stdout.write(`${(u.user + u.system) / 1000}\n`);
    } else if (line === "stats") process.stdout.write(`${JSON.stringify(await measure(side.counts))}\n`);
    else if (line === "exit") break;
  }
  await side.close();
  process.exit(0);
}
