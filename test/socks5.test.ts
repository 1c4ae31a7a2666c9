import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { setLogLevel } from "../src/lib/log.ts";
import { createHash, randomBytes } from "node:crypto";
import type { TcpListener } from "../src/lib/tcp-duplex.ts";
import { AddressType, encodeAddress, encodeUdpDatagram, parseUdpHeader, readAddress, Reply } from "../src/socks5/codec.ts";
import { Socks5Server, type Socks5Options } from "../src/socks5/server.ts";
import { closedPort, FakeTunnel, startTcpEcho, startUdpEcho, TestConn, udpClient, WAIT_MS, withTimeout } from "./helpers/fake-tunnel.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const ipv4Req = (cmd: number, port: number, ip = [127, 0, 0, 1]) => [5, cmd, 0, 1, ...ip, port >> 8, port & 0xff];

let echo: TcpListener;
let http: ReturnType<typeof Bun.serve>;
const HTTP_BODY = "hello through socks5\n".repeat(1000);

beforeAll(() => {
  setLogLevel("warn");
  echo = startTcpEcho();
  http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(HTTP_BODY) });
});
afterAll(() => {
  echo.stop(true);
  http.stop(true);
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function start(options: Partial<Socks5Options> = {}, tunnel = new FakeTunnel()) {
  const server = new Socks5Server(tunnel, { listen: "127.0.0.1:0", handshakeTimeoutMs: 2000, ...options });
  cleanups.push(() => {
    server.close();
    tunnel.close();
  });
  return { server, tunnel };
}

/** Greeting with no-auth and a CONNECT to 127.0.0.1:port; returns the reply (10 bytes). */
async function connectVia(server: Socks5Server, req: number[]): Promise<{ c: TestConn; reply: Uint8Array }> {
  const c = await TestConn.connect(server.port);
  cleanups.push(() => c.close());
  c.write([5, 1, 0]);
  expect([...(await c.read(2))]).toEqual([5, 0]);
  c.write(req);
  return { c, reply: await c.read(10) };
}

async function curl(args: string[]): Promise<{ code: number; out: string }> {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "10", ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await withTimeout(Promise.all([new Response(p.stdout).text(), p.exited]), 15_000, "curl");
  return { code, out };
}

describe("socks5: CONNECT", () => {
  test("curl --socks5-hostname fetches from a local HTTP server (IP and domain)", async () => {
    const { server } = start();
    for (const host of ["127.0.0.1", "localhost"]) {
      const r = await curl(["--socks5-hostname", `127.0.0.1:${server.port}`, `http://${host}:${http.port}/`]);
      expect(r.code).toBe(0);
      expect(r.out).toBe(HTTP_BODY);
    }
    expect(server.stats.connects).toBe(2);
  });

  test("4 MiB through the echo server comes back with the same sha256", async () => {
    const { server, tunnel } = start();
    const { c, reply } = await connectVia(server, ipv4Req(1, echo.port));
    expect(reply[1]).toBe(Reply.Succeeded);
    expect(reply[3]).toBe(AddressType.IPv4);
    // BND is the local address of the accepted SOCKS connection (spec §7.4).
    expect([...reply.subarray(4, 8)]).toEqual([127, 0, 0, 1]);
    expect((reply[8]! << 8) | reply[9]!).toBe(server.port);
    const data = new Uint8Array(randomBytes(4 << 20));
    const [, back] = await Promise.all([c.writeAll(data), c.read(data.length, 20_000)]);
    expect(sha(back)).toBe(sha(data));
    c.close();
    // Closing the client closes the tunnel stream too (no leak).
    await withTimeout(
      (async () => {
        while (!tunnel.tcpStreams[0]!.closed) await Bun.sleep(5);
      })(),
    );
    expect(server.stats.active).toBe(0);
  });

  test("bytes sent right behind the request (before the reply) reach the target first", async () => {
    const { server } = start();
    const c = await TestConn.connect(server.port);
    cleanups.push(() => c.close());
    c.write([5, 1, 0, ...ipv4Req(1, echo.port), ...new TextEncoder().encode("early")]);
    expect([...(await c.read(2))]).toEqual([5, 0]);
    expect((await c.read(10))[1]).toBe(0);
    expect(new TextDecoder().decode(await c.read(5))).toBe("early");
  });

  test("IPv6 target ([::1]) through ATYP 4", async () => {
    let v6: TcpListener;
    try {
      v6 = startTcpEcho("::1");
    } catch {
      console.warn("skipped: no IPv6 loopback");
      return;
    }
    cleanups.push(() => v6.stop(true));
    const { server } = start();
    const { c, reply } = await connectVia(server, [5, 1, 0, 4, ...new Array(15).fill(0), 1, v6.port >> 8, v6.port & 0xff]);
    expect(reply[1]).toBe(0);
    c.write([1, 2, 3]);
    expect([...(await c.read(3))]).toEqual([1, 2, 3]);
  });

  test("domain target through ATYP 3", async () => {
    const { server } = start();
    const name = [...new TextEncoder().encode("localhost")];
    const { c, reply } = await connectVia(server, [5, 1, 0, 3, name.length, ...name, echo.port >> 8, echo.port & 0xff]);
    expect(reply[1]).toBe(0);
    c.write([9, 8, 7]);
    expect([...(await c.read(3))]).toEqual([9, 8, 7]);
  });

  test("target closing first closes the client after the data", async () => {
    const { server } = start();
    const r = await curl(["--socks5-hostname", `127.0.0.1:${server.port}`, `http://127.0.0.1:${http.port}/`, "-H", "Connection: close"]);
    expect(r.out).toBe(HTTP_BODY);
  });
});

describe("socks5: half-close and listen", () => {
  test("a client FIN ends the whole relay (no half-close, as Go paqet)", async () => {
    const { server, tunnel } = start();
    let closed = false;
    const sock = await Bun.connect({
      hostname: "127.0.0.1",
      port: server.port,
      allowHalfOpen: true,
      socket: {
        data() {},
        close() {
          closed = true;
        },
      },
    });
    cleanups.push(() => sock.terminate());
    sock.write(new Uint8Array([5, 1, 0, ...ipv4Req(1, echo.port)]));
    await withTimeout(
      (async () => {
        while (tunnel.tcpStreams.length === 0 || server.stats.connects === 0) await Bun.sleep(5);
      })(),
    );
    sock.shutdown();
    await withTimeout(
      (async () => {
        while (!closed || !tunnel.tcpStreams[0]!.closed) await Bun.sleep(5);
      })(),
      WAIT_MS,
      "relay closed after FIN",
    );
    expect(server.stats.active).toBe(0);
  });

  test("a port in use is SOCKS_LISTEN_FAILED; a bad listen string is SOCKS_BAD_LISTEN", () => {
    const { server } = start();
    expect(() => new Socks5Server(new FakeTunnel(), { listen: `127.0.0.1:${server.port}` })).toThrow(
      expect.objectContaining({ code: "SOCKS_LISTEN_FAILED" }),
    );
    expect(() => new Socks5Server(new FakeTunnel(), { listen: "127.0.0.1" })).toThrow(expect.objectContaining({ code: "SOCKS_BAD_LISTEN" }));
  });
});

describe("socks5: timeouts", () => {
  test("a CONNECT relay with no bytes for idleTimeoutMs is closed (off by default)", async () => {
    const { server, tunnel } = start({ idleTimeoutMs: 200 });
    const { c, reply } = await connectVia(server, ipv4Req(1, echo.port));
    expect(reply[1]).toBe(0);
    c.write([1]);
    await c.read(1);
    await c.waitClosed();
    expect(tunnel.tcpStreams[0]!.closed).toBe(true);
  });

  test("greeting and auth sent in one write with the request (pipelined) are all answered", async () => {
    const { server } = start({ username: "u", password: "p" });
    const c = await TestConn.connect(server.port);
    cleanups.push(() => c.close());
    c.write([5, 1, 2, 1, 1, 0x75, 1, 0x70, ...ipv4Req(1, echo.port), 0x21]);
    expect([...(await c.read(4))]).toEqual([5, 2, 1, 0]);
    expect((await c.read(10))[1]).toBe(0);
    expect([...(await c.read(1))]).toEqual([0x21]);
  });
});

describe("socks5: replies on failure", () => {
  test("unreachable target: refused is 0x05 when the tunnel knows, and closes", async () => {
    const { server } = start();
    const { c, reply } = await connectVia(server, ipv4Req(1, closedPort()));
    expect([...reply]).toEqual([5, Reply.ConnectionRefused, 0, 1, 0, 0, 0, 0, 0, 0]);
    await c.waitClosed();
    expect(server.stats.connectFailures).toBe(1);
  });

  test("unreachable target with an alpha.21-like client: optimistic success, then the stream closes", async () => {
    const { server } = start({}, new FakeTunnel({ optimistic: true }));
    const { c, reply } = await connectVia(server, ipv4Req(1, closedPort()));
    expect(reply[1]).toBe(Reply.Succeeded);
    await c.waitClosed();
  });

  test("a domain of 254 bytes cannot be carried: 0x01", async () => {
    const { server } = start();
    const name = new Array(254).fill(0x61);
    const { c, reply } = await connectVia(server, [5, 1, 0, 3, 254, ...name, 0, 80]);
    expect([...reply]).toEqual([5, Reply.GeneralFailure, 0, 1, 0, 0, 0, 0, 0, 0]);
    await c.waitClosed();
  });

  test("BIND and unknown commands: 0x07", async () => {
    const { server } = start();
    for (const cmd of [2, 9]) {
      const { c, reply } = await connectVia(server, ipv4Req(cmd, echo.port));
      expect([...reply]).toEqual([5, Reply.CommandNotSupported, 0, 1, 0, 0, 0, 0, 0, 0]);
      await c.waitClosed();
    }
  });

  test("unknown address type: 0x08", async () => {
    const { server } = start();
    const c = await TestConn.connect(server.port);
    cleanups.push(() => c.close());
    c.write([5, 1, 0]);
    await c.read(2);
    c.write([5, 1, 0, 7, 1, 2, 3, 4, 0, 80]);
    expect([...(await c.read(10))]).toEqual([5, Reply.AddressTypeNotSupported, 0, 1, 0, 0, 0, 0, 0, 0]);
    await c.waitClosed();
  });
});

describe("socks5: authentication", () => {
  test("good username/password: 01 00, then CONNECT works (hand-written and curl)", async () => {
    const { server } = start({ username: "alice", password: "s3cret" });
    const c = await TestConn.connect(server.port);
    cleanups.push(() => c.close());
    c.write([5, 2, 0, 2]);
    expect([...(await c.read(2))]).toEqual([5, 2]);
    const u = [...new TextEncoder().encode("alice")];
    const p = [...new TextEncoder().encode("s3cret")];
    c.write([1, u.length, ...u, p.length, ...p]);
    expect([...(await c.read(2))]).toEqual([1, 0]);
    c.write(ipv4Req(1, echo.port));
    expect((await c.read(10))[1]).toBe(0);
    c.write([42]);
    expect([...(await c.read(1))]).toEqual([42]);
    const r = await curl(["-x", `socks5h://alice:s3cret@127.0.0.1:${server.port}`, `http://127.0.0.1:${http.port}/`]);
    expect(r.out).toBe(HTTP_BODY);
  });

  test("bad password: 01 01 and close", async () => {
    const { server } = start({ username: "alice", password: "s3cret" });
    const c = await TestConn.connect(server.port);
    cleanups.push(() => c.close());
    c.write([5, 1, 2]);
    expect([...(await c.read(2))]).toEqual([5, 2]);
    c.write([1, 5, ...new TextEncoder().encode("alice"), 5, ...new TextEncoder().encode("wrong")]);
    expect([...(await c.read(2))]).toEqual([1, 1]);
    await c.waitClosed();
    expect(server.stats.authFailures).toBe(1);
    const r = await curl(["-x", `socks5h://alice:nope@127.0.0.1:${server.port}`, `http://127.0.0.1:${http.port}/`]);
    expect(r.code).not.toBe(0);
  });

  test("no acceptable method: 05 FF (auth server offered no-auth; open server offered user/pass)", async () => {
    for (const [opts, methods] of [
      [{ username: "a", password: "b" }, [0]],
      [{}, [2]],
    ] as const) {
      const { server } = start(opts);
      const c = await TestConn.connect(server.port);
      cleanups.push(() => c.close());
      c.write([5, methods.length, ...methods]);
      expect([...(await c.read(2))]).toEqual([5, 0xff]);
      await c.waitClosed();
    }
  });

  test("wrong auth version: closed with no reply", async () => {
    const { server } = start({ username: "a", password: "b" });
    const c = await TestConn.connect(server.port);
    cleanups.push(() => c.close());
    c.write([5, 1, 2]);
    await c.read(2);
    c.write([5, 1, 0x61, 1, 0x62]);
    await c.waitClosed();
    expect(c.buffered).toBe(0);
  });
});

describe("socks5: malformed clients are closed one by one", () => {
  test("garbage and truncated greetings close only their client; another keeps working", async () => {
    const { server } = start({ handshakeTimeoutMs: 500 });
    const good = await connectVia(server, ipv4Req(1, echo.port));
    expect(good.reply[1]).toBe(0);

    const garbage = await TestConn.connect(server.port);
    garbage.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
    const truncated = await TestConn.connect(server.port);
    truncated.write([5, 3, 0]); // announces 3 methods, sends 1, then stalls: handshake timeout
    const halfRequest = await TestConn.connect(server.port);
    halfRequest.write([5, 1, 0, 5, 1, 0, 1, 127]); // request cut short, then EOF
    halfRequest.conn.close();
    const oversized = await TestConn.connect(server.port);
    oversized.write([5, 1, 0]);
    await oversized.read(2);
    oversized.write(new Uint8Array(8192).fill(5)); // a flood of bytes: request with ATYP 5, then more
    cleanups.push(() => [garbage, truncated, oversized].forEach((c) => c.close()));

    await garbage.waitClosed();
    expect(garbage.buffered).toBe(0);
    await truncated.waitClosed(3000);
    expect(truncated.buffered).toBe(0);
    await oversized.waitClosed();

    good.c.write([1, 2, 3, 4]);
    expect([...(await good.c.read(4))]).toEqual([1, 2, 3, 4]);
    expect(server.stats.handshakeFailures).toBeGreaterThanOrEqual(3);
    await withTimeout(
      (async () => {
        while (server.stats.active !== 1) await Bun.sleep(5);
      })(),
    );
  });

  test("close() of the server closes its clients and stops listening", async () => {
    const { server } = start();
    const { c } = await connectVia(server, ipv4Req(1, echo.port));
    server.close();
    await c.waitClosed();
    await expect(TestConn.connect(server.port)).rejects.toThrow();
  });
});

/** Opens a UDP ASSOCIATE; returns the control connection and the relay address. */
async function associate(server: Socks5Server, req = [5, 3, 0, 1, 0, 0, 0, 0, 0, 0]) {
  const c = await TestConn.connect(server.port);
  cleanups.push(() => c.close());
  c.write([5, 1, 0]);
  expect([...(await c.read(2))]).toEqual([5, 0]);
  c.write(req);
  const reply = await c.read(10);
  expect(reply[1]).toBe(0);
  const bnd = readAddress(reply, 3);
  if (typeof bnd === "string") throw new Error("bad BND");
  return { control: c, relayHost: bnd.address.host, relayPort: bnd.address.port };
}

describe("socks5: UDP ASSOCIATE", () => {
  let udpEcho: Awaited<ReturnType<typeof startUdpEcho>>;
  beforeAll(async () => {
    udpEcho = await startUdpEcho();
  });
  afterAll(() => udpEcho.close());

  test("datagrams of 10, 1000 and 3000 bytes come back intact with the request's header", async () => {
    const { server, tunnel } = start();
    const { relayHost, relayPort } = await associate(server);
    expect(relayHost).toBe("127.0.0.1");
    const u = await udpClient(cleanups);
    const target = { type: AddressType.IPv4, host: "127.0.0.1", port: udpEcho.port };
    for (const size of [10, 1000, 3000]) {
      const data = new Uint8Array(randomBytes(size));
      const dg = encodeUdpDatagram(target, data);
      u.sock.send(dg, relayPort, relayHost);
      const back = await u.next();
      const h = parseUdpHeader(back);
      if (typeof h === "string") throw new Error(h);
      expect([...back.subarray(0, h.dataOffset)]).toEqual([0, 0, 0, ...encodeAddress(target)]);
      expect(sha(back.subarray(h.dataOffset))).toBe(sha(data));
    }
    // One target, one stream.
    expect(tunnel.udpOpened).toBe(1);
    expect(server.stats.udp.toTunnel).toBe(3);
    expect(server.stats.udp.toClient).toBe(3);
  });

  test("a domain target keeps its domain form in the reply header", async () => {
    const { server } = start();
    const { relayHost, relayPort } = await associate(server);
    const u = await udpClient(cleanups);
    const target = { type: AddressType.Domain, host: "localhost", port: udpEcho.port };
    u.sock.send(encodeUdpDatagram(target, new Uint8Array([1, 2, 3])), relayPort, relayHost);
    const back = await u.next();
    expect([...back]).toEqual([0, 0, 0, ...encodeAddress(target), 1, 2, 3]);
  });

  test("FRAG != 0, oversized data, a foreign sender and unknown ATYP are dropped and counted", async () => {
    const { server } = start();
    const { relayHost, relayPort } = await associate(server);
    const u = await udpClient(cleanups);
    const other = await udpClient(cleanups);
    const target = { type: AddressType.IPv4, host: "127.0.0.1", port: udpEcho.port };
    u.sock.send(encodeUdpDatagram(target, new Uint8Array([1])), relayPort, relayHost); // pins u's port
    await u.next();
    const frag = encodeUdpDatagram(target, new Uint8Array([2]));
    frag[2] = 1;
    u.sock.send(frag, relayPort, relayHost);
    u.sock.send(encodeUdpDatagram(target, new Uint8Array(4097)), relayPort, relayHost);
    u.sock.send(new Uint8Array([0, 0, 0, 9, 1, 2, 3]), relayPort, relayHost);
    other.sock.send(encodeUdpDatagram(target, new Uint8Array([3])), relayPort, relayHost);
    u.sock.send(encodeUdpDatagram(target, new Uint8Array(4096).fill(4)), relayPort, relayHost);
    const back = await u.next();
    expect(back.length).toBe(10 + 4096);
    const d = server.stats.udp.dropped;
    expect([d.frag, d.size, d.malformed, d.source]).toEqual([1, 1, 1, 1]);
    expect(u.inbox.length + other.inbox.length).toBe(0);
  });

  test("closing the control connection ends the association and closes its streams", async () => {
    const { server, tunnel } = start();
    const { control, relayHost, relayPort } = await associate(server);
    const u = await udpClient(cleanups);
    u.sock.send(encodeUdpDatagram({ type: AddressType.IPv4, host: "127.0.0.1", port: udpEcho.port }, new Uint8Array([7])), relayPort, relayHost);
    await u.next();
    expect(tunnel.pool.size).toBe(1);
    control.close();
    await withTimeout(
      (async () => {
        while (tunnel.pool.size > 0 || server.stats.active > 0) await Bun.sleep(5);
      })(),
    );
    expect(tunnel.udpClosed).toBe(1);
  });

  test("on an IPv6 listener the relay binds ::1 and BND is ATYP 4", async () => {
    let server: Socks5Server;
    try {
      server = start({ listen: "[::1]:0" }).server;
    } catch {
      console.warn("skipped: no IPv6 loopback");
      return;
    }
    const c = await TestConn.connect(server.port, "::1");
    cleanups.push(() => c.close());
    c.write([5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0]);
    const reply = await c.read(2 + 22);
    expect([...reply.subarray(0, 6)]).toEqual([5, 0, 5, 0, 0, 4]);
    const bnd = readAddress(reply, 5);
    if (typeof bnd === "string") throw new Error(bnd);
    expect(bnd.address.host).toBe("::1");
    const inbox: Uint8Array[] = [];
    const sock = await Bun.udpSocket({
      hostname: "::1",
      port: 0,
      binaryType: "uint8array",
      socket: { data: (_s, buf) => void inbox.push(buf) },
    });
    cleanups.push(() => sock.close());
    const target = { type: AddressType.IPv4, host: "127.0.0.1", port: udpEcho.port };
    sock.send(encodeUdpDatagram(target, new Uint8Array([4, 2])), bnd.address.port, "::1");
    await withTimeout(
      (async () => {
        while (inbox.length === 0) await Bun.sleep(5);
      })(),
    );
    expect([...inbox[0]!]).toEqual([0, 0, 0, ...encodeAddress(target), 4, 2]);
  });

  test("a request naming the client's address and port accepts only that endpoint", async () => {
    const { server } = start();
    const u = await udpClient(cleanups);
    const other = await udpClient(cleanups);
    const p = u.sock.port;
    const { relayHost, relayPort } = await associate(server, [5, 3, 0, 1, 127, 0, 0, 1, p >> 8, p & 0xff]);
    const target = { type: AddressType.IPv4, host: "127.0.0.1", port: udpEcho.port };
    other.sock.send(encodeUdpDatagram(target, new Uint8Array([1])), relayPort, relayHost);
    u.sock.send(encodeUdpDatagram(target, new Uint8Array([2])), relayPort, relayHost);
    const back = await u.next();
    expect(back.at(-1)).toBe(2);
    expect(server.stats.udp.dropped.source).toBe(1);
    expect(other.inbox.length).toBe(0);
  });

  test("an idle flow is closed after udpIdleTimeoutMs and reopened by the next datagram", async () => {
    const { server, tunnel } = start({ udpIdleTimeoutMs: 200 });
    const { relayHost, relayPort } = await associate(server);
    const u = await udpClient(cleanups);
    const dg = encodeUdpDatagram({ type: AddressType.IPv4, host: "127.0.0.1", port: udpEcho.port }, new Uint8Array([5]));
    u.sock.send(dg, relayPort, relayHost);
    await u.next();
    await withTimeout(
      (async () => {
        while (tunnel.udpClosed < 1) await Bun.sleep(20);
      })(),
      WAIT_MS,
      "idle expiry",
    );
    u.sock.send(dg, relayPort, relayHost);
    await u.next();
    expect(tunnel.udpOpened).toBe(2);
  });
});
