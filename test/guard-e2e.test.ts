/**
 * Guard cookies end to end (root): a real `paqet run` pair in namespaces with `guard: true`, the
 * counters read with `paqet status --json`.
 *
 * - both sides guarded with one key: a download arrives intact, every datagram the server hands
 *   to KCP passed the guard, and its bytes carry the 12-byte header;
 * - guarded with different keys, or the guard on the server only: nothing gets through, the
 *   server's guard_drops rise, and nothing reaches decryption (no CRC drops, no session);
 * - the guard on the client only: nothing gets through; the unguarded server sees the header as
 *   ciphertext, so its CRC drops rise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { E2E, e2eSkipReason } from "./helpers/e2e.ts";
import { delta, startPair, statusCli, statusUntil } from "./helpers/status-e2e.ts";

const SKIP = e2eSkipReason();
const KiB = 1024;
const MiB = 1024 * KiB;
const GUARD = ["guard: true"];

describe.skipIf(SKIP !== undefined)(`guard cookies in namespaces${SKIP ? ` (skipped: ${SKIP})` : ""}`, () => {
  let e2e: E2E;

  beforeAll(() => {
    e2e = new E2E("pqg");
  });

  afterAll(async () => {
    await e2e?.destroy();
  }, 30_000);

  test("guard on both sides with one key: a 4 MiB download arrives intact, every datagram passed the guard", async () => {
    await startPair(e2e, e2e.specFor({ block: "aes" }), { server: GUARD, client: GUARD });
    const s0 = await statusCli(e2e, "server");
    const c0 = await statusCli(e2e, "client");
    const r = await e2e.get(4 * MiB, 1);
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(1);
    const s1 = await statusCli(e2e, "server");
    const c1 = await statusCli(e2e, "client");
    const ds = delta(s1, s0);
    const dc = delta(c1, c0);
    console.log(`guarded transfer: server ${JSON.stringify({ guard_pass: ds.guard_pass, guard_drops: ds.guard_drops, raw_down_packets: ds.raw_down_packets, raw_up_packets: ds.raw_up_packets })}, client ${JSON.stringify({ guard_pass: dc.guard_pass, raw_down_packets: dc.raw_down_packets })}`);
    expect(s1.config.guard).toBe(true);
    expect(ds.guard_pass!).toBeGreaterThan(0);
    expect(dc.guard_pass!).toBeGreaterThan(0);
    expect(s1.guard_drops).toBe(0);
    expect(c1.guard_drops).toBe(0);
    // Under a guard, raw_down counts what the guard handed to KCP, header included.
    expect(ds.raw_down_packets).toBe(ds.guard_pass!);
    expect(dc.raw_down_packets).toBe(dc.guard_pass!);
    expect(dc.raw_down_bytes!).toBeGreaterThan(4 * MiB + 12 * dc.raw_down_packets!);
    expect(s1.crc_drops).toBe(0);
    expect(c1.crc_drops).toBe(0);
    expect(s1.sessions).toBe(1);
  }, 60_000);

  const refused: [string, { clientKey?: string; server: string[]; client: string[] }, "guard_drops" | "crc_drops"][] = [
    ["guard on both sides, different keys: the server's guard drops them", { clientKey: "another-key-entirely", server: GUARD, client: GUARD }, "guard_drops"],
    ["guard on the server only: the server's guard drops the bare datagrams", { server: GUARD, client: [] }, "guard_drops"],
    ["guard on the client only: the unguarded server drops them on the CRC", { server: [], client: GUARD }, "crc_drops"],
  ];

  test.each(refused)("%s; nothing passes", async (_name, setup, counter) => {
    const spec = { ...e2e.specFor({ block: "aes" }), clientKey: setup.clientKey };
    await startPair(e2e, spec, { server: setup.server, client: setup.client }, false);
    const r = await e2e.get(64 * KiB, 1, 1, 3000);
    expect(r.ok).toBe(0);
    const s = await statusUntil(e2e, "server", (x) => x[counter] >= 5, 15_000);
    console.log(`${_name}: server ${JSON.stringify({ guard_pass: s.guard_pass, guard_drops: s.guard_drops, crc_drops: s.crc_drops, raw_down_packets: s.raw_down_packets, pcap_received: s.pcap_received, sessions: s.sessions })}`);
    expect(s[counter]).toBeGreaterThanOrEqual(5);
    expect(s.sessions).toBe(0);
    expect(s.tcp_up_bytes).toBe(0);
    expect(s.tcp_down_bytes).toBe(0);
    if (counter === "guard_drops") {
      // Dropped before decryption: nothing reached the crypt or KCP.
      expect(s.guard_pass).toBe(0);
      expect(s.raw_down_packets).toBe(0);
      expect(s.crc_drops).toBe(0);
      expect(s.decrypt_drops).toBe(0);
      expect(s.guard_drops).toBeLessThanOrEqual(s.pcap_received);
    } else {
      expect(s.guard_drops).toBe(0);
      expect(s.crc_drops).toBe(s.raw_down_packets);
    }
    expect(e2e.server!.output).not.toContain("accepted new connection");
    expect(e2e.server!.exited).toBe(false);
    expect(e2e.client!.exited).toBe(false);
  }, 60_000);
});
