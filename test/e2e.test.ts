/**
 * End to end (root): a real `paqet run` server and client from this checkout in two network
 * namespaces, default transport (block aes), traffic from inside the client's namespace.
 *
 * - 32 MiB through SOCKS5 CONNECT with curl, sha256 intact;
 * - SOCKS5 UDP ASSOCIATE: 10, 1000 and 3000-byte datagrams echoed intact;
 * - TCP and UDP port forwards;
 * - 200 concurrent SOCKS5 connections of 256 KiB each, then no streams or sockets left over;
 * - malformed SOCKS5 requests get the replies of paqet-app.md §7.2–7.3;
 * - a client with the wrong key fails with a log line and crashes nothing;
 * - the server is killed and started again: new streams are served within 3 s of it listening.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { clientYaml, startPaqet, waitListening } from "../src/cli/demo/harness.ts";
import { patternSha256 } from "../src/cli/demo/pattern.ts";
import { E2E, e2eSkipReason, SOCKS, TCP_FWD_PORT, UDP_FWD_PORT, HTTP_PORT } from "./helpers/e2e.ts";

const SKIP = e2eSkipReason();
const KiB = 1024;
const MiB = 1024 * KiB;

/** Polls `check` (bounded) until it returns true; returns the last value seen for the message. */
async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await read();
  while (!ok(v) && Date.now() < deadline) {
    await Bun.sleep(250);
    v = await read();
  }
  return v;
}

describe.skipIf(SKIP !== undefined)(`e2e: paqet run in namespaces, block aes${SKIP ? ` (skipped: ${SKIP})` : ""}`, () => {
  let e2e: E2E;

  beforeAll(async () => {
    e2e = new E2E("pqe");
    await e2e.start({ block: "aes" });
  }, 60_000);

  afterAll(async () => {
    await e2e?.destroy();
  }, 30_000);

  test("32 MiB through SOCKS5 CONNECT (curl --socks5-hostname) arrives with its sha256", async () => {
    const r = await e2e.curlSha256(32 * MiB, 90);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.sha256).toBe(patternSha256(32 * MiB));
  }, 120_000);

  test("UDP ASSOCIATE echoes datagrams of 10, 1000 and 3000 bytes intact", async () => {
    const r = await e2e.udp([10, 1000, 3000]);
    expect(r.results).toEqual([
      { size: 10, ok: true },
      { size: 1000, ok: true },
      { size: 3000, ok: true },
    ]);
  }, 60_000);

  test("TCP forward carries an HTTP download intact", async () => {
    const r = await e2e.get(4 * MiB, 2, 2, 60_000, null, { host: "127.0.0.1", port: TCP_FWD_PORT });
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(2);
  }, 90_000);

  test("UDP forward echoes datagrams intact", async () => {
    await waitListening(e2e.bed.a.ns, UDP_FWD_PORT, 5000, e2e.client, "udp");
    const r = await e2e.udp([10, 1000, 3000], null, { host: "127.0.0.1", port: UDP_FWD_PORT });
    expect(r.results.map((x) => x.ok)).toEqual([true, true, true]);
  }, 60_000);

  test("200 concurrent SOCKS5 connections of 256 KiB each, all intact, and nothing left open afterwards", async () => {
    // UDP streams of earlier tests stay pooled on the server for a while; compare against them.
    const before = (await e2e.status("server")).streams;
    const r = await e2e.get(256 * KiB, 200, 200, 120_000);
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(200);
    expect(r.bytes).toBe(200 * 256 * KiB);

    const server = await eventually(() => e2e.status("server"), (s) => s.streams <= before, 15_000);
    expect(server.streams).toBeLessThanOrEqual(before);
    expect(server.sessions).toBe(1);
    const toTarget = await eventually(() => e2e.establishedOn("server", HTTP_PORT), (n) => n === 0, 15_000);
    expect(toTarget).toBe(0);
    const socks = await eventually(() => e2e.establishedOn("client", SOCKS.port), (n) => n === 0, 15_000);
    expect(socks).toBe(0);
    expect(e2e.server?.exited).toBe(false);
    expect(e2e.client?.exited).toBe(false);
  }, 180_000);

  test.each([
    ["greeting with version 4: closed without a reply", ["040100"], ""],
    ["no acceptable method (only user/password offered): 05 FF, closed", ["050102"], "05ff"],
    ["BIND: 05 07 with a zero IPv4 address, closed", ["050100", "050200017f0000010050"], "0500" + "05070001000000000000"],
    ["unknown command 0x09: 05 07, closed", ["050100", "050900017f0000010050"], "0500" + "05070001000000000000"],
    ["request with version 4: closed without a reply", ["050100", "040100017f0000010050"], "0500"],
  ])("bad SOCKS5 input: %s", async (_name, chunks, reply) => {
    const r = await e2e.raw(chunks as string[], 4000);
    expect(r.replyHex).toBe(reply as string);
    expect(r.closed).toBe(true);
  }, 30_000);

  test("bad SOCKS5 input: unknown address type 0x09: closed, silently (Go paqet) or after 05 08 (RFC 1928)", async () => {
    const r = await e2e.raw(["050100", "05010009000000000050"], 4000);
    expect(["0500", "0500" + "05080001000000000000"]).toContain(r.replyHex);
    expect(r.closed).toBe(true);
  }, 30_000);

  test("the tunnel still serves after the bad requests", async () => {
    const r = await e2e.get(1 * MiB, 1);
    expect(r.ok).toBe(1);
  }, 60_000);

  test("a client with the wrong key logs its failure, carries nothing, and crashes nobody", async () => {
    const spec = { ...e2e.specFor({ block: "aes" }), socksPort: 1081, forwards: [], statusAddr: undefined, clientKey: "not-the-server-key" };
    const path = e2e.work.write("wrong-key-client.yaml", clientYaml(e2e.bed, spec));
    const accepted = () => (e2e.server?.output.match(/accepted new connection/g) ?? []).length;
    const acceptedBefore = accepted();
    const wrong = e2e.track(startPaqet("wrong-key client", e2e.bed.a.ns, path));
    await waitListening(e2e.bed.a.ns, 1081, 20_000, wrong);
    const r = await e2e.get(64 * KiB, 1, 1, 4000, { host: "127.0.0.1", port: 1081 });
    expect(r.ok).toBe(0);
    await wrong.waitFor(/fail|error|timeout|timed out/i, 30_000);
    expect(wrong.exited).toBe(false);
    // Its packets fail the server's integrity check, so no session is ever accepted for it.
    expect(accepted()).toBe(acceptedBefore);
    expect(e2e.server?.exited).toBe(false);
    const good = await e2e.get(256 * KiB, 1);
    expect(good.ok).toBe(1);
    await wrong.stop();
    expect(wrong.output).not.toMatch(/panic|uncaught|segmentation|TypeError|RangeError/i);
  }, 90_000);

  test("the server is killed and started again: the client serves new streams within 3 s", async () => {
    e2e.server?.kill();
    await e2e.server?.done;
    const fresh = e2e.startServer();
    await fresh.waitFor(/listening/i, 20_000);
    // Wait longer than the bar so a failure shows how long recovery really took.
    const took = await e2e.waitServing(15_000);
    expect(took).toBeLessThanOrEqual(3000);
    const r = await e2e.get(1 * MiB, 4);
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(4);
    expect(e2e.client?.exited).toBe(false);
  }, 60_000);
});
