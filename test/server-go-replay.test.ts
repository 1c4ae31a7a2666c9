/**
 * Our server fed with what a real Go paqet alpha.21 client sent (the c2s frames of the reference
 * captures, replayed in order through a memory PacketConn): the same KCP sessions, the startup and
 * per-request TCPF streams, the zero-byte probes, and the TCP/UDP requests reach the targets with
 * the Go client's bytes. The server's answers go nowhere (the capture's client cannot react), so
 * this checks the server's reading side against Go's bytes, not a conversation.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { loadConfig } from "../src/conf/index.ts";
import { readPcapFile } from "../src/packet/pcapfile.ts";
import { TunnelServer } from "../src/server/index.ts";
import { parseFrame } from "../src/socket/framing.ts";
import { MemoryNetwork } from "../src/socket/memory.ts";
import { tunnelOptionsFromConfig } from "../src/tunnel/index.ts";
import { vectorPath } from "./helpers/shared.ts";
import { until } from "./helpers/wait.ts";

const SERVER = { ip: "10.77.0.2", port: 9999 };

/** The client → server datagrams of a capture, in capture order, with their source. */
function clientDatagrams(file: string): { from: { ip: string; port: number }; payload: Uint8Array }[] {
  const pcap = readPcapFile(new Uint8Array(readFileSync(vectorPath(file))));
  const out: { from: { ip: string; port: number }; payload: Uint8Array }[] = [];
  for (const rec of pcap.records) {
    const f = parseFrame(rec.data);
    if (!f || f.dst.port !== SERVER.port) continue;
    out.push({ from: { ip: f.src.ip, port: f.src.port }, payload: f.payload.slice() });
  }
  return out;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Listens on 127.0.0.1:port; undefined when the port is taken on this machine. */
async function tcpTarget(port: number, received: Buffer[]): Promise<Server | undefined> {
  const server = createServer((s) => {
    s.on("error", () => {});
    s.on("data", (d: Buffer) => received.push(d));
  });
  const ok = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (!ok) return undefined;
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return server;
}

async function udpTarget(port: number, received: Buffer[]): Promise<UdpSocket | undefined> {
  const socket = createSocket("udp4");
  socket.on("message", (m) => received.push(m));
  const ok = await new Promise<boolean>((resolve) => {
    socket.once("error", () => resolve(false));
    socket.bind(port, "127.0.0.1", () => resolve(true));
  });
  if (!ok) return undefined;
  cleanups.push(() => new Promise<void>((r) => socket.close(() => r())));
  return socket;
}

function replayInto(name: string, file: string): TunnelServer {
  const config = loadConfig(vectorPath(`configs/${name}/server.yaml`)).config;
  const net = new MemoryNetwork();
  const server = new TunnelServer(net.bind(SERVER), { tunnel: tunnelOptionsFromConfig(config), ownsPacket: true, dialTimeoutMs: 2000 });
  server.start();
  cleanups.push(() => server.close(0));
  const senders = new Map<string, ReturnType<MemoryNetwork["bind"]>>();
  for (const d of clientDatagrams(file)) {
    const key = `${d.from.ip}:${d.from.port}`;
    let conn = senders.get(key);
    if (!conn) {
      conn = net.bind(d.from);
      senders.set(key, conn);
    }
    conn.writeTo(d.payload, SERVER);
  }
  return server;
}

describe("the server reads a Go alpha.21 client's bytes", () => {
  test("go-aes.pcap: one session, 3 TCPF, 2 probes, 2 CONNECTs whose requests reach the target", async () => {
    const got: Buffer[] = [];
    const target = await tcpTarget(8080, got);
    const server = replayInto("go-aes", "go-aes.pcap");
    expect(await until(() => server.stats.tcpStreams === 2 && server.stats.probeStreams === 2 && server.stats.tcpf === 3)).toBe(true);
    expect(server.stats.sessionsAccepted).toBe(1);
    expect(server.stats.headerErrors).toBe(0);
    expect(server.peerFlags.get("10.77.0.1:63346")?.flags).toEqual([0x18]);
    if (!target) {
      console.warn("go-aes replay: 127.0.0.1:8080 is taken here; target-side bytes not checked");
      return;
    }
    expect(await until(() => Buffer.concat(got).toString().includes("GET /bytes/200000 HTTP/1.1"))).toBe(true);
    expect(Buffer.concat(got).toString()).toContain("GET /small HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n");
  }, 20_000);

  test("go-gcm-udp.pcap: two sessions; the UDP datagrams (10, 1000, 3000 B) reach the target one by one", async () => {
    const datagrams: Buffer[] = [];
    const http: Buffer[] = [];
    const udp = await udpTarget(7777, datagrams);
    const tcp = await tcpTarget(8080, http);
    const server = replayInto("go-gcm-udp", "go-gcm-udp.pcap");
    expect(await until(() => server.stats.udpStreams === 1 && server.stats.tcpStreams === 1 && server.stats.tcpf === 4)).toBe(true);
    expect(server.stats.sessionsAccepted).toBe(2);
    expect(server.stats.probeStreams).toBe(2);
    expect(server.stats.headerErrors).toBe(0);
    if (udp) {
      expect(await until(() => datagrams.length === 3)).toBe(true);
      expect(datagrams.map((d) => d.length)).toEqual([10, 1000, 3000]);
    } else {
      console.warn("go-gcm-udp replay: 127.0.0.1:7777 is taken here; datagrams not checked");
    }
    if (tcp) {
      expect(await until(() => Buffer.concat(http).toString().includes("Host: 127.0.0.1:18080"))).toBe(true);
    }
  }, 20_000);

  test("go-null.pcap: remote_flag [A, PA] arrives as TCPF words 0x10, 0x18", async () => {
    await tcpTarget(8080, []);
    const server = replayInto("go-null", "go-null.pcap");
    expect(await until(() => server.stats.tcpStreams === 1 && server.peerFlags.size === 1)).toBe(true);
    expect([...server.peerFlags.values()][0]!.flags).toEqual([0x10, 0x18]);
    expect(server.stats.headerErrors).toBe(0);
  }, 20_000);
});
