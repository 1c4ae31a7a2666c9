/**
 * Pieces `run` and `ping --tunnel` share: resolving the server address and starting a client core
 * over real raw sockets.
 */
import { lookup } from "node:dns/promises";
import { PaqetClient, type ClientOptions } from "../client/index.ts";
import type { PaqetConfig } from "../conf/index.ts";
import { errorMessage } from "../lib/errors.ts";
import { provideAll } from "../lib/metrics.ts";
import { PcapPacketConn } from "../socket/pcap.ts";
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

/**
 * The raw socket's counters behind the status endpoint while `conn` is open (its last figures
 * stay counted after it closes): sends, libpcap and ring figures, and, unless a guard sits on top
 * (which then counts what reaches KCP, guard.ts), the datagrams handed up.
 */
export function providePcap(conn: PcapPacketConn, guarded: boolean): void {
  const off = provideAll({
    rawUpPackets: () => conn.stats().sent,
    rawUpBytes: () => conn.stats().sentBytes,
    rawUpDrops: () => conn.stats().sendErrors,
    rawUpDropBytes: () => conn.stats().sendErrorBytes,
    rawLastUpAt: () => conn.stats().lastSentAt,
    rawLastDownAt: () => conn.stats().lastReceivedAt,
    rawDownPackets: guarded ? undefined : () => conn.stats().received,
    rawDownBytes: guarded ? undefined : () => conn.stats().receivedBytes,
    // Frames too big for a capture ring slot never reach the guard or KCP.
    rawDownOversizeDrops: () => conn.stats().capture.oversize,
    ringWaits: () => conn.stats().capture.ringWaits,
    pcapReceived: () => conn.stats().capture.frames,
    pcapDropped: () => conn.stats().capture.kernelDrops,
    pcapIfDropped: () => conn.stats().capture.ifDrops,
  });
  conn.onClose(off);
}
