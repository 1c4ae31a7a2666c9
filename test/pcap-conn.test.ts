/**
 * PcapPacketConn construction without a namespace bed: the checks that happen before libpcap is
 * touched (each a SocketError with its code), and, as root, a conn on the loopback device.
 */
import { describe, expect, test } from "bun:test";
import { libpcapVersion } from "../ffi/index.ts";
import { SocketError } from "../src/socket/errors.ts";
import { DEFAULT_SOCKBUF, PcapPacketConn, type PcapConnOptions } from "../src/socket/pcap.ts";

function codeOf(options: PcapConnOptions): string | undefined {
  try {
    new PcapPacketConn(options).close();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(SocketError);
    return (err as SocketError).code;
  }
}

const lo = process.platform === "linux" ? "lo" : process.platform === "darwin" ? "lo0" : "";
const v4 = { ip: "127.0.0.1", routerMac: "02:77:00:00:00:02" };

describe("checked before libpcap is touched", () => {
  test("no address family is SOCK_BAD_ADDRESS", () => {
    expect(codeOf({ interface: lo, port: 0, role: "client" })).toBe("SOCK_BAD_ADDRESS");
  });

  test("an unknown interface is SOCK_NO_INTERFACE", () => {
    expect(codeOf({ interface: "pqnosuch0", port: 0, role: "client", ipv4: v4 })).toBe("SOCK_NO_INTERFACE");
  });

  test("bad addresses, MACs and flags are SOCK_BAD_ADDRESS", () => {
    const srcMac = "02:77:00:00:00:01";
    expect(codeOf({ interface: lo, srcMac, port: 0, role: "client", ipv4: { ip: "not-an-ip", routerMac: v4.routerMac } })).toBe("SOCK_BAD_ADDRESS");
    expect(codeOf({ interface: lo, srcMac, port: 0, role: "client", ipv4: { ip: "10.0.0.1", routerMac: "zz:zz" } })).toBe("SOCK_BAD_ADDRESS");
    expect(codeOf({ interface: lo, srcMac, port: 0, role: "client", ipv4: v4, localFlags: ["PX"] })).toBe("SOCK_BAD_ADDRESS");
    expect(codeOf({ interface: lo, srcMac, port: 70000, role: "client", ipv4: v4 })).toBe("SOCK_BAD_ADDRESS");
  });

  test("per-role receive buffer defaults follow paqet (4 MiB client, 8 MiB server)", () => {
    expect(DEFAULT_SOCKBUF).toEqual({ client: 4 * 1024 * 1024, server: 8 * 1024 * 1024 });
  });
});

function loopbackSkip(): string | undefined {
  if (process.platform !== "linux") return "the loopback test is Linux-only";
  if (process.getuid?.() !== 0) return "needs root";
  try {
    libpcapVersion();
  } catch {
    return "libpcap does not load";
  }
  return undefined;
}
const SKIP = loopbackSkip();

describe.skipIf(SKIP !== undefined)(`on the loopback device${SKIP ? ` (skipped: ${SKIP})` : ""}`, () => {
  test("port 0 draws a port in 32768..65535 per conn; close is idempotent and releases the handles", async () => {
    const srcMac = "02:77:00:00:00:01";
    const a = new PcapPacketConn({ interface: "lo", srcMac, port: 0, role: "client", ipv4: v4 });
    const b = new PcapPacketConn({ interface: "lo", srcMac, port: 0, role: "client", ipv4: v4 });
    try {
      for (const c of [a, b]) {
        expect(c.port).toBeGreaterThanOrEqual(32768);
        expect(c.port).toBeLessThanOrEqual(65535);
        expect(c.localAddr).toEqual({ ip: "127.0.0.1", port: c.port });
      }
      await a.ready;
      a.writeTo(new Uint8Array([1, 2, 3]), { ip: "127.0.0.1", port: 9 });
      // Queued until the end of this turn, then sent (one sendmmsg for the turn's frames).
      expect(a.stats()).toMatchObject({ sent: 0, sendQueued: 1, sendBatched: true });
      await Promise.resolve();
      expect(a.stats()).toMatchObject({ sent: 1, sentBytes: 3, sendQueued: 0 });
      expect(() => a.writeTo(new Uint8Array(1), { ip: "::1", port: 9 })).toThrow(SocketError);
      expect(a.stats().sendErrors).toBe(1);
    } finally {
      const closing = a.close();
      expect(a.close()).toBe(closing);
      await closing;
      await b.close();
    }
    expect(a.isClosed).toBe(true);
    let err: unknown;
    try {
      a.writeTo(new Uint8Array(1), { ip: "127.0.0.1", port: 9 });
    } catch (e) {
      err = e;
    }
    expect((err as SocketError).code).toBe("SOCK_CLOSED");
  });

  for (const perFrame of [false, true]) {
    test(`${perFrame ? "one pcap_sendpacket per frame" : "sendmmsg batches"}: 20 turns of 50 datagrams arrive whole and in order`, async () => {
      const v4b = { ip: "127.0.0.1", routerMac: "00:00:00:00:00:00" };
      const rx = new PcapPacketConn({ interface: "lo", srcMac: "00:00:00:00:00:00", port: 0, role: "server", ipv4: v4b });
      const tx = new PcapPacketConn({ interface: "lo", srcMac: "00:00:00:00:00:00", port: 0, role: "client", ipv4: v4b, sendPerFrame: perFrame });
      try {
        await Promise.all([rx.ready, tx.ready]);
        const got: number[] = [];
        let sizesOk = true;
        rx.onPacket((data) => {
          const seq = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
          if (data.length !== 100 + (seq % 1200) || data[data.length - 1] !== (seq & 0xff)) sizesOk = false;
          got.push(seq);
        });
        // 50 per turn: lo has offloads and a 64 KiB MTU, so libpcap sizes each receive ring frame
        // for 64 KiB and an 8 MiB buffer holds only about 120 frames.
        const N = 1000;
        for (let i = 0; i < N; i++) {
          const d = new Uint8Array(100 + (i % 1200));
          new DataView(d.buffer).setUint32(0, i);
          d[d.length - 1] = i & 0xff;
          tx.writeTo(d, { ip: "127.0.0.1", port: rx.port });
          if (i % 50 === 49) await Bun.sleep(20);
        }
        expect(tx.stats().sendBatched).toBe(!perFrame);
        for (let i = 0; i < 300 && got.length < N; i++) await Bun.sleep(10);
        expect(got.length).toBe(N);
        expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
        expect(sizesOk).toBe(true);
        expect(tx.stats()).toMatchObject({ sent: N, sendErrors: 0, sendQueued: 0 });
      } finally {
        await tx.close();
        await rx.close();
      }
    });
  }

  test("frames still queued when the conn closes are sent first", async () => {
    const c = new PcapPacketConn({ interface: "lo", srcMac: "02:77:00:00:00:01", port: 0, role: "client", ipv4: v4 });
    await c.ready;
    for (let i = 0; i < 3; i++) c.writeTo(new Uint8Array([i]), { ip: "127.0.0.1", port: 9 });
    expect(c.stats().sendQueued).toBe(3);
    const closing = c.close();
    expect(c.stats()).toMatchObject({ sent: 3, sentBytes: 3, sendQueued: 0, sendErrors: 0 });
    await closing;
  });

  test("an explicit port is kept", async () => {
    const c = new PcapPacketConn({ interface: "lo", srcMac: "02:77:00:00:00:01", port: 4242, role: "server", ipv4: v4 });
    expect(c.port).toBe(4242);
    await c.close();
  });
});
