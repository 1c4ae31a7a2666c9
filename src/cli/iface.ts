/**
 * `paqet iface` (kept by the seed fork, seed-fork.md §3.6): every interface with its MAC, state and
 * addresses, the default gateways with their MACs from the neighbour table, and a ready `network:`
 * block for the default interface (or `--interface NAME`) that `paqet check` accepts.
 * Needs neither libpcap nor root.
 */
import { defineCommand } from "citty";
import {
  type DefaultGateway,
  defaultGateways,
  type InterfaceAddress,
  type InterfaceInfo,
  listInterfaces,
} from "../lib/netinfo.ts";
import { fatal } from "./_raw.ts";

function isUsable(a: InterfaceAddress): boolean {
  if (a.family === 4) return !a.address.startsWith("127.") && !a.address.startsWith("169.254.");
  const lower = a.address.toLowerCase();
  return lower !== "::1" && !lower.startsWith("fe80:");
}

/** The `network:` YAML block for `iface` and the gateways through it; comments where a value is unknown. */
export function networkBlock(iface: InterfaceInfo, gateways: readonly DefaultGateway[]): string {
  const lines = [`network:`, `  interface: "${iface.name}"`];
  const notes: string[] = [];
  let families = 0;
  for (const family of [4, 6] as const) {
    const addr = iface.addresses.find((a) => a.family === family && isUsable(a));
    const gw = gateways.find((g) => g.family === family && g.interface === iface.name);
    if (!addr) continue;
    if (!gw?.mac) {
      notes.push(
        `# ipv${family}: ${addr.address} has no known router MAC (${gw ? `gateway ${gw.gateway} is not in the neighbour table; ping it once` : `no default route via ${iface.name}`}); set router_mac to the next hop's MAC by hand`,
      );
      continue;
    }
    const text = family === 6 ? `[${addr.address}]:0` : `${addr.address}:0`;
    lines.push(`  ipv${family}:`, `    addr: "${text}"`, `    router_mac: "${gw.mac}"`);
    families++;
  }
  if (process.platform === "win32") notes.push(`# Windows: add  guid: "\\Device\\NPF_{...}"  (the Npcap device of ${iface.name})`);
  if (families === 0) return [`# no complete network block for ${iface.name}:`, ...notes].join("\n") + "\n";
  return [
    `# port 0 = a random local port per connection (client); a server sets its listen port here`,
    ...lines,
    ...notes,
  ].join("\n") + "\n";
}

export function ifaceReport(wanted?: string): string {
  const all = listInterfaces();
  const gateways = defaultGateways();
  if (wanted !== undefined && !all.some((i) => i.name === wanted)) {
    throw new Error(`no network interface named '${wanted}'`);
  }
  let out = "Available network interfaces:\n";
  for (const i of all) {
    out += `  ${i.name}: ${i.mac || "no MAC"}, ${i.state}\n`;
    for (const a of i.addresses) out += `    ${a.address}/${a.prefix}\n`;
  }
  out += "\nDefault gateways:\n";
  for (const family of [4, 6] as const) {
    const list = gateways.filter((g) => g.family === family);
    if (list.length === 0) out += `  IPv${family}: none\n`;
    for (const g of list) out += `  IPv${family}: ${g.gateway} via ${g.interface}, MAC ${g.mac ?? "unknown"}\n`;
  }
  const name = wanted ?? gateways.find((g) => g.family === 4)?.interface ?? gateways[0]?.interface;
  const chosen = name === undefined ? undefined : all.find((i) => i.name === name);
  out += "\n";
  if (!chosen) out += "# no default route: pass --interface NAME for a network block\n";
  else out += networkBlock(chosen, gateways);
  return out;
}

export default defineCommand({
  meta: { name: "iface", description: "List network interfaces, default gateways, and a network: block for the config" },
  args: {
    interface: { type: "string", alias: "i", valueHint: "NAME", description: "interface for the network: block (default: the default route's)" },
  },
  run({ args }) {
    const wanted = typeof args.interface === "string" && args.interface !== "" ? args.interface : undefined;
    let report: string;
    try {
      report = ifaceReport(wanted);
    } catch (err) {
      fatal(`Error listing interfaces: ${err instanceof Error ? err.message : String(err)}`);
    }
    process.stdout.write(report);
  },
});
