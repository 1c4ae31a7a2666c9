/**
 * The shared PacketConn contract run against PcapPacketConn on a real veth link.
 *
 * Two raw sockets in one process need both veth ends in the process's namespace, so this file
 * only runs when test/pcap-netns.test.ts starts it inside a "single" bed with the bed in
 * PAQET_PCAP_CONTRACT_BED (`ip netns exec <ns> bun test test/pcap-contract-inner.test.ts`).
 * Run directly, it is skipped with that reason.
 */
import { describe, test } from "bun:test";
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
