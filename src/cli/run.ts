/**
 * `paqet run -c FILE` (paqet-app.md §1.2): the client (pool, SOCKS5 listeners, forwards) or the
 * server, by `role`. SIGINT/SIGTERM shut down gracefully (seed fork: the server drains relays up
 * to 10 s, the client waits up to 2 s) and exit 0; a second signal exits at once. Any startup
 * failure is one fatal line on stderr and exit 1.
 *
 * Ready lines for scripts and tests: `client ready (...)` once the listeners are up, and the
 * server's `server listening for packets on :PORT` once its raw socket captures.
 */
import { defineCommand } from "citty";
import { execSelf } from "../../ffi/exec.ts";
import type { PaqetClient } from "../client/index.ts";
import type { PaqetConfig } from "../conf/index.ts";
import { errorMessage } from "../lib/errors.ts";
import { logger, setLogLevel } from "../lib/log.ts";
import { keyId, provideAll, registerConfig } from "../lib/metrics.ts";
import { startStatusServer, type StatusServer } from "../lib/status-server.ts";
import { TcpForward } from "../forward/tcp.ts";
import { UdpForward } from "../forward/udp.ts";
import { TunnelServer } from "../server/index.ts";
import { Socks5Server } from "../socks5/server.ts";
import { PcapPacketConn } from "../socket/pcap.ts";
import { tunnelOptionsFromConfig, type TunnelOptions } from "../tunnel/index.ts";
import { fatal, loadConfigOrExit, notice, pcapOptions } from "./_raw.ts";
import { resolveNetworkOrExit } from "./_network.ts";
import { clientFromConfig, providePcap } from "./_tunnel.ts";

const log = logger("run");

/** Seed fork: the client waits this long for its connections to close on shutdown. */
const CLIENT_SHUTDOWN_MS = 2_000;
/** How often the server checks that its raw socket is still open. */
const RAW_WATCH_MS = 1_000;

function firstLine(err: unknown): string {
  return errorMessage(err).split("\n")[0]!;
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    let seen = false;
    const on = (sig: string) => () => {
      if (seen) process.exit(0);
      seen = true;
      resolve(sig);
    };
    process.on("SIGINT", on("SIGINT"));
    process.on("SIGTERM", on("SIGTERM"));
  });
}

function startStatus(config: PaqetConfig): StatusServer | undefined {
  if (config.debug.pprof === "") return undefined;
  const r = startStatusServer({ addr: config.debug.pprof, diag: config.debug.diag });
  if (!r.ok) {
    log.error(r.error.message);
    return undefined;
  }
  log.info(`status endpoint on ${r.server.url}`);
  return r.server;
}

/**
 * The one PacketCrypt every session of this process shares, behind the drop counters: a CRC
 * mismatch is a crc drop; a datagram too short for the crypto header, or (aes-128-gcm, which has
 * no CRC) a failed tag, is a decrypt drop.
 */
function provideCrypt(config: PaqetConfig, tunnel: TunnelOptions): void {
  const s = tunnel.crypt.stats;
  const aead = config.transport.kcp.block === "aes-128-gcm";
  provideAll({
    crcDrops: () => (aead ? 0 : s.checksumFailures),
    decryptDrops: () => s.malformed + (aead ? s.checksumFailures : 0),
  });
}

interface Closable {
  close(): void;
}

async function runClient(config: PaqetConfig, tunnel: TunnelOptions, stopped: Promise<string>): Promise<void> {
  let client: PaqetClient;
  try {
    client = await clientFromConfig(config, tunnel);
  } catch (err) {
    fatal(`failed to initialize client: ${firstLine(err)}`);
  }
  try {
    await client.start();
  } catch (err) {
    log.error(`failed to create connection: ${firstLine(err)}`);
    fatal(`client encountered an error: ${firstLine(err)}`);
  }
  const n = config.network;
  log.info(
    `Client started: IPv4:${n.ipv4?.ip ?? "<nil>"} IPv6:${n.ipv6?.ip ?? "<nil>"} -> ${config.server!.addr} (${tunnel.conns} connections)`,
  );
  const fronts: Closable[] = [];
  const failFront = async (what: string, err: unknown): Promise<never> => {
    for (const f of fronts) f.close();
    await client.close();
    fatal(`${what} encountered an error: ${firstLine(err)}`);
  };
  for (const s of config.socks5) {
    try {
      fronts.push(new Socks5Server(client, { listen: s.listen, username: s.username, password: s.password }));
    } catch (err) {
      await failFront("SOCKS5", err);
    }
  }
  for (const f of config.forward) {
    try {
      fronts.push(
        f.protocol === "udp"
          ? await UdpForward.open(client, { listen: f.listen, target: f.target })
          : new TcpForward(client, { listen: f.listen, target: f.target }),
      );
    } catch (err) {
      await failFront("forward", err);
    }
  }
  if (fronts.length === 0) log.warn("no SOCKS5 or forward entries configured: the client carries no traffic");
  log.info(`client ready (${client.readyCount}/${tunnel.conns} connections up)`);

  await stopped;
  notice("shutdown signal received, shutting down...");
  for (const f of fronts) f.close();
  await Promise.race([client.close(), Bun.sleep(CLIENT_SHUTDOWN_MS)]);
}

async function runServer(config: PaqetConfig, tunnel: TunnelOptions, stopped: Promise<string>): Promise<void> {
  let raw: PcapPacketConn;
  try {
    raw = new PcapPacketConn(pcapOptions(config));
    providePcap(raw, tunnel.guard !== undefined);
    await raw.ready;
  } catch (err) {
    log.error(`could not start KCP listener: ${firstLine(err)}`);
    fatal(`server encountered an error: ${firstLine(err)}`);
  }
  const server = new TunnelServer(raw, { tunnel, ownsPacket: true, listenPort: config.listen?.port });
  try {
    server.start();
  } catch (err) {
    await raw.close();
    fatal(`server encountered an error: ${firstLine(err)}`);
  }
  // The capture worker closes the socket when libpcap fails (e.g. the interface went away); a
  // server without its socket serves nothing, so that ends the process with a clear line.
  const watchdog = setInterval(() => {
    if (!raw.isClosed) return;
    clearInterval(watchdog);
    void server.close(0).then(() => fatal("server encountered an error: the raw socket closed (see the capture error above)"));
  }, RAW_WATCH_MS);
  await stopped;
  clearInterval(watchdog);
  notice("shutdown signal received, shutting down...");
  await server.close();
}

export async function runFromConfig(path: string): Promise<number> {
  const loaded = loadConfigOrExit(path);
  setLogLevel(loaded.log.level);
  // Fields left empty (interface, source IP, router MAC) are filled from this host's routes.
  const config = await resolveNetworkOrExit(loaded);
  let tunnel: TunnelOptions;
  try {
    tunnel = tunnelOptionsFromConfig(config);
  } catch (err) {
    fatal(`failed to parse configuration: ${firstLine(err)}`);
  }
  const n = config.network;
  registerConfig({
    role: config.role,
    interface: n.interface,
    ipv4_addr: n.ipv4?.addr,
    ipv6_addr: n.ipv6?.addr,
    server_addr: config.server?.addr,
    listen_addr: config.listen?.addr,
    pprof: config.debug.pprof,
    guard: config.transport.kcp.guard,
    conns: config.role === "client" ? config.transport.conn : undefined,
    key_id: keyId(config.transport.kcp.key),
  });
  provideCrypt(config, tunnel);
  const stopped = untilSignal();
  const status = startStatus(config);
  if (config.role === "client") await runClient(config, tunnel, stopped);
  else await runServer(config, tunnel, stopped);
  await status?.stop();
  return 0;
}

/**
 * Bun's allocator (mimalloc) hands pages that became free back to the OS after 100 ms, and a relay
 * frees and re-allocates buffers all the time, so on a busy tunnel the same memory goes back and
 * is faulted in again over and over. A longer delay keeps it while traffic flows and still returns
 * it within a second of going idle. Measured in the tunnel bench (same VM, alternating runs, as in
 * the README): client 6.4-8.3 -> 4.8-6.1 and server 8.4-10.8 -> 6.5-7.7 CPU ms per MiB, peak RSS
 * +4-9 MiB. mimalloc reads the option only at process start, so `run` starts itself again, same
 * PID, with it in the environment, unless the environment already sets it (any value, including
 * mimalloc's default of 100, is kept) or PAQET_NO_REEXEC is set. Nor under Bun runtime flags
 * (`bun --cpu-prof … src/main.ts run`): measured, the sampling profiler's signal reached the new
 * image before it had a handler and killed it at shutdown (exit 158, no profile written).
 */
const PURGE_DELAY_MS = "1000";

function withAllocatorTuning(): void {
  if (process.platform !== "linux" || process.env.MIMALLOC_PURGE_DELAY !== undefined || process.env.PAQET_NO_REEXEC) return;
  if (process.execArgv.length > 0) return;
  const compiled = Bun.main.startsWith("/$bunfs/");
  // A compiled binary finds its own entry; `bun src/main.ts` needs the script again.
  const argv = compiled ? [process.argv0, ...process.argv.slice(2)] : [process.execPath, Bun.main, ...process.argv.slice(2)];
  const failed = execSelf(process.execPath, argv, { ...process.env, MIMALLOC_PURGE_DELAY: PURGE_DELAY_MS });
  log.debug(`allocator left at its defaults: ${failed}`);
}

export default defineCommand({
  meta: { name: "run", description: "Run the client or the server described by a configuration file" },
  args: {
    config: { type: "string", alias: "c", default: "config.yaml", valueHint: "FILE", description: "configuration file" },
  },
  async run({ args }) {
    withAllocatorTuning();
    const code = await runFromConfig(String(args.config));
    // Capture workers and sockets are closed by now; exit explicitly so nothing stray keeps us up.
    process.exit(code);
  },
});
