/**
 * The status endpoint against a known transfer (root): a real `paqet run` pair in namespaces, the
 * status endpoint on each side's loopback (debug.pprof + debug.diag), read with
 * `paqet status --json`.
 *
 * - an 8 MiB download plus 4 MiB echoed both ways: tcp bytes each way on both sides within 1 % of
 *   what moved; raw packets and bytes consistent between the two sides; no drops; sessions and
 *   streams as expected; /metrics carries the same counters;
 * - a server with max_sessions 1 and a client with two connections: the refusals are counted,
 *   logged with the peer, and the log is rate-limited.
 *
 * First, without privileges, how providers back counters (what `run` relies on).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { inNs } from "../src/cli/demo/netbed.ts";
import { metrics, provide, provideAll, provideRetransmits, resetMetrics, snapshot, type StatusSnapshot } from "../src/lib/metrics.ts";
import { E2E, e2eSkipReason, STATUS_ADDR } from "./helpers/e2e.ts";
import { delta, echoThrough, startEcho, startPair, statusCli, statusUntil } from "./helpers/status-e2e.ts";

const SKIP = e2eSkipReason();
const MiB = 1024 * 1024;
const ECHO_PORT = 9191;

function within(actual: number, expected: number, fraction: number): boolean {
  return Math.abs(actual - expected) <= expected * fraction;
}

describe("counters backed by providers", () => {
  test("a counter is its pushed value plus its sources; a removed source's last figure stays counted", () => {
    resetMetrics();
    metrics.guardDrops += 5;
    let a = 10;
    let b = 100;
    const offA = provide("guardDrops", () => a);
    const offB = provide("guardDrops", () => b);
    expect(snapshot().guard_drops).toBe(115);
    a = 20;
    offA();
    a = 1_000_000;
    expect(snapshot().guard_drops).toBe(125);
    b = 150;
    expect(snapshot().guard_drops).toBe(175);
    offB();
    offB();
    expect(snapshot().guard_drops).toBe(175);
    resetMetrics();
    expect(snapshot().guard_drops).toBe(0);
  });

  test("gauges forget a removed source; sampled times take the latest source", () => {
    resetMetrics();
    const offS = provide("sessions", () => 3);
    offS();
    expect(snapshot().sessions).toBe(0);
    const t = Date.UTC(2026, 0, 2, 3, 4, 5);
    const off = provideAll({ rawLastUpAt: () => t, rawDownPackets: () => 7 });
    provide("rawLastUpAt", () => t - 60_000);
    const s = snapshot();
    expect(Date.parse(s.raw_last_up_at!)).toBe(t);
    expect(s.raw_last_down_at).toBeUndefined();
    off();
    expect(Date.parse(snapshot().raw_last_up_at!)).toBe(t);
    expect(snapshot().raw_down_packets).toBe(7);
    resetMetrics();
  });

  test("KCP retransmits: timeout + fast + early; fast counts the ACK-triggered ones", () => {
    resetMetrics();
    const stats = { lostSegs: 4, fastRetransSegs: 2, earlyRetransSegs: 1 };
    const off = provideRetransmits(stats);
    expect(snapshot().kcp_retransmits).toBe(7);
    expect(snapshot().kcp_fast_retransmits).toBe(3);
    stats.lostSegs = 10;
    off();
    stats.lostSegs = 99;
    expect(snapshot().kcp_retransmits).toBe(13);
    resetMetrics();
  });
});

describe.skipIf(SKIP !== undefined)(`status endpoint in namespaces${SKIP ? ` (skipped: ${SKIP})` : ""}`, () => {
  let e2e: E2E;

  beforeAll(async () => {
    e2e = new E2E("pqs");
    await startPair(e2e, e2e.specFor({ block: "aes", conn: 1 }), {});
    await startEcho(e2e, ECHO_PORT);
  }, 60_000);

  afterAll(async () => {
    await e2e?.destroy();
  }, 30_000);

  test("paqet status --json reports the bytes of an 8 MiB download and a 4 MiB echo within 1 %", async () => {
    const c0 = await statusCli(e2e, "client");
    const s0 = await statusCli(e2e, "server");

    const got = await e2e.get(8 * MiB, 1);
    expect(got.errors).toEqual([]);
    expect(got.ok).toBe(1);
    const echoed = await echoThrough(e2e, ECHO_PORT, 4 * MiB);
    expect(echoed).toEqual({ back: 4 * MiB, bad: 0 });

    const up = 4 * MiB;
    const down = 12 * MiB;
    // The server credits a relay's bytes when its copy direction ends, so wait for both.
    const done = (s: StatusSnapshot) => s.tcp_down_bytes - s0.tcp_down_bytes >= down && s.tcp_up_bytes - s0.tcp_up_bytes >= up && s.streams === 0;
    const s1 = await statusUntil(e2e, "server", done, 15_000);
    const c1 = await statusUntil(e2e, "client", (s) => s.streams === 0, 15_000);
    const dc = delta(c1, c0);
    const ds = delta(s1, s0);
    console.log(`client deltas: ${JSON.stringify(dc)}`);
    console.log(`server deltas: ${JSON.stringify(ds)}`);

    // Relayed bytes: the payloads plus a few hundred bytes of HTTP request and response head.
    for (const d of [dc, ds]) {
      expect(within(d.tcp_down_bytes!, down, 0.01)).toBe(true);
      expect(within(d.tcp_up_bytes!, up, 0.01)).toBe(true);
      expect(d.tcp_down_bytes!).toBeGreaterThanOrEqual(down);
      expect(d.tcp_up_bytes!).toBeGreaterThanOrEqual(up);
    }

    // Raw packets: what the server sent the client received (a veth loses nothing), and the
    // bytes carry the payload plus KCP, crypto and smux overhead and retransmissions.
    expect(ds.raw_up_packets!).toBeGreaterThan(0);
    expect(dc.raw_down_packets!).toBeGreaterThan(0);
    expect(ds.raw_up_bytes!).toBeGreaterThan(down);
    expect(ds.raw_up_bytes!).toBeLessThan(down * 1.5);
    expect(dc.raw_up_bytes!).toBeGreaterThan(up);
    expect(dc.raw_down_bytes!).toBeGreaterThan(down);
    expect(dc.raw_down_packets!).toBeLessThanOrEqual(ds.raw_up_packets! + 50);
    expect(dc.raw_down_packets!).toBeGreaterThan(ds.raw_up_packets! * 0.95);
    expect(ds.raw_down_packets!).toBeLessThanOrEqual(dc.raw_up_packets! + 50);
    expect(ds.raw_down_packets!).toBeGreaterThan(dc.raw_up_packets! * 0.95);
    expect(ds.pcap_received!).toBeGreaterThanOrEqual(ds.raw_down_packets!);
    expect(dc.pcap_received!).toBeGreaterThanOrEqual(dc.raw_down_packets!);
    expect(ds.kcp_retransmits!).toBeGreaterThanOrEqual(ds.kcp_fast_retransmits!);

    // Nothing was dropped, and the guard is off on both sides.
    for (const s of [c1, s1]) {
      expect(s.crc_drops).toBe(0);
      expect(s.decrypt_drops).toBe(0);
      expect(s.guard_pass).toBe(0);
      expect(s.guard_drops).toBe(0);
      expect(s.raw_up_drops).toBe(0);
      expect(s.raw_last_up_at).toBeDefined();
      expect(s.raw_last_down_at).toBeDefined();
    }
    expect(s1.sessions).toBe(1);
    expect(c1.sessions).toBe(1);
    expect(s1.streams).toBe(0);
    expect(s1.config.role).toBe("server");
    expect(c1.config.role).toBe("client");
  }, 90_000);

  test("/metrics serves the same counters in Prometheus text", async () => {
    const p = spawn(inNs(e2e.bed.b.ns, ["curl", "-sS", "--max-time", "5", `http://${STATUS_ADDR}/metrics`]), { stdout: "pipe", stderr: "pipe" });
    const text = await new Response(p.stdout).text();
    expect(await p.exited).toBe(0);
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    const s = await statusCli(e2e, "server");
    expect(value("paqet_raw_up_packets_total")).toBeGreaterThan(0);
    expect(value("paqet_raw_up_packets_total")).toBeLessThanOrEqual(s.raw_up_packets);
    expect(value("paqet_tcp_down_bytes_total")).toBe(s.tcp_down_bytes);
    expect(value("paqet_crc_drops_total")).toBe(0);
  }, 30_000);

  test("max_sessions 1 with two client connections: refusals counted, logged with the peer, rate-limited", async () => {
    await startPair(e2e, e2e.specFor({ block: "aes", conn: 2 }), { server: ["max_sessions: 1"] });
    const s = await statusUntil(e2e, "server", (x) => x.refused_sessions >= 3, 30_000);
    expect(s.refused_sessions).toBeGreaterThanOrEqual(3);
    expect(s.sessions).toBe(1);
    const lines = e2e.server!.output.match(/refused session from \S+: max_sessions reached/g) ?? [];
    expect(lines.length).toBeGreaterThanOrEqual(1);
    // Burst of 10 per 10 s window: never more lines than refusals, and bounded per window.
    expect(lines.length).toBeLessThanOrEqual(s.refused_sessions);
    expect(lines.length).toBeLessThanOrEqual(10 * Math.ceil((s.uptime_seconds + 1) / 10));
    expect(e2e.server!.output).toContain(`refused session from ${e2e.bed.a.ipv4}:`);
    const r = await e2e.get(256 * 1024, 1);
    expect(r.ok).toBe(1);
  }, 90_000);
});
