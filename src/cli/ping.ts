/**
 * `paqet ping`: sends ONE crafted TCP packet from a fresh client raw socket to `server.addr`
 * (paqet-app.md §1.3). No reply is awaited; run `paqet dump` on the server to watch it arrive.
 *
 * `paqet ping --tunnel`: opens a real tunnel connection (KCP + smux, PING-verified) and sends
 * `--count` PING messages over it, printing each PONG's round trip and min/avg/max; exit 1 when
 * no PONG came back.
 */
import { lookup } from "node:dns/promises";
import { defineCommand } from "citty";
import { errorMessage } from "../lib/errors.ts";
import type { PaqetClient } from "../client/index.ts";
import type { PaqetConfig } from "../conf/index.ts";
import { setLogLevel } from "../lib/log.ts";
import { tunnelOptionsFromConfig, type TunnelOptions } from "../tunnel/index.ts";
import { fatal, flog, loadConfigOrExit, openRawSocketOrExit } from "./_raw.ts";
import { resolveNetworkOrExit } from "./_network.ts";
import { clientFromConfig } from "./_tunnel.ts";

export default defineCommand({
  meta: { name: "ping", description: "Send one raw TCP packet to the server (watch it with dump on the server)" },
  args: {
    config: { type: "string", alias: "c", default: "config.yaml", valueHint: "FILE", description: "client configuration file" },
    payload: { type: "string", default: "PING", description: "the string to put in the TCP payload" },
    tunnel: { type: "boolean", default: false, description: "ping through a real tunnel (PING/PONG round trips)" },
    count: { type: "string", default: "5", valueHint: "N", description: "with --tunnel: how many pings" },
  },
  async run({ args }) {
    const config = loadConfigOrExit(String(args.config));
    if (config.role !== "client" || !config.server) fatal("ping command requires client configuration");
    if (args.tunnel) {
      const count = Number(args.count);
      if (!Number.isInteger(count) || count < 1 || count > 10_000) fatal(`--count must be a whole number in 1..10000, not ${JSON.stringify(args.count)}`);
      process.exit(await pingTunnel(config, count));
    }
    const server = config.server;
    let ip = server.host;
    if (server.family === 0) {
      try {
        ip = (await lookup(server.host)).address;
      } catch (err) {
        fatal(`failed to resolve ${server.host}: ${errorMessage(err)}`);
      }
    }
    const conn = openRawSocketOrExit(config);
    const n = config.network;
    flog(
      "INFO",
      `sending packet from IPv4:${n.ipv4?.addr ?? "<nil>"} IPv6:${n.ipv6?.addr ?? "<nil>"} to ${server.addr} via ${n.interface}`,
    );
    const payload = new TextEncoder().encode(String(args.payload));
    flog("INFO", `payload: ${JSON.stringify(String(args.payload))} (${payload.length} bytes)`);
    try {
      conn.writeTo(payload, { ip, port: server.port });
    } catch (err) {
      await conn.close();
      fatal(`failed to send packet: ${errorMessage(err).split("\n")[0]}`);
    }
    flog("INFO", "packet sent successfully");
    await conn.close();
    process.exit(0);
  },
});

/** `ping --tunnel`: one tunnel connection, `count` PINGs one second apart, then the summary. */
async function pingTunnel(loaded: PaqetConfig, count: number): Promise<number> {
  setLogLevel(loaded.log.level);
  const config = await resolveNetworkOrExit(loaded);
  let tunnel: TunnelOptions;
  try {
    tunnel = { ...tunnelOptionsFromConfig(config), conns: 1 };
  } catch (err) {
    fatal(`failed to parse configuration: ${errorMessage(err).split("\n")[0]}`);
  }
  let client: PaqetClient;
  try {
    client = await clientFromConfig(config, tunnel);
    await client.start();
  } catch (err) {
    fatal(`failed to create raw socket: ${errorMessage(err).split("\n")[0]}`);
  }
  const server = config.server!.addr;
  process.stdout.write(`PING ${server} through the tunnel (${config.transport.kcp.block}, ${config.network.interface})\n`);
  const rtts: number[] = [];
  for (let i = 1; i <= count; i++) {
    try {
      const rtt = await client.ping(undefined, 3_000);
      rtts.push(rtt);
      process.stdout.write(`PONG from ${server}: seq=${i} time=${rtt.toFixed(2)} ms\n`);
    } catch (err) {
      process.stdout.write(`no PONG from ${server}: seq=${i}: ${errorMessage(err).split("\n")[0]}\n`);
    }
    if (i < count) await Bun.sleep(1000);
  }
  await client.close();
  const lost = count - rtts.length;
  let summary = `--- ${server} tunnel ping: ${count} sent, ${rtts.length} received, ${Math.round((lost / count) * 100)}% lost`;
  if (rtts.length > 0) {
    const min = Math.min(...rtts);
    const max = Math.max(...rtts);
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    summary += `, rtt min/avg/max = ${min.toFixed(2)}/${avg.toFixed(2)}/${max.toFixed(2)} ms`;
  }
  process.stdout.write(`${summary}\n`);
  return rtts.length > 0 ? 0 : 1;
}
