/**
 * Process-wide diagnostics: counters the layers bump, gauges read on demand, and the three views
 * of one snapshot (JSON for `/debug/paqet/status`, text for people, Prometheus for scrapers).
 *
 * Hot paths write plain properties of the one `metrics` object (`metrics.rawUpPackets++`): the
 * fields are declared up front so the object keeps a single shape, and nothing on the write side
 * allocates, looks anything up or calls a function. Everything costly (providers, formatting,
 * memory figures) happens only when someone asks for a snapshot.
 *
 * What a layer calls:
 * - `metrics.rawUpPackets++`, `metrics.tcpUpBytes += n`: counters, bumped in place.
 * - `const off = provide("streams", () => this.streams.size)`: a value read only when asked; call
 *   `off()` on close. Several sources of one key are summed (one per listener or pcap handle).
 *   Any counter may have sources too (`provide("guardDrops", () => guard.stats.drops)`): a layer
 *   that already counts in its own stats object is read from there, at no cost per packet.
 * - `registerConfig({ role, interface, ... })`: what `run` is serving, for the snapshot's `config`.
 * - `limitRefused(kind, peer)` (limits-log.ts): a server limit refused someone; counts and logs.
 * - `startStatusServer({ addr })` (status-server.ts): serves it all on loopback.
 *
 * Field names follow the seed fork's snapshot (seed-fork.md §3.3) in camelCase; the snapshot uses
 * their snake_case form. Counters count whether or not the status endpoint is enabled, since a
 * disabled flag checked on every packet would cost more than the increment it saves.
 */
import { BUILD_TIME, COMMIT, GIT_TAG, VERSION } from "./version.ts";

/** Monotonic process-wide counters and a few sampled timestamps. Bump them directly. */
export class Counters {
  /** Successful raw sends. */
  rawUpPackets = 0;
  /** TCP payload bytes of successful raw sends, guard header included, L2–L4 headers not. */
  rawUpBytes = 0;
  /** Packets handed to KCP (each GRO part counts). */
  rawDownPackets = 0;
  /** Payload bytes handed to KCP, guard header included. */
  rawDownBytes = 0;
  /** Raw sends abandoned after the ENOBUFS retries ran out. */
  rawUpDrops = 0;
  rawUpDropBytes = 0;
  /** Received payloads (or GRO parts) larger than the KCP read buffer. */
  rawDownOversizeDrops = 0;
  rawDownOversizeDropBytes = 0;
  /** GRO/LRO frames split on receive, and the parts they yielded. */
  rawDownCoalescedFrames = 0;
  rawDownCoalescedParts = 0;
  /** Guard cookie checks passed and failed. */
  guardPass = 0;
  guardDrops = 0;
  /** Each retry after ENOBUFS/ENOMEM (raw sends and the copy layer; EAGAIN is not counted). */
  enobufsRetries = 0;
  /** Each 100 ms sleep in the copy layer's sustained-ENOBUFS phase. */
  enobufsSustained = 0;
  /** Bytes relayed on TCP streams, "up" toward the target; credited when a copy direction ends. */
  tcpUpBytes = 0;
  tcpDownBytes = 0;
  /** Bytes relayed on UDP (client: per datagram; server: when the copy ends). */
  udpUpBytes = 0;
  udpDownBytes = 0;
  /** KCP segments sent again, for any reason (timeout, fast or early retransmit). */
  kcpRetransmits = 0;
  /** The subset of kcpRetransmits triggered by duplicate ACKs rather than the timer. */
  kcpFastRetransmits = 0;
  /** Datagrams dropped because the CRC32 after decryption did not match. */
  crcDrops = 0;
  /** Datagrams dropped because decryption failed (too short, bad GCM tag). */
  decryptDrops = 0;
  /** Times a writer had to wait for room in a ring buffer. */
  ringWaits = 0;
  /** Refusals by limit; bumped by `limitRefused` (limits-log.ts), not by hand. */
  refusedSessions = 0;
  refusedStreamsTotal = 0;
  refusedStreamsPerSession = 0;
  refusedHeaderTimeout = 0;

  /**
   * Epoch ms of a sampled raw send (first, then every 64th); 0 = never. After the increment:
   * `if ((metrics.rawUpPackets & 63) === 1) metrics.rawLastUpAt = Date.now();`
   */
  rawLastUpAt = 0;
  /** Epoch ms of a sampled raw receive (first, every 64th, every oversize drop); 0 = never. */
  rawLastDownAt = 0;
  /** The client's last diagnostic ping (see `recordPing`): epoch ms (0 = never), RTT in ms, error ("" = none). */
  pingLastAt = 0;
  pingLastRttMs = 0;
  pingLastErr = "";
}

type NumericKey = { [K in keyof Counters]: Counters[K] extends number ? K : never }[keyof Counters];
const TIMESTAMP_KEYS = ["rawLastUpAt", "rawLastDownAt", "pingLastAt", "pingLastRttMs"] as const;
type TimestampKey = (typeof TIMESTAMP_KEYS)[number];
/** The keys that only ever grow; these become `_total` series in Prometheus. */
export type CounterKey = Exclude<NumericKey, TimestampKey>;

/** The one registry of this process. */
export const metrics: Counters = new Counters();

/** Records the client diag ticker's ping; the RTT is kept even when the ping failed, as the fork does. */
export function recordPing(atMs: number, rttMs: number, err = ""): void {
  metrics.pingLastAt = atMs;
  metrics.pingLastRttMs = rttMs;
  metrics.pingLastErr = err;
}

/** Help text per counter, for Prometheus; its keys are also the snapshot's counter order. */
const COUNTER_HELP: Record<CounterKey, string> = {
  rawUpPackets: "Raw packets sent.",
  rawUpBytes: "TCP payload bytes of raw packets sent, guard header included.",
  rawDownPackets: "Raw packets handed to KCP.",
  rawDownBytes: "Payload bytes handed to KCP, guard header included.",
  rawUpDrops: "Raw sends abandoned after repeated ENOBUFS.",
  rawUpDropBytes: "Bytes of raw sends abandoned after repeated ENOBUFS.",
  rawDownOversizeDrops: "Received payloads larger than the KCP read buffer.",
  rawDownOversizeDropBytes: "Bytes of received payloads larger than the KCP read buffer.",
  rawDownCoalescedFrames: "GRO/LRO coalesced frames split on receive.",
  rawDownCoalescedParts: "Parts produced by splitting coalesced frames.",
  guardPass: "Packets whose guard cookie matched.",
  guardDrops: "Packets dropped by the guard check.",
  enobufsRetries: "Retries after ENOBUFS or ENOMEM.",
  enobufsSustained: "100 ms sleeps while ENOBUFS persisted.",
  tcpUpBytes: "Bytes relayed toward targets on TCP streams.",
  tcpDownBytes: "Bytes relayed back from targets on TCP streams.",
  udpUpBytes: "Bytes relayed toward targets over UDP.",
  udpDownBytes: "Bytes relayed back from targets over UDP.",
  kcpRetransmits: "KCP segments retransmitted.",
  kcpFastRetransmits: "KCP segments retransmitted on duplicate ACKs.",
  crcDrops: "Datagrams dropped on a CRC mismatch after decryption.",
  decryptDrops: "Datagrams dropped because decryption failed.",
  ringWaits: "Writes that waited for room in a ring buffer.",
  refusedSessions: "Sessions refused because max_sessions was reached.",
  refusedStreamsTotal: "Streams refused because max_streams_total was reached.",
  refusedStreamsPerSession: "Streams refused because max_streams_per_session was reached.",
  refusedHeaderTimeout: "Streams closed because no header arrived within header_timeout.",
};
const COUNTER_KEYS = Object.keys(COUNTER_HELP) as CounterKey[];

/** The `refused*` counters are one labelled Prometheus family; this maps them to their label. */
const REFUSAL_LABEL: Partial<Record<CounterKey, string>> = {
  refusedSessions: "sessions",
  refusedStreamsTotal: "streams_total",
  refusedStreamsPerSession: "streams_per_session",
  refusedHeaderTimeout: "header_timeout",
};

// ---------------------------------------------------------------------------------------------
// Providers: values a layer already knows, read only when a snapshot is taken.

/** Gauges (current values) and kernel counters that exist only as providers. */
export type ProvidedKey = "sessions" | "streams" | "pcapReceived" | "pcapDropped" | "pcapIfDropped";
/** Sampled times a provider may back; the latest of all sources (and the pushed value) wins. */
export type ProvidedTimeKey = "rawLastUpAt" | "rawLastDownAt";
/** Anything a provider may back: the provided keys, every counter (added to its pushed value), the sampled times. */
export type SourceKey = ProvidedKey | CounterKey | ProvidedTimeKey;

function isTimeKey(key: SourceKey): key is ProvidedTimeKey {
  return key === "rawLastUpAt" || key === "rawLastDownAt";
}

const PROVIDED_HELP: Record<ProvidedKey, { help: string; counter: boolean }> = {
  sessions: { help: "Live accepted KCP sessions (server).", counter: false },
  streams: { help: "Live streams being handled (server).", counter: false },
  pcapReceived: { help: "Packets received by libpcap (pcap_stats ps_recv).", counter: true },
  pcapDropped: { help: "Packets dropped by the kernel capture buffer (pcap_stats ps_drop).", counter: true },
  pcapIfDropped: { help: "Packets dropped by the interface (pcap_stats ps_ifdrop).", counter: true },
};
const PROVIDED_KEYS = Object.keys(PROVIDED_HELP) as ProvidedKey[];

const providers = new Map<SourceKey, Set<() => number>>();
/** What sources of a counter read when they were removed, so a counter never goes back down. */
const retired = new Map<SourceKey, number>();

function readSource(read: () => number): number {
  let v: number;
  try {
    v = read();
  } catch {
    return 0;
  }
  return Number.isFinite(v) ? v : 0;
}

/**
 * Registers `read` as a source of `key`; the snapshot sums all sources of a key (one per
 * listener, per pcap handle, per KCP session, ...), and for a counter adds the pushed value of
 * `metrics`. Returns the function that unregisters it; call it on close. Removing a source of
 * a counter reads it one last time and keeps that figure, so counters stay monotonic while their
 * sources come and go; a gauge's source simply stops counting. A source that throws or returns
 * a non-finite number counts as 0 for that snapshot.
 */
export function provide(key: SourceKey, read: () => number): () => void {
  let set = providers.get(key);
  if (set === undefined) {
    set = new Set();
    providers.set(key, set);
  }
  set.add(read);
  const owner = set;
  return () => {
    if (!owner.delete(read)) return;
    if (key === "sessions" || key === "streams") return;
    const last = readSource(read);
    const kept = retired.get(key) ?? 0;
    retired.set(key, isTimeKey(key) ? Math.max(kept, last) : kept + last);
  };
}

/** `provide` for several keys at once (e.g. every counter of one stats object); one function removes them all. */
export function provideAll(sources: Partial<Record<SourceKey, () => number>>): () => void {
  const offs: (() => void)[] = [];
  for (const [key, read] of Object.entries(sources)) {
    if (read !== undefined) offs.push(provide(key as SourceKey, read));
  }
  return () => {
    for (const off of offs.splice(0)) off();
  };
}

/** The retransmission counters of one KCP session (the shape of kcp's core stats). */
export interface RetransmitStats {
  readonly lostSegs: number;
  readonly fastRetransSegs: number;
  readonly earlyRetransSegs: number;
}

/**
 * Backs kcp_retransmits (kcp-go's RetransSegs: timeout + fast + early) and kcp_fast_retransmits
 * (the ones duplicate ACKs triggered: fast + early) with one session's stats, until the returned
 * function is called when the session ends.
 */
export function provideRetransmits(s: RetransmitStats): () => void {
  return provideAll({
    kcpRetransmits: () => s.lostSegs + s.fastRetransSegs + s.earlyRetransSegs,
    kcpFastRetransmits: () => s.fastRetransSegs + s.earlyRetransSegs,
  });
}

/** The sum of `key`'s sources (the latest, for a time), those already removed included. */
function readProvided(key: SourceKey): number {
  let sum = retired.get(key) ?? 0;
  const set = providers.get(key);
  if (set === undefined) return sum;
  const time = isTimeKey(key);
  for (const read of set) {
    const v = readSource(read);
    sum = time ? Math.max(sum, v) : sum + v;
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Registration of what the process is (role, addresses) for the snapshot's `config` object.

/** The `config` summary of the snapshot; empty fields are left out (seed-fork §3.3). */
export interface ConfigSummary {
  role?: "client" | "server";
  interface?: string;
  dscp?: number;
  ipv4_addr?: string;
  ipv6_addr?: string;
  server_addr?: string;
  listen_addr?: string;
  pprof?: string;
  guard?: boolean;
  conns?: number;
  /** Hex of the first 8 bytes of SHA-256(key); see `keyId`. */
  key_id?: string;
}

let configSummary: ConfigSummary = {};
let startedAt = Math.floor(performance.timeOrigin);

/** Records what `run` is serving; the snapshot shows it under `config`. */
export function registerConfig(summary: ConfigSummary): void {
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(summary)) {
    if (v === undefined || v === "" || v === 0 || v === false) continue;
    clean[k] = v;
  }
  configSummary = Object.freeze(clean) as ConfigSummary;
}

/** The fork's `key_id`: hex of the first 8 bytes of SHA-256 of the key string as written. */
export function keyId(key: string): string {
  const h = new Bun.CryptoHasher("sha256").update(key).digest();
  return Buffer.from(h.subarray(0, 8)).toString("hex");
}

/** Zeroes every counter, drops providers and config, and restarts the uptime clock (tests). */
export function resetMetrics(): void {
  Object.assign(metrics, new Counters());
  providers.clear();
  retired.clear();
  configSummary = {};
  startedAt = Date.now();
}

// ---------------------------------------------------------------------------------------------
// Snapshot

/** The JSON document of `/debug/paqet/status`. */
export interface StatusSnapshot {
  now: string;
  uptime: string;
  uptime_seconds: number;
  version: string;
  git_tag: string;
  git_commit: string;
  build_time: string;
  config: ConfigSummary;
  sessions: number;
  streams: number;
  raw_up_packets: number;
  raw_up_bytes: number;
  raw_down_packets: number;
  raw_down_bytes: number;
  raw_last_up_at?: string;
  raw_last_down_at?: string;
  raw_up_drops: number;
  raw_up_drop_bytes: number;
  raw_down_oversize_drops: number;
  raw_down_oversize_drop_bytes: number;
  raw_down_coalesced_frames: number;
  raw_down_coalesced_parts: number;
  guard_pass: number;
  guard_drops: number;
  enobufs_retries: number;
  enobufs_sustained: number;
  tcp_up_bytes: number;
  tcp_down_bytes: number;
  udp_up_bytes: number;
  udp_down_bytes: number;
  ping_last_at?: string;
  ping_last_rtt?: string;
  ping_last_err?: string;
  kcp_retransmits: number;
  kcp_fast_retransmits: number;
  crc_drops: number;
  decrypt_drops: number;
  ring_waits: number;
  refused_sessions: number;
  refused_streams_total: number;
  refused_streams_per_session: number;
  refused_header_timeout: number;
  pcap_received: number;
  pcap_dropped: number;
  pcap_if_dropped: number;
  /** Bun's figures in place of Go's runtime stats: alloc = heap used, sys = resident set. */
  alloc_bytes: number;
  sys_bytes: number;
  heap_total_bytes: number;
  external_bytes: number;
  array_buffers_bytes: number;
}

function snakeCase(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Takes a snapshot of `m` (default: the process registry) at `nowMs`. */
export function snapshot(m: Counters = metrics, nowMs: number = Date.now()): StatusSnapshot {
  const out: Record<string, unknown> = {
    now: formatRfc3339(nowMs),
    uptime: formatGoDuration(Math.floor(Math.max(0, nowMs - startedAt) / 1000) * 1000),
    uptime_seconds: Math.floor(Math.max(0, nowMs - startedAt) / 1000),
    version: VERSION,
    git_tag: GIT_TAG,
    git_commit: COMMIT,
    build_time: BUILD_TIME,
    config: configSummary,
    sessions: readProvided("sessions"),
    streams: readProvided("streams"),
  };
  for (const key of COUNTER_KEYS) {
    out[snakeCase(key)] = m[key] + readProvided(key);
    if (key === "rawDownBytes") {
      const lastUp = Math.max(m.rawLastUpAt, readProvided("rawLastUpAt"));
      const lastDown = Math.max(m.rawLastDownAt, readProvided("rawLastDownAt"));
      if (lastUp > 0) out.raw_last_up_at = formatRfc3339(lastUp);
      if (lastDown > 0) out.raw_last_down_at = formatRfc3339(lastDown);
    } else if (key === "udpDownBytes") {
      if (m.pingLastAt > 0) {
        out.ping_last_at = formatRfc3339(m.pingLastAt);
        out.ping_last_rtt = formatGoDuration(Math.trunc(m.pingLastRttMs));
      }
      if (m.pingLastErr !== "") out.ping_last_err = m.pingLastErr;
    }
  }
  for (const key of PROVIDED_KEYS) {
    if (key !== "sessions" && key !== "streams") out[snakeCase(key)] = readProvided(key);
  }
  const mem = process.memoryUsage();
  out.alloc_bytes = mem.heapUsed;
  out.sys_bytes = mem.rss;
  out.heap_total_bytes = mem.heapTotal;
  out.external_bytes = mem.external;
  out.array_buffers_bytes = mem.arrayBuffers;
  return out as unknown as StatusSnapshot;
}

// ---------------------------------------------------------------------------------------------
// Time as Go prints it

/**
 * RFC 3339 with the local offset, as Go's `time.RFC3339Nano` prints it: fraction trimmed of
 * trailing zeros (JavaScript has milliseconds), `Z` for UTC.
 */
export function formatRfc3339(epochMs: number, offsetMinutes: number = -new Date(epochMs).getTimezoneOffset()): string {
  const d = new Date(epochMs + offsetMinutes * 60_000);
  const p2 = (n: number) => String(n).padStart(2, "0");
  const date = `${String(d.getUTCFullYear()).padStart(4, "0")}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
  const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  const ms = d.getUTCMilliseconds();
  const frac = ms === 0 ? "" : `.${String(ms).padStart(3, "0").replace(/0+$/, "")}`;
  let zone = "Z";
  if (offsetMinutes !== 0) {
    const a = Math.abs(offsetMinutes);
    zone = `${offsetMinutes < 0 ? "-" : "+"}${p2(Math.floor(a / 60))}:${p2(a % 60)}`;
  }
  return `${date}T${time}${frac}${zone}`;
}

/** A whole number of milliseconds as Go's `time.Duration.String` prints it (`1h2m3s`, `45ms`, `1.5s`). */
export function formatGoDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "0s";
  ms = Math.trunc(ms);
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = Math.floor(rest / 1000);
  const frac = rest % 1000;
  const sec = frac === 0 ? `${s}s` : `${s}.${String(frac).padStart(3, "0").replace(/0+$/, "")}s`;
  if (h > 0) return `${sign}${h}h${m}m${sec}`;
  if (m > 0) return `${sign}${m}m${sec}`;
  return `${sign}${sec}`;
}

const DURATION_UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses Go duration text (`2s`, `1m30s`, `1.5s`, `250ms`) to milliseconds; undefined if malformed. */
export function parseGoDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
    at = re.lastIndex;
  }
  return at === 0 ? undefined : total;
}

// ---------------------------------------------------------------------------------------------
// Text view (`/debug/paqet/text`): seed-fork §3.4 line order, aligned into columns.

type Row = [label: string, ...cells: string[]];

/**
 * Pads each column of `rows` to its widest cell so the `key=value` columns line up. A row's last
 * cell is never padded and does not widen its column, so one long value cannot push others right.
 */
function table(indent: string, rows: Row[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (let i = 0; i < row.length - 1; i++) widths[i] = Math.max(widths[i] ?? 0, row[i]!.length);
  }
  return rows.map((row) => indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "));
}

/** The human view of a snapshot, newline-terminated. */
export function renderText(s: StatusSnapshot): string {
  const c = s.config;
  const top: Row[] = [
    ["role:", c.role ?? "n/a"],
    ["uptime:", s.uptime],
    ["version:", `${s.version} (tag=${s.git_tag} commit=${s.git_commit})`],
    ["streams:", String(s.streams), `sessions: ${s.sessions}`],
    ["bytes:", `up=${s.tcp_up_bytes + s.udp_up_bytes}`, `down=${s.tcp_down_bytes + s.udp_down_bytes}`],
  ];
  const detail: Row[] = [
    ["raw packets:", `up=${s.raw_up_packets}`, `down=${s.raw_down_packets}`],
    [
      "raw bytes:",
      `up=${s.raw_up_bytes}`,
      `down=${s.raw_down_bytes}`,
      `last_up=${s.raw_last_up_at ?? "n/a"}`,
      `last_down=${s.raw_last_down_at ?? "n/a"}`,
    ],
    ["raw drops:", `packets=${s.raw_up_drops}`, `bytes=${s.raw_up_drop_bytes}`],
    ["raw coalesced:", `frames=${s.raw_down_coalesced_frames}`, `parts=${s.raw_down_coalesced_parts}`],
    ["raw oversize:", `drops=${s.raw_down_oversize_drops}`, `bytes=${s.raw_down_oversize_drop_bytes}`],
    ["guard:", `pass=${s.guard_pass}`, `drops=${s.guard_drops}`],
    ["enobufs:", `retries=${s.enobufs_retries}`, `sustained=${s.enobufs_sustained}`],
    ["tcp:", `up=${s.tcp_up_bytes}`, `down=${s.tcp_down_bytes}`],
    ["udp:", `up=${s.udp_up_bytes}`, `down=${s.udp_down_bytes}`],
    ["kcp:", `retransmits=${s.kcp_retransmits}`, `fast=${s.kcp_fast_retransmits}`],
    ["crypto:", `crc_drops=${s.crc_drops}`, `decrypt_drops=${s.decrypt_drops}`],
    ["pcap:", `received=${s.pcap_received}`, `dropped=${s.pcap_dropped}`, `if_dropped=${s.pcap_if_dropped}`],
    ["ring:", `waits=${s.ring_waits}`],
    [
      "refused:",
      `sessions=${s.refused_sessions}`,
      `streams_total=${s.refused_streams_total}`,
      `streams_per_session=${s.refused_streams_per_session}`,
      `header_timeout=${s.refused_header_timeout}`,
    ],
  ];
  const tail: Row[] = [
    [
      "ping:",
      s.ping_last_at === undefined && s.ping_last_err === undefined
        ? "n/a"
        : `last_at=${s.ping_last_at ?? "n/a"} rtt=${s.ping_last_rtt ?? "n/a"} err=${s.ping_last_err ?? ""}`,
    ],
    [
      "runtime:",
      `rss=${s.sys_bytes} heap=${s.alloc_bytes}/${s.heap_total_bytes} external=${s.external_bytes} buffers=${s.array_buffers_bytes}`,
    ],
    [
      "config:",
      [
        `iface=${c.interface ?? ""}`,
        `dscp=${c.dscp ?? 0}`,
        `ipv4=${c.ipv4_addr ?? ""}`,
        `ipv6=${c.ipv6_addr ?? ""}`,
        `server=${c.server_addr ?? ""}`,
        `listen=${c.listen_addr ?? ""}`,
        `conns=${c.conns ?? 0}`,
        `guard=${c.guard === true}`,
        `key_id=${c.key_id ?? ""}`,
        `pprof=${c.pprof ?? ""}`,
      ].join(" "),
    ],
  ];
  // One table for the two-space lines so their values share a column; the detail lines under
  // "bytes" form their own.
  const head = table("  ", [...top, ...tail]);
  const lines = ["paqet status", ...head.slice(0, top.length), ...table("    ", detail), ...head.slice(top.length)];
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition format 0.0.4

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function escapeLabel(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function rfc3339ToSeconds(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/** The snapshot as Prometheus text: `paqet_` names, counters ending in `_total`, one family each. */
export function renderPrometheus(s: StatusSnapshot): string {
  const out: string[] = [];
  const family = (name: string, type: "counter" | "gauge", help: string, samples: [labels: string, value: number][]) => {
    out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${labels} ${value}`);
  };
  const snap = s as unknown as Record<string, number | string | undefined>;

  family("paqet_build_info", "gauge", "Build identity; the value is always 1.", [
    [`{version="${escapeLabel(s.version)}",commit="${escapeLabel(s.git_commit)}",role="${escapeLabel(s.config.role ?? "")}"}`, 1],
  ]);
  family("paqet_uptime_seconds", "gauge", "Seconds since the process started.", [["", s.uptime_seconds]]);
  for (const key of PROVIDED_KEYS) {
    const { help, counter } = PROVIDED_HELP[key];
    const name = `paqet_${snakeCase(key)}${counter ? "_total" : ""}`;
    family(name, counter ? "counter" : "gauge", help, [["", Number(snap[snakeCase(key)] ?? 0)]]);
  }
  const refusals: [string, number][] = [];
  for (const key of COUNTER_KEYS) {
    const value = Number(snap[snakeCase(key)] ?? 0);
    const label = REFUSAL_LABEL[key];
    if (label !== undefined) refusals.push([`{kind="${label}"}`, value]);
    else family(`paqet_${snakeCase(key)}_total`, "counter", COUNTER_HELP[key], [["", value]]);
  }
  family("paqet_limit_refusals_total", "counter", "Connections refused or closed by a server limit, by kind.", refusals);

  const stamps: [string, string | undefined, string][] = [
    ["paqet_raw_last_up_timestamp_seconds", s.raw_last_up_at, "Time of the last sampled raw send."],
    ["paqet_raw_last_down_timestamp_seconds", s.raw_last_down_at, "Time of the last sampled raw receive."],
    ["paqet_ping_last_timestamp_seconds", s.ping_last_at, "Time of the last diagnostic ping."],
  ];
  for (const [name, text, help] of stamps) {
    const v = rfc3339ToSeconds(text);
    if (v !== undefined) family(name, "gauge", help, [["", v]]);
  }
  if (s.ping_last_rtt !== undefined) {
    const ms = parseGoDuration(s.ping_last_rtt);
    if (ms !== undefined) family("paqet_ping_last_rtt_seconds", "gauge", "Round-trip time of the last diagnostic ping.", [["", ms / 1000]]);
  }
  family("paqet_memory_rss_bytes", "gauge", "Resident set size.", [["", s.sys_bytes]]);
  family("paqet_memory_heap_used_bytes", "gauge", "JavaScript heap in use.", [["", s.alloc_bytes]]);
  family("paqet_memory_heap_total_bytes", "gauge", "JavaScript heap reserved.", [["", s.heap_total_bytes]]);
  family("paqet_memory_external_bytes", "gauge", "Memory held outside the JavaScript heap.", [["", s.external_bytes]]);
  family("paqet_memory_array_buffers_bytes", "gauge", "Memory held by ArrayBuffers.", [["", s.array_buffers_bytes]]);
  return `${out.join("\n")}\n`;
}
