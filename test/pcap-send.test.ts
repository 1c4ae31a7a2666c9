/**
 * The send queue under a link that refuses frames (root only; skipped with the reason otherwise).
 *
 * A token-bucket qdisc (1 Mbit/s, a 1600-byte queue) on the sending veth makes the kernel answer
 * AF_PACKET sends with ENOBUFS once its queue is full. A burst written in one turn must then go
 * through seed-fork §4.3's raw-send policy: retried on the 200 us → 12.8 ms schedule without
 * blocking the event loop, then dropped and counted, so every datagram ends up sent or counted as
 * dropped and the queue empties. A frame above the interface MTU is refused outright (EMSGSIZE):
 * no retries, and a warning that names the likely configuration mistake.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { join } from "node:path";
import { type Bed, createBed, netnsSkipReason, spawnIn } from "./helpers/netns.ts";

const SKIP = netnsSkipReason();
const CHILD = join(import.meta.dir, "helpers/send-burst.ts");

describe.skipIf(SKIP !== undefined)(`raw sends the link refuses${SKIP ? ` (skipped: ${SKIP})` : ""}`, () => {
  let bed: Bed;
  beforeAll(() => {
    bed = createBed({ prefix: "pqe" });
    const tc = spawnSync(
      ["ip", "netns", "exec", bed.a.ns, "tc", "qdisc", "add", "dev", bed.a.ifname, "root", "tbf", "rate", "1mbit", "burst", "1600", "limit", "1600"],
      { stderr: "pipe" },
    );
    if (tc.exitCode !== 0) throw new Error(`tc: ${tc.stderr.toString()}`);
  });
  afterAll(() => bed?.destroy());

  test("ENOBUFS is retried on the §4.3 schedule without blocking the loop, then dropped and counted", async () => {
    const count = 40;
    const arg = { ifname: bed.a.ifname, ip: bed.a.ipv4, routerMac: bed.a.routerMac, target: bed.b.ipv4, count, size: 1000 };
    const child = spawnIn(bed.a.ns, [process.execPath, CHILD, JSON.stringify(arg)]);
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const out = await new Response(child.stdout).text();
    clearTimeout(timer);
    const line = out.trim().split("\n").pop() ?? "";
    const r = JSON.parse(line) as Record<string, number>;
    expect(r.queuedAfterTurn).toBe(count);
    expect(r.sendQueued).toBe(0);
    // Everything is accounted for: sent, or dropped after its retries.
    expect(r.sent! + r.sendErrors!).toBe(count);
    expect(r.sent).toBeGreaterThan(0);
    expect(r.sendErrors).toBeGreaterThan(0);
    expect(r.enobufsRetries).toBeGreaterThanOrEqual(8);
    // 8 attempts take about 38 ms per dropped head frame; far longer would mean no dropping.
    expect(r.ms).toBeLessThan(10_000);
    // Retries wait on timers: the loop kept ticking. A retry that slept in place would stall it
    // for the whole schedule (38.2 ms) before each drop; seen here: longest gap ~6 ms.
    expect(r.longestTickGapMs).toBeLessThan(35);
  });

  test("a queue of 4 slots behind refusals: the backlog moves up as the head leaves, overflow is dropped and counted", async () => {
    const count = 40;
    const arg = { ifname: bed.a.ifname, ip: bed.a.ipv4, routerMac: bed.a.routerMac, target: bed.b.ipv4, count, size: 1000, slots: 4 };
    const child = spawnIn(bed.a.ns, [process.execPath, CHILD, JSON.stringify(arg)]);
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const out = await new Response(child.stdout).text();
    clearTimeout(timer);
    const r = JSON.parse(out.trim().split("\n").pop() ?? "") as Record<string, number>;
    expect(r.sendQueued).toBe(0);
    expect(r.sent! + r.sendErrors!).toBe(count);
    expect(r.sent).toBeGreaterThan(0);
    expect(r.sendErrors).toBeGreaterThan(count / 2);
  });

  test("a frame above the interface MTU is refused at once, counted, and named in a warning with the likely cause", async () => {
    const mtu = spawnSync(["ip", "netns", "exec", bed.a.ns, "ip", "link", "set", "dev", bed.a.ifname, "mtu", "1000"], { stderr: "pipe" });
    expect(mtu.exitCode).toBe(0);
    const count = 5;
    const arg = { ifname: bed.a.ifname, ip: bed.a.ipv4, routerMac: bed.a.routerMac, target: bed.b.ipv4, count, size: 1200 };
    const child = spawnIn(bed.a.ns, [process.execPath, CHILD, JSON.stringify(arg)]);
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    clearTimeout(timer);
    const r = JSON.parse(out.trim().split("\n").pop() ?? "") as Record<string, number>;
    expect(r).toMatchObject({ sent: 0, sendErrors: count, sendQueued: 0, enobufsRetries: 0 });
    expect(err).toContain("raw send refused a 1200-byte datagram");
    expect(err).toContain("Message too long");
    expect(err).toContain("transport.kcp.mtu");
  });
});
