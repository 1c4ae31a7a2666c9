/**
 * Which network fields a config leaves to discovery (zero-config networking). Pure: it reads the
 * parsed config only; finding the values is the CLI's job (src/cli/_network.ts).
 */
import type { NetworkConfig } from "./types.ts";

export interface PendingField {
  /** Key path as in the YAML, e.g. `network.ipv4.router_mac`. */
  readonly path: string;
  /** What will be looked up, for `check` and logs. */
  readonly what: string;
}

/** The fields to discover, in the order they are resolved (interface, then per family IP and MAC). */
export function pendingDiscovery(network: NetworkConfig): PendingField[] {
  const out: PendingField[] = [];
  if (network.interface === "") out.push({ path: "network.interface", what: "the interface of the route towards the peer" });
  for (const [key, fam] of [
    ["ipv4", network.ipv4],
    ["ipv6", network.ipv6],
  ] as const) {
    if (!fam) continue;
    if (fam.ip === "") out.push({ path: `network.${key}.addr`, what: `its IP: the interface's ${key === "ipv4" ? "IPv4" : "IPv6"} address (port ${fam.port} as written)` });
    if (fam.router_mac === "") out.push({ path: `network.${key}.router_mac`, what: "the next hop's MAC from the neighbour table" });
  }
  return out;
}
