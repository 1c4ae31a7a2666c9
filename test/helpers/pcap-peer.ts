/**
 * One side of a two-process PcapPacketConn exchange, started by test/pcap-netns.test.ts and
 * bench/pcap.ts inside a bed namespace (`ip netns exec <ns> bun test/helpers/pcap-peer.ts`).
 *
 * Configured by the JSON in PAQET_PEER. Prints JSON lines on stdout: {"event":"ready","port":P}
 * once capturing, then {"event":"done",...} with its findings, and exits. Every wait is bounded by
 * `deadlineMs`.
 *
 * - "echo": sends every datagram back to its sender; with `peerFlags`, the first datagram of each
 *   peer sets that peer's flag cycle first (what the server does on a TCPF message). Done after
 *   `count` datagrams or at the deadline.
 * - "send": sends `count` datagrams (index in the first 4 bytes, deterministic sizes and bytes) to
 *   `target`, then waits for the echoes and checks each one against what was sent.
 */
import { PcapPacketConn } from "../../src/socket/pcap.ts";
import { addrKey } from "../../src/socket/types.ts";

export interface PeerConfig {
  readonly mode: "echo" | "send";
  readonly ifname: string;
  readonly family: "ipv4" | "ipv6";
  readonly ip: string;
  readonly routerMac: string;
  readonly port: number;
  readonly localFlags?: readonly string[];
  readonly peerFlags?: readonly string[];
  readonly target?: { readonly ip: string; readonly port: number };
  readonly count: number;
  readonly deadlineMs: number;
}

/** Datagram i: 1..1350 bytes (at least 4), index LE in bytes 0..3, then (i * 7 + j) & 0xff. */
export function datagram(i: number): Uint8Array {
  const size = 4 + ((i * 37) % 1347);
  const d = new Uint8Array(size);
  new DataView(d.buffer).setUint32(0, i, true);
  for (let j = 4; j < size; j++) d[j] = (i * 7 + j) & 0xff;
  return d;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

if (import.meta.main) {
  const cfg = JSON.parse(process.env.PAQET_PEER ?? "{}") as PeerConfig;
  const conn = new PcapPacketConn({
    interface: cfg.ifname,
    role: cfg.mode === "echo" ? "server" : "client",
    port: cfg.port,
    localFlags: cfg.localFlags,
    [cfg.family]: { ip: cfg.ip, routerMac: cfg.routerMac },
  });
  await conn.ready;
  say({ event: "ready", port: conn.port });
  const deadline = Date.now() + cfg.deadlineMs;
  const froms = new Set<string>();
  let received = 0;
  let mismatched = 0;
  let finish: () => void = () => {};
  const done = new Promise<void>((r) => {
    finish = r;
  });

  if (cfg.mode === "echo") {
    conn.onPacket((data, from) => {
      const key = addrKey(from);
      if (!froms.has(key)) {
        froms.add(key);
        if (cfg.peerFlags) conn.setPeerFlags(from, cfg.peerFlags);
      }
      received++;
      conn.writeTo(data, from);
      if (received >= cfg.count) finish();
    });
  } else {
    const seen = new Set<number>();
    conn.onPacket((data, from) => {
      froms.add(addrKey(from));
      received++;
      const i = data.length >= 4 ? new DataView(data.buffer, data.byteOffset).getUint32(0, true) : -1;
      if (i < 0 || i >= cfg.count || !same(data, datagram(i))) mismatched++;
      else seen.add(i);
      if (seen.size >= cfg.count) finish();
    });
    for (let i = 0; i < cfg.count; i++) conn.writeTo(datagram(i), cfg.target!);
  }
  const timer = setTimeout(finish, Math.max(0, deadline - Date.now()));
  await done;
  clearTimeout(timer);
  const stats = conn.stats();
  await conn.close();
  say({ event: "done", received, mismatched, froms: [...froms], port: conn.port, sent: stats.sent, capture: stats.capture });
  process.exit(0);
}
