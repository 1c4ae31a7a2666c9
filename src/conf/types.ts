/**
 * The effective configuration: what `parseConfig` returns after defaults and validation.
 *
 * Field names are the YAML key names, so the reference in docs/config.md, the file and the object
 * read the same. Every default is filled in (per role), KCP mode presets are expanded into the
 * six tuning fields, and addresses come pre-split (`host`, `port`) next to the text as written.
 * The object is deep-frozen. Lower layers never receive it: tunnel/client/server map it onto the
 * plain option types that those layers define.
 */
import type { LogLevel } from "../lib/log.ts";
import { BLOCKS, type Block } from "../kcp/crypt/index.ts";

export type { LogLevel };

export type Role = "client" | "server";

export const KCP_MODES = ["normal", "fast", "fast2", "fast3", "manual"] as const;
export type KcpMode = (typeof KCP_MODES)[number];

/** The `block` names, in Go paqet's order (its error message lists them so); kcp/crypt owns the list. */
export const KCP_BLOCKS = BLOCKS;
export type KcpBlock = Block;

export const LOG_LEVELS = ["none", "debug", "info", "warn", "error", "fatal"] as const;

export type ForwardProtocol = "tcp" | "udp";

/** `listen.addr` (server only): shown in logs and by `dump`; nothing binds to it. */
export interface ListenConfig {
  readonly addr: string;
  /** "" when written as `:port`. */
  readonly host: string;
  readonly port: number;
}

/** `server.addr` (client only): where the server's raw socket listens. */
export interface ServerConfig {
  readonly addr: string;
  readonly host: string;
  readonly port: number;
  /** 4 or 6 for an IP literal; 0 for a hostname, which the client resolves when it connects. */
  readonly family: 0 | 4 | 6;
}

export interface Socks5Config {
  readonly listen: string;
  readonly listen_host: string;
  readonly listen_port: number;
  readonly username: string;
  readonly password: string;
}

export interface ForwardConfig {
  readonly listen: string;
  readonly listen_host: string;
  readonly listen_port: number;
  /** Dialled by the server; not resolved locally. */
  readonly target: string;
  readonly target_host: string;
  readonly target_port: number;
  readonly protocol: ForwardProtocol;
}

export interface AddressFamilyConfig {
  /** As written, e.g. `192.0.2.10:0` or `[2001:db8::10]:0`. */
  readonly addr: string;
  /** The IP literal, without brackets; "" when written as `:port` (discovered at startup). */
  readonly ip: string;
  /** 0 = a random local port per raw socket. */
  readonly port: number;
  /** Normalized to lowercase `aa:bb:cc:dd:ee:ff`; "" when omitted (discovered at startup). */
  readonly router_mac: string;
}

/**
 * "" in `interface`, `ipv4/ipv6.ip` or `router_mac` means "not written: discover it" (zero-config
 * networking); `pendingDiscovery` lists them and src/cli/_network.ts fills them before a raw socket
 * is opened. Go paqet requires all three, so every config it accepts has none of them empty.
 */
export interface NetworkConfig {
  /** The pcap device; "" = the interface of the route towards the peer. */
  readonly interface: string;
  /** Windows only: `\Device\NPF_{GUID}`. */
  readonly guid: string;
  readonly ipv4: AddressFamilyConfig | null;
  readonly ipv6: AddressFamilyConfig | null;
  /** Derived: the IPv6 port when IPv6 is configured, else the IPv4 port (equal when both are). */
  readonly port: number;
  readonly pcap: { readonly sockbuf: number };
  readonly tcp: {
    readonly local_flag: readonly string[];
    readonly remote_flag: readonly string[];
  };
}

export interface KcpConfig {
  readonly mode: KcpMode;
  /** The six tuning values are the mode preset's (paqet-app.md §2.4), or the keys in manual mode. */
  readonly nodelay: number;
  readonly interval: number;
  readonly resend: number;
  readonly nocongestion: number;
  readonly wdelay: boolean;
  readonly acknodelay: boolean;
  readonly mtu: number;
  readonly rcvwnd: number;
  readonly sndwnd: number;
  readonly dshard: number;
  readonly pshard: number;
  readonly block: KcpBlock;
  /** The passphrase text; key derivation belongs to the KCP layer. */
  readonly key: string;
  readonly smuxbuf: number;
  readonly streambuf: number;
  /** Seconds. */
  readonly smuxkalive: number;
  readonly smuxktimeout: number;
  /** Seed-fork packet guard (seed-fork.md §1); off unless `guard: true`. */
  readonly guard: boolean;
  readonly guard_magic: string;
  readonly guard_window: number;
  readonly guard_skew: number;
  /** Seed-fork server limits (seed-fork.md §4.1); -1 = unlimited. */
  readonly max_sessions: number;
  readonly max_streams_total: number;
  readonly max_streams_per_session: number;
  /** Seconds allowed for a stream header read (server) or write (client). */
  readonly header_timeout: number;
}

export interface TransportConfig {
  readonly protocol: "kcp";
  readonly conn: number;
  readonly kcp: KcpConfig;
}

/** Seed-fork diagnostics (seed-fork.md §3.1). */
export interface DebugConfig {
  /** Loopback `host:port` for the diagnostics HTTP endpoint, or "" (off). */
  readonly pprof: string;
  readonly diag: boolean;
}

export interface PaqetConfig {
  readonly role: Role;
  readonly log: { readonly level: LogLevel };
  /** Server only (null on a client). */
  readonly listen: ListenConfig | null;
  /** Client only (null on a server). */
  readonly server: ServerConfig | null;
  /** Validated for both roles, used by the client only. */
  readonly socks5: readonly Socks5Config[];
  readonly forward: readonly ForwardConfig[];
  readonly network: NetworkConfig;
  readonly transport: TransportConfig;
  readonly debug: DebugConfig;
}
