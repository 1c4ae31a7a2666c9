/**
 * The behaviour every PacketConn adapter promises, as one reusable suite.
 *
 * `makePair` returns two conns that can reach each other by `localAddr` over a lossless link
 * (memory, lossy with no faults, pcap over a veth pair, ...).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { SocketError } from "../../src/socket/errors.ts";
import { addrKey, type PacketAddr, type PacketConn } from "../../src/socket/types.ts";

export type PairFactory = () => [PacketConn, PacketConn] | Promise<[PacketConn, PacketConn]>;

interface Received {
  data: Uint8Array;
  from: PacketAddr;
}

/** Collects what `conn` receives; `until(n)` waits (bounded) for n datagrams. */
function collector(conn: PacketConn) {
  const got: Received[] = [];
  let wake: (() => void) | undefined;
  conn.onPacket((data, from) => {
    got.push({ data: data.slice(), from });
    wake?.();
  });
  return {
    got,
    async until(n: number, timeoutMs = 5000): Promise<Received[]> {
      const deadline = Date.now() + timeoutMs;
      while (got.length < n && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 20);
        });
      }
      return got;
    },
  };
}

/** Lets every pending delivery run (several turns, including immediates and short timers). */
async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setTimeout(r, 2));
}

export function runPacketConnContract(name: string, makePair: PairFactory): void {
  describe(`PacketConn contract: ${name}`, () => {
    let open: PacketConn[] = [];
    const pair = async () => {
      const p = await makePair();
      open.push(...p);
      return p;
    };
    afterEach(() => {
      for (const c of open) c.close();
      open = [];
    });

    test("datagrams go both ways with the sender's address", async () => {
      const [a, b] = await pair();
      const ra = collector(a);
      const rb = collector(b);
      a.writeTo(new Uint8Array([1, 2, 3]), b.localAddr);
      b.writeTo(new Uint8Array([9]), a.localAddr);
      const atB = await rb.until(1);
      const atA = await ra.until(1);
      expect(atB).toHaveLength(1);
      expect([...atB[0]!.data]).toEqual([1, 2, 3]);
      expect(addrKey(atB[0]!.from)).toBe(addrKey(a.localAddr));
      expect(atA).toHaveLength(1);
      expect([...atA[0]!.data]).toEqual([9]);
      expect(addrKey(atA[0]!.from)).toBe(addrKey(b.localAddr));
    });

    test("the conn does not keep the caller's buffer", async () => {
      const [a, b] = await pair();
      const rb = collector(b);
      const buf = new Uint8Array([5, 6, 7]);
      a.writeTo(buf, b.localAddr);
      buf.fill(0);
      const got = await rb.until(1);
      expect([...got[0]!.data]).toEqual([5, 6, 7]);
    });

    test("handlers never run inside writeTo", async () => {
      const [a, b] = await pair();
      let inside = false;
      let ranInside = false;
      let count = 0;
      b.onPacket(() => {
        count++;
        if (inside) ranInside = true;
      });
      inside = true;
      a.writeTo(new Uint8Array([1]), b.localAddr);
      inside = false;
      await settle();
      expect(count).toBe(1);
      expect(ranInside).toBe(false);
    });

    test("onPacket replaces the previous handler", async () => {
      const [a, b] = await pair();
      let first = 0;
      b.onPacket(() => first++);
      const second = collector(b);
      a.writeTo(new Uint8Array([1]), b.localAddr);
      await second.until(1);
      await settle();
      expect(first).toBe(0);
      expect(second.got).toHaveLength(1);
    });

    test("close: idempotent, writes throw SOCK_CLOSED, nothing more is received", async () => {
      const [a, b] = await pair();
      const rb = collector(b);
      b.close();
      b.close();
      expect(b.isClosed).toBe(true);
      expect(a.isClosed).toBe(false);
      let err: unknown;
      try {
        b.writeTo(new Uint8Array([1]), a.localAddr);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SocketError);
      expect((err as SocketError).code).toBe("SOCK_CLOSED");
      a.writeTo(new Uint8Array([1]), b.localAddr);
      await settle();
      expect(rb.got).toHaveLength(0);
    });

    test("a burst of 5000 datagrams all arrive, each intact", async () => {
      const [a, b] = await pair();
      const rb = collector(b);
      const n = 5000;
      const buf = new Uint8Array(64);
      for (let i = 0; i < n; i++) {
        new DataView(buf.buffer).setUint32(0, i, true);
        buf.fill(i & 0xff, 4);
        a.writeTo(buf, b.localAddr);
      }
      const got = await rb.until(n, 10_000);
      expect(got).toHaveLength(n);
      const seen = new Set<number>();
      for (const { data } of got) {
        expect(data.byteLength).toBe(64);
        const i = new DataView(data.buffer, data.byteOffset).getUint32(0, true);
        expect(data[63]).toBe(i & 0xff);
        seen.add(i);
      }
      expect(seen.size).toBe(n);
    });
  });
}
