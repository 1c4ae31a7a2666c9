/**
 * Pieces `run` and `ping --tunnel` share: resolving the server address and starting a client core
 * over real raw sockets.
 */
import { lookup } from "node:dns/promises";
import { PaqetClient, type ClientOptions } from "../client/index.ts";
import type { PaqetConfig } from "../conf/index.ts";
import { errorMessage } from "../lib/errors.ts";
import { provideAll } from "../lib/metrics.ts";
import { type PcapConnStats, PcapPacketConn } from "../socket/pcap.ts";
import type { PacketAddr } from "../socket/types.ts";
import type { TunnelOptions } from "../tunnel/index.ts";
import { pcapOptions } from "./_raw.ts";

/** `server.addr` as an address the raw socket can send to (a hostname is resolved once). */
export async function resolveServer(config: PaqetConfig): Promise<PacketAddr> {
  const server = config.server;
  if (!server) throw new Error("the configuration has no server address (role is not client)");
  if (server.family !== 0) return { ip: server.host, port: server.port };
  try {
    const family = config.network.ipv4 ? 4 : 6;
    const r = await lookup(server.host, { family });
    return { ip: r.address, port: server.port };
  } catch (err) {
    throw new Error(`failed to resolve ${server.host}: ${errorMessage(err)}`);
  }
}

/** A client core whose slots open real raw sockets (a random local port each when the configured one is 0). */
export async function clientFromConfig(
  config: PaqetConfig,
  tunnel: TunnelOptions,
  extra: Partial<Pick<ClientOptions, "timings">> = {},
): Promise<PaqetClient> {
  const server = await resolveServer(config);
  return new PaqetClient({
    tunnel,
    server,
    openPacket: async () => {
      const conn = new PcapPacketConn(pcapOptions(config));
      providePcap(conn, tunnel.guard !== undefined);
      await conn.ready;
      return conn;
    },
    ...extra,
  });
}

/** How long one stats() read serves a conn's status keys: long enough for one snapshot. */
const STATS_REUSE_MS = 20;

/**
 * The raw socket's counters behind the status endpoint while `conn` is open (its last figures
 * stay counted after it closes): sends, libpcap and ring figures, and, unless a guard sits on top
 * (which then counts what reaches KCP, guard.ts), the datagrams handed up.
 */
export function providePcap(conn: PcapPacketConn, guarded: boolean): void {
  // One stats() (a pcap_stats call) per snapshot serves all of this conn's keys.
  let last: PcapConnStats | undefined;
  let lastAt = 0;
  const st = (): PcapConnStats => {
    const now = performance.now();
    if (last === undefined || now - lastAt > STATS_REUSE_MS) {
      last = conn.stats();
      lastAt = now;
    }
    return last;
  };
  const off = provideAll({
    rawUpPackets: () => st().sent,
    rawUpBytes: () => st().sentBytes,
    rawUpDrops: () => st().sendErrors,
    rawUpDropBytes: () => st().sendErrorBytes,
    enobufsRetries: () => st().enobufsRetries,
    rawLastUpAt: () => st().lastSentAt,
    rawLastDownAt: () => st().lastReceivedAt,
    rawDownPackets: guarded ? undefined : () => st().received,
    rawDownBytes: guarded ? undefined : () => st().receivedBytes,
    // Frames too big for a capture ring slot never reach the guard or KCP.
    rawDownOversizeDrops: () => st().capture.oversize,
    ringWaits: () => st().capture.ringWaits,
    pcapReceived: () => st().capture.frames,
    pcapDropped: () => st().capture.kernelDrops,
    pcapIfDropped: () => st().capture.ifDrops,
  });
  conn.onClose(() => {
    last = undefined;
    off();
  });
}
