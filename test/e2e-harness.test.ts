/**
 * The end-to-end harness itself, without privileges: the configs it writes pass the real config
 * loader with the intended values, and the probe (SOCKS5 client, HTTP reader, UDP ASSOCIATE,
 * raw bytes) works against the real SOCKS5 server over a fake tunnel on loopback, and notices
 * corrupted bodies.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { createServer } from "node:http";
import { clientYaml, serverYaml, type TunnelSpec } from "../src/cli/demo/harness.ts";
import type { NetBed } from "../src/cli/demo/netbed.ts";
import { patternBlock, patternSha256 } from "../src/cli/demo/pattern.ts";
import { type GetOutcome, type LatOutcome, type RawOutcome, runProbe, type UdpOutcome } from "../src/cli/demo/probe.ts";
import { decodeSocksAddr, encodeSocksAddr } from "../src/cli/demo/socks5-client.ts";
import { startHttpTarget, startUdpEcho } from "../src/cli/demo/targets.ts";
import { parseConfig } from "../src/conf/index.ts";
import { Socks5Server } from "../src/socks5/server.ts";
import { FakeTunnel } from "./helpers/fake-tunnel.ts";

const bed: NetBed = {
  a: { ns: "pqt0000a", ifname: "pqt0000a0", mac: "02:77:00:00:64:01", ipv4: "10.77.100.1", ipv6: "fd77:100::1", routerMac: "02:77:00:00:64:02" },
  b: { ns: "pqt0000b", ifname: "pqt0000b0", mac: "02:77:00:00:64:02", ipv4: "10.77.100.2", ipv6: "fd77:100::2", routerMac: "02:77:00:00:64:01" },
  middle: undefined,
  subnet: 100,
  destroy() {},
};

describe("e2e harness: configs", () => {
  const spec: TunnelSpec = {
    key: "k",
    block: "aes-128-gcm",
    conn: 4,
    socksPort: 1080,
    forwards: [{ listen: "127.0.0.1:18080", target: "127.0.0.1:8080", protocol: "tcp" }],
    statusAddr: "127.0.0.1:6061",
  };

  test("the client config loads with the bed's addresses, conn, forwards and status endpoint", () => {
    const { config } = parseConfig(clientYaml(bed, spec), "client.yaml");
    expect(config.role).toBe("client");
    expect(config.network.interface).toBe("pqt0000a0");
    expect(config.network.ipv4?.ip).toBe("10.77.100.1");
    expect(config.network.ipv4?.port).toBe(0);
    expect(config.network.ipv4?.router_mac).toBe("02:77:00:00:64:02");
    expect(config.server?.addr).toBe("10.77.100.2:47000");
    expect(config.transport.conn).toBe(4);
    expect(config.transport.kcp.block).toBe("aes-128-gcm");
    expect(config.socks5.map((s) => s.listen)).toEqual(["127.0.0.1:1080"]);
    expect(config.forward.map((f) => [f.listen, f.target, f.protocol])).toEqual([["127.0.0.1:18080", "127.0.0.1:8080", "tcp"]]);
    expect(config.debug).toEqual({ pprof: "127.0.0.1:6061", diag: true });
  });

  test("the server config loads on the other end with the same port and key", () => {
    const { config } = parseConfig(serverYaml(bed, spec), "server.yaml");
    expect(config.role).toBe("server");
    expect(config.network.interface).toBe("pqt0000b0");
    expect(config.network.ipv4?.addr).toBe("10.77.100.2:47000");
    expect(config.listen?.port).toBe(47000);
    expect(config.transport.kcp.key).toBe("k");
  });

  test("an IPv6 carrier configures only IPv6 on both sides", () => {
    const v6 = { ...spec, family: 6 as const, conn: undefined };
    const c = parseConfig(clientYaml(bed, v6), "client.yaml").config;
    expect(c.network.ipv4).toBeNull();
    expect(c.network.ipv6?.ip).toBe("fd77:100::1");
    expect(c.server?.addr).toBe("[fd77:100::2]:47000");
    const s = parseConfig(serverYaml(bed, v6), "server.yaml").config;
    expect(s.network.ipv4).toBeNull();
    expect(s.network.ipv6?.addr).toBe("[fd77:100::2]:47000");
  });

  test("a client-only key differs from the server's", () => {
    const c = parseConfig(clientYaml(bed, { ...spec, clientKey: "other" }), "client.yaml").config;
    expect(c.transport.kcp.key).toBe("other");
  });
});

describe("e2e harness: SOCKS5 addresses", () => {
  test.each([
    ["10.77.1.2", 80],
    ["fd77:1::2", 8080],
    ["::1", 1],
    ["example.com", 443],
  ])("%s:%d round-trips", (host, port) => {
    const enc = encodeSocksAddr(host, port);
    const dec = decodeSocksAddr(enc, 0);
    expect(dec?.port).toBe(port);
    expect(dec?.end).toBe(enc.length);
    expect(dec?.host).toBe(host);
  });

  test("a truncated address is not decoded", () => {
    const enc = encodeSocksAddr("10.1.2.3", 80);
    expect(decodeSocksAddr(enc.subarray(0, enc.length - 1), 0)).toBeUndefined();
    expect(decodeSocksAddr(new Uint8Array([9, 0, 0]), 0)).toBeUndefined();
  });
});

describe("e2e harness: probe against the SOCKS5 server over a fake tunnel", () => {
  let http: Server;
  let bogus: Server;
  let udp: { port: number; close(): void };
  let socksServer: Socks5Server;
  let socks: { host: string; port: number };
  let httpAddr: { host: string; port: number };
  let bogusAddr: { host: string; port: number };

  beforeAll(async () => {
    http = await startHttpTarget("127.0.0.1", 0);
    httpAddr = { host: "127.0.0.1", port: (http.address() as AddressInfo).port };
    udp = await startUdpEcho("127.0.0.1", 0);
    // Serves the right length but flips one byte: the probe must notice.
    bogus = createServer((_req, res) => {
      const body = Buffer.from(patternBlock().subarray(0, 65536));
      body[1000] = body[1000]! ^ 1;
      res.writeHead(200, { "content-length": body.length });
      res.end(body);
    });
    await new Promise<void>((r) => bogus.listen(0, "127.0.0.1", r));
    bogusAddr = { host: "127.0.0.1", port: (bogus.address() as AddressInfo).port };
    socksServer = new Socks5Server(new FakeTunnel(), { listen: "127.0.0.1:0" });
    socks = { host: "127.0.0.1", port: (socksServer as unknown as { port: number }).port };
  });

  afterAll(() => {
    socksServer?.close();
    http?.close();
    bogus?.close();
    udp?.close();
  });

  test("downloads through SOCKS5 arrive with the pattern's sha256", async () => {
    const r = (await runProbe({ kind: "get", socks, target: httpAddr, bytes: 3 * 1024 * 1024 + 17, count: 6, concurrency: 3, timeoutMs: 20_000 })) as GetOutcome;
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(6);
    expect(r.bytes).toBe(6 * (3 * 1024 * 1024 + 17));
  }, 30_000);

  test("a corrupted body counts as mismatched, not ok", async () => {
    const r = (await runProbe({ kind: "get", socks, target: bogusAddr, bytes: 65536, count: 1, concurrency: 1, timeoutMs: 10_000 })) as GetOutcome;
    expect(r.ok).toBe(0);
    expect(r.mismatched).toBe(1);
    expect(r.errors[0]).toContain(patternSha256(65536).slice(0, 16));
  }, 20_000);

  test("a refused connection counts as failed", async () => {
    const r = (await runProbe({ kind: "get", target: { host: "127.0.0.1", port: 1 }, bytes: 10, count: 1, concurrency: 1, timeoutMs: 5000 })) as GetOutcome;
    expect(r.failed).toBe(1);
  }, 20_000);

  test("UDP ASSOCIATE echoes come back intact", async () => {
    const r = (await runProbe({ kind: "udp", socks, target: { host: "127.0.0.1", port: udp.port }, sizes: [10, 1000, 3000], timeoutMs: 10_000 })) as UdpOutcome;
    expect(r.results).toEqual([
      { size: 10, ok: true },
      { size: 1000, ok: true },
      { size: 3000, ok: true },
    ]);
  }, 20_000);

  test("latency samples on an open connection and with a new connection each", async () => {
    for (const mode of ["keep", "new"] as const) {
      const r = (await runProbe({ kind: "lat", socks, target: httpAddr, mode, n: 5, gapMs: 2, timeoutMs: 5000 })) as LatOutcome;
      expect(r.failed).toBe(0);
      expect(r.samplesMs.length).toBe(5);
    }
  }, 20_000);

  test("raw bytes: BIND is answered with 05 07 and a close", async () => {
    const r = (await runProbe({ kind: "raw", addr: socks, chunksHex: ["050100", "050200017f0000010050"], waitMs: 3000 })) as RawOutcome;
    expect(r.replyHex).toBe("0500" + "05070001000000000000");
    expect(r.closed).toBe(true);
  }, 20_000);
});
