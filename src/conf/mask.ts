/** The effective config for people to read: secrets masked, YAML key names, every default shown. */
import { stringify } from "yaml";
import type { PaqetConfig } from "./types.ts";

export const MASK = "********";

function mask(secret: string): string {
  return secret === "" ? "" : MASK;
}

/** A deep copy with `transport.kcp.key` and every `socks5[].password` masked (empty stays empty). */
export function maskSecrets(config: PaqetConfig): PaqetConfig {
  const copy = structuredClone(config) as { -readonly [K in keyof PaqetConfig]: PaqetConfig[K] };
  copy.transport = { ...copy.transport, kcp: { ...copy.transport.kcp, key: mask(copy.transport.kcp.key) } };
  copy.socks5 = copy.socks5.map((s) => ({ ...s, password: mask(s.password) }));
  return copy;
}

/** YAML text of the masked effective config. */
export function formatEffectiveConfig(config: PaqetConfig): string {
  return stringify(maskSecrets(config), { lineWidth: 0 });
}
