/**
 * The KCP segment codec and ARQ core against captures made by real kcp-go sessions
 * (../shared/vectors beside the repository, see its README).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { KcpCore } from "../src/kcp/core.ts";
import { createPacketCrypt } from "../src/kcp/crypt/index.ts";
import { createFec } from "../src/kcp/fec.ts";
import { listen } from "../src/kcp/listener.ts";
import { modeParams, paqetKcpOptions, type KcpMode } from "../src/kcp/options.ts";
import { decodeSegments, encodeSegment, KCP_OVERHEAD } from "../src/kcp/segment.ts";
import { dial } from "../src/kcp/session.ts";
import { MemoryNetwork } from "../src/socket/memory.ts";
import { VECTORS_DIR } from "./helpers/shared.ts";

const VECTORS = VECTORS_DIR;

interface VSeg {
  conv: number;
  cmd: number;
  frg: number;
  wnd: number;
  ts: number;
  sn: number;
  una: number;
  len: number;
  /** Absent for segments without data. */
  data_hex?: string;
}
interface VDatagram {
  seq: number;
  dir: string;
  datagram_hex: string;
  decoded: {
    inner_hex?: string;
    fec?: { type: string; shard_hex: string };
    /** Absent for FEC parity shards. */
    kcp_segments?: VSeg[];
  };
}
interface VAppEvent {
  who: "client" | "server";
  what: "read" | "write";
  len: number;
  data_hex?: string;
}
interface VStream {
  conv: number;
  cipher: string;
  key_hex?: string;
  fec: { data_shards: number; parity_shards: number };
  mode: { mode: KcpMode };
  client: { sndwnd: number; rcvwnd: number; mtu: number };
  server: { sndwnd: number; rcvwnd: number; mtu: number };
  app_events: VAppEvent[];
  datagrams: VDatagram[];
}

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const load = <T>(name: string): T => JSON.parse(readFileSync(`${VECTORS}/${name}`, "utf8")) as T;

/** The KCP bytes of a captured datagram (after the crypto layer and any FEC data header), or undefined for parity. */
function kcpBytes(d: VDatagram): Uint8Array | undefined {
  const fec = d.decoded.fec;
  if (fec) return fec.type === "data" ? hex(fec.shard_hex).subarray(2) : undefined;
  return hex(d.decoded.inner_hex ?? d.datagram_hex);
}

/** Bytes of `app_events` data: the hex when given, else the 3000-byte pattern i % 251. */
function eventBytes(ev: VAppEvent): Uint8Array {
  if (ev.data_hex !== undefined) return hex(ev.data_hex);
  return Uint8Array.from({ length: ev.len }, (_, i) => i % 251);
}

const STREAMS = [
  "kcp_stream_null.json",
  "kcp_stream_fast3_null.json",
  "kcp_stream_loss_null.json",
  "kcp_stream_aes_fec.json",
  "kcp_stream_gcm.json",
  "paqet_stack_aes.json",
];

describe("segment codec on every captured segment", () => {
  for (const name of STREAMS) {
    test(name, () => {
      const v = load<VStream>(name);
      let segments = 0;
      for (const d of v.datagrams) {
        const bytes = kcpBytes(d);
        if (!bytes) {
          expect(d.decoded.kcp_segments ?? []).toHaveLength(0);
          continue;
        }
        const decoded = decodeSegments(bytes);
        const wantSegs = d.decoded.kcp_segments ?? [];
        expect(decoded).toHaveLength(wantSegs.length);
        let off = 0;
        decoded.forEach((seg, i) => {
          const want = wantSegs[i]!;
          expect({ ...seg, data: toHex(seg.data) }).toEqual({
            conv: want.conv,
            cmd: want.cmd,
            frg: want.frg,
            wnd: want.wnd,
            ts: want.ts,
            sn: want.sn,
            una: want.una,
            len: want.len,
            data: want.data_hex ?? "",
          });
          const again = encodeSegment(seg);
          expect(toHex(again)).toBe(toHex(bytes.subarray(off, off + KCP_OVERHEAD + seg.len)));
          off += again.byteLength;
          segments++;
        });
      }
      expect(segments).toBeGreaterThan(5);
    });
  }

  test("crypt.json session captures", () => {
    type Capture = { inner_hex: string; decoded: { kcp_segments: VSeg[] } };
    const c = load<{ ciphers: { cipher: string; session_capture?: Capture }[] }>("crypt.json");
    let checked = 0;
    for (const { session_capture: cap } of c.ciphers) {
      if (!cap) continue;
      const segs = decodeSegments(hex(cap.inner_hex));
      expect(segs.map((s) => [s.conv, s.cmd, s.wnd, s.ts, s.sn, s.len, toHex(s.data)])).toEqual(
        cap.decoded.kcp_segments.map((s) => [s.conv, s.cmd, s.wnd, s.ts, s.sn, s.len, s.data_hex ?? ""]),
      );
      checked++;
    }
    expect(checked).toBeGreaterThan(5);
  });
});

/**
 * Replays a capture through two cores driven the way kcp-go sessions drive theirs:
 *  - each captured datagram is matched against what its sender's core emitted; when the sender has
 *    nothing pending, that datagram came from its periodic flush, so the driver flushes it then;
 *  - the datagram (unless the capture dropped it) goes into the receiver's `input`, whose immediate
 *    output (una advanced, fast resend, ACK no-delay) is queued as that side's next datagrams;
 *  - the applications read and write in `app_events` order; without write delay each write flushes;
 *  - the server processes its first datagram under library defaults and is tuned after "accept".
 * The clock is the capture's own: a datagram's time is the largest ts among its segments.
 */
function replay(name: string) {
  const v = load<VStream>(name);
  const params = modeParams(v.mode.mode);
  const produced = { client: [] as Uint8Array[], server: [] as Uint8Array[] };
  const cores = {
    client: new KcpCore(v.conv, (d) => produced.client.push(d.slice())),
    server: new KcpCore(v.conv, (d) => produced.server.push(d.slice())),
  };
  const tune = (core: KcpCore, side: { sndwnd: number; rcvwnd: number; mtu: number }) => {
    core.setNodelay(params.nodelay, params.interval, params.resend, params.nocongestion);
    core.setWndSize(side.sndwnd, side.rcvwnd);
    core.setMtu(side.mtu);
    core.stream = true;
  };
  tune(cores.client, v.client);
  let serverTuned = false;

  const received = { client: [] as number[], server: [] as number[] };
  let nextEvent = 0;
  const reads: { who: string; got: string; want: string }[] = [];
  const advanceApp = (now: number) => {
    for (;;) {
      const ev = v.app_events[nextEvent];
      if (!ev) return;
      if (ev.what === "write") {
        cores[ev.who].send(eventBytes(ev));
        if (!params.writeDelay) cores[ev.who].flush(now);
      } else {
        // The Go reader wakes only once its whole read can complete (the capture's ACKs show
        // the receive queue growing meanwhile), so segments stay queued until then.
        if (cores[ev.who].rcvQueueBytes < ev.len) return;
        while (received[ev.who].length < ev.len) received[ev.who].push(...cores[ev.who].recv()!);
        const got = received[ev.who].splice(0, ev.len);
        reads.push({ who: ev.who, got: toHex(Uint8Array.from(got)), want: toHex(eventBytes(ev)) });
      }
      nextEvent++;
    }
  };

  const mismatches: string[] = [];
  let compared = 0;
  for (const d of v.datagrams) {
    const from = d.dir.startsWith("c2s") ? "client" : "server";
    const to = from === "client" ? "server" : "client";
    const want = d.decoded.kcp_segments ?? [];
    const now = Math.max(...want.map((s) => s.ts));
    advanceApp(now);
    if (produced[from].length === 0) cores[from].flush(now);
    const mine = produced[from].shift();
    const got = mine ? decodeSegments(mine) : [];
    compared++;
    const fields = (s: { cmd: number; frg: number; wnd: number; sn: number; una: number; len: number }) =>
      `${s.cmd}/${s.frg}/${s.wnd}/${s.sn}/${s.una}/${s.len}`;
    if (got.map(fields).join(" ") !== want.map(fields).join(" ")) {
      mismatches.push(`#${d.seq} ${d.dir}: got ${got.map(fields).join(" ")} want ${want.map(fields).join(" ")}`);
    }
    got.forEach((s, i) => {
      const w = want[i];
      if (!w) return;
      // ACK ts echoes the peer's clock and must match exactly; a PUSH's ts is the sender's clock,
      // which the capture only samples, so the replay may be a millisecond or two early.
      const tsOk = s.cmd === 82 ? s.ts === w.ts : Math.abs(s.ts - w.ts) <= 2;
      if (!tsOk || toHex(s.data) !== (w.data_hex ?? "")) mismatches.push(`#${d.seq} segment ${i}: ts ${s.ts} vs ${w.ts} or data differs`);
    });
    if (!d.dir.includes("DROPPED")) {
      const isFirstServerInput = to === "server" && !serverTuned;
      cores[to].input(hex(d.datagram_hex), now, true, isFirstServerInput ? false : params.ackNoDelay);
      if (isFirstServerInput) {
        tune(cores.server, v.server);
        serverTuned = true;
      }
    }
  }
  advanceApp(Number.MAX_SAFE_INTEGER >>> 0);
  return { v, mismatches, compared, reads, nextEvent, cores, produced };
}

describe("core replays real kcp-go exchanges", () => {
  for (const name of ["kcp_stream_null.json", "kcp_stream_fast3_null.json", "kcp_stream_loss_null.json"]) {
    test(name, () => {
      const r = replay(name);
      expect(r.mismatches).toEqual([]);
      expect(r.compared).toBe(r.v.datagrams.length);
      // Every application event happened and each read returned exactly the bytes written.
      expect(r.nextEvent).toBe(r.v.app_events.length);
      for (const read of r.reads) expect(read.got).toBe(read.want);
      // Nothing left unsent and nothing in flight: every PUSH was acknowledged through una.
      expect(r.produced.client).toHaveLength(0);
      expect(r.produced.server).toHaveLength(0);
      expect(r.cores.client.waitSnd).toBe(0);
      expect(r.cores.server.waitSnd).toBe(0);
    });
  }

  test("the loss capture shows a fast resend of the dropped sn", () => {
    const r = replay("kcp_stream_loss_null.json");
    expect(r.cores.client.stats.fastRetransSegs + r.cores.client.stats.earlyRetransSegs).toBe(1);
    expect(r.cores.client.stats.lostSegs).toBe(0);
  });
});

/** The byte stream one direction carried: every distinct PUSH's data in sn order. */
function streamOf(v: VStream, dir: "c2s" | "s2c"): string {
  const bySn = new Map<number, string>();
  for (const d of v.datagrams) {
    if (!d.dir.startsWith(dir)) continue;
    for (const seg of d.decoded.kcp_segments ?? []) if (seg.cmd === 81) bySn.set(seg.sn, seg.data_hex ?? "");
  }
  return [...bySn.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, hexData]) => hexData)
    .join("");
}

describe("listener and dialer take real kcp-go datagrams through crypt and FEC", () => {
  for (const name of STREAMS) {
    test(name, async () => {
      const v = load<VStream & { mode: { mode: KcpMode } }>(name);
      const key = v.key_hex ? hex(v.key_hex) : new Uint8Array(32);
      const crypt = () => createPacketCrypt(v.cipher, key);
      const fec = () => createFec(v.fec.data_shards, v.fec.parity_shards);
      const collect = (s: { setHandlers: (h: { data(c: Uint8Array): void; drain(): void; close(): void }) => void }) => {
        const got: string[] = [];
        s.setHandlers({ data: (c) => got.push(toHex(c)), drain() {}, close() {} });
        return got;
      };
      const settle = async () => {
        for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 2));
      };

      // Server side: the client's datagrams, as sent, from the client's address.
      const net = new MemoryNetwork();
      const serverConn = net.bind({ ip: "10.77.6.1", port: 1 });
      const clientRaw = net.bind({ ip: "10.77.6.2", port: 2 });
      const listener = listen(serverConn, { kcp: paqetKcpOptions("server", v.mode.mode), crypt: crypt(), fec });
      for (const d of v.datagrams) if (d.dir === "c2s") clientRaw.writeTo(hex(d.datagram_hex), serverConn.localAddr);
      const server = await listener.accept();
      expect(server.conv).toBe(v.conv);
      const atServer = collect(server);
      await settle();
      expect(streamOf(v, "c2s").length).toBeGreaterThan(0);
      expect(atServer.join("")).toBe(streamOf(v, "c2s"));
      expect(listener.stats.cryptDropped).toBe(0);

      // Client side: a dialer with the capture's conv gets the server's datagrams.
      const net2 = new MemoryNetwork();
      const dialConn = net2.bind({ ip: "10.77.7.2", port: 2 });
      const serverRaw = net2.bind({ ip: "10.77.7.1", port: 1 });
      const client = dial(dialConn, serverRaw.localAddr, { kcp: paqetKcpOptions("client", v.mode.mode), crypt: crypt(), fec: fec(), conv: v.conv });
      const atClient = collect(client);
      for (const d of v.datagrams) if (d.dir === "s2c") serverRaw.writeTo(hex(d.datagram_hex), dialConn.localAddr);
      await settle();
      expect(atClient.join("")).toBe(streamOf(v, "s2c"));
      expect(client.stats.cryptDropped).toBe(0);

      client.close();
      listener.close();
      for (const c of [serverConn, clientRaw, dialConn, serverRaw]) c.close();
    });
  }
});
