/** KCP sessions and the listener over the in-memory PacketConn. */
import { afterEach, describe, expect, test } from "bun:test";
import { createPacketCrypt } from "../src/kcp/crypt/index.ts";
import { KcpError } from "../src/kcp/errors.ts";
import { createFec } from "../src/kcp/fec.ts";
import { ACCEPT_BACKLOG, listen } from "../src/kcp/listener.ts";
import { paqetKcpOptions } from "../src/kcp/options.ts";
import { Cmd, encodeSegment } from "../src/kcp/segment.ts";
import { dial, KcpScheduler, type KcpSession } from "../src/kcp/session.ts";
import { seededRandom } from "../src/socket/lossy.ts";
import { MemoryNetwork } from "../src/socket/memory.ts";
import { kcpPair, readExactly, transfer, withTimeout, type KcpPair } from "./helpers/kcp-pair.ts";
import { until } from "./helpers/wait.ts";

const NULL_CRYPT = () => createPacketCrypt("null", new Uint8Array(32));
const KEY = new Uint8Array(32).map((_, i) => i * 7 + 1);
const te = new TextEncoder();
const td = new TextDecoder();

let cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});
async function pair(...args: Parameters<typeof kcpPair>): Promise<KcpPair> {
  const p = await kcpPair(...args);
  cleanup.push(() => p.close());
  return p;
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe("session basics", () => {
  test("request and reply, with no wait for the interval timer", async () => {
    // manual mode with a 5 s interval: only the end-of-turn flush rule can make this quick.
    const slow = { nodelay: 0, interval: 5000, resend: 2, nocongestion: 1, writeDelay: true, ackNoDelay: false };
    const p = await pair({ mode: "manual", client: slow, server: slow });
    const t0 = performance.now();
    const atServer = readExactly(p.server, 5);
    p.client.write(te.encode("hello"));
    expect(td.decode(await withTimeout(atServer, 2000, "request"))).toBe("hello");
    const atClient = readExactly(p.client, 5);
    p.server.write(te.encode("world"));
    expect(td.decode(await withTimeout(atClient, 2000, "reply"))).toBe("world");
    // Not a speed assertion: a flush that waited for the 5 s timer would have timed out above.
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test("the client picks a random conv and the server session adopts it", async () => {
    const p = await pair();
    expect(p.server.conv).toBe(p.client.conv);
    const q = await pair();
    expect(q.client.conv).not.toBe(p.client.conv);
  });

  test("write returns false beyond the send window and drain follows", async () => {
    const p = await pair();
    const total = 1 << 20;
    const server = readExactly(p.server, total);
    let wake: (() => void) | undefined;
    let drains = 0;
    p.client.setHandlers({ data() {}, drain: () => (drains++, wake?.()), close() {} });
    const chunk = new Uint8Array(1 << 16);
    let refused = 0;
    for (let written = 0; written < total; written += chunk.byteLength) {
      if (p.client.write(chunk)) continue;
      refused++;
      expect(p.client.core.waitSnd).toBeGreaterThanOrEqual(p.client.core.sndWnd);
      await withTimeout(new Promise<void>((r) => (wake = r)), 5000, "drain");
    }
    expect((await withTimeout(server, 10_000, "all bytes")).byteLength).toBe(total);
    expect(refused).toBeGreaterThan(0);
    expect(drains).toBe(refused);
  });

  test("a session that goes quiet gives back its send pool and receive slab within a few trim periods, and still works", async () => {
    const p = await pair();
    const atServer = readExactly(p.server, 256 * 1024);
    p.client.write(new Uint8Array(256 * 1024).fill(3));
    expect((await withTimeout(atServer, 5000, "256 KiB")).byteLength).toBe(256 * 1024);
    expect(await until(() => p.client.core.pooledSegments > 0, 2000)).toBe(true);
    expect(p.server.core.rxSlabBytesHeld).toBeGreaterThan(0);
    // The periodic update trims what a whole period did not use.
    expect(await until(() => p.client.core.pooledSegments === 0 && p.server.core.rxSlabBytesHeld === 0, 6000)).toBe(true);
    const again = readExactly(p.server, 3);
    p.client.write(te.encode("hey"));
    expect(td.decode(await withTimeout(again, 2000, "after the release"))).toBe("hey");
  });

  test("a quiet session is updated rarely; a write brings the interval back", async () => {
    const p = await pair();
    let ticks = 0;
    const tick = p.client.tick.bind(p.client);
    p.client.tick = () => (ticks++, tick());
    // Quiet once the first byte is acknowledged; give the last interval update time to notice.
    expect(await until(() => p.client.core.quiet, 2000)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    ticks = 0;
    await new Promise((r) => setTimeout(r, 600));
    // Every 30 ms (mode fast) that would have been about 20.
    expect(ticks).toBeLessThanOrEqual(1);
    // The next datagram is lost, so only a retransmission, which the update times, delivers it.
    const send = p.clientConn.writeTo.bind(p.clientConn);
    let drop = 1;
    p.clientConn.writeTo = (data, to) => (drop > 0 ? void drop-- : send(data, to));
    const atServer = readExactly(p.server, 3);
    ticks = 0;
    p.client.write(te.encode("hey"));
    expect(td.decode(await withTimeout(atServer, 5000, "the retransmission"))).toBe("hey");
    expect(drop).toBe(0);
    expect(p.client.core.stats.lostSegs).toBeGreaterThanOrEqual(1);
    // Updates every interval (not once a second) until the retransmission went out.
    expect(ticks).toBeGreaterThanOrEqual(3);
  });

  test("pause closes the receive window; resume delivers everything", async () => {
    const p = await pair({ server: { rcvWnd: 16 } });
    let got = 0;
    p.server.setHandlers({ data: (c) => (got += c.byteLength), drain() {}, close() {} });
    p.server.pause();
    const total = 200 * 1024;
    p.client.write(new Uint8Array(total));
    for (let i = 0; i < 40 && p.client.core.rmtWnd !== 0; i++) await tick();
    expect(got).toBe(0);
    expect(p.server.core.rcvQueueLength).toBe(16);
    expect(p.client.core.rmtWnd).toBe(0);
    p.server.resume();
    for (let i = 0; i < 400 && got < total; i++) await tick();
    expect(got).toBe(total);
  });

  test("close: handler once, writes refused, the listener forgets the session", async () => {
    const p = await pair();
    const closes: (Error | undefined)[] = [];
    p.server.setHandlers({ data() {}, drain() {}, close: (e) => closes.push(e) });
    expect(p.listener.sessionCount).toBe(1);
    p.server.close();
    p.server.close();
    expect(p.server.closed).toBe(true);
    expect(p.server.write(new Uint8Array(1))).toBe(false);
    expect(p.listener.sessionCount).toBe(0);
    await tick();
    expect(closes).toEqual([undefined]);
  });

  test("a throwing data handler closes the session with KCP_HANDLER_FAILED instead of escaping", async () => {
    const p = await pair();
    const closed = new Promise<Error | undefined>((r) =>
      p.server.setHandlers({
        data() {
          throw new Error("app bug");
        },
        drain() {},
        close: r,
      }),
    );
    p.client.write(te.encode("boom"));
    const err = await withTimeout(closed, 2000, "close");
    expect((err as KcpError).code).toBe("KCP_HANDLER_FAILED");
    expect(p.listener.sessionCount).toBe(0);
  });

  test("options kcp-go would refuse throw KCP_BAD_OPTION", () => {
    const net = new MemoryNetwork();
    const conn = net.bind();
    const to = { ip: "10.77.0.10", port: 10 };
    const bad = (o: Parameters<typeof paqetKcpOptions>[2], crypt = NULL_CRYPT()) => () =>
      dial(conn, to, { kcp: paqetKcpOptions("client", "fast", o), crypt });
    for (const f of [bad({ mtu: 49 }), bad({ mtu: 69 }, createPacketCrypt("aes", KEY)), bad({ sndWnd: 0 }), bad({ rcvWnd: 70000 })]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect((err as KcpError).code).toBe("KCP_BAD_OPTION");
    }
    expect(() => listen(conn, { kcp: paqetKcpOptions("server", "fast", { mtu: 57 }), crypt: NULL_CRYPT(), fec: () => createFec(3, 2) })).toThrow(
      KcpError,
    );
    conn.close();
  });

  test("a dead link closes the session with KCP_DEAD_LINK", async () => {
    const net = new MemoryNetwork();
    const conn = net.bind({ ip: "10.77.0.9", port: 9 });
    const s = dial(conn, { ip: "10.77.0.10", port: 10 }, {
      kcp: paqetKcpOptions("client", "fast3", { deadLink: 3 }),
      crypt: NULL_CRYPT(),
    });
    const closed = new Promise<Error | undefined>((r) => s.setHandlers({ data() {}, drain() {}, close: r }));
    s.write(te.encode("anyone?"));
    const err = await withTimeout(closed, 5000, "dead link");
    expect(err).toBeInstanceOf(KcpError);
    expect((err as KcpError).code).toBe("KCP_DEAD_LINK");
    conn.close();
  });

  test("500 sessions share one scheduler", async () => {
    const scheduler = new KcpScheduler();
    const net = new MemoryNetwork();
    const server = net.bind({ ip: "10.77.2.1", port: 1 });
    const listener = listen(server, { kcp: paqetKcpOptions("server"), crypt: NULL_CRYPT(), scheduler });
    const clients: KcpSession[] = [];
    for (let i = 0; i < 500; i++) {
      const c = dial(net.bind({ ip: "10.77.2.2" }), server.localAddr, { kcp: paqetKcpOptions("client"), crypt: NULL_CRYPT(), scheduler });
      c.write(new Uint8Array([i & 0xff]));
      clients.push(c);
    }
    const accepted: KcpSession[] = [];
    while (accepted.length < 500) accepted.push(await withTimeout(listener.accept(), 5000, "accept"));
    expect(listener.sessionCount).toBe(500);
    expect(scheduler.size).toBe(1000);
    for (const c of clients) c.close();
    listener.close();
    expect(scheduler.size).toBe(0);
    server.close();
  });
});

describe("listener", () => {
  const rawPush = (conv: number, sn: number, data = te.encode("x")) =>
    encodeSegment({ conv, cmd: Cmd.Push, frg: 0, wnd: 32, ts: 0, sn, una: 0, len: data.byteLength, data });

  test("a new conv from a known address replaces the session only when sn is 0", async () => {
    const net = new MemoryNetwork();
    const server = net.bind({ ip: "10.77.3.1", port: 1 });
    const peer = net.bind({ ip: "10.77.3.2", port: 2 });
    const listener = listen(server, { kcp: paqetKcpOptions("server"), crypt: NULL_CRYPT() });
    peer.writeTo(rawPush(111, 0), server.localAddr);
    const first = await withTimeout(listener.accept(), 2000, "first");
    expect(first.conv).toBe(111);
    peer.writeTo(rawPush(222, 5), server.localAddr);
    await tick();
    expect(listener.stats.convMismatch).toBe(1);
    expect(first.closed).toBe(false);
    peer.writeTo(rawPush(222, 0), server.localAddr);
    const second = await withTimeout(listener.accept(), 2000, "second");
    expect(second.conv).toBe(222);
    expect(first.closed).toBe(true);
    expect(listener.stats.sessionsReplaced).toBe(1);
    expect(listener.sessionCount).toBe(1);
    listener.close();
    await expect(listener.accept()).rejects.toBeInstanceOf(KcpError);
    server.close();
    peer.close();
  });

  test(`the accept backlog holds ${ACCEPT_BACKLOG} sessions; more new senders are dropped`, async () => {
    const net = new MemoryNetwork();
    const server = net.bind({ ip: "10.77.4.1", port: 1 });
    const listener = listen(server, { kcp: paqetKcpOptions("server"), crypt: NULL_CRYPT() });
    for (let i = 0; i < ACCEPT_BACKLOG + 3; i++) net.bind({ ip: "10.77.4.2" }).writeTo(rawPush(1000 + i, 0), server.localAddr);
    await tick(20);
    expect(listener.stats.sessionsCreated).toBe(ACCEPT_BACKLOG);
    expect(listener.stats.backlogFull).toBe(3);
    await listener.accept();
    net.bind({ ip: "10.77.4.3" }).writeTo(rawPush(5, 0), server.localAddr);
    await tick(20);
    expect(listener.stats.sessionsCreated).toBe(ACCEPT_BACKLOG + 1);
    listener.close();
    server.close();
  });

  test("the async iterator yields sessions until the listener closes", async () => {
    const net = new MemoryNetwork();
    const server = net.bind({ ip: "10.77.5.1", port: 1 });
    const listener = listen(server, { kcp: paqetKcpOptions("server"), crypt: NULL_CRYPT() });
    const convs: number[] = [];
    const loop = (async () => {
      for await (const s of listener) convs.push(s.conv);
    })();
    for (const conv of [7, 8]) net.bind({ ip: "10.77.5.2" }).writeTo(rawPush(conv, 0), server.localAddr);
    await tick(20);
    listener.close();
    await withTimeout(loop, 2000, "iterator end");
    expect(convs).toEqual([7, 8]);
    server.close();
  });
});

describe("hostile input", () => {
  test("random and truncated datagrams never throw out of a listener or a session", async () => {
    const crypt = () => createPacketCrypt("aes", KEY);
    const p = await pair({ crypt });
    const rnd = seededRandom(77);
    const junk = (max: number) => {
      const d = new Uint8Array(Math.floor(rnd() * max));
      for (let i = 0; i < d.length; i++) d[i] = Math.floor(rnd() * 256);
      return d;
    };
    // A stranger floods the listener; the server conn floods the client (right source address).
    const stranger = p.net.bind({ ip: "10.77.0.3", port: 6000 });
    const sealer = crypt();
    for (let i = 0; i < 3000; i++) {
      stranger.writeTo(junk(1500), p.serverConn.localAddr);
      p.serverConn.writeTo(junk(200), p.clientConn.localAddr);
      // Valid crypto around garbage, and a truncated KCP segment with our conv.
      stranger.writeTo(sealer.seal(junk(60)), p.serverConn.localAddr);
      const seg = encodeSegment({ conv: p.client.conv, cmd: Cmd.Push, frg: 0, wnd: 1, ts: 0, sn: 3, una: 0, len: 8, data: junk(8).fill(1) });
      p.serverConn.writeTo(sealer.seal(seg.subarray(0, 24 + Math.floor(rnd() * 8))), p.clientConn.localAddr);
      if (i % 200 === 0) await tick(1);
    }
    await tick(30);
    expect(p.listener.stats.internalErrors).toBe(0);
    expect(p.listener.stats.cryptDropped).toBeGreaterThan(2500);
    expect(p.client.stats.cryptDropped).toBeGreaterThan(2500);
    expect(p.client.core.stats.inErrors).toBeGreaterThan(0);
    expect(p.client.closed).toBe(false);
    // Both still work afterwards.
    const back = readExactly(p.client, 3);
    const there = readExactly(p.server, 3);
    p.client.write(te.encode("abc"));
    p.server.write(te.encode("def"));
    expect(td.decode(await withTimeout(there, 5000, "after flood"))).toBe("abc");
    expect(td.decode(await withTimeout(back, 5000, "after flood"))).toBe("def");
    stranger.close();
  });
});

describe("transfers over a lossy memory link, checked by sha256", () => {
  const SIZE = 16 << 20;
  for (const loss of [0, 0.1, 0.2]) {
    test(
      `16 MiB each way in fast mode at ${loss * 100} % loss with reordering and duplication`,
      async () => {
        const p = await pair({ mode: "fast", link: { loss, reorder: 0.05, duplicate: 0.05, seed: 11 } });
        const up = transfer(p.client, SIZE, SIZE, 1);
        const down = transfer(p.server, SIZE, SIZE, 2);
        const [upSent, upGot, downSent, downGot] = await withTimeout(
          Promise.all([up.sent, down.received, down.sent, up.received]),
          170_000,
          `16 MiB each way at ${loss * 100} % loss`,
        );
        expect(upGot).toBe(upSent);
        expect(downGot).toBe(downSent);
        if (loss > 0) expect(p.clientConn.stats.dropped).toBeGreaterThan(0);
      },
      180_000,
    );
  }

  test(
    "a 10 ms one-way delay with 5 % loss (1 MiB each way, fast3)",
    async () => {
      const p = await pair({ mode: "fast3", link: { delayMs: 10, loss: 0.05, reorder: 0.05, seed: 9 } });
      const size = 1 << 20;
      const up = transfer(p.client, size, size, 5);
      const down = transfer(p.server, size, size, 6);
      const [a, b, c, d] = await withTimeout(Promise.all([up.sent, down.received, down.sent, up.received]), 60_000, "delayed link");
      expect(b).toBe(a);
      expect(d).toBe(c);
      expect(p.client.core.rxSrtt).toBeGreaterThanOrEqual(20);
    },
    70_000,
  );

  test(
    "aes with FEC 3+2 at 10 % loss (2 MiB each way)",
    async () => {
      const p = await pair({
        mode: "fast",
        crypt: () => createPacketCrypt("aes", KEY),
        fec: () => createFec(3, 2),
        link: { loss: 0.1, reorder: 0.05, duplicate: 0.05, seed: 5 },
      });
      const size = 2 << 20;
      const up = transfer(p.client, size, size, 3);
      const down = transfer(p.server, size, size, 4);
      const [a, b, c, d] = await withTimeout(Promise.all([up.sent, down.received, down.sent, up.received]), 60_000, "aes+fec");
      expect(b).toBe(a);
      expect(d).toBe(c);
    },
    70_000,
  );
});
