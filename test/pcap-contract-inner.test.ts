/**
 * The shared PacketConn contract run against PcapPacketConn on a real veth link.
 *
 * Two raw sockets in one process need both veth ends in the process's namespace, so this file
 * only runs when test/pcap-netns.test.ts starts it inside a "single" bed with the bed in
 * PAQET_PCAP_CONTRACT_BED (`ip netns exec <ns> bun test test/pcap-contract-inner.test.ts`).
 * Run directly, it is skipped with that reason.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { SocketError } from "../src/socket/errors.ts";
import { PcapPacketConn } from "../src/socket/pcap.ts";
import type { Bed } from "./helpers/netns.ts";
import { runPacketConnContract } from "./helpers/packetconn-contract.ts";

const bedJson = process.env.PAQET_PCAP_CONTRACT_BED;

if (bedJson === undefined) {
  describe.skip("PacketConn contract: pcap (started by pcap-netns.test.ts inside a network namespace)", () => {
    test("skipped", () => {});
  });
} else {
  const bed = JSON.parse(bedJson) as Pick<Bed, "a" | "b">;
  for (const family of ["ipv4", "ipv6"] as const) {
    runPacketConnContract(`pcap over veth (${family})`, async () => {
      const side = (s: Bed["a"], port: number, role: "client" | "server") =>
        new PcapPacketConn({
          interface: s.ifname,
          port,
          role,
          [family]: { ip: family === "ipv4" ? s.ipv4 : s.ipv6, routerMac: s.routerMac },
        });
      const pair: [PcapPacketConn, PcapPacketConn] = [side(bed.a, 0, "client"), side(bed.b, 9999, "server")];
      await Promise.all(pair.map((c) => c.ready));
      return pair;
    });
  }
}

/** Capture-path behaviour that needs a live link; runs in the same child as the contract. */
if (bedJson !== undefined) {
  const bed = JSON.parse(bedJson) as Pick<Bed, "a" | "b">;
  const open = (s: Bed["a"], port: number, extra: Partial<ConstructorParameters<typeof PcapPacketConn>[0]> = {}) =>
    new PcapPacketConn({ interface: s.ifname, port, role: "server", ipv4: { ip: s.ipv4, routerMac: s.routerMac }, ...extra });

  describe("capture ring", () => {
    test("a full ring makes the worker wait: a slow handler loses nothing", async () => {
      const tx = open(bed.a, 0);
      const rx = open(bed.b, 9998, { ringSlots: 64, sockbuf: 32 * 1024 * 1024 });
      try {
        await Promise.all([tx.ready, rx.ready]);
        const n = 3000;
        const seen = new Uint8Array(n);
        let got = 0;
        rx.onPacket((data) => {
          const i = new DataView(data.buffer, data.byteOffset).getUint32(0, true);
          if (i < n) seen[i] = 1;
          got++;
          // Every 200th datagram the main thread stalls for 20 ms (a GC pause, a slow handler).
          if (got % 200 === 0) {
            const until = performance.now() + 20;
            while (performance.now() < until) {
              // stall on purpose
            }
          }
        });
        const d = new Uint8Array(1000);
        for (let i = 0; i < n; i++) {
          new DataView(d.buffer).setUint32(0, i, true);
          tx.writeTo(d, rx.localAddr);
        }
        const deadline = Date.now() + 20_000;
        while (got < n && Date.now() < deadline) await Bun.sleep(20);
        const s = rx.stats().capture;
        expect(got).toBe(n);
        expect(seen.every((v) => v === 1)).toBe(true);
        expect(s.ringWaits).toBeGreaterThan(0);
        expect(s.kernelDrops).toBe(0);
        expect(s.delivered).toBe(n);
      } finally {
        await Promise.all([tx.close(), rx.close()]);
      }
    });

    test("closing during a flood stops delivery at once and releases everything", async () => {
      const tx = open(bed.a, 0);
      const rx = open(bed.b, 9997);
      await Promise.all([tx.ready, rx.ready]);
      let afterClose = 0;
      let closed = false;
      let got = 0;
      rx.onPacket(() => {
        got++;
        if (closed) afterClose++;
      });
      const d = new Uint8Array(1200);
      for (let i = 0; i < 2000; i++) tx.writeTo(d, rx.localAddr);
      while (got === 0) await Bun.sleep(1);
      for (let i = 0; i < 2000; i++) tx.writeTo(d, rx.localAddr);
      const closing = rx.close();
      closed = true;
      await closing;
      await Bun.sleep(50);
      expect(afterClose).toBe(0);
      await tx.close();
    });

    test("an interface that disappears stops the conn and reports through onError", async () => {
      const name = `pqgone${process.pid % 1000}`;
      const sh = (argv: string[]) => expect(Bun.spawnSync(argv, { stderr: "pipe" }).exitCode).toBe(0);
      sh(["ip", "link", "add", name, "type", "veth", "peer", "name", `${name}p`]);
      sh(["ip", "link", "set", name, "up"]);
      sh(["ip", "link", "set", `${name}p`, "up"]);
      const c = new PcapPacketConn({ interface: name, port: 0, role: "client", ipv4: { ip: "10.77.250.1", routerMac: "02:77:00:00:fa:02" } });
      await c.ready;
      let reported: SocketError | undefined;
      c.onError((err) => {
        reported = err;
      });
      sh(["ip", "link", "del", name]);
      const deadline = Date.now() + 5000;
      while (!reported && Date.now() < deadline) await Bun.sleep(20);
      expect(reported).toBeInstanceOf(SocketError);
      expect(reported!.code).toBe("SOCK_PCAP");
      expect(c.isClosed).toBe(true);
      await c.close();
    });

    test("open and close 30 conns in a row: no file descriptors or threads leak", async () => {
      const fds = () => readdirSync("/proc/self/fd").length;
      const threads = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
      // Warm up once: the first conn loads libpcap, libc and the worker module.
      await open(bed.a, 0).close();
      await Bun.sleep(100);
      const fd0 = fds();
      const th0 = threads();
      for (let i = 0; i < 30; i++) {
        const c = open(bed.a, 0);
        await c.ready;
        await c.close();
      }
      await Bun.sleep(300);
      expect(fds()).toBeLessThanOrEqual(fd0 + 2);
      expect(threads()).toBeLessThanOrEqual(th0 + 2);
    }, 60_000);
  });
}
