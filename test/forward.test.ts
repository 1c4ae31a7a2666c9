import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import type { Duplex } from "../src/lib/duplex.ts";
import { setLogLevel } from "../src/lib/log.ts";
import type { TcpListener } from "../src/lib/tcp-duplex.ts";
import { ForwardError } from "../src/forward/errors.ts";
import { TcpForward } from "../src/forward/tcp.ts";
import { UdpForward } from "../src/forward/udp.ts";
import { closedPort, FakeTunnel, startTcpEcho, startUdpEcho, TestConn, udpClient, WAIT_MS, withTimeout } from "./helpers/fake-tunnel.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

let echo: TcpListener;
let udpEcho: Awaited<ReturnType<typeof startUdpEcho>>;
beforeAll(async () => {
  setLogLevel("warn");
  echo = startTcpEcho();
  udpEcho = await startUdpEcho();
});
afterAll(() => {
  echo.stop(true);
  udpEcho.close();
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function until(cond: () => boolean, what: string): Promise<void> {
  await withTimeout(
    (async () => {
      while (!cond()) await Bun.sleep(5);
    })(),
    WAIT_MS,
    what,
  );
}

/** A FakeTunnel whose openTcp waits for `gate` first, to test what happens while a stream opens. */
class SlowTunnel extends FakeTunnel {
  gate = Promise.withResolvers<void>();
  override async openTcp(target: string, signal?: AbortSignal): Promise<Duplex> {
    await this.gate.promise;
    return super.openTcp(target, signal);
  }
}

describe("forward: TCP", () => {
  function start(target: string, tunnel = new FakeTunnel()) {
    const fwd = new TcpForward(tunnel, { listen: "127.0.0.1:0", target });
    cleanups.push(() => {
      fwd.close();
      tunnel.close();
    });
    return { fwd, tunnel };
  }

  test("4 MiB through the forward and the echo server keeps its sha256", async () => {
    const { fwd, tunnel } = start(`127.0.0.1:${echo.port}`);
    const c = await TestConn.connect(fwd.port);
    cleanups.push(() => c.close());
    const data = new Uint8Array(randomBytes(4 << 20));
    const [, back] = await Promise.all([c.writeAll(data), c.read(data.length, 20_000)]);
    expect(sha(back)).toBe(sha(data));
    c.close();
    await until(() => tunnel.tcpStreams[0]!.closed && fwd.stats.active === 0, "stream closed");
  });

  test("bytes sent while the stream opens are held and arrive first", async () => {
    const tunnel = new SlowTunnel();
    const { fwd } = start(`127.0.0.1:${echo.port}`, tunnel);
    const c = await TestConn.connect(fwd.port);
    cleanups.push(() => c.close());
    c.write(new TextEncoder().encode("first;"));
    await Bun.sleep(50);
    c.write(new TextEncoder().encode("second"));
    tunnel.gate.resolve();
    expect(new TextDecoder().decode(await c.read(12))).toBe("first;second");
  });

  test("a client leaving while the stream opens closes the stream when it comes", async () => {
    const tunnel = new SlowTunnel();
    const { fwd } = start(`127.0.0.1:${echo.port}`, tunnel);
    const c = await TestConn.connect(fwd.port);
    c.close();
    await Bun.sleep(50);
    tunnel.gate.resolve();
    await until(() => fwd.stats.active === 0, "session released");
    expect(tunnel.tcpStreams.every((s) => s.closed)).toBe(true);
  });

  test("an unreachable target closes the connection and counts it", async () => {
    const { fwd } = start(`127.0.0.1:${closedPort()}`);
    const c = await TestConn.connect(fwd.port);
    cleanups.push(() => c.close());
    await c.waitClosed();
    expect(fwd.stats.failed).toBe(1);
  });

  test("bad listen or target is a ForwardError", () => {
    expect(() => new TcpForward(new FakeTunnel(), { listen: "nope", target: "a:1" })).toThrow(ForwardError);
    expect(() => new TcpForward(new FakeTunnel(), { listen: "127.0.0.1:0", target: "a" })).toThrow(ForwardError);
  });

  test("idle relays close after idleTimeoutMs", async () => {
    const tunnel = new FakeTunnel();
    const fwd = new TcpForward(tunnel, { listen: "127.0.0.1:0", target: `127.0.0.1:${echo.port}`, idleTimeoutMs: 200 });
    cleanups.push(() => {
      fwd.close();
      tunnel.close();
    });
    const c = await TestConn.connect(fwd.port);
    cleanups.push(() => c.close());
    c.write([1]);
    await c.read(1);
    await c.waitClosed();
  });
});

describe("forward: UDP", () => {
  async function start(idleTimeoutMs?: number) {
    const tunnel = new FakeTunnel();
    const fwd = await UdpForward.open(tunnel, { listen: "127.0.0.1:0", target: `127.0.0.1:${udpEcho.port}`, idleTimeoutMs });
    cleanups.push(() => {
      fwd.close();
      tunnel.close();
    });
    return { fwd, tunnel };
  }

  test("datagrams of 10, 1000, 3000 and 4096 bytes come back intact; one stream per sender", async () => {
    const { fwd, tunnel } = await start();
    const a = await udpClient(cleanups);
    const b = await udpClient(cleanups);
    for (const size of [10, 1000, 3000, 4096]) {
      const da = new Uint8Array(randomBytes(size));
      const db = new Uint8Array(randomBytes(size));
      a.sock.send(da, fwd.port, "127.0.0.1");
      b.sock.send(db, fwd.port, "127.0.0.1");
      expect(sha(await a.next())).toBe(sha(da));
      expect(sha(await b.next())).toBe(sha(db));
    }
    expect(tunnel.udpOpened).toBe(2);
    expect([...tunnel.pool.keys()].map((k) => k.split("\u0000")[0]).sort()).toEqual(
      [`127.0.0.1:${a.sock.port}`, `127.0.0.1:${b.sock.port}`].sort(),
    );
    expect(fwd.stats.toTunnel).toBe(8);
    expect(fwd.stats.toSender).toBe(8);
  });

  test("a datagram above 4096 bytes is dropped and counted; the session goes on", async () => {
    const { fwd } = await start();
    const a = await udpClient(cleanups);
    a.sock.send(new Uint8Array(4097), fwd.port, "127.0.0.1");
    a.sock.send(new Uint8Array([1, 2]), fwd.port, "127.0.0.1");
    expect([...(await a.next())]).toEqual([1, 2]);
    expect(fwd.stats.dropped.size).toBe(1);
    expect(a.inbox.length).toBe(0);
  });

  test("an idle session ends after idleTimeoutMs; the next datagram opens a new one", async () => {
    const { fwd, tunnel } = await start(200);
    const a = await udpClient(cleanups);
    a.sock.send(new Uint8Array([1]), fwd.port, "127.0.0.1");
    await a.next();
    await until(() => tunnel.udpClosed === 1 && fwd.stats.active === 0, "idle expiry");
    a.sock.send(new Uint8Array([2]), fwd.port, "127.0.0.1");
    expect([...(await a.next())]).toEqual([2]);
    expect(fwd.stats.sessions).toBe(2);
  });

  test("the stream closing (pool expiry) ends the session", async () => {
    const { fwd, tunnel } = await start(0);
    const a = await udpClient(cleanups);
    a.sock.send(new Uint8Array([1]), fwd.port, "127.0.0.1");
    await a.next();
    const [key, entry] = [...tunnel.pool.entries()][0]!;
    tunnel.closeUdp(key, entry.stream);
    await until(() => fwd.stats.active === 0, "session end");
  });

  test("close() releases every pooled stream", async () => {
    const { fwd, tunnel } = await start();
    const a = await udpClient(cleanups);
    a.sock.send(new Uint8Array([1]), fwd.port, "127.0.0.1");
    await a.next();
    fwd.close();
    expect(tunnel.pool.size).toBe(0);
    expect(fwd.stats.active).toBe(0);
  });
});
