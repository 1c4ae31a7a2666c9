import { beforeEach, describe, expect, test } from "bun:test";
import {
  Counters,
  formatGoDuration,
  formatRfc3339,
  keyId,
  metrics,
  parseGoDuration,
  provide,
  recordPing,
  registerConfig,
  renderPrometheus,
  renderText,
  resetMetrics,
  snapshot,
  type StatusSnapshot,
} from "../src/lib/metrics.ts";

beforeEach(() => resetMetrics());

/** Every numeric counter field of a fresh registry, so tests follow the class, not a hand list. */
function counterKeys(): string[] {
  const skip = new Set(["rawLastUpAt", "rawLastDownAt", "pingLastAt", "pingLastRttMs", "pingLastErr"]);
  return Object.keys(new Counters()).filter((k) => !skip.has(k));
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

interface PromFamily {
  type: string;
  help: string;
  samples: { labels: string; value: number }[];
}

/** A strict reader of the 0.0.4 text format: HELP then TYPE then samples of that family only. */
function parsePrometheus(text: string): Map<string, PromFamily> {
  expect(text.endsWith("\n")).toBe(true);
  const families = new Map<string, PromFamily>();
  let current: string | undefined;
  for (const line of text.slice(0, -1).split("\n")) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) {
      expect(families.has(m[1]!)).toBe(false);
      families.set(m[1]!, { type: "", help: m[2]!, samples: [] });
      current = m[1];
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|untyped)$/.exec(line);
    if (m) {
      expect(m[1]).toBe(current!);
      families.get(m[1]!)!.type = m[2]!;
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    expect(m[1]).toBe(current!);
    const value = Number(m[3]);
    expect(Number.isNaN(value)).toBe(false);
    families.get(m[1]!)!.samples.push({ labels: m[2] ?? "", value });
  }
  return families;
}

describe("counters", () => {
  test("increments show up in the snapshot under seed-fork snake_case names", () => {
    metrics.rawUpPackets++;
    metrics.rawUpPackets++;
    metrics.rawUpBytes += 1400;
    metrics.guardDrops += 3;
    metrics.kcpRetransmits += 7;
    metrics.crcDrops++;
    metrics.ringWaits += 5;
    const s = snapshot();
    expect(s.raw_up_packets).toBe(2);
    expect(s.raw_up_bytes).toBe(1400);
    expect(s.guard_drops).toBe(3);
    expect(s.kcp_retransmits).toBe(7);
    expect(s.crc_drops).toBe(1);
    expect(s.ring_waits).toBe(5);
    expect(s.raw_down_packets).toBe(0);
  });

  test("every counter field has a snapshot field, and each one moves independently", () => {
    const keys = counterKeys();
    keys.forEach((k, i) => {
      (metrics as unknown as Record<string, number>)[k] = 1000 + i;
    });
    const s = snapshot() as unknown as Record<string, unknown>;
    keys.forEach((k, i) => expect(s[snake(k)]).toBe(1000 + i));
  });

  test("seed-fork §3.3 fields are all present with the right types", () => {
    const s = snapshot() as unknown as Record<string, unknown>;
    for (const f of ["now", "uptime", "version", "git_tag", "git_commit", "build_time"]) expect(typeof s[f]).toBe("string");
    expect(typeof s.config).toBe("object");
    const numeric = [
      "sessions", "streams", "raw_up_packets", "raw_up_bytes", "raw_down_packets", "raw_down_bytes",
      "raw_up_drops", "raw_up_drop_bytes", "raw_down_oversize_drops", "raw_down_oversize_drop_bytes",
      "raw_down_coalesced_frames", "raw_down_coalesced_parts", "guard_pass", "guard_drops",
      "enobufs_retries", "enobufs_sustained", "tcp_up_bytes", "tcp_down_bytes", "udp_up_bytes", "udp_down_bytes",
      "alloc_bytes", "sys_bytes", "kcp_retransmits", "crc_drops", "decrypt_drops", "pcap_received",
      "pcap_dropped", "ring_waits",
    ];
    for (const f of numeric) expect(typeof s[f]).toBe("number");
    expect(s.sys_bytes as number).toBeGreaterThan(0);
    // Sampled timestamps and ping are omitted until set.
    for (const f of ["raw_last_up_at", "raw_last_down_at", "ping_last_at", "ping_last_rtt", "ping_last_err"]) {
      expect(f in s).toBe(false);
    }
  });

  test("timestamps, ping and uptime use Go's text forms", () => {
    const t0 = Date.UTC(2026, 0, 2, 3, 4, 5, 120);
    metrics.rawLastUpAt = t0;
    recordPing(t0, 45.9, "timeout");
    const s = snapshot(metrics, Date.now() + 3_723_000);
    expect(Date.parse(s.raw_last_up_at!)).toBe(t0);
    expect(s.raw_last_down_at).toBeUndefined();
    expect(s.ping_last_rtt).toBe("45ms");
    expect(s.ping_last_err).toBe("timeout");
    expect(s.uptime).toMatch(/^1h2m(3|4)s$/);
  });

  test("providers are read at snapshot time, summed, and can be removed", () => {
    let a = 3;
    const offA = provide("sessions", () => a);
    const offB = provide("sessions", () => 4);
    provide("pcapDropped", () => {
      throw new Error("handle closed");
    });
    provide("pcapDropped", () => Number.NaN);
    provide("pcapDropped", () => 9);
    expect(snapshot().sessions).toBe(7);
    a = 10;
    expect(snapshot().sessions).toBe(14);
    offB();
    expect(snapshot().sessions).toBe(10);
    offA();
    expect(snapshot().sessions).toBe(0);
    expect(snapshot().pcap_dropped).toBe(9);
  });

  test("config summary drops empty fields; key_id is the first 8 bytes of SHA-256", () => {
    registerConfig({ role: "client", interface: "eth0", dscp: 0, server_addr: "10.0.0.2:9999", guard: false, conns: 2, pprof: "" });
    expect(snapshot().config).toEqual({ role: "client", interface: "eth0", server_addr: "10.0.0.2:9999", conns: 2 });
    // sha256("secret") = 2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
    expect(keyId("secret")).toBe("2bb80d537b1da3e3");
    expect(keyId("")).toBe("e3b0c44298fc1c14");
  });
});

describe("Go text forms", () => {
  test("durations print like time.Duration.String", () => {
    const cases: [number, string][] = [
      [0, "0s"], [45, "45ms"], [999, "999ms"], [1000, "1s"], [1500, "1.5s"], [1234, "1.234s"],
      [59_000, "59s"], [60_000, "1m0s"], [120_000, "2m0s"], [3_600_000, "1h0m0s"], [3_723_000, "1h2m3s"],
      [90_061_000, "25h1m1s"], [-1500, "-1.5s"],
    ];
    for (const [ms, text] of cases) expect(formatGoDuration(ms)).toBe(text);
  });

  test("durations parse like time.ParseDuration", () => {
    const cases: [string, number | undefined][] = [
      ["2s", 2000], ["500ms", 500], ["1m30s", 90_000], ["1.5s", 1500], ["1h", 3_600_000], ["0", 0],
      ["", undefined], ["2", undefined], ["s", undefined], ["2x", undefined], ["2s ms", undefined],
    ];
    for (const [text, ms] of cases) expect(parseGoDuration(text)).toBe(ms);
  });

  test("RFC 3339 with the local offset, Z for UTC, trailing zeros trimmed", () => {
    const t = Date.UTC(2026, 10, 27, 11, 52, 32, 100);
    expect(formatRfc3339(t, 0)).toBe("2026-11-27T11:52:32.1Z");
    expect(formatRfc3339(t, 210)).toBe("2026-11-27T15:22:32.1+03:30");
    expect(formatRfc3339(t, -300)).toBe("2026-11-27T06:52:32.1-05:00");
    expect(formatRfc3339(Date.UTC(2026, 0, 1), 0)).toBe("2026-01-01T00:00:00Z");
    expect(Date.parse(formatRfc3339(t, 210))).toBe(t);
  });
});

describe("text view", () => {
  function sample(): StatusSnapshot {
    metrics.rawUpPackets = 12;
    metrics.rawDownPackets = 345_678;
    metrics.tcpUpBytes = 100;
    metrics.udpUpBytes = 20;
    metrics.tcpDownBytes = 7;
    metrics.guardPass = 5;
    registerConfig({ role: "server", interface: "eth0", guard: true, conns: 2, key_id: "00112233aabbccdd" });
    provide("streams", () => 3);
    provide("sessions", () => 1);
    return snapshot();
  }

  test("keeps seed-fork §3.4 line order and sums tcp+udp for bytes", () => {
    const text = renderText(sample());
    const lines = text.split("\n");
    expect(lines[0]).toBe("paqet status");
    const labels = lines.slice(1).filter((l) => l !== "").map((l) => l.trim().split(/:\s/)[0]);
    expect(labels).toEqual([
      "role", "uptime", "version", "streams", "bytes",
      "raw packets", "raw bytes", "raw drops", "raw coalesced", "raw oversize", "guard", "enobufs", "tcp", "udp",
      "kcp", "crypto", "pcap", "ring", "refused",
      "ping", "runtime", "config",
    ]);
    expect(text.endsWith("\n")).toBe(true);
    expect(text).toMatch(/^ {2}role: +server$/m);
    expect(text).toMatch(/^ {2}streams: +3 +sessions: 1$/m);
    expect(text).toMatch(/^ {2}bytes: +up=120 +down=7$/m);
    expect(text).toMatch(/^ {4}guard: +pass=5 +drops=0$/m);
    expect(text).toMatch(/^ {2}ping: +n\/a$/m);
    expect(text).toMatch(/guard=true key_id=00112233aabbccdd/);
  });

  test("values line up in columns", () => {
    const lines = renderText(sample()).split("\n");
    const detail = lines.filter((l) => /^ {4}\S/.test(l));
    const upAt = detail.filter((l) => / up=/.test(l)).map((l) => l.indexOf(" up=") + 1);
    expect(upAt.length).toBeGreaterThan(3);
    expect(new Set(upAt).size).toBe(1);
    // Start of each cell: the label, then every `key=value` after a run of two or more spaces.
    const starts = (l: string) => [...l.matchAll(/(?<=^ {4}|\S {2,})\S/g)].map((m) => m.index);
    const third = detail.map(starts).filter((c) => c.length >= 3).map((c) => c[2]);
    expect(third.length).toBeGreaterThan(10);
    expect(new Set(third).size).toBe(1);
    const top = lines.filter((l) => /^ {2}\S/.test(l));
    const valueAt = top.map((l) => l.search(/(?<=:\s+)\S/));
    expect(new Set(valueAt).size).toBe(1);
  });
});

describe("Prometheus view", () => {
  test("parses back with paqet_ names, counters ending in _total, and the values set", () => {
    const keys = counterKeys();
    keys.forEach((k, i) => {
      (metrics as unknown as Record<string, number>)[k] = 10 * (i + 1);
    });
    metrics.rawLastDownAt = Date.UTC(2026, 0, 1, 0, 0, 1);
    metrics.pingLastAt = Date.UTC(2026, 0, 1);
    metrics.pingLastRttMs = 250;
    provide("streams", () => 42);
    provide("pcapReceived", () => 1e6);
    registerConfig({ role: "server" });
    const families = parsePrometheus(renderPrometheus(snapshot()));

    for (const [name, f] of families) {
      expect(name.startsWith("paqet_")).toBe(true);
      expect(f.help.length).toBeGreaterThan(0);
      expect(f.samples.length).toBeGreaterThan(0);
      expect(name.endsWith("_total")).toBe(f.type === "counter");
    }
    const refusals = families.get("paqet_limit_refusals_total")!;
    keys.forEach((k, i) => {
      if (k.startsWith("refused")) {
        const kind = snake(k.slice("refused".length)).slice(1);
        expect(refusals.samples).toContainEqual({ labels: `{kind="${kind}"}`, value: 10 * (i + 1) });
      } else {
        const f = families.get(`paqet_${snake(k)}_total`);
        expect(f?.type).toBe("counter");
        expect(f?.samples).toEqual([{ labels: "", value: 10 * (i + 1) }]);
      }
    });
    expect(refusals.samples.length).toBe(4);
    expect(families.get("paqet_streams")).toMatchObject({ type: "gauge", samples: [{ labels: "", value: 42 }] });
    expect(families.get("paqet_pcap_received_total")!.samples[0]!.value).toBe(1e6);
    expect(families.get("paqet_raw_last_down_timestamp_seconds")!.samples[0]!.value).toBe(Date.UTC(2026, 0, 1, 0, 0, 1) / 1000);
    expect(families.has("paqet_raw_last_up_timestamp_seconds")).toBe(false);
    expect(families.get("paqet_ping_last_rtt_seconds")!.samples[0]!.value).toBe(0.25);
    expect(families.get("paqet_memory_rss_bytes")!.samples[0]!.value).toBeGreaterThan(0);
    expect(families.get("paqet_build_info")!.samples[0]!.labels).toContain('role="server"');
  });

  test("label values are escaped", () => {
    registerConfig({ role: 'se"rv\\er' as "server" });
    const text = renderPrometheus(snapshot());
    expect(text).toContain('role="se\\"rv\\\\er"');
    parsePrometheus(text);
  });
});
