/**
 * `paqet dump`: prints every TCP payload arriving on the server's raw port (paqet-app.md §1.4).
 *
 * Live: needs a server config; opens the same raw socket as the server (filter `tcp and dst port
 * P`, inbound only) and prints one block per datagram until SIGINT/SIGTERM.
 * Offline (`--read FILE.pcap`, no config needed): prints the same block for every frame of a classic
 * pcap file that decodes as Ethernet/IP/TCP with a payload, with the capture's own timestamps.
 *
 * `--decrypt` (not in Go paqet): instead of a hex dump, runs each payload through the config's
 * guard, cipher, FEC, KCP, smux and paqet decoders (dump/decrypt.ts) and ends with a summary line.
 * Live it still needs a server config (the raw socket is the server's); with `--read` a client
 * config works too, since a capture holds both directions and either side's key opens them.
 */
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { errorMessage } from "../lib/errors.ts";
import { readPcapFile } from "../packet/pcapfile.ts";
import { newFrameStats, parseFrame } from "../socket/framing.ts";
import { addrKey } from "../socket/types.ts";
import { fatal, flog, loadConfigOrExit, notice, openRawSocketOrExit, packetBlock } from "./_raw.ts";
import { DecryptDumper, decryptOptionsFromConfig } from "./dump/decrypt.ts";

/**
 * Prints the blocks of a pcap file, or with `decrypt` the decoded lines of each payload; returns how
 * many frames were printed and skipped.
 */
export function dumpFile(
  path: string,
  write: (s: string) => void,
  decrypt?: DecryptDumper,
): { printed: number; skipped: number } {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${path}: ${errorMessage(err)}`);
  }
  const file = readPcapFile(bytes);
  const stats = newFrameStats();
  let printed = 0;
  for (const rec of file.records) {
    const f = parseFrame(rec.data, stats);
    if (!f) continue;
    const when = new Date(rec.tsSec * 1000 + Math.floor(rec.tsNsec / 1e6));
    const from = addrKey(f.src);
    const to = addrKey(f.dst);
    write(decrypt ? decrypt.datagram(f.payload, { when, from, to, flags: f.flags }) : packetBlock(when, from, to, f.payload));
    printed++;
  }
  return { printed, skipped: stats.frames - stats.accepted };
}

function listenText(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export default defineCommand({
  meta: { name: "dump", description: "Print the TCP payloads arriving on the server's raw port (or in a pcap file)" },
  args: {
    config: {
      type: "string",
      alias: "c",
      default: "config.yaml",
      valueHint: "FILE",
      description: "server configuration file (with --decrypt --read, a client one works too)",
    },
    read: { type: "string", valueHint: "FILE.pcap", description: "read frames from a pcap file instead of the interface" },
    decrypt: {
      type: "boolean",
      description: "decrypt with the config's block and key and print KCP segments, smux frames and paqet headers",
    },
  },
  async run({ args }) {
    // `paqet dump ... | head` closes the pipe early: that is the reader's choice, not an error.
    process.stdout.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exit(0);
      throw err;
    });
    const decrypting = args.decrypt === true;
    if (typeof args.read === "string" && args.read !== "") {
      const decrypt = decrypting ? new DecryptDumper(decryptOptionsFromConfig(loadConfigOrExit(String(args.config)))) : undefined;
      let result: { printed: number; skipped: number };
      try {
        result = dumpFile(args.read, (s) => process.stdout.write(s), decrypt);
      } catch (err) {
        fatal(`failed to read capture: ${errorMessage(err).split("\n")[0]}`);
      }
      notice(`${result.printed} packets printed, ${result.skipped} frames without a TCP payload skipped`);
      if (decrypt) notice(decrypt.summary());
      return;
    }

    const config = loadConfigOrExit(String(args.config));
    if (config.role !== "server" || !config.listen) fatal("dump command requires server configuration");
    const decrypt = decrypting ? new DecryptDumper(decryptOptionsFromConfig(config)) : undefined;
    const conn = openRawSocketOrExit(config);
    const listen = listenText(config.listen.host, config.listen.port);
    flog("INFO", `listening for packets on :${config.listen.port}, (Press Ctrl+C to exit)`);
    conn.onError((err) => fatal(`failed to read from socket: ${err.message}`));
    conn.onPacket((payload, from) => {
      const when = new Date();
      process.stdout.write(
        decrypt ? decrypt.datagram(payload, { when, from: addrKey(from), to: listen }) : packetBlock(when, addrKey(from), listen, payload),
      );
    });
    await new Promise<void>((resolve) => {
      const stop = () => {
        if (decrypt) notice(decrypt.summary());
        notice("shutdown signal received, exiting");
        resolve();
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await conn.close();
    process.exit(0);
  },
});
