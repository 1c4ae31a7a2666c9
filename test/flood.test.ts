/**
 * A flood at the server's port while a transfer runs (root): 100,000 frames with random payloads,
 * each a valid Ethernet/IPv4/TCP frame from the client's namespace to the server's paqet port,
 * sent by a throw-away process's own PcapPacketConn, while downloads run back to back through the
 * real `paqet run` pair. Counters read with `paqet status --json`.
 *
 * - guard on: every flood frame is a guard drop (none reaches decryption: no CRC or decrypt
 *   drops), and every download arrives intact;
 * - guard off: every flood frame reaches the crypt and fails its CRC, and every download
 *   still arrives intact.
 *
 * A frame the kernel's capture buffer dropped never reaches paqet at all; pcap_dropped counts
 * those, so the flood is paced to keep it at (or near) zero and the checks allow for it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { GetOutcome } from "../src/cli/demo/probe.ts";
import { E2E, e2eSkipReason } from "./helpers/e2e.ts";
import { delta, flood, startPair, statusCli, statusUntil, type FloodJob } from "./helpers/status-e2e.ts";

const SKIP = e2eSkipReason();
const MiB = 1024 * 1024;
const FRAMES = 100_000;
/** At least 20 bytes, so with block aes each frame is long enough to be decrypted and CRC-checked. */
const JOB: FloodJob = { frames: FRAMES, minLen: 32, maxLen: 1200, batch: 500, pauseMs: 2 };
const TRANSFER = 4 * MiB;
/** Bounds the download loop whatever the flood does. */
const MAX_TRANSFERS = 30;

interface FloodOutcome {
  sent: number;
  ds: Record<string, number>;
}

/**
 * Downloads back to back (4 MiB each, sha256-checked) from before the flood starts until it has
 * ended, so traffic runs through the whole flood; returns the server's counter deltas.
 */
async function floodDuringTransfer(e2e: E2E, counter: "guard_drops" | "crc_drops", job: FloodJob): Promise<FloodOutcome> {
  const s0 = await statusCli(e2e, "server");
  let flooding = true;
  const outcomes: GetOutcome[] = [];
  const transfers = (async () => {
    do {
      outcomes.push(await e2e.get(TRANSFER, 1, 1, 30_000));
    } while (flooding && outcomes.length < MAX_TRANSFERS);
  })();
  await Bun.sleep(200);
  const f = flood(e2e, job);
  const sent = await f.done.finally(() => {
    flooding = false;
  });
  await transfers;
  for (const got of outcomes) {
    expect(got.errors).toEqual([]);
    expect(got.ok).toBe(1);
    expect(got.mismatched).toBe(0);
  }
  expect(sent.sent).toBeGreaterThan(FRAMES * 0.99);
  // The flood is in paqet's hands once it counted each frame (or the kernel dropped it).
  const s1 = await statusUntil(e2e, "server", (s) => s[counter] - s0[counter] + (s.pcap_dropped - s0.pcap_dropped) >= sent.sent, 15_000);
  const ds = delta(s1, s0);
  console.log(
    `flood (${counter}): sent ${sent.sent} (send errors ${sent.errors}); ${outcomes.length} downloads of ${TRANSFER} bytes intact; server ${JSON.stringify({
      guard_drops: ds.guard_drops,
      guard_pass: ds.guard_pass,
      crc_drops: ds.crc_drops,
      decrypt_drops: ds.decrypt_drops,
      raw_down_packets: ds.raw_down_packets,
      pcap_received: ds.pcap_received,
      pcap_dropped: ds.pcap_dropped,
      ring_waits: ds.ring_waits,
      tcp_down_bytes: ds.tcp_down_bytes,
    })}`,
  );
  expect(ds.tcp_down_bytes!).toBeGreaterThanOrEqual(outcomes.length * TRANSFER);
  expect(e2e.server!.exited).toBe(false);
  return { sent: sent.sent, ds };
}

describe.skipIf(SKIP !== undefined)(`100,000-frame flood during a transfer${SKIP ? ` (skipped: ${SKIP})` : ""}`, () => {
  let e2e: E2E;

  beforeAll(() => {
    e2e = new E2E("pqf");
  });

  afterAll(async () => {
    await e2e?.destroy();
  }, 30_000);

  test("guard on: every flood frame is dropped by the guard before decryption; the downloads during it arrive intact", async () => {
    await startPair(e2e, e2e.specFor({ block: "aes" }), { server: ["guard: true"], client: ["guard: true"] });
    const { sent, ds } = await floodDuringTransfer(e2e, "guard_drops", JOB);
    expect(ds.guard_drops! + ds.pcap_dropped!).toBeGreaterThanOrEqual(sent);
    expect(ds.guard_drops!).toBeLessThanOrEqual(sent);
    expect(ds.guard_drops!).toBeGreaterThan(sent * 0.95);
    expect(ds.crc_drops).toBe(0);
    expect(ds.decrypt_drops).toBe(0);
  }, 60_000);

  test("guard off: every flood frame fails the CRC after decryption; the downloads during it arrive intact", async () => {
    await startPair(e2e, e2e.specFor({ block: "aes" }), {});
    // Each frame now costs an AES decryption on the server: pace the flood more gently.
    const { sent, ds } = await floodDuringTransfer(e2e, "crc_drops", { ...JOB, batch: 200, pauseMs: 3 });
    expect(ds.crc_drops! + ds.pcap_dropped!).toBeGreaterThanOrEqual(sent);
    expect(ds.crc_drops!).toBeLessThanOrEqual(sent);
    expect(ds.crc_drops!).toBeGreaterThan(sent * 0.95);
    expect(ds.decrypt_drops).toBe(0);
    expect(ds.guard_drops).toBe(0);
  }, 60_000);
});
