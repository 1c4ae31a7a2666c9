/**
 * `paqet ping`: sends ONE crafted TCP packet from a fresh client raw socket to `server.addr`
 * (paqet-app.md §1.3). No reply is awaited; run `paqet dump` on the server to watch it arrive.
 */
import { lookup } from "node:dns/promises";
import { defineCommand } from "citty";
import { errorMessage } from "../lib/errors.ts";
import { fatal, flog, loadConfigOrExit, openRawSocketOrExit } from "./_raw.ts";

export default defineCommand({
  meta: { name: "ping", description: "Send one raw TCP packet to the server (watch it with dump on the server)" },
  args: {
    config: { type: "string", alias: "c", default: "config.yaml", valueHint: "FILE", description: "client configuration file" },
    payload: { type: "string", default: "PING", description: "the string to put in the TCP payload" },
  },
  async run({ args }) {
    const config = loadConfigOrExit(String(args.config));
    if (config.role !== "client" || !config.server) fatal("ping command requires client configuration");
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
