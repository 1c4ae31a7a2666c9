/**
 * Shared pieces of the raw-socket commands (`dump`, `ping`): Go paqet's output channels, the
 * config → PcapConnOptions mapping, and the packet block `dump` prints (paqet-app.md §1.1, §1.4).
 */
import { ConfigError, loadConfig, type PaqetConfig } from "../conf/index.ts";
import { errorMessage } from "../lib/errors.ts";
import { PcapPacketConn, type PcapConnOptions } from "../socket/pcap.ts";

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** Go's standard logger prefix: local `YYYY/MM/DD HH:MM:SS `. */
function goLogPrefix(d = new Date()): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} `;
}

/** A CLI-level fatal error: one line on stderr through the Go-style logger, exit status 1. */
export function fatal(message: string): never {
  process.stderr.write(`${goLogPrefix()}${message}\n`);
  process.exit(1);
}

/** A CLI-level notice on stderr (Go's standard logger, not fatal). */
export function notice(message: string): void {
  process.stderr.write(`${goLogPrefix()}${message}\n`);
}

/** paqet's runtime logger line on stdout: `YYYY-MM-DD HH:MM:SS.mmm [LEVEL] message`. */
export function flog(level: "DEBUG" | "INFO" | "WARN" | "ERROR", message: string, d = new Date()): void {
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  process.stdout.write(`${stamp} [${level}] ${message}\n`);
}

/** Loads the config or exits with `failed to parse configuration: <err>`. */
export function loadConfigOrExit(path: string): PaqetConfig {
  try {
    return loadConfig(path).config;
  } catch (err) {
    if (err instanceof ConfigError) fatal(`failed to parse configuration: ${err.message}`);
    throw err;
  }
}

/** The raw socket settings a transport connection of this config uses (paqet-app.md §3). */
export function pcapOptions(config: PaqetConfig): PcapConnOptions {
  const n = config.network;
  return {
    interface: n.interface,
    device: process.platform === "win32" && n.guid ? n.guid : undefined,
    ipv4: n.ipv4 ? { ip: n.ipv4.ip, routerMac: n.ipv4.router_mac } : undefined,
    ipv6: n.ipv6 ? { ip: n.ipv6.ip, routerMac: n.ipv6.router_mac } : undefined,
    port: n.port,
    role: config.role,
    sockbuf: n.pcap.sockbuf,
    localFlags: n.tcp.local_flag,
  };
}

/** Opens the raw socket or exits with `failed to create raw socket: <err>` (one line). */
export function openRawSocketOrExit(config: PaqetConfig): PcapPacketConn {
  try {
    return new PcapPacketConn(pcapOptions(config));
  } catch (err) {
    fatal(`failed to create raw socket: ${errorMessage(err).split("\n")[0]}`);
  }
}

function hex2(b: number): string {
  return (b < 16 ? "0" : "") + b.toString(16);
}

/**
 * Go's `hex.Dump` (the same lines as `hexdump -C` without its final offset line): an 8-digit
 * offset, two spaces, 16 bytes as `xx ` with one more space after the 8th, then ` |ascii|`.
 */
export function hexDump(data: Uint8Array): string {
  let out = "";
  for (let off = 0; off < data.length; off += 16) {
    const n = Math.min(16, data.length - off);
    let line = `${off.toString(16).padStart(8, "0")}  `;
    let ascii = "";
    for (let i = 0; i < 16; i++) {
      if (i < n) {
        const b = data[off + i]!;
        line += `${hex2(b)} `;
        ascii += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : ".";
      } else {
        line += "   ";
      }
      if (i === 7) line += " ";
    }
    out += `${line} |${ascii}|\n`;
  }
  return out;
}

/** `[HH:MM:SS.mmm]` in local time. */
export function clockStamp(d: Date): string {
  return `[${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}]`;
}

/** One `dump` block (ends with a newline). */
export function packetBlock(when: Date, from: string, to: string, payload: Uint8Array): string {
  return (
    `${clockStamp(when)} Packet: ${from} -> ${to} | Length: ${payload.length} bytes\n` +
    "--- PAYLOAD (HEX DUMP) ---\n" +
    hexDump(payload) +
    `${"-".repeat(26)}\n`
  );
}
