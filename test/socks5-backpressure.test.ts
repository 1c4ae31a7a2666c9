/**
 * Backpressure through the SOCKS5 relay: a side that stops reading stalls the other end instead of
 * making the relay buffer without bound, and everything arrives intact once it reads again.
 */
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { setLogLevel } from "../src/lib/log.ts";
import { listenTcp, type TcpDuplex } from "../src/lib/tcp-duplex.ts";
import { Socks5Server } from "../src/socks5/server.ts";
import { FakeTunnel, TestConn, withTimeout } from "./helpers/fake-tunnel.ts";

const TOTAL = 64 << 20;
const CHUNK = 64 * 1024;
/** Kernel socket buffers on loopback plus the relay's own window stay well below this. */
const STALL_BOUND = 40 << 20;

/** Chunk i of the stream: every byte is (i + offset) mod 251, so any reordering or loss shows up in the hash. */
function chunkAt(i: number): Uint8Array {
  const c = new Uint8Array(CHUNK);
  for (let j = 0; j < CHUNK; j++) c[j] = (i * 7 + j) % 251;
  return c;
}
function expectedSha(): string {
  const h = createHash("sha256");
  for (let i = 0; i < TOTAL / CHUNK; i++) h.update(chunkAt(i));
  return h.digest("hex");
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
beforeAll(() => setLogLevel("warn"));

/** Waits until `value()` stops changing for `quietMs`, bounded by `maxMs`. */
async function settle(value: () => number, quietMs = 300, maxMs = 10_000): Promise<number> {
  const end = Date.now() + maxMs;
  let last = value();
  let since = Date.now();
  while (Date.now() < end) {
    await Bun.sleep(25);
    const v = value();
    if (v !== last) {
      last = v;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) return v;
  }
  throw new Error(`still changing after ${maxMs} ms`);
}

async function socksConnect(port: number, target: number): Promise<TestConn> {
  const server = new Socks5Server(new FakeTunnel(), { listen: "127.0.0.1:0" });
  cleanups.push(() => server.close());
  const c = await TestConn.connect(server.port);
  cleanups.push(() => c.close());
  c.write([5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, target >> 8, target & 0xff]);
  expect([...(await c.read(12))].slice(0, 4)).toEqual([5, 0, 5, 0]);
  return c;
}

describe("socks5: backpressure", () => {
  test("target → client: a client that stops reading stalls the target; then all 64 MiB arrive, then the close", async () => {
    let written = 0;
    let i = 0;
    const sha = expectedSha();
    const target = listenTcp("127.0.0.1", 0, (conn: TcpDuplex) => {
      const pump = () => {
        while (i < TOTAL / CHUNK) {
          const ok = conn.write(chunkAt(i++));
          written += CHUNK;
          if (!ok) return;
        }
        conn.close();
      };
      conn.setHandlers({ data() {}, drain: pump, close() {} });
      pump();
    });
    cleanups.push(() => target.stop(true));
    const c = await socksConnect(0, target.port);
    c.conn.pause();
    const stalled = await settle(() => written);
    expect(stalled).toBeLessThan(STALL_BOUND);
    c.conn.resume();
    const got = await c.read(TOTAL, 30_000);
    expect(createHash("sha256").update(got).digest("hex")).toBe(sha);
    await c.waitClosed();
  }, 60_000);

  test("client → target: a target that stops reading stalls the client; then all 64 MiB arrive", async () => {
    let target: TcpDuplex | undefined;
    const hash = createHash("sha256");
    let received = 0;
    const listener = listenTcp("127.0.0.1", 0, (conn) => {
      target = conn;
      conn.pause();
      conn.setHandlers({
        data(chunk) {
          hash.update(chunk);
          received += chunk.length;
        },
        drain() {},
        close() {},
      });
    });
    cleanups.push(() => listener.stop(true));
    const c = await socksConnect(0, listener.port);
    let i = 0;
    let drained: (() => void) | undefined;
    c.conn.setHandlers({ data() {}, drain: () => drained?.(), close() {} });
    /** Writes until the socket pushes back and no drain comes for `quietMs` (or everything is sent). */
    const writeUntilStalled = async (quietMs: number) => {
      while (i < TOTAL / CHUNK) {
        if (c.conn.write(chunkAt(i++))) continue;
        const gotDrain = await withTimeout(new Promise<boolean>((r) => (drained = () => r(true))), quietMs).catch(() => false);
        if (!gotDrain) return;
      }
    };
    await writeUntilStalled(300);
    expect(i * CHUNK).toBeLessThan(STALL_BOUND);
    target!.resume();
    await writeUntilStalled(10_000);
    expect(i * CHUNK).toBe(TOTAL);
    await withTimeout(
      (async () => {
        while (received < TOTAL) await Bun.sleep(10);
      })(),
      30_000,
      "all bytes at the target",
    );
    expect(hash.digest("hex")).toBe(expectedSha());
  }, 60_000);
});
