/**
 * PSH payloads handed out piece by piece (FrameDecoder.nextPiece) as the transport's chunks arrive,
 * and what the stream makes of the pieces: the same bytes, and the same UPDs as whole frames.
 */
import { describe, expect, test } from "bun:test";
import { MeteredStream } from "../src/client/metered.ts";
import { duplexPair, type Duplex, type DuplexHandlers } from "../src/lib/duplex.ts";
import { Pipe } from "../src/lib/pipe.ts";
import { Cmd, FrameDecoder, Session, decodeHeader, encodeFrame, encodeUpdFrame, paqetSmuxConfig, type SmuxConfig } from "../src/smux/index.ts";

const v2: SmuxConfig = { ...paqetSmuxConfig, keepAliveDisabled: true };
const settle = () => new Promise((r) => setTimeout(r, 1));

function rng(seed: number): () => number {
  return () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
}

describe("FrameDecoder.nextPiece", () => {
  test("random frames in random chunks: PSH pieces concatenate to the payload, other frames come whole", () => {
    const rnd = rng(7);
    for (let round = 0; round < 50; round++) {
      const frames: { cmd: Cmd; sid: number; body: Uint8Array }[] = [];
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 20; i++) {
        const kind = rnd() % 4;
        const sid = (rnd() % 5) + 1;
        if (kind === 0) {
          const body = new Uint8Array(rnd() % 70000 > 65535 ? 0 : rnd() % 5000).map(() => rnd() & 0xff);
          frames.push({ cmd: Cmd.PSH, sid, body });
          parts.push(encodeFrame(2, Cmd.PSH, sid, body));
        } else if (kind === 1) {
          const f = encodeUpdFrame(2, sid, rnd(), rnd());
          frames.push({ cmd: Cmd.UPD, sid, body: f.subarray(8) });
          parts.push(f);
        } else {
          const cmd = kind === 2 ? Cmd.SYN : Cmd.FIN;
          frames.push({ cmd, sid, body: new Uint8Array(0) });
          parts.push(encodeFrame(2, cmd, sid));
        }
      }
      const wire = Buffer.concat(parts);
      const d = new FrameDecoder(2);
      const got: { cmd: number; sid: number; body: number[] }[] = [];
      let off = 0;
      while (off < wire.length) {
        const n = 1 + (rnd() % 3000);
        d.push(wire.subarray(off, off + n));
        off += n;
        while (d.nextPiece()) {
          if (d.firstPiece) got.push({ cmd: d.cmd, sid: d.sid, body: [] });
          else expect(d.cmd).toBe(Cmd.PSH);
          const last = got[got.length - 1]!;
          last.body.push(...d.body);
          if (d.cmd === Cmd.PSH) expect(last.body.length + d.bodyLeft).toBe(d.length);
        }
      }
      expect(d.bufferedBytes).toBe(0);
      expect(got.map((g) => [g.cmd, g.sid, g.body.length])).toEqual(frames.map((f) => [f.cmd, f.sid, f.body.length]));
      for (let i = 0; i < frames.length; i++) expect(Buffer.from(got[i]!.body).equals(Buffer.from(frames[i]!.body))).toBe(true);
    }
  });
});

describe("a stream fed pieces", () => {
  test("a pull read returns the frame whole and the UPD reports the whole frame, as Go smux", async () => {
    const [peer, ours] = duplexPair();
    const frames: Uint8Array[] = [];
    peer.setHandlers({ data: (c) => frames.push(c.slice()), drain() {}, close() {} });
    const server = Session.server(ours, { config: v2 });
    let accepted: import("../src/smux/stream.ts").Stream | undefined;
    server.onStream((s) => (accepted = s));
    const payload = new Uint8Array(5000).map((_, i) => i * 31);
    const frame = encodeFrame(2, Cmd.PSH, 3, payload);
    peer.write(encodeFrame(2, Cmd.SYN, 3));
    for (const cut of [[0, 100], [100, 1306], [1306, 2612], [2612, 5008]] as const) {
      peer.write(frame.subarray(cut[0], cut[1]));
      await settle();
    }
    const s = accepted!;
    expect(s.readableLength).toBe(5000);
    const out = s.read(1 << 20)!;
    expect(Buffer.from(out).equals(Buffer.from(payload))).toBe(true);
    await settle();
    const upd = frames.map((f) => ({ h: decodeHeader(f), f })).find((x) => x.h.cmd === Cmd.UPD)!;
    expect(upd).toBeDefined();
    // consumed (u32 LE at 8) is the whole frame, not the first piece.
    expect(upd.f[8]! | (upd.f[9]! << 8)).toBe(5000);
    server.close();
  });

  for (const pieces of [false, true]) {
    test(`${pieces ? "deliverPieces: pieces reach the handler in order" : "by default each data call is one whole PSH payload"}; the bucket refills`, async () => {
      const [peer, ours] = duplexPair();
      peer.setHandlers({ data() {}, drain() {}, close() {} });
      const server = Session.server(ours, { config: v2 });
      const got: Uint8Array[] = [];
      server.onStream((s) => {
        if (pieces) s.deliverPieces();
        s.setHandlers({ data: (c) => got.push(c.slice()), drain() {}, close() {} });
      });
      const payload = new Uint8Array(60000).map((_, i) => i % 251);
      const frame = encodeFrame(2, Cmd.PSH, 3, payload);
      peer.write(encodeFrame(2, Cmd.SYN, 3));
      for (let off = 0; off < frame.length; off += 1306) {
        peer.write(frame.subarray(off, off + 1306));
        await settle();
      }
      if (pieces) expect(got.length).toBeGreaterThan(1);
      else expect(got.map((g) => g.length)).toEqual([60000]);
      expect(Buffer.concat(got).equals(Buffer.from(payload))).toBe(true);
      expect(server.stats().receiveBucket).toBe(v2.maxReceiveBuffer);
      server.close();
    });
  }

  test("payloads reassembled for an owning handler stay intact; a transient one gets them in reused memory", async () => {
    const [peer, ours] = duplexPair();
    peer.setHandlers({ data() {}, drain() {}, close() {} });
    const server = Session.server(ours, { config: v2 });
    const kept: Uint8Array[] = [];
    const copied: Uint8Array[] = [];
    const views: Uint8Array[] = [];
    server.onStream((s) => {
      if (s.id === 3) s.setHandlers({ data: (c) => kept.push(c), drain() {}, close() {} });
      else
        s.setHandlers({
          transient: true,
          data: (c) => {
            views.push(c);
            copied.push(c.slice());
          },
          drain() {},
          close() {},
        });
    });
    const payloads = [0, 1, 2].map((k) => new Uint8Array(20000).map((_, i) => (i * 7 + k * 13) & 0xff));
    for (const sid of [3, 5]) {
      peer.write(encodeFrame(2, Cmd.SYN, sid));
      for (const p of payloads) {
        const frame = encodeFrame(2, Cmd.PSH, sid, p);
        for (let off = 0; off < frame.length; off += 1306) {
          peer.write(frame.subarray(off, off + 1306));
          await settle();
        }
      }
    }
    expect(kept.map((c) => Buffer.from(c).equals(Buffer.from(payloads[kept.indexOf(c)]!)))).toEqual([true, true, true]);
    expect(copied.map((c) => c.length)).toEqual([20000, 20000, 20000]);
    expect(copied.map((c, i) => Buffer.from(c).equals(Buffer.from(payloads[i]!)))).toEqual([true, true, true]);
    // The transient handler's views share one buffer: the last payload is all any of them shows now.
    expect(views.map((v) => v.buffer)).toEqual([views[0]!.buffer, views[0]!.buffer, views[0]!.buffer]);
    expect(Buffer.from(views[0]!).equals(Buffer.from(payloads[2]!))).toBe(true);
    expect(new Set(kept.map((c) => c.buffer)).size).toBe(3);
    server.close();
  });

  test("a stream closed in the middle of a payload gives the partial bytes' tokens back", async () => {
    const [peer, ours] = duplexPair();
    peer.setHandlers({ data() {}, drain() {}, close() {} });
    const server = Session.server(ours, { config: v2 });
    let accepted: import("../src/smux/stream.ts").Stream | undefined;
    server.onStream((s) => (accepted = s));
    const frame = encodeFrame(2, Cmd.PSH, 3, new Uint8Array(10000));
    peer.write(encodeFrame(2, Cmd.SYN, 3));
    peer.write(frame.subarray(0, 4000));
    await settle();
    expect(server.stats().receiveBucket).toBe(v2.maxReceiveBuffer - 3992);
    accepted!.close();
    peer.write(frame.subarray(4000));
    await settle();
    expect(server.stats().receiveBucket).toBe(v2.maxReceiveBuffer);
    server.close();
  });
});

describe("transient data handlers", () => {
  class Recorder implements Duplex {
    handlers: DuplexHandlers | undefined;
    closed = false;
    constructor(readonly copiesWrites?: boolean) {}
    setHandlers(h: DuplexHandlers): void {
      this.handlers = h;
    }
    write(): boolean {
      return true;
    }
    pause(): void {}
    resume(): void {}
    close(): void {
      this.closed = true;
    }
  }

  test("a Pipe promises transient handling only toward a duplex whose writes copy; a metered stream passes both on", () => {
    const copying = new Recorder(true);
    const keeping = new Recorder();
    const pipe = new Pipe(copying, keeping);
    // Data from `copying` is written to `keeping`, which keeps references: not transient.
    expect(copying.handlers!.transient).toBe(false);
    expect(keeping.handlers!.transient).toBe(true);
    pipe.close();

    const inner = new Recorder(true);
    const metered = new MeteredStream(inner, "tcp");
    expect(metered.copiesWrites).toBe(true);
    metered.setHandlers({ transient: true, data() {}, drain() {}, close() {} });
    expect(inner.handlers!.transient).toBe(true);
    expect(new MeteredStream(new Recorder(), "tcp").copiesWrites).toBeUndefined();
  });
});
