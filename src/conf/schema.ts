/**
 * The shape of the YAML file: which keys exist where. Used to warn about unknown keys and to
 * suggest the key that was probably meant. Values are checked in parse.ts; this is only the tree.
 */
export type KeyTree = { readonly [key: string]: KeyNode };
/** `null` = a leaf (scalar or list of scalars); a tree = a mapping; `[tree]` = a list of mappings. */
export type KeyNode = null | KeyTree | readonly [KeyTree];

const family: KeyTree = { addr: null, router_mac: null };

export const SCHEMA: KeyTree = {
  role: null,
  log: { level: null },
  listen: { addr: null },
  server: { addr: null },
  socks5: [{ listen: null, username: null, password: null }],
  forward: [{ listen: null, target: null, protocol: null }],
  network: {
    interface: null,
    guid: null,
    ipv4: family,
    ipv6: family,
    pcap: { sockbuf: null },
    tcp: { local_flag: null, remote_flag: null },
  },
  transport: {
    protocol: null,
    conn: null,
    kcp: {
      mode: null,
      nodelay: null,
      interval: null,
      resend: null,
      nocongestion: null,
      wdelay: null,
      acknodelay: null,
      mtu: null,
      rcvwnd: null,
      sndwnd: null,
      dshard: null,
      pshard: null,
      block: null,
      key: null,
      smuxbuf: null,
      streambuf: null,
      smuxkalive: null,
      smuxktimeout: null,
      guard: null,
      guard_magic: null,
      guard_window: null,
      guard_skew: null,
      max_sessions: null,
      max_streams_total: null,
      max_streams_per_session: null,
      header_timeout: null,
    },
  },
  debug: { pprof: null, diag: null },
};

/**
 * Keys that other paqet versions read and this one deliberately ignores, keyed by path with list
 * indices written `[]`. They get a note instead of a "did you mean".
 */
export const IGNORED_KEYS: Readonly<Record<string, string>> = {
  "transport.tcpbuf": "obsolete key (unused since before alpha.21); ignored",
  "transport.udpbuf": "obsolete key (unused since before alpha.21); ignored",
  "network.dscp": "seed-fork key not supported here (IP TOS stays 0xB8 as in alpha.21); ignored",
  "network.pcap.snaplen": "seed-fork key not supported here; ignored",
  "network.pcap.promisc": "seed-fork key not supported here; ignored",
  "network.pcap.immediate": "seed-fork key not supported here; ignored",
  "network.pcap.timeout_ms": "seed-fork key not supported here; ignored",
};

/** Every leaf and section path, for "did you mean transport.kcp.key?" when a key sits at the wrong level. */
function allPaths(tree: KeyTree, prefix: string, out: string[]): string[] {
  for (const [key, node] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${key}` : key;
    out.push(path);
    if (node === null) continue;
    if (Array.isArray(node)) allPaths((node as readonly [KeyTree])[0], `${path}[]`, out);
    else allPaths(node as KeyTree, path, out);
  }
  return out;
}

const ALL_PATHS = allPaths(SCHEMA, "", []);

export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length]!;
}

/**
 * The key most likely meant by `key` in a mapping whose valid keys are `siblings`: the one place
 * in the schema that has this exact name (`transport.kcp.key` for a `key` under `transport`), else
 * a close sibling, else the nearest sibling however far.
 */
export function suggestKey(key: string, siblings: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameName = ALL_PATHS.filter((p) => p === lower || p.endsWith(`.${lower}`));
  if (sameName.length === 1 && !siblings.includes(lower)) return sameName[0]!.replaceAll("[]", "[0]");
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const s of siblings) {
    const d = editDistance(lower, s);
    if (d < bestDistance) {
      best = s;
      bestDistance = d;
    }
  }
  return best;
}
