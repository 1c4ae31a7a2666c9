/**
 * YAML → validated, defaulted, frozen PaqetConfig.
 *
 * Rules and messages follow Go paqet v1.0.0-alpha.21 (paqet-app.md §2) so a config Go accepts is
 * accepted here with the same effective values. Unlike Go, every problem is collected (the role
 * check does not stop the rest), each is located at its YAML node, and a few things Go only finds
 * at startup are rejected at load time (docs/config.md "Deviations" lists them).
 */
import { readFileSync } from "node:fs";
import { LineCounter, parseDocument } from "yaml";
import { formatMac, ipFamily, isLoopbackHost, parseHostPort, parseMac, splitHostPort } from "./addr.ts";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { SCHEMA, editDistance } from "./schema.ts";
import {
  KCP_BLOCKS,
  KCP_MODES,
  LOG_LEVELS,
  type AddressFamilyConfig,
  type DebugConfig,
  type ForwardConfig,
  type KcpBlock,
  type KcpConfig,
  type KcpMode,
  type ListenConfig,
  type LogLevel,
  type NetworkConfig,
  type PaqetConfig,
  type Role,
  type ServerConfig,
  type Socks5Config,
  type TransportConfig,
} from "./types.ts";
import { Findings, Section } from "./yaml-section.ts";

export interface ParseOptions {
  /** Platform whose rules apply (`network.guid` is required on win32). Default: this process's. */
  readonly platform?: NodeJS.Platform;
}

export interface ParseResult {
  readonly config: PaqetConfig;
  /** Non-fatal findings (unknown keys, odd but accepted values), in file order. */
  readonly warnings: readonly ConfigProblem[];
}

const KiB = 1024;
const MiB = 1024 * 1024;

/** Per-role defaults where Go paqet's differ by role (paqet-app.md §2.3). */
export const ROLE_DEFAULTS = {
  client: { sockbuf: 4 * MiB, rcvwnd: 512, sndwnd: 128 },
  server: { sockbuf: 8 * MiB, rcvwnd: 1024, sndwnd: 1024 },
} as const;

export const DEFAULTS = {
  logLevel: "none",
  conn: 1,
  mode: "fast",
  mtu: 1350,
  block: "aes",
  smuxbuf: 4 * MiB,
  streambuf: 2 * MiB,
  smuxkalive: 2,
  smuxktimeout: 8,
  tcpFlags: ["PA"],
  guardMagic: "PQT1",
  guardWindow: 30,
  guardSkew: 1,
  maxSessions: 512,
  maxStreamsTotal: 16384,
  maxStreamsPerSession: 256,
  headerTimeout: 10,
} as const;

/** KCP presets: nodelay, interval (ms), resend, nocongestion, write delay, ACK no-delay (§2.4). */
export const MODE_PRESETS: Readonly<Record<Exclude<KcpMode, "manual">, readonly [number, number, number, number, boolean, boolean]>> = {
  normal: [0, 40, 2, 1, true, false],
  fast: [0, 30, 2, 1, true, false],
  fast2: [1, 20, 2, 1, false, true],
  fast3: [1, 10, 2, 1, false, true],
};

const TCP_FLAG_CHARS = "FSRPAUECN";
const MAX_FLAG_COMBINATIONS = 64;
const SMUX_MAX_BUFFER = 2 ** 31 - 1;

export function loadConfig(path: string, options: ParseOptions = {}): ParseResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const message = `open ${path}: ${osReason(err)}`;
    throw new ConfigError("CONF_READ", path, [{ path: "", line: 0, col: 0, message }], { cause: err });
  }
  return parseConfig(text, path, options);
}

export function parseConfig(text: string, fileName = "config.yaml", options: ParseOptions = {}): ParseResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { schema: "failsafe", lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const f = new Findings(doc, lines);
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      f.problems.push({ path: "", ...f.whereOffset(e.pos[0]), message: `YAML: ${firstLine(e.message)}` });
    }
    throw new ConfigError("CONF_INVALID", fileName, f.problems, undefined, f.warnings);
  }
  for (const w of doc.warnings) f.warnings.push({ path: "", ...f.whereOffset(w.pos[0]), message: `YAML: ${firstLine(w.message)}` });

  const config = build(new Section(f, "", "", doc.contents, doc.contents, SCHEMA), options.platform ?? process.platform);
  const byPosition = (a: ConfigProblem, b: ConfigProblem) => a.line - b.line || a.col - b.col;
  const warnings = [...f.warnings].sort(byPosition);
  if (f.problems.length > 0 || config === undefined) {
    throw new ConfigError("CONF_INVALID", fileName, [...f.problems].sort(byPosition), undefined, warnings);
  }
  return { config: deepFreeze(config), warnings };
}

function build(root: Section, platform: NodeJS.Platform): PaqetConfig | undefined {
  const f = root.f;
  if (!root.present) f.error("", root.anchor, "the file is empty or not a mapping of keys");

  const roleText = root.str("role");
  const role: Role | undefined = roleText === "client" || roleText === "server" ? roleText : undefined;
  if (role === undefined) f.error("role", root.at("role"), `role must be 'client' or 'server'${hint(roleText, ["client", "server"])}`);
  // With a bad role the config is rejected anyway; the rest is still checked so every problem shows.
  const r: Role = role ?? "client";

  const log = root.sub("log");
  const levelText = log.str("level") ?? "";
  const level = (levelText === "" ? DEFAULTS.logLevel : levelText) as LogLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    f.error(log.child("level"), log.at("level"), `invalid logging level '${levelText}': must be one of ${LOG_LEVELS.join(", ")}${hint(levelText, LOG_LEVELS)}`);
  }

  const socks5 = root.list("socks5").map(readSocks5);
  const forward = root.list("forward").map(readForward);
  if (r === "client" && role !== undefined && socks5.length === 0 && forward.length === 0) {
    f.warn("", root.anchor, "client mode enabled but no SOCKS5 or forward configurations found");
  }

  const network = readNetwork(root.sub("network"), r, platform);
  const transport = readTransport(root.sub("transport"), r);
  const debug = readDebug(root.sub("debug"));

  let listen: ListenConfig | null = null;
  let server: ServerConfig | null = null;
  if (role === "server") {
    const s = root.sub("listen");
    const a = requiredAddress(s, "addr", 1);
    if (a) {
      listen = { addr: a.text, host: a.host, port: a.port };
      if (network && network.port !== 0 && a.port !== network.port) {
        f.warn(s.child("addr"), s.at("addr"), `port ${a.port} differs from the network port ${network.port}, where the server actually captures`);
      }
    }
  } else if (role === "client") {
    const s = root.sub("server");
    const a = requiredAddress(s, "addr", 1);
    if (a) {
      server = { addr: a.text, host: a.host, port: a.port, family: a.family };
      if (network && (network.ipv4 || network.ipv6)) {
        if (a.family === 4 && !network.ipv4) {
          f.error(s.child("addr"), s.at("addr"), "server address is IPv4, but the IPv4 interface is not configured");
        }
        if (a.family === 6 && !network.ipv6) {
          f.error(s.child("addr"), s.at("addr"), "server address is IPv6, but the IPv6 interface is not configured");
        }
      }
    }
    if (transport && network && transport.conn > 1 && network.port !== 0) {
      const t = root.sub("transport");
      f.error(t.child("conn"), t.at("conn"), "only one connection is allowed when a client port is explicitly set");
    }
  }

  if (!role || !network || !transport || socks5.includes(undefined) || forward.includes(undefined)) return undefined;
  return {
    role,
    log: { level },
    listen,
    server,
    socks5: socks5 as Socks5Config[],
    forward: forward as ForwardConfig[],
    network,
    transport,
    debug,
  };
}

interface Address {
  text: string;
  host: string;
  port: number;
  family: 0 | 4 | 6;
}

/** Go's three address rules: required, resolvable, port in range. */
function requiredAddress(s: Section, key: string, minPort: number): Address | undefined {
  const text = s.str(key) ?? "";
  const path = s.child(key);
  if (text === "") {
    s.f.error(path, s.at(key), "address is required");
    return undefined;
  }
  const hp = parseHostPort(text);
  if (!hp.ok) {
    s.f.error(path, s.at(key), `invalid address '${text}': ${hp.error}`);
    return undefined;
  }
  if (hp.port < minPort) {
    s.f.error(path, s.at(key), `port must be between ${minPort}-65535`);
    return undefined;
  }
  return { text, host: hp.host, port: hp.port, family: hp.family };
}

function readSocks5(s: Section): Socks5Config | undefined {
  const listen = requiredAddress(s, "listen", 1);
  const username = s.str("username") ?? "";
  const password = s.str("password") ?? "";
  if (!listen) return undefined;
  return { listen: listen.text, listen_host: listen.host, listen_port: listen.port, username, password };
}

function readForward(s: Section): ForwardConfig | undefined {
  const f = s.f;
  const listen = requiredAddress(s, "listen", 1);
  const targetText = s.str("target") ?? "";
  let target: { host: string; port: number } | undefined;
  if (targetText === "") {
    f.error(s.child("target"), s.at("target"), "address is required");
  } else {
    // The server dials the target, so its host is not resolved here.
    const split = splitHostPort(targetText);
    if (!split.ok) f.error(s.child("target"), s.at("target"), `invalid address '${targetText}': ${split.error}`);
    else if (!/^[0-9]+$/.test(split.port) || Number(split.port) < 1 || Number(split.port) > 65535) {
      f.error(s.child("target"), s.at("target"), "port must be between 1-65535");
    } else target = { host: split.host, port: Number(split.port) };
  }
  const protocol = s.str("protocol") ?? "";
  const protocolOk = protocol === "tcp" || protocol === "udp";
  if (!protocolOk) {
    f.error(s.child("protocol"), s.at("protocol"), protocol === "" ? "protocol is required: tcp or udp" : `unsupported protocol: ${protocol} (must be tcp or udp)`);
  }
  if (!listen || !target || !protocolOk) return undefined;
  return {
    listen: listen.text,
    listen_host: listen.host,
    listen_port: listen.port,
    target: targetText,
    target_host: target.host,
    target_port: target.port,
    protocol,
  };
}

function readNetwork(s: Section, role: Role, platform: NodeJS.Platform): NetworkConfig | undefined {
  const f = s.f;
  let ok = true;
  // Empty means "discover": run takes the interface of the route to the peer (src/cli/_network.ts).
  const iface = s.str("interface") ?? "";
  if (Buffer.byteLength(iface) > 15) {
    f.error(s.child("interface"), s.at("interface"), `network interface name too long (max 15 characters): '${iface}'`);
    ok = false;
  }
  const guid = s.str("guid") ?? "";
  if (platform === "win32" && guid === "") {
    f.error(s.child("guid"), s.at("guid"), "guid is required on windows");
    ok = false;
  }

  const v4 = readFamily(s.sub("ipv4"), 4);
  const v6 = readFamily(s.sub("ipv6"), 6);
  if (!v4.written && !v6.written) {
    f.error(s.child("ipv4"), s.at("ipv4"), "at least one address family (IPv4 or IPv6) must be configured");
    ok = false;
  }
  if (v4.written && !v4.value) ok = false;
  if (v6.written && !v6.value) ok = false;
  if (v4.value && v6.value && v4.value.port !== v6.value.port) {
    const v6s = s.sub("ipv6");
    f.error(v6s.child("addr"), v6s.at("addr"), `IPv4 port (${v4.value.port}) and IPv6 port (${v6.value.port}) must match when both are configured`);
    ok = false;
  }

  const pcap = s.sub("pcap");
  const sockbuf = orDefault(pcap.int("sockbuf"), ROLE_DEFAULTS[role].sockbuf);
  if (sockbuf < KiB) {
    f.error(pcap.child("sockbuf"), pcap.at("sockbuf"), "PCAP sockbuf must be >= 1024 bytes");
    ok = false;
  } else if (sockbuf > 100 * MiB) {
    f.error(pcap.child("sockbuf"), pcap.at("sockbuf"), "PCAP sockbuf too large (max 100MB)");
    ok = false;
  } else if ((sockbuf & (sockbuf - 1)) !== 0) {
    f.warn(pcap.child("sockbuf"), pcap.at("sockbuf"), `PCAP sockbuf (${sockbuf} bytes) is not a power of two`);
  }

  const tcp = s.sub("tcp");
  const localFlag = readFlags(tcp, "local_flag");
  const remoteFlag = readFlags(tcp, "remote_flag");
  if (!localFlag || !remoteFlag) ok = false;

  if (!ok || !localFlag || !remoteFlag) return undefined;
  const ipv4 = v4.value ?? null;
  const ipv6 = v6.value ?? null;
  return {
    interface: iface,
    guid,
    ipv4,
    ipv6,
    port: ipv6 ? ipv6.port : (ipv4?.port ?? 0),
    pcap: { sockbuf },
    tcp: { local_flag: localFlag, remote_flag: remoteFlag },
  };
}

function readFamily(s: Section, which: 4 | 6): { written: boolean; value?: AddressFamilyConfig } {
  const f = s.f;
  const text = s.str("addr") ?? "";
  if (text === "") return { written: false };
  let value: AddressFamilyConfig | undefined;
  const hp = parseHostPort(text);
  let ip: string | undefined;
  if (!hp.ok) {
    f.error(s.child("addr"), s.at("addr"), `invalid address '${text}': ${hp.error}`);
  } else if (hp.host === "") {
    // `:port` (Go accepts it, with no usable source IP): the IP is discovered at startup.
    ip = "";
  } else if (ipFamily(hp.host) === 0) {
    f.error(s.child("addr"), s.at("addr"), `invalid address '${text}': the host must be this machine's IPv${which} address, not a name`);
  } else {
    ip = hp.host;
    if (ipFamily(hp.host) !== which) {
      f.warn(s.child("addr"), s.at("addr"), `'${hp.host}' is not an IPv${which} address; frames for this family will be malformed`);
    }
  }
  const macText = s.str("router_mac") ?? "";
  let mac: string | undefined;
  if (macText === "") {
    // Discovered at startup from the neighbour table (the next hop towards the peer).
    mac = "";
  } else {
    const m = parseMac(macText);
    if (!m.ok) f.error(s.child("router_mac"), s.at("router_mac"), `invalid Router MAC address '${macText}': ${m.error}`);
    else if (m.bytes.length !== 6) {
      f.error(s.child("router_mac"), s.at("router_mac"), `invalid Router MAC address '${macText}': Ethernet needs a 6-byte address, not ${m.bytes.length}`);
    } else mac = formatMac(m.bytes);
  }
  if (hp.ok && ip !== undefined && mac !== undefined) value = { addr: text, ip, port: hp.port, router_mac: mac };
  return { written: true, value };
}

function readFlags(tcp: Section, key: "local_flag" | "remote_flag"): string[] | undefined {
  const f = tcp.f;
  const items = tcp.strList(key);
  if (items === undefined) return [...DEFAULTS.tcpFlags];
  let ok = true;
  if (items.length > MAX_FLAG_COMBINATIONS) {
    f.error(tcp.child(key), tcp.at(key), `${key} exceeds max ${MAX_FLAG_COMBINATIONS}`);
    ok = false;
  }
  for (const item of items) {
    for (const c of item.value) {
      if (!TCP_FLAG_CHARS.includes(c)) {
        f.error(item.path, item.node, `invalid TCP flag '${c}' in combination '${item.value}' (allowed: ${TCP_FLAG_CHARS})`);
        ok = false;
      }
    }
  }
  if (!ok) return undefined;
  return items.length === 0 ? [...DEFAULTS.tcpFlags] : items.map((i) => i.value);
}

function readTransport(s: Section, role: Role): TransportConfig | undefined {
  const f = s.f;
  let ok = true;
  const protocol = s.str("protocol") ?? "";
  if (protocol !== "kcp") {
    f.error(s.child("protocol"), s.at("protocol"), "transport protocol must be one of: [kcp]");
    ok = false;
  }
  const conn = orDefault(s.int("conn"), DEFAULTS.conn);
  if (conn < 1 || conn > 256) {
    f.error(s.child("conn"), s.at("conn"), "KCP conn must be between 1-256 connections");
    ok = false;
  }
  const k = s.sub("kcp");
  if (!k.present) {
    f.error(k.path, k.anchor, "transport.kcp configuration is required");
    return undefined;
  }
  const kcp = readKcp(k, role);
  if (!ok || !kcp) return undefined;
  return { protocol: "kcp", conn, kcp };
}

function readKcp(k: Section, role: Role): KcpConfig | undefined {
  const f = k.f;
  const problemsBefore = f.problems.length;
  const range = (key: string, v: number, lo: number, hi: number, message: string) => {
    if (v < lo || v > hi) f.error(k.child(key), k.at(key), message);
  };

  const modeText = k.str("mode") ?? "";
  const mode = (modeText === "" ? DEFAULTS.mode : modeText) as KcpMode;
  if (!(KCP_MODES as readonly string[]).includes(mode)) {
    f.error(k.child("mode"), k.at("mode"), `KCP mode must be one of: [${KCP_MODES.join(" ")}]${hint(modeText, KCP_MODES)}`);
  }
  const manual = {
    nodelay: k.int("nodelay") ?? 0,
    interval: k.int("interval") ?? 0,
    resend: k.int("resend") ?? 0,
    nocongestion: k.int("nocongestion") ?? 0,
    wdelay: k.bool("wdelay") ?? false,
    acknodelay: k.bool("acknodelay") ?? false,
  };
  const preset = mode === "manual" ? undefined : MODE_PRESETS[mode];
  const tuning = preset
    ? { nodelay: preset[0], interval: preset[1], resend: preset[2], nocongestion: preset[3], wdelay: preset[4], acknodelay: preset[5] }
    : manual;

  const mtu = orDefault(k.int("mtu"), DEFAULTS.mtu);
  range("mtu", mtu, 50, 1500, "KCP MTU must be between 50-1500 bytes");
  const rcvwnd = orDefault(k.int("rcvwnd"), ROLE_DEFAULTS[role].rcvwnd);
  range("rcvwnd", rcvwnd, 1, 32768, "KCP rcvwnd must be between 1-32768");
  const sndwnd = orDefault(k.int("sndwnd"), ROLE_DEFAULTS[role].sndwnd);
  range("sndwnd", sndwnd, 1, 32768, "KCP sndwnd must be between 1-32768");

  const dshard = k.int("dshard") ?? 0;
  const pshard = k.int("pshard") ?? 0;
  range("dshard", dshard, 0, 255, "FEC dshard must be between 0-255");
  range("pshard", pshard, 0, 255, "FEC pshard must be between 0-255");
  if (dshard > 0 && pshard > 0 && dshard + pshard > 256) {
    f.error(k.child("pshard"), k.at("pshard"), `FEC dshard + pshard must be <= 256 (Reed-Solomon limit), got ${dshard + pshard}`);
  }

  const blockText = k.str("block") ?? "";
  if (k.isExplicitNull("block")) {
    f.warn(k.child("block"), k.at("block"), `an unquoted null is YAML's null, so block is the default "${DEFAULTS.block}"; write "null" in quotes for the null cipher`);
  }
  const block = (blockText === "" ? DEFAULTS.block : blockText) as KcpBlock;
  if (!(KCP_BLOCKS as readonly string[]).includes(block)) {
    f.error(k.child("block"), k.at("block"), `KCP encryption block must be one of: [${KCP_BLOCKS.join(" ")}]${hint(blockText, KCP_BLOCKS)}`);
  }
  const key = k.str("key") ?? "";
  if (key === "" && block !== "none" && block !== "null") {
    f.error(k.child("key"), k.at("key"), "KCP encryption key is required");
  }

  const smuxbuf = orDefault(k.int("smuxbuf"), DEFAULTS.smuxbuf);
  const streambuf = orDefault(k.int("streambuf"), DEFAULTS.streambuf);
  if (smuxbuf < KiB) f.error(k.child("smuxbuf"), k.at("smuxbuf"), "KCP smuxbuf must be >= 1024 bytes");
  else if (smuxbuf > SMUX_MAX_BUFFER) f.error(k.child("smuxbuf"), k.at("smuxbuf"), `KCP smuxbuf must be <= ${SMUX_MAX_BUFFER} bytes`);
  if (streambuf < KiB) f.error(k.child("streambuf"), k.at("streambuf"), "KCP streambuf must be >= 1024 bytes");
  else if (streambuf > SMUX_MAX_BUFFER) f.error(k.child("streambuf"), k.at("streambuf"), `KCP streambuf must be <= ${SMUX_MAX_BUFFER} bytes`);
  else if (smuxbuf >= KiB && streambuf > smuxbuf) {
    f.error(k.child("streambuf"), k.at("streambuf"), `KCP streambuf (${streambuf}) must not exceed smuxbuf (${smuxbuf})`);
  }
  const smuxkalive = orDefault(k.int("smuxkalive"), DEFAULTS.smuxkalive);
  const smuxktimeout = orDefault(k.int("smuxktimeout"), DEFAULTS.smuxktimeout);
  if (smuxkalive < 1) f.error(k.child("smuxkalive"), k.at("smuxkalive"), "KCP smuxkalive must be >= 1 second");
  if (smuxktimeout < 1) f.error(k.child("smuxktimeout"), k.at("smuxktimeout"), "KCP smuxktimeout must be >= 1 second");
  else if (smuxkalive >= 1 && smuxktimeout < smuxkalive) {
    f.error(k.child("smuxktimeout"), k.at("smuxktimeout"), `KCP smuxktimeout (${smuxktimeout}) must be >= smuxkalive (${smuxkalive})`);
  }

  const guard = k.bool("guard") ?? false;
  const guardMagic = k.str("guard_magic") ?? DEFAULTS.guardMagic;
  const guardWindow = orDefault(k.int("guard_window"), DEFAULTS.guardWindow);
  // Seed-fork quirk kept for compatibility with its configs: skew 0 reads as unset, i.e. 1.
  const guardSkew = orDefault(k.int("guard_skew"), DEFAULTS.guardSkew);
  if (guard) {
    if (key === "") f.error(k.child("key"), k.at("key"), "guard requires a non-empty key (even with block none or null)");
    const bytes = Buffer.byteLength(guardMagic);
    if (bytes !== 4) f.error(k.child("guard_magic"), k.at("guard_magic"), `guard_magic must be exactly 4 bytes, got ${bytes}`);
    range("guard_window", guardWindow, 1, 3600, "guard_window must be between 1-3600 seconds");
    range("guard_skew", guardSkew, 0, 10, "guard_skew must be between 0-10 windows");
  }

  const maxSessions = orDefault(k.int("max_sessions"), DEFAULTS.maxSessions);
  range("max_sessions", maxSessions, -1, 1_000_000, "max_sessions must be -1 (unlimited) or 1-1000000");
  const maxStreamsTotal = orDefault(k.int("max_streams_total"), DEFAULTS.maxStreamsTotal);
  range("max_streams_total", maxStreamsTotal, -1, 10_000_000, "max_streams_total must be -1 (unlimited) or 1-10000000");
  let maxStreamsPerSession = orDefault(k.int("max_streams_per_session"), DEFAULTS.maxStreamsPerSession);
  range("max_streams_per_session", maxStreamsPerSession, -1, 10_000_000, "max_streams_per_session must be -1 (unlimited) or 1-10000000");
  if (maxStreamsTotal > 0 && maxStreamsPerSession > maxStreamsTotal) {
    maxStreamsPerSession = maxStreamsTotal;
  }
  const headerTimeout = orDefault(k.int("header_timeout"), DEFAULTS.headerTimeout);
  range("header_timeout", headerTimeout, 1, 3600, "header_timeout must be between 1-3600 seconds");

  if (f.problems.length > problemsBefore) return undefined;
  return {
    mode,
    ...tuning,
    mtu,
    rcvwnd,
    sndwnd,
    dshard,
    pshard,
    block,
    key,
    smuxbuf,
    streambuf,
    smuxkalive,
    smuxktimeout,
    guard,
    guard_magic: guardMagic,
    guard_window: guardWindow,
    guard_skew: guardSkew,
    max_sessions: maxSessions,
    max_streams_total: maxStreamsTotal,
    max_streams_per_session: maxStreamsPerSession,
    header_timeout: headerTimeout,
  };
}

function readDebug(s: Section): DebugConfig {
  const f = s.f;
  const pprof = s.str("pprof") ?? "";
  const diag = s.bool("diag") ?? false;
  if (pprof !== "") {
    const hp = parseHostPort(pprof);
    if (!hp.ok) f.error(s.child("pprof"), s.at("pprof"), `invalid address '${pprof}': ${hp.error}`);
    else if (!isLoopbackHost(hp.host)) {
      f.error(s.child("pprof"), s.at("pprof"), "must be a loopback address (127.0.0.0/8, ::1 or localhost): the endpoint has no authentication");
    } else if (hp.port < 1) f.error(s.child("pprof"), s.at("pprof"), "port must be between 1-65535");
  }
  if (diag && pprof === "") f.error(s.child("diag"), s.at("diag"), "debug.diag requires debug.pprof (the address to serve it on)");
  return { pprof, diag };
}

/** " (did you mean 'x'?)" when a bad enum value is a near miss of a valid one, else "". */
function hint(value: string | undefined, options: readonly string[]): string {
  if (!value) return "";
  const lower = value.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const o of options) {
    const d = editDistance(lower, o);
    if (d < bestDistance) [best, bestDistance] = [o, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(value.length / 3)) ? ` (did you mean '${best}'?)` : "";
}

/** Go's rule: for a key with a default, zero (or unset) means "use the default". */
function orDefault(v: number | undefined, fallback: number): number {
  return v === undefined || v === 0 ? fallback : v;
}

function firstLine(s: string): string {
  return s.split("\n")[0] ?? s;
}

function osReason(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return err instanceof Error ? err.message : String(err);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
