/**
 * Child process for pcap-send.test.ts: opens a PcapPacketConn on the given interface (inside the
 * caller's namespace), writes `count` datagrams of `size` bytes in ONE turn, waits (bounded) until
 * the send queue is empty, and prints the conn's send figures as one JSON line. Meanwhile it
 * records the longest gap between 1 ms ticks, which shows whether the event loop was ever blocked.
 *
 *   bun test/helpers/send-burst.ts '{"ifname":"…","ip":"…","routerMac":"…","target":"…","count":N,"size":S}'
 */
import { PcapPacketConn } from "../../src/socket/pcap.ts";

const p = JSON.parse(process.argv[2] ?? "{}") as {
  ifname: string;
  ip: string;
  routerMac: string;
  target: string;
  count: number;
  size: number;
  /** Send queue slots (default: the conn's default). */
  slots?: number;
};
const conn = new PcapPacketConn({ interface: p.ifname, role: "client", port: 0, ipv4: { ip: p.ip, routerMac: p.routerMac }, sendBatch: p.slots });
await conn.ready;
let last = performance.now();
let longestTickGapMs = 0;
const ticker = setInterval(() => {
  const now = performance.now();
  longestTickGapMs = Math.max(longestTickGapMs, now - last);
  last = now;
}, 1);
const payload = new Uint8Array(p.size).fill(0x33);
const t0 = performance.now();
for (let i = 0; i < p.count; i++) conn.writeTo(payload, { ip: p.target, port: 9 });
const queuedAfterTurn = conn.stats().sendQueued;
for (let i = 0; i < 2000 && conn.stats().sendQueued > 0; i++) await Bun.sleep(5);
const s = conn.stats();
clearInterval(ticker);
console.log(
  JSON.stringify({
    queuedAfterTurn,
    sent: s.sent,
    sendErrors: s.sendErrors,
    enobufsRetries: s.enobufsRetries,
    sendQueued: s.sendQueued,
    ms: performance.now() - t0,
    longestTickGapMs,
  }),
);
await conn.close();
process.exit(0);
