/**
 * Client and server in one process over in-memory PacketConns (optionally lossy), with real TCP
 * and UDP targets on 127.0.0.1: data integrity, PING/PONG, a wrong key, the server's limits,
 * reconnects after the server goes away, and a clean shutdown.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server } from "node:net";
import { PaqetClient, type ClientOptions } from "../src/client/index.ts";
import { parseConfig } from "../src/conf/index.ts";
import type { Duplex } from "../src/lib/duplex.ts";
import { metrics } from "../src/lib/metrics.ts";
import { defaultScheduler } from "../src/kcp/index.ts";
import { TunnelServer } from "../src/server/index.ts";
import { lossyPacketConn } from "../src/socket/lossy.ts";
import { MemoryNetwork } from "../src/socket/memory.ts";
import type { PacketAddr, PacketConn } from "../src/socket/types.ts";
import { MessageType, openTarget, TunnelConn, tunnelOptionsFromConfig, type TunnelOptions } from "../src/tunnel/index.ts";
import { until } from "./helpers/wait.ts";

const SERVER_ADDR: PacketAddr = { ip: "10.77.0.2", port: 47000 };

function options(role: "client" | "server", kcp: Record<string, string | number | boolean>, extra = ""): TunnelOptions {
  const { conn = 1, ...rest } = kcp;
  const kcpLines = Object.entries({ mode: "fast", block: "aes", key: "tunnel-test-key", ...rest })
    .map(([k, v]) => `    ${k}: ${typeof v === "string" ? JSON.stringify(v) : v}`)
    .join("\n");
  const head =
    role === "server"
      ? `role: server\nlisten:\n  addr: ":${SERVER_ADDR.port}"\n`
      : `role: client\nserver:\n  addr: "${SERVER_ADDR.ip}:${SERVER_ADDR.port}"\nsocks5:\n  - listen: "127.0.0.1:1080"\n`;
  const ip = role === "server" ? `${SERVER_ADDR.ip}:${SERVER_ADDR.port}` : "10.77.0.1:0";
  const yaml = `${head}network:\n  interface: "lo"\n  ipv4:\n    addr: "${ip}"\n    router_mac: "02:00:00:00:00:01"\n${extra}transport:\n  protocol: kcp\n  conn: ${conn}\n  kcp:\n${kcpLines}\n`;
  return tunnelOptionsFromConfig(parseConfig(yaml).config);
}

interface Bed {
  net: MemoryNetwork;
  serverTunnel: TunnelOptions;
  serverConn: PacketConn;
  server: TunnelServer;
  client: PaqetClient;
  clientConns: PacketConn[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function bed(opts: {
  block?: string;
  conn?: number;
  clientKey?: string;
  serverKcp?: Record<string, string | number | boolean>;
  clientKcp?: Record<string, string | number | boolean>;
  lossy?: { loss: number; seed: number };
  timings?: ClientOptions["timings"];
  wrapServer?: (conn: PacketConn) => PacketConn;
}): Promise<Bed> {
  const block = opts.block ?? "aes";
  const net = new MemoryNetwork();
  const bound = net.bind(SERVER_ADDR);
  const serverConn = opts.wrapServer ? opts.wrapServer(bound) : bound;
  const serverTunnel = options("server", { block, ...opts.serverKcp });
  const server = new TunnelServer(serverConn, { tunnel: serverTunnel, ownsPacket: true });
  server.start();
  const clientConns: PacketConn[] = [];
  let nextIp = 1;
  const client = new PaqetClient({
    tunnel: options("client", { block, conn: opts.conn ?? 1, key: opts.clientKey ?? "tunnel-test-key", ...opts.clientKcp }),
    server: SERVER_ADDR,
    openPacket: () => {
      const raw = net.bind({ ip: "10.77.0.1", port: 41000 + nextIp++ });
      const conn = opts.lossy ? lossyPacketConn(raw, opts.lossy) : raw;
      clientConns.push(conn);
      return conn;
    },
    timings: opts.timings,
  });
  cleanups.push(async () => {
    await client.close();
    await server.close(0);
  });
  await client.start();
  return { net, serverTunnel, serverConn, server, client, clientConns };
}

async function tcpEcho(): Promise<{ port: number; server: Server }> {
  const server = createServer((s) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as { port: number }).port, server };
}

async function udpEcho(): Promise<{ port: number; socket: UdpSocket }> {
  const socket = createSocket("udp4");
  socket.on("message", (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())));
  return { port: socket.address().port, socket };
}

/** Writes `data` in 16 KiB chunks honouring backpressure and resolves with the sha256 of what came back. */
function echoThrough(stream: Duplex, data: Uint8Array): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let got = 0;
    let off = 0;
    const CHUNK = 16 * 1024;
    const pump = (): void => {
      while (off < data.length) {
        const piece = data.subarray(off, Math.min(off + CHUNK, data.length));
        off += piece.length;
        if (!stream.write(piece)) return;
      }
    };
    stream.setHandlers({
      data(chunk) {
        hash.update(chunk);
        got += chunk.byteLength;
        if (got === data.length) {
          stream.close();
          resolve({ hash: hash.digest("hex"), bytes: got });
        }
      },
      drain: pump,
      close(err) {
        if (got !== data.length) reject(err ?? new Error(`stream closed after ${got} of ${data.length} bytes`));
      },
    });
    pump();
  });
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

describe("TCP through the tunnel", () => {
  for (const block of ["aes", "aes-128-gcm", "null"]) {
    test(`4 MiB echoed intact over ${block}, conn 4, 3 parallel streams`, async () => {
      const echo = await tcpEcho();
      const b = await bed({ block, conn: 4 });
      expect(b.client.readyCount).toBeGreaterThan(0);
      const payloads = [0, 1, 2].map(() => new Uint8Array(randomBytes(4 * 1024 * 1024)));
      const results = await Promise.all(
        payloads.map(async (p) => echoThrough(await b.client.openTcp(`127.0.0.1:${echo.port}`), p)),
      );
      for (let i = 0; i < payloads.length; i++) expect(results[i]!.hash).toBe(sha256(payloads[i]!));
      expect(b.server.stats.tcpStreams).toBe(3);
      // Round-robin placement: the three streams went to three different connections.
      expect(await until(() => b.client.readyCount === 4)).toBe(true);
      expect(b.server.sessionCount).toBe(4);
    }, 60_000);
  }

  test("1 MiB echoed intact with 5 % loss on the client's sends", async () => {
    const echo = await tcpEcho();
    const b = await bed({ lossy: { loss: 0.05, seed: 7 }, serverKcp: { mode: "fast2" }, clientKcp: { mode: "fast2" } });
    const data = new Uint8Array(randomBytes(1024 * 1024));
    const r = await echoThrough(await b.client.openTcp(`127.0.0.1:${echo.port}`), data);
    expect(r.hash).toBe(sha256(data));
  }, 60_000);

  test("a refused target closes the stream; the server counts the dial failure", async () => {
    const echo = await tcpEcho();
    const closedPort = echo.port;
    echo.server.close();
    await Bun.sleep(10);
    const b = await bed({});
    const stream = await b.client.openTcp(`127.0.0.1:${closedPort}`);
    const ended = await new Promise<boolean>((resolve) => stream.setHandlers({ data() {}, drain() {}, close: () => resolve(true) }));
    expect(ended).toBe(true);
    expect(await until(() => b.server.stats.dialFailures === 1)).toBe(true);
  }, 20_000);

  test("bad targets are refused before any stream is opened", async () => {
    const b = await bed({});
    await expect(b.client.openTcp("no-port")).rejects.toMatchObject({ code: "TUN_BAD_TARGET" });
    await expect(b.client.openTcp("127.0.0.1:70000")).rejects.toMatchObject({ code: "TUN_BAD_PORT" });
    await expect(b.client.openTcp(`${"a".repeat(254)}:80`)).rejects.toMatchObject({ code: "TUN_HOST_TOO_LONG" });
    expect(b.client.stats.streamsOpened).toBe(0);
  });
});

describe("UDP through the tunnel", () => {
  test("datagrams keep their boundaries both ways and the pool reuses the flow", async () => {
    const echo = await udpEcho();
    const b = await bed({});
    const target = `127.0.0.1:${echo.port}`;
    const flow = await b.client.openUdp("127.0.0.1:5555", target);
    expect(flow.isNew).toBe(true);
    const replies: Uint8Array[] = [];
    flow.stream.setHandlers({ data: (d) => replies.push(d), drain() {}, close() {} });
    const sent = [1, 100, 1400, 4096].map((n) => new Uint8Array(randomBytes(n)));
    for (const d of sent) flow.stream.write(d);
    expect(await until(() => replies.length === sent.length)).toBe(true);
    expect(replies.map((r) => sha256(r)).sort()).toEqual(sent.map((s) => sha256(s)).sort());

    const again = await b.client.openUdp("127.0.0.1:5555", target);
    expect(again.isNew).toBe(false);
    expect(again.stream).toBe(flow.stream);
    const other = await b.client.openUdp("127.0.0.1:5556", target);
    expect(other.isNew).toBe(true);
    expect(b.client.udpFlows).toBe(2);

    b.client.closeUdp(flow.key, other.stream);
    expect(b.client.udpFlows).toBe(2);
    b.client.closeUdp(flow.key, flow.stream);
    expect(b.client.udpFlows).toBe(1);
    expect(await until(() => b.server.activeWork === 1)).toBe(true);
  }, 20_000);

  test("concurrent requests for one key end with one pooled stream", async () => {
    const echo = await udpEcho();
    const b = await bed({});
    const target = `127.0.0.1:${echo.port}`;
    const flows = await Promise.all([1, 2, 3].map(() => b.client.openUdp("127.0.0.1:6000", target)));
    expect(flows.filter((f) => f.isNew).length).toBe(1);
    expect(new Set(flows.map((f) => f.stream)).size).toBe(1);
    expect(b.client.udpFlows).toBe(1);
  }, 20_000);

  test("the sweeper closes idle flows", async () => {
    const echo = await udpEcho();
    const b = await bed({});
    await b.client.openUdp("127.0.0.1:7000", `127.0.0.1:${echo.port}`);
    b.client.sweep(Date.now());
    expect(b.client.udpFlows).toBe(1);
    b.client.sweep(Date.now() + 61_000);
    expect(b.client.udpFlows).toBe(0);
  }, 20_000);
});

describe("PING and TCPF", () => {
  test("ping returns a round-trip time and the server stored the TCPF flags per connection", async () => {
    const b = await bed({ conn: 2 });
    expect(await until(() => b.client.readyCount === 2)).toBe(true);
    const rtt = await b.client.ping();
    expect(rtt).toBeGreaterThan(0);
    expect(b.server.stats.pings).toBeGreaterThanOrEqual(3);
    expect(await until(() => b.server.peerFlags.size === 2)).toBe(true);
    for (const v of b.server.peerFlags.values()) expect(v.flags).toEqual([0x18]);
  }, 20_000);

  test("the server tolerates Go's zero-byte probe streams and repeated TCPF", async () => {
    const b = await bed({ serverKcp: { smuxkalive: 1, smuxktimeout: 2 } });
    const net = b.net;
    const raw = net.bind({ ip: "10.77.0.9", port: 50000 });
    const conn = TunnelConn.dial(raw, SERVER_ADDR, options("client", {}), true);
    cleanups.push(() => conn.close());
    conn.openStream().close();
    for (let i = 0; i < 3; i++) {
      const s = conn.openStream();
      s.write(new Uint8Array([0x50, 0x01, 0x03, 0x00, 0x05, 0x02, 0x00, 0x02, 0x00, 0x10]));
      s.close();
    }
    expect(await until(() => b.server.stats.probeStreams === 1 && b.server.stats.tcpf >= 4)).toBe(true);
    expect(b.server.peerFlags.get("10.77.0.9:50000")?.flags).toEqual([0x02, 0x10]);
    conn.close();
    expect(await until(() => !b.server.peerFlags.has("10.77.0.9:50000"), 15_000)).toBe(true);
  }, 20_000);
});

describe("failures", () => {
  test("a wrong key: no crash, the server counts the drops, requests fail with TUN_UNAVAILABLE", async () => {
    const b = await bed({ block: "aes-128-gcm", clientKey: "not-the-key", timings: { startWaitMs: 300, waitMs: 300, verifyTimeoutMs: 500 } });
    expect(b.client.readyCount).toBe(0);
    await expect(b.client.openTcp("127.0.0.1:9")).rejects.toMatchObject({ code: "TUN_UNAVAILABLE" });
    expect(b.server.sessionCount).toBe(0);
    expect(b.server.stats.sessionsAccepted).toBe(0);
    expect(b.serverTunnel.crypt.stats.checksumFailures + b.serverTunnel.crypt.stats.malformed).toBeGreaterThan(0);
    expect(await until(() => b.client.stats.connectFailures >= 1, 5000)).toBe(true);
  }, 20_000);

  test("limits refuse with counted refusals: per-session streams and the header deadline", async () => {
    const echo = await tcpEcho();
    const b = await bed({ serverKcp: { max_streams_per_session: 2, header_timeout: 1 } });
    const before = { ...metrics };
    // PING and TCPF streams are closed by now; two relays fill the session, the third is refused.
    const s1 = await b.client.openTcp(`127.0.0.1:${echo.port}`);
    const s2 = await b.client.openTcp(`127.0.0.1:${echo.port}`);
    s1.setHandlers({ data() {}, drain() {}, close() {} });
    s2.setHandlers({ data() {}, drain() {}, close() {} });
    expect(await until(() => b.server.streamCount === 2)).toBe(true);
    const s3 = await b.client.openTcp(`127.0.0.1:${echo.port}`);
    const closed = await new Promise<boolean>((r) => s3.setHandlers({ data() {}, drain() {}, close: () => r(true) }));
    expect(closed).toBe(true);
    expect(metrics.refusedStreamsPerSession).toBe(before.refusedStreamsPerSession + 1);
    s1.close();
    s2.close();
    expect(await until(() => b.server.streamCount === 0)).toBe(true);

    const raw = b.net.bind({ ip: "10.77.0.8", port: 50001 });
    const conn = TunnelConn.dial(raw, SERVER_ADDR, options("client", {}), true);
    cleanups.push(() => conn.close());
    const silent = conn.openStream();
    const silentClosed = new Promise<boolean>((r) => silent.setHandlers({ data() {}, drain() {}, close: () => r(true) }));
    silent.write(new Uint8Array([0x50]));
    expect(await silentClosed).toBe(true);
    expect(metrics.refusedHeaderTimeout).toBe(before.refusedHeaderTimeout + 1);
  }, 20_000);

  test("max_sessions refuses the second client", async () => {
    const b = await bed({ serverKcp: { max_sessions: 1 } });
    const before = metrics.refusedSessions;
    const raw = b.net.bind({ ip: "10.77.0.7", port: 50002 });
    const conn = TunnelConn.dial(raw, SERVER_ADDR, options("client", {}), true);
    cleanups.push(() => conn.close());
    conn.openStream().write(new Uint8Array([0x50, 0x01, 0x01, 0x00, 0x00]));
    expect(await until(() => metrics.refusedSessions === before + 1)).toBe(true);
    expect(b.server.sessionCount).toBe(1);
  }, 20_000);

  test("a client that goes away without a word: its relay ends by the keepalive timeout, with no error line", async () => {
    const echo = await tcpEcho();
    const fast = { smuxkalive: 1, smuxktimeout: 2 };
    const b = await bed({ serverKcp: fast, clientKcp: fast });
    const raw = b.net.bind({ ip: "10.77.0.9", port: 50003 });
    const conn = TunnelConn.dial(raw, SERVER_ADDR, options("client", fast), true);
    cleanups.push(() => conn.close());
    const stream = openTarget(conn, MessageType.Tcp, `127.0.0.1:${echo.port}`);
    let echoed = 0;
    stream.setHandlers({ data: (c) => void (echoed += c.byteLength), drain() {}, close() {} });
    stream.write(new Uint8Array(100));
    expect(await until(() => echoed === 100)).toBe(true);
    const streamsBefore = b.server.streamCount;
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      // KCP has no close on the wire: the client's socket just stops.
      raw.close();
      expect(await until(() => b.server.streamCount === streamsBefore - 1, 8000)).toBe(true);
    } finally {
      process.stderr.write = write;
    }
    expect(lines.filter((l) => l.includes("[ERROR]"))).toEqual([]);
  }, 20_000);
});

describe("reconnect and shutdown", () => {
  test("after the server is torn down and recreated, the client serves new streams again", async () => {
    const echo = await tcpEcho();
    const fastKeepalive = { smuxkalive: 1, smuxktimeout: 2 };
    const b = await bed({ serverKcp: fastKeepalive, clientKcp: fastKeepalive });
    const port = b.client.slotInfo()[0]!.port;
    const conv = b.client.slotInfo()[0]!.conv;
    const first = new Uint8Array(randomBytes(64 * 1024));
    expect((await echoThrough(await b.client.openTcp(`127.0.0.1:${echo.port}`), first)).hash).toBe(sha256(first));

    await b.server.close(0);
    expect(b.serverConn.isClosed).toBe(true);
    const serverConn = b.net.bind(SERVER_ADDR);
    const server2 = new TunnelServer(serverConn, { tunnel: options("server", fastKeepalive), ownsPacket: true });
    server2.start();
    cleanups.push(() => server2.close(0));

    expect(await until(() => b.client.stats.connectionsLost >= 1, 10_000)).toBe(true);
    expect(await until(() => b.client.readyCount === 1, 10_000)).toBe(true);
    const second = new Uint8Array(randomBytes(64 * 1024));
    expect((await echoThrough(await b.client.openTcp(`127.0.0.1:${echo.port}`), second)).hash).toBe(sha256(second));
    // The raw socket (local port) survived; the KCP conversation is new.
    expect(b.client.slotInfo()[0]!.port).toBe(port);
    expect(b.client.slotInfo()[0]!.conv).not.toBe(conv);
    // The old conv may be accepted too (kcp-go's listener takes any conv) until its keepalive ends it.
    expect(server2.stats.sessionsAccepted).toBeGreaterThanOrEqual(1);
  }, 30_000);

  test("a waiting request cuts a long reconnect backoff short once the server is back", async () => {
    const echo = await tcpEcho();
    const fast = { smuxkalive: 1, smuxktimeout: 2 };
    const b = await bed({
      serverKcp: fast,
      clientKcp: fast,
      timings: { backoffInitialMs: 1000, verifyTimeoutMs: 300, brokenIntervalMs: 500, waitMs: 3000 },
    });
    await b.server.close(0);
    // Two failed attempts: the next scheduled one is about 4 s away.
    expect(await until(() => b.client.stats.connectFailures >= 2, 15_000)).toBe(true);
    const server2 = new TunnelServer(b.net.bind(SERVER_ADDR), { tunnel: options("server", fast), ownsPacket: true });
    server2.start();
    cleanups.push(() => server2.close(0));
    const data = new Uint8Array(randomBytes(10_000));
    expect((await echoThrough(await b.client.openTcp(`127.0.0.1:${echo.port}`), data)).hash).toBe(sha256(data));
  }, 30_000);

  test("shutdown releases every session, timer and socket", async () => {
    const echo = await tcpEcho();
    const uecho = await udpEcho();
    // Other test files share the process-wide KCP scheduler; count only what this test adds.
    const scheduledBefore = defaultScheduler.size;
    const b = await bed({ conn: 2 });
    const open = await b.client.openTcp(`127.0.0.1:${echo.port}`);
    open.setHandlers({ data() {}, drain() {}, close() {} });
    const flow = await b.client.openUdp("127.0.0.1:1", `127.0.0.1:${uecho.port}`);
    flow.stream.setHandlers({ data() {}, drain() {}, close() {} });
    expect(await until(() => b.server.activeWork === 2)).toBe(true);

    const pending = b.client.openTcp("127.0.0.1:9");
    await b.client.close();
    await b.server.close(0);
    await pending.then(
      () => {},
      () => {},
    );
    expect(b.client.slotInfo().every((s) => s.state === "closed")).toBe(true);
    expect(b.clientConns.every((c) => c.isClosed)).toBe(true);
    expect(b.serverConn.isClosed).toBe(true);
    expect(b.server.sessionCount).toBe(0);
    expect(b.server.activeWork).toBe(0);
    expect(b.server.streamCount).toBe(0);
    expect(b.client.udpFlows).toBe(0);
    expect(open.closed).toBe(true);
    expect(await until(() => defaultScheduler.size <= scheduledBefore, 2000)).toBe(true);
    await expect(b.client.openTcp("127.0.0.1:9")).rejects.toMatchObject({ code: "TUN_CLOSED" });
  }, 20_000);
});

/** A PacketConn with the PcapPacketConn flag API, recording what the server tells it. */
class FlagRecordingConn implements PacketConn {
  readonly calls: string[] = [];
  constructor(private readonly inner: PacketConn) {}
  get localAddr(): PacketAddr {
    return this.inner.localAddr;
  }
  get isClosed(): boolean {
    return this.inner.isClosed;
  }
  onPacket(handler: Parameters<PacketConn["onPacket"]>[0]): void {
    this.inner.onPacket(handler);
  }
  writeTo(data: Uint8Array, to: PacketAddr): void {
    this.inner.writeTo(data, to);
  }
  close(): void {
    this.inner.close();
  }
  setPeerFlags(addr: PacketAddr, flags: readonly (string | number)[]): void {
    this.calls.push(`set ${addr.ip}:${addr.port} ${flags.join(",")}`);
  }
  clearPeerFlags(addr: PacketAddr): void {
    this.calls.push(`clear ${addr.ip}:${addr.port}`);
  }
}

describe("more of the composition", () => {
  test("TCPF reaches the raw socket's per-peer flag API, and is cleared when the session ends", async () => {
    let rec: FlagRecordingConn | undefined;
    const fast = { smuxkalive: 1, smuxktimeout: 2 };
    const b = await bed({ wrapServer: (c) => (rec = new FlagRecordingConn(c)), serverKcp: fast, clientKcp: fast });
    expect(await until(() => rec!.calls.length === 1)).toBe(true);
    expect(rec!.calls[0]).toBe("set 10.77.0.1:41001 24");
    await b.client.close();
    expect(await until(() => rec!.calls.length === 2, 10_000)).toBe(true);
    expect(rec!.calls[1]).toBe("clear 10.77.0.1:41001");
  }, 20_000);

  test("guard cookies on both sides carry traffic; a client without the guard gets nowhere", async () => {
    const echo = await tcpEcho();
    const b = await bed({ serverKcp: { guard: true }, clientKcp: { guard: true } });
    const data = new Uint8Array(randomBytes(256 * 1024));
    expect((await echoThrough(await b.client.openTcp(`127.0.0.1:${echo.port}`), data)).hash).toBe(sha256(data));

    const raw = b.net.bind({ ip: "10.77.0.6", port: 50003 });
    const conn = TunnelConn.dial(raw, SERVER_ADDR, options("client", {}), true);
    cleanups.push(() => conn.close());
    conn.openStream().write(new Uint8Array([0x50, 0x01, 0x01, 0x00, 0x00]));
    await Bun.sleep(200);
    expect(b.server.sessionCount).toBe(1);
  }, 20_000);

  test("FEC (dshard 10, pshard 3) over 10 % loss keeps data intact", async () => {
    const echo = await tcpEcho();
    const fec = { dshard: 10, pshard: 3, mode: "fast2" };
    const b = await bed({ serverKcp: fec, clientKcp: fec, lossy: { loss: 0.1, seed: 3 } });
    const data = new Uint8Array(randomBytes(512 * 1024));
    expect((await echoThrough(await b.client.openTcp(`127.0.0.1:${echo.port}`), data)).hash).toBe(sha256(data));
  }, 60_000);

  test("a header split over frames, and payload in the header's frame, both work", async () => {
    const echo = await tcpEcho();
    const b = await bed({});
    const raw = b.net.bind({ ip: "10.77.0.5", port: 50004 });
    const conn = TunnelConn.dial(raw, SERVER_ADDR, options("client", {}), true);
    cleanups.push(() => conn.close());
    const host = new TextEncoder().encode("127.0.0.1");
    const header = new Uint8Array([0x50, 0x01, 0x04, 0x00, 3 + host.length, host.length, ...host, echo.port >> 8, echo.port & 0xff]);

    const split = conn.openStream();
    for (const byte of header) split.write(new Uint8Array([byte]));
    const a = new Uint8Array(randomBytes(10_000));
    expect((await echoThrough(split, a)).hash).toBe(sha256(a));

    const merged = conn.openStream();
    const first = new Uint8Array(randomBytes(300));
    const got: Uint8Array[] = [];
    const done = new Promise<void>((r) =>
      merged.setHandlers({
        data(c) {
          got.push(c);
          if (got.reduce((n, x) => n + x.length, 0) === first.length) r();
        },
        drain() {},
        close() {},
      }),
    );
    const joined = new Uint8Array(header.length + first.length);
    joined.set(header);
    joined.set(first, header.length);
    merged.write(joined);
    await done;
    expect(sha256(Buffer.concat(got))).toBe(sha256(first));
    merged.close();
  }, 20_000);

  test("a stream request honours its abort signal while no connection is ready", async () => {
    const b = await bed({ clientKey: "wrong", timings: { startWaitMs: 100, waitMs: 10_000, verifyTimeoutMs: 300 } });
    const ac = new AbortController();
    const pending = b.client.openTcp("127.0.0.1:9", ac.signal);
    setTimeout(() => ac.abort(), 50);
    await expect(pending).rejects.toMatchObject({ code: "TUN_ABORTED" });
    const closing = b.client.openTcp("127.0.0.1:9");
    void b.client.close();
    await expect(closing).rejects.toMatchObject({ code: "TUN_CLOSED" });
  }, 20_000);

  test("graceful server shutdown: live relays keep working until they end, then close resolves", async () => {
    const echo = await tcpEcho();
    const b = await bed({});
    const stream = await b.client.openTcp(`127.0.0.1:${echo.port}`);
    const first = new Uint8Array(randomBytes(1000));
    const got: Uint8Array[] = [];
    let want = first.length;
    let arrived: () => void = () => {};
    stream.setHandlers({
      data(c) {
        got.push(c);
        if (got.reduce((n, x) => n + x.length, 0) >= want) arrived();
      },
      drain() {},
      close() {},
    });
    const echoed = (): Promise<void> => new Promise((r) => (arrived = r));
    let wait = echoed();
    stream.write(first);
    await wait;
    expect(b.server.activeWork).toBe(1);

    let closed = false;
    const closing = b.server.close(15_000).then(() => (closed = true));
    // New streams are refused while draining; the live relay still echoes.
    const refused = await b.client.openTcp(`127.0.0.1:${echo.port}`);
    const refusedEnd = new Promise<boolean>((r) => refused.setHandlers({ data() {}, drain() {}, close: () => r(true) }));
    expect(await refusedEnd).toBe(true);
    const second = new Uint8Array(randomBytes(1000));
    want += second.length;
    wait = echoed();
    stream.write(second);
    await wait;
    expect(closed).toBe(false);
    stream.close();
    await closing;
    expect(b.server.activeWork).toBe(0);
    expect(b.serverConn.isClosed).toBe(true);
  }, 30_000);
});
