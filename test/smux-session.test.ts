import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { duplexPair, type Duplex } from "../src/lib/duplex.ts";
import {
  Cmd,
  ManualTimers,
  Session,
  SmuxError,
  StreamState,
  decodeHeader,
  defaultSmuxConfig,
  encodeFrame,
  encodeUpdFrame,
  paqetSmuxConfig,
  type SmuxConfig,
  type Stream,
} from "../src/smux/index.ts";
import { seededRandom as rng } from "../src/socket/lossy.ts";

const settle = () => new Promise((r) => setTimeout(r, 1));
const quiet = { keepAliveDisabled: true };
const v1: SmuxConfig = { ...defaultSmuxConfig, ...quiet };
const v2: SmuxConfig = { ...paqetSmuxConfig, ...quiet };

function randomBytes(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}
async function until(cond: () => boolean, rounds = 2000): Promise<void> {
  for (let i = 0; i < rounds && !cond(); i++) await settle();
  expect(cond()).toBe(true);
}

/** Reads into a running sha256 and writes with backpressure (write → false waits for drain). */
class Peer {
  received = 0;
  ended = false;
  endErr: Error | undefined;
  private hash = createHash("sha256");
  private drainWaiter: (() => void) | undefined;

  constructor(readonly stream: Stream) {
    stream.setHandlers({
      data: (c) => {
        this.received += c.length;
        this.hash.update(c);
      },
      drain: () => {
        const w = this.drainWaiter;
        this.drainWaiter = undefined;
        w?.();
      },
      close: (err) => {
        this.ended = true;
        this.endErr = err;
        const w = this.drainWaiter;
        this.drainWaiter = undefined;
        w?.();
      },
    });
  }

  digest(): string {
    return this.hash.digest("hex");
  }

  async writeAll(data: Uint8Array, chunk = 16384): Promise<void> {
    for (let off = 0; off < data.length; off += chunk) {
      if (!this.stream.write(data.subarray(off, off + chunk))) {
        if (this.stream.closed) return;
        await new Promise<void>((r) => (this.drainWaiter = r));
      }
    }
  }
}

/** Records every frame a side writes (header fields), parsed from the byte stream. */
function recordFrames(d: Duplex): { frames: { cmd: number; sid: number; length: number }[]; inner: Duplex } {
  const frames: { cmd: number; sid: number; length: number }[] = [];
  let pending = new Uint8Array(0);
  const inner: Duplex = {
    setHandlers: (h) => d.setHandlers(h),
    write(chunk) {
      let buf = new Uint8Array(Buffer.concat([pending, chunk]));
      while (buf.length >= 8) {
        const h = decodeHeader(buf);
        const body = h.cmd === Cmd.PSH ? h.length : h.cmd === Cmd.UPD ? 8 : 0;
        if (buf.length < 8 + body) break;
        frames.push({ cmd: h.cmd, sid: h.sid, length: h.length });
        buf = buf.slice(8 + body);
      }
      pending = buf;
      return d.write(chunk);
    },
    pause: () => d.pause(),
    resume: () => d.resume(),
    close: (e) => d.close(e),
    get closed() {
      return d.closed;
    },
  };
  return { frames, inner };
}

describe("smux sessions over a memory duplex", () => {
  const cases: [string, SmuxConfig, number, number][] = [
    ["v2", v2, 1, 4 << 20],
    ["v2", v2, 64, 128 << 10],
    ["v2", v2, 1024, 12 << 10],
    ["v1", v1, 1, 4 << 20],
    ["v1", v1, 64, 128 << 10],
    ["v1", v1, 1024, 12 << 10],
  ];
  for (const [name, config, n, size] of cases) test(`${name}: ${n} concurrent streams, sha256-checked both ways`, async () => {
    const [a, b] = duplexPair();
    const client = Session.client(a, { config });
    const server = Session.server(b, { config });
    const r = rng(n);
    const up = new Map<number, Uint8Array>();
    const down = new Map<number, Uint8Array>();
    const serverPeers = new Map<number, Peer>();
    const clientPeers: Peer[] = [];
    server.onStream((s) => {
      const p = new Peer(s);
      serverPeers.set(s.id, p);
      void p.writeAll(down.get(s.id)!);
    });
    for (let i = 0; i < n; i++) {
      const s = client.openStream();
      expect(s.id).toBe(3 + 2 * i);
      up.set(s.id, randomBytes(r, size + ((r() * 4096) | 0)));
      down.set(s.id, randomBytes(r, size + ((r() * 4096) | 0)));
      const p = new Peer(s);
      clientPeers.push(p);
      void p.writeAll(up.get(s.id)!);
    }
    await until(
      () =>
        clientPeers.every((p) => p.received === down.get(p.stream.id)!.length) &&
        [...serverPeers.values()].every((p) => p.received === up.get(p.stream.id)!.length) &&
        serverPeers.size === n,
    );
    for (const p of clientPeers) {
      expect(p.digest()).toBe(createHash("sha256").update(down.get(p.stream.id)!).digest("hex"));
      p.stream.close();
    }
    for (const [sid, p] of serverPeers) expect(p.digest()).toBe(createHash("sha256").update(up.get(sid)!).digest("hex"));
    await until(() => client.numStreams === 0 && server.numStreams === 0);
    for (const p of serverPeers.values()) {
      expect(p.ended).toBe(true);
      expect(p.endErr).toBeUndefined();
    }
    const cs = client.stats();
    const ss = server.stats();
    expect(cs.streamsOpened).toBe(n);
    expect(ss.streamsAccepted).toBe(n);
    expect(cs.bytesOut).toBe(ss.bytesIn);
    expect(ss.bytesOut).toBe(cs.bytesIn);
    expect(cs.discardedBytes + ss.discardedBytes + cs.droppedWriteBytes + ss.droppedWriteBytes).toBe(0);
    expect(cs.receiveBucket).toBe(config.maxReceiveBuffer);
    expect(ss.receiveBucket).toBe(config.maxReceiveBuffer);
    client.close();
    server.close();
  }, 60_000);
});

describe("smux stream ids and lifecycle", () => {
  test("client ids are 3, 5, 7…, server ids 2, 4…, and id exhaustion is SMUX_GO_AWAY without a frame", async () => {
    const [a, b] = duplexPair();
    const rec = recordFrames(a);
    const client = Session.client(rec.inner, { config: v2 });
    const server = Session.server(b, { config: v2 });
    expect([client.openStream().id, client.openStream().id, client.openStream().id]).toEqual([3, 5, 7]);
    expect([server.openStream().id, server.openStream().id]).toEqual([2, 4]);
    (client as unknown as { nextStreamId: number }).nextStreamId = 0xfffffffd;
    expect(client.openStream().id).toBe(0xffffffff);
    await settle();
    const count = rec.frames.length;
    let code = "";
    try {
      client.openStream();
    } catch (e) {
      code = (e as SmuxError).code;
    }
    expect(code).toBe("SMUX_GO_AWAY");
    expect(() => client.openStream()).toThrow(SmuxError);
    await settle();
    expect(rec.frames.length).toBe(count);
    client.close();
    server.close();
  });

  test("a peer FIN is not a half-close: writes fail at once, reads drain then end, our FIN follows", async () => {
    const [a, b] = duplexPair();
    const client = Session.client(a, { config: v2 });
    const server = Session.server(b, { config: v2 });
    let ss: Stream | undefined;
    server.onStream((s) => (ss = s));
    const cs = client.openStream();
    cs.write(new TextEncoder().encode("bye"));
    cs.close();
    await settle();
    expect(ss!.state).toBe(StreamState.PeerClosed);
    expect(ss!.write(new Uint8Array(10))).toBe(false);
    expect(server.stats().droppedWriteBytes).toBe(10);
    expect(ss!.readableLength).toBe(3);
    const p = new Peer(ss!);
    await settle();
    expect(p.received).toBe(3);
    expect(p.ended).toBe(true);
    expect(ss!.state).toBe(StreamState.Closed);
    expect(server.numStreams).toBe(0);
    expect(client.numStreams).toBe(0);
    client.close();
    server.close();
  });

  test("close flushes queued data before the FIN; close(err) drops it", async () => {
    const [a, b] = duplexPair();
    const rec = recordFrames(a);
    const client = Session.client(rec.inner, { config: v2 });
    const server = Session.server(b, { config: v2 });
    const peers: Peer[] = [];
    server.onStream((s) => {
      s.pause();
      peers.push(new Peer(s));
    });
    const s1 = client.openStream();
    s1.write(new Uint8Array(400_000));
    s1.close();
    expect(s1.write(new Uint8Array(1))).toBe(false);
    await settle();
    // The peer's window (262144) holds the rest back; the FIN waits behind it.
    expect(s1.state).toBe(StreamState.Closing);
    expect(rec.frames.some((f) => f.cmd === Cmd.FIN)).toBe(false);
    peers[0]!.stream.resume();
    await until(() => s1.state === StreamState.Closed);
    await settle();
    expect(peers[0]!.received).toBe(400_000);
    expect(rec.frames.at(-1)).toEqual({ cmd: Cmd.FIN, sid: 3, length: 0 });

    const s2 = client.openStream();
    s2.write(new Uint8Array(400_000));
    await settle();
    s2.close(new Error("abort"));
    await settle();
    expect(s2.state).toBe(StreamState.Closed);
    // The refused 1-byte write after s1.close() counts too.
    expect(client.stats().droppedWriteBytes).toBe(400_000 - 262144 + 1);
    client.close();
    server.close();
  });

  test("SYN for an existing id is ignored; PSH for an unknown id is read and discarded; FIN and UPD for one are ignored", async () => {
    const [peer, ours] = duplexPair();
    const server = Session.server(ours, { config: v2 });
    peer.setHandlers({ data() {}, drain() {}, close() {} });
    const accepted: Stream[] = [];
    server.onStream((s) => accepted.push(s));
    peer.write(encodeFrame(2, Cmd.SYN, 1000));
    peer.write(encodeFrame(2, Cmd.SYN, 1000));
    peer.write(encodeFrame(2, Cmd.PSH, 77, new Uint8Array(500)));
    peer.write(encodeFrame(2, Cmd.FIN, 78));
    peer.write(encodeUpdFrame(2, 79, 5, 5));
    peer.write(encodeFrame(2, Cmd.PSH, 1000, new Uint8Array(0)));
    peer.write(encodeFrame(2, Cmd.NOP, 0));
    await settle();
    expect(accepted.map((s) => s.id)).toEqual([1000]);
    expect(server.stats().discardedBytes).toBe(500);
    expect(server.stats().framesIn).toBe(7);
    expect(server.closed).toBe(false);
    server.close();
  });

  test("a receiver accepts PSH up to 65535 bytes whatever its own MaxFrameSize, and a frame split across chunks", async () => {
    const [peer, ours] = duplexPair();
    peer.setHandlers({ data() {}, drain() {}, close() {} });
    const server = Session.server(ours, { config: { ...v1, maxFrameSize: 1024 } });
    const got: number[] = [];
    server.onStream((s) => s.setHandlers({ data: (c) => got.push(c.length), drain() {}, close() {} }));
    const frame = encodeFrame(1, Cmd.PSH, 3, new Uint8Array(65535).fill(1));
    peer.write(encodeFrame(1, Cmd.SYN, 3));
    peer.write(frame.subarray(0, 5));
    peer.write(frame.subarray(5, 40000));
    peer.write(frame.subarray(40000));
    await settle();
    expect(got).toEqual([65535]);
    expect(server.closed).toBe(false);
    server.close();
  });

  test("session close sends nothing, ends every stream with SMUX_CLOSED, and refuses new work", async () => {
    const [a, b] = duplexPair();
    const rec = recordFrames(a);
    const client = Session.client(rec.inner, { config: v2 });
    const server = Session.server(b, { config: v2 });
    const s = client.openStream();
    const p = new Peer(s);
    await settle();
    const count = rec.frames.length;
    const waiting = client.acceptStream().then(
      () => undefined,
      (e: unknown) => e,
    );
    let closedWith: Error | undefined | null = null;
    client.onClose((e) => (closedWith = e));
    client.close();
    client.close();
    await settle();
    expect(rec.frames.length).toBe(count);
    expect(p.ended).toBe(true);
    expect((p.endErr as SmuxError).code).toBe("SMUX_CLOSED");
    expect(closedWith).toBeUndefined();
    expect(() => client.openStream()).toThrow(SmuxError);
    expect(await waiting).toBeInstanceOf(SmuxError);
    expect(s.write(new Uint8Array(1))).toBe(false);
    // The transport close reaches the server, which closes too.
    await until(() => server.closed);
    expect((server.closeReason as SmuxError).code).toBe("SMUX_CLOSED");
  });

  test("acceptStream resolves backlogged and later streams", async () => {
    const [a, b] = duplexPair();
    const client = Session.client(a, { config: v2 });
    const server = Session.server(b, { config: v2 });
    client.openStream();
    await settle();
    expect((await server.acceptStream()).id).toBe(3);
    const later = server.acceptStream();
    client.openStream();
    expect((await later).id).toBe(5);
    client.close();
    server.close();
  });
});

describe("smux protocol violations", () => {
  const violations: [string, SmuxConfig, Uint8Array][] = [
    ["a wrong version byte", v2, encodeFrame(1, Cmd.SYN, 3)],
    ["an unknown cmd", v2, encodeFrame(2, 7, 3)],
    ["UPD on a v1 session", v1, encodeUpdFrame(1, 3, 1, 1)],
  ];
  test.each(violations)("%s closes the session with SMUX_INVALID_PROTOCOL and ends its streams", async (_n, config, frame) => {
    const [peer, ours] = duplexPair();
    peer.setHandlers({ data() {}, drain() {}, close() {} });
    const server = Session.server(ours, { config });
    const s = server.openStream();
    const p = new Peer(s);
    peer.write(frame);
    peer.write(encodeFrame(config.version, Cmd.SYN, 9));
    await settle();
    expect(server.closed).toBe(true);
    expect((server.closeReason as SmuxError).code).toBe("SMUX_INVALID_PROTOCOL");
    expect(p.ended).toBe(true);
    expect((p.endErr as SmuxError).code).toBe("SMUX_INVALID_PROTOCOL");
    expect(server.stats().streamsAccepted).toBe(0);
    expect(peer.closed).toBe(true);
  });

  test("a UPD claiming more consumed than sent fails the writing stream with SMUX_CONSUMED", async () => {
    const [peer, ours] = duplexPair();
    peer.setHandlers({ data() {}, drain() {}, close() {} });
    const client = Session.client(ours, { config: v2 });
    const s = client.openStream();
    const p = new Peer(s);
    s.write(new Uint8Array(300_000));
    await settle();
    peer.write(encodeUpdFrame(2, 3, 999_999, 65536));
    await settle();
    expect((p.endErr as SmuxError).code).toBe("SMUX_CONSUMED");
    expect(client.closed).toBe(false);
    client.close();
  });

  // xtaci/smux TestRandomFrame, against a v1 and a v2 server.
  test.each([1, 2] as const)("random bytes and random frames never crash a v%i session", async (version) => {
    const r = rng(version * 31);
    const config = version === 1 ? v1 : v2;
    const scenarios: ((peer: Duplex) => void)[] = [
      (peer) => {
        for (let i = 0; i < 100; i++) peer.write(randomBytes(r, (r() * 1024) | 0));
      },
      (peer) => {
        for (let i = 0; i < 100; i++) peer.write(encodeFrame(version, Cmd.SYN, 1000));
      },
      (peer) => {
        const cmds = [Cmd.SYN, Cmd.FIN, Cmd.PSH, Cmd.NOP];
        for (let i = 0; i < 100; i++) peer.write(encodeFrame(version, cmds[(r() * 4) | 0]!, (r() * 2 ** 32) >>> 0));
      },
      (peer) => {
        for (let i = 0; i < 100; i++) peer.write(encodeFrame(version, (r() * 256) | 0, (r() * 2 ** 32) >>> 0));
      },
      (peer) => {
        for (let i = 0; i < 100; i++) peer.write(encodeFrame((r() * 256) | 0, (r() * 256) | 0, (r() * 2 ** 32) >>> 0));
      },
      (peer) => {
        const f = encodeFrame(version, (r() * 256) | 0, (r() * 2 ** 32) >>> 0, randomBytes(r, (r() * 1024) | 0));
        f[2] = (f.length - 8 + 1) & 0xff;
        f[3] = ((f.length - 8 + 1) >> 8) & 0xff;
        peer.write(f);
      },
      (peer) => {
        for (let i = 0; i < 200; i++) {
          const cmd = [Cmd.SYN, Cmd.FIN, Cmd.PSH, Cmd.NOP, Cmd.UPD][(r() * 5) | 0]!;
          const sid = (r() * 8) | 0;
          const body = cmd === Cmd.UPD ? randomBytes(r, 8) : randomBytes(r, cmd === Cmd.PSH ? (r() * 3000) | 0 : 0);
          peer.write(encodeFrame(version, cmd, sid, body));
        }
      },
    ];
    for (const scenario of scenarios) {
      for (let round = 0; round < 5; round++) {
        const [peer, ours] = duplexPair();
        peer.setHandlers({ data() {}, drain() {}, close() {} });
        const server = Session.server(ours, { config });
        server.onStream((s) => {
          const p = new Peer(s);
          if (r() < 0.3) s.pause();
          if (r() < 0.5) void p.writeAll(randomBytes(r, 5000));
          if (r() < 0.2) s.close();
        });
        scenario(peer);
        await settle();
        await settle();
        if (server.closed) expect(server.closeReason).toBeInstanceOf(SmuxError);
        server.close();
      }
    }
  });
});

describe("smux keepalive (fake clock)", () => {
  const ka: SmuxConfig = { ...paqetSmuxConfig, keepAliveInterval: 2000, keepAliveTimeout: 8000 };

  test("a silent peer closes the session after KeepAliveTimeout with SMUX_TIMEOUT; NOPs go out every interval", async () => {
    const timers = new ManualTimers();
    const [peer, ours] = duplexPair();
    const nops: number[] = [];
    peer.setHandlers({
      data: (c) => {
        for (let i = 0; i + 8 <= c.length; i += 8) if (c[i + 1] === Cmd.NOP) nops.push(timers.now);
      },
      drain() {},
      close() {},
    });
    const client = Session.client(ours, { config: ka, timers });
    const s = client.openStream();
    const p = new Peer(s);
    await timers.advance(7999);
    await settle();
    expect(client.closed).toBe(false);
    expect(nops).toEqual([2000, 4000, 6000]);
    await timers.advance(1);
    await settle();
    expect(client.closed).toBe(true);
    expect((client.closeReason as SmuxError).code).toBe("SMUX_TIMEOUT");
    expect((p.endErr as SmuxError).code).toBe("SMUX_TIMEOUT");
    expect(timers.pending).toBe(0);
  });

  test("a peer that goes quiet later is detected within one to two timeouts", async () => {
    const timers = new ManualTimers();
    const [peer, ours] = duplexPair();
    peer.setHandlers({ data() {}, drain() {}, close() {} });
    const client = Session.client(ours, { config: ka, timers });
    await timers.advance(7000);
    peer.write(encodeFrame(2, Cmd.NOP, 0));
    await settle();
    await timers.advance(1000);
    expect(client.closed).toBe(false);
    await timers.advance(7999);
    expect(client.closed).toBe(false);
    await timers.advance(1);
    expect(client.closed).toBe(true);
  });

  test("two live sessions keep each other alive indefinitely", async () => {
    const timers = new ManualTimers();
    const [a, b] = duplexPair();
    const client = Session.client(a, { config: ka, timers });
    const server = Session.server(b, { config: ka, timers });
    for (let i = 0; i < 20; i++) await timers.advance(ka.keepAliveTimeout);
    expect(client.closed).toBe(false);
    expect(server.closed).toBe(false);
    client.close();
    server.close();
  });

  test("a session paused on an exhausted receive bucket is not timed out", async () => {
    const timers = new ManualTimers();
    const [a, b] = duplexPair();
    const small: SmuxConfig = { ...defaultSmuxConfig, maxReceiveBuffer: 4096, maxStreamBuffer: 4096, keepAliveInterval: 1000, keepAliveTimeout: 4000 };
    const client = Session.client(a, { config: { ...small, keepAliveDisabled: true } });
    const server = Session.server(b, { config: small, timers });
    let ss: Stream | undefined;
    server.onStream((s) => {
      s.pause();
      ss = s;
    });
    const cs = client.openStream();
    cs.write(new Uint8Array(20_000));
    await settle();
    expect(server.stats().receiveBucket).toBeLessThanOrEqual(0);
    await timers.advance(40_000);
    expect(server.closed).toBe(false);
    const p = new Peer(ss!);
    ss!.resume();
    await until(() => p.received === 20_000);
    await timers.advance(8000);
    expect(server.closed).toBe(true);
    client.close();
  });
});

describe("smux flow control and backpressure", () => {
  test("v2: a stopped reader makes its writer wait at the window; reading resumes it", async () => {
    const [a, b] = duplexPair();
    const client = Session.client(a, { config: v2 });
    const server = Session.server(b, { config: v2 });
    let ss: Stream | undefined;
    server.onStream((s) => {
      s.pause();
      ss = s;
    });
    const cs = client.openStream();
    const data = randomBytes(rng(5), 3 << 20);
    const writer = new Peer(cs);
    const done = writer.writeAll(data, 65536);
    await settle();
    await settle();
    expect(ss!.readableLength).toBe(262144);
    expect(cs.sendWindow).toBe(0);
    expect(cs.bufferedAmount).toBeGreaterThan(0);
    const before = client.stats().bytesOut;
    await settle();
    expect(client.stats().bytesOut).toBe(before);
    const reader = new Peer(ss!);
    ss!.resume();
    await done;
    await until(() => reader.received === data.length);
    expect(reader.digest()).toBe(createHash("sha256").update(data).digest("hex"));
    client.close();
    server.close();
  });

  test("v2: one stalled stream does not stall another", async () => {
    const [a, b] = duplexPair();
    const client = Session.client(a, { config: v2 });
    const server = Session.server(b, { config: v2 });
    const peers = new Map<number, Peer>();
    server.onStream((s) => {
      if (s.id === 3) s.pause();
      peers.set(s.id, new Peer(s));
    });
    const slow = client.openStream();
    const fast = client.openStream();
    void new Peer(slow).writeAll(new Uint8Array(2 << 20));
    void new Peer(fast).writeAll(new Uint8Array(2 << 20));
    await until(() => peers.get(5)?.received === 2 << 20);
    expect(peers.get(3)!.received).toBe(0);
    expect(peers.get(3)!.stream.readableLength).toBe(262144);
    client.close();
    server.close();
  });

  test("v1: a full receive bucket pauses the transport, and the writer behind it waits; reading resumes both", async () => {
    const [a, b] = duplexPair({ highWaterMark: 64 << 10 });
    const config: SmuxConfig = { ...v1, maxReceiveBuffer: 65536, maxStreamBuffer: 65536 };
    let pauses = 0;
    const counted: Duplex = {
      setHandlers: (h) => b.setHandlers(h),
      write: (c) => b.write(c),
      pause: () => {
        pauses++;
        b.pause();
      },
      resume: () => b.resume(),
      close: (e) => b.close(e),
      get closed() {
        return b.closed;
      },
    };
    const client = Session.client(a, { config, writeHighWaterMark: 64 << 10 });
    const server = Session.server(counted, { config });
    let ss: Stream | undefined;
    server.onStream((s) => {
      s.pause();
      ss = s;
    });
    const cs = client.openStream();
    const data = randomBytes(rng(9), 2 << 20);
    const done = new Peer(cs).writeAll(data);
    for (let i = 0; i < 10; i++) await settle();
    expect(pauses).toBeGreaterThan(0);
    // The session takes frames only while the bucket is positive: at most one frame past it.
    expect(ss!.readableLength).toBeGreaterThanOrEqual(65536);
    expect(ss!.readableLength).toBeLessThan(65536 + 32768);
    expect(client.stats().bytesOut).toBeLessThan(512 << 10);
    const reader = new Peer(ss!);
    ss!.resume();
    await done;
    await until(() => reader.received === data.length);
    expect(reader.digest()).toBe(createHash("sha256").update(data).digest("hex"));
    expect(server.stats().receiveBucket).toBe(65536);
    client.close();
    server.close();
  });

  test("write returns false at the high-water mark and drain follows", async () => {
    const [a, b] = duplexPair();
    const client = Session.client(a, { config: v2, writeHighWaterMark: 1000 });
    const server = Session.server(b, { config: v2 });
    server.onStream((s) => new Peer(s));
    const s = client.openStream();
    let drains = 0;
    s.setHandlers({ data() {}, drain: () => drains++, close() {} });
    expect(s.write(new Uint8Array(999))).toBe(true);
    expect(s.write(new Uint8Array(1))).toBe(false);
    await settle();
    expect(drains).toBe(1);
    expect(s.bufferedAmount).toBe(0);
    client.close();
    server.close();
  });

  test("frames of concurrent writers interleave round-robin, control before data within a stream", async () => {
    const [a, b] = duplexPair();
    const rec = recordFrames(a);
    const client = Session.client(rec.inner, { config: v1 });
    const server = Session.server(b, { config: v1 });
    server.onStream((s) => new Peer(s));
    const s3 = client.openStream();
    const s5 = client.openStream();
    s3.write(new Uint8Array(3 * 32768));
    s5.write(new Uint8Array(3 * 32768));
    await settle();
    expect(rec.frames.map((f) => `${Cmd[f.cmd]}${f.sid}`)).toEqual([
      "SYN3",
      "SYN5",
      "PSH3",
      "PSH5",
      "PSH3",
      "PSH5",
      "PSH3",
      "PSH5",
    ]);
    client.close();
    server.close();
  });
});
