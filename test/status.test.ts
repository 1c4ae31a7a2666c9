import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { metrics, resetMetrics, snapshot } from "../src/lib/metrics.ts";
import { parseLoopbackAddr, startStatusServer, StatusError, type StatusServer } from "../src/lib/status-server.ts";

function start(opts: Parameters<typeof startStatusServer>[0]): StatusServer {
  const r = startStatusServer(opts);
  if (!r.ok) throw r.error;
  return r.server;
}

describe("status endpoint", () => {
  let server: StatusServer;
  beforeAll(() => {
    resetMetrics();
    metrics.rawUpPackets = 77;
    metrics.guardDrops = 5;
    server = start({ addr: "127.0.0.1:0" });
  });
  afterAll(async () => {
    await server.stop();
  });

  test("binds the port the kernel picked", () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  test("healthz", async () => {
    const res = await fetch(`${server.url}/debug/paqet/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok\n");
  });

  test("status is the snapshot as 2-space JSON", async () => {
    const res = await fetch(`${server.url}/debug/paqet/status`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const body = await res.text();
    const doc = JSON.parse(body);
    expect(doc.raw_up_packets).toBe(77);
    expect(doc.guard_drops).toBe(5);
    expect(body).toStartWith('{\n  "now": ');
    expect(body).toBe(`${JSON.stringify(doc, null, 2)}\n`);
  });

  test("text is the table", async () => {
    const res = await fetch(`${server.url}/debug/paqet/text`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const body = await res.text();
    expect(body).toStartWith("paqet status\n");
    expect(body).toMatch(/raw packets: +up=77 /);
  });

  test("metrics is Prometheus 0.0.4", async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const body = await res.text();
    expect(body).toContain("# TYPE paqet_raw_up_packets_total counter\npaqet_raw_up_packets_total 77\n");
  });

  test("unknown paths are 404, other methods 405, HEAD is allowed", async () => {
    for (const path of ["/", "/debug/paqet", "/debug/paqet/status/", "/debug/pprof/", "/metricsx"]) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(404);
    }
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const res = await fetch(`${server.url}/debug/paqet/status`, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
    }
    const head = await fetch(`${server.url}/debug/paqet/healthz`, { method: "HEAD" });
    expect(head.status).toBe(200);
  });
});

describe("status endpoint options", () => {
  test("diag off serves 404 with a hint on every paqet path", async () => {
    const server = start({ addr: "127.0.0.1:0", diag: false });
    try {
      for (const path of ["/debug/paqet/healthz", "/debug/paqet/status", "/debug/paqet/text", "/metrics"]) {
        const res = await fetch(`${server.url}${path}`);
        expect(res.status).toBe(404);
        expect(await res.text()).toContain("debug.diag");
      }
    } finally {
      await server.stop();
    }
  });

  test("a snapshot that throws is a 500, and the server keeps serving", async () => {
    let fail = true;
    const server = start({
      addr: "127.0.0.1:0",
      snapshot: () => {
        if (fail) throw new Error("provider exploded");
        return snapshot();
      },
    });
    try {
      const bad = await fetch(`${server.url}/debug/paqet/status`);
      expect(bad.status).toBe(500);
      expect(await bad.text()).toContain("provider exploded");
      fail = false;
      expect((await fetch(`${server.url}/debug/paqet/status`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  test("a port in use comes back as STATUS_LISTEN_FAILED instead of a throw", async () => {
    const first = start({ addr: "127.0.0.1:0" });
    try {
      const r = startStatusServer({ addr: first.addr });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toBeInstanceOf(StatusError);
        expect(r.error.code).toBe("STATUS_LISTEN_FAILED");
        expect(r.error.message).toContain(first.addr);
      }
    } finally {
      await first.stop();
    }
  });

  test("stop closes the port", async () => {
    const server = start({ addr: "127.0.0.1:0" });
    const url = `${server.url}/debug/paqet/healthz`;
    expect((await fetch(url)).status).toBe(200);
    await server.stop();
    let reached = true;
    try {
      await fetch(url);
    } catch {
      reached = false;
    }
    expect(reached).toBe(false);
  });
});

describe("loopback only", () => {
  test("refuses unspecified and non-loopback addresses before listening", () => {
    for (const addr of ["0.0.0.0:6060", ":6060", "[::]:6060", "10.77.0.1:6060", "192.168.1.1:0", "[fd77::1]:6060", "[::ffff:10.0.0.1]:6060", "example.com:6060"]) {
      const r = startStatusServer({ addr });
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe("STATUS_NOT_LOOPBACK");
        expect(r.error.message).toContain("loopback");
      }
    }
  });

  test("rejects malformed addresses", () => {
    for (const addr of ["", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:6060", "127.0.0.1:60a", "[::1]6060"]) {
      expect(() => parseLoopbackAddr(addr)).toThrow(StatusError);
      const r = startStatusServer({ addr });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe("STATUS_BAD_ADDRESS");
    }
  });

  test("accepts 127/8, localhost and ::1 in any spelling", () => {
    expect(parseLoopbackAddr("127.0.0.1:6060")).toEqual({ host: "127.0.0.1", port: 6060 });
    expect(parseLoopbackAddr("127.1.2.3:0")).toEqual({ host: "127.1.2.3", port: 0 });
    expect(parseLoopbackAddr("localhost:6060")).toEqual({ host: "127.0.0.1", port: 6060 });
    expect(parseLoopbackAddr("[::1]:6060")).toEqual({ host: "::1", port: 6060 });
    expect(parseLoopbackAddr("[0:0:0:0:0:0:0:1]:1")).toEqual({ host: "0:0:0:0:0:0:0:1", port: 1 });
    expect(parseLoopbackAddr("[::ffff:127.0.0.1]:1").port).toBe(1);
  });

  test("listens on ::1 when the host has IPv6 loopback", async () => {
    const r = startStatusServer({ addr: "[::1]:0" });
    if (!r.ok) {
      // Containers without IPv6 cannot bind ::1; the refusal must then be a listen failure, not a throw.
      expect(r.error.code).toBe("STATUS_LISTEN_FAILED");
      return;
    }
    try {
      expect(r.server.url).toStartWith("http://[::1]:");
      expect(await (await fetch(`${r.server.url}/debug/paqet/healthz`)).text()).toBe("ok\n");
    } finally {
      await r.server.stop();
    }
  });
});
