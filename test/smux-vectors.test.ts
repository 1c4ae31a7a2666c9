/**
 * The smux vectors made by Go smux v1.5.53 (shared/vectors/smux_*.json): our client and server replay
 * each scenario over a recording pipe and must emit the same frames; and the recorded frames of each
 * Go side, fed into our peer, must give the application the same bytes.
 */
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { duplexPair, type Duplex, type DuplexHandlers } from "../src/lib/duplex.ts";
import {
  Cmd,
  HEADER_SIZE,
  ManualTimers,
  Session,
  decodeHeader,
  paqetSmuxConfig,
  type SmuxConfig,
  type Stream,
} from "../src/smux/index.ts";
import { VECTORS_DIR } from "./helpers/shared.ts";

const VECTORS = VECTORS_DIR;

interface VFrame {
  seq: number;
  dir: "c2s" | "s2c";
  cmd: number;
  cmd_name: string;
  sid: number;
  length: number;
  header_hex: string;
  payload_hex?: string;
  payload_len?: number;
  payload_sha256?: string;
  consumed?: number;
  window?: number;
}
interface Vector {
  config: Record<string, number | boolean>;
  frames: VFrame[];
  c2s_len?: number;
  s2c_len?: number;
  c2s_sha256?: string;
  s2c_sha256?: string;
}

const load = (name: string): Vector => JSON.parse(readFileSync(`${VECTORS}/${name}`, "utf8"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const settle = () => new Promise((r) => setTimeout(r, 1));
const pattern = (n: number, from = 0) => new Uint8Array(n).map((_, i) => (from + i) % 251);

function configOf(v: Vector): SmuxConfig {
  const c = v.config;
  return {
    version: c.Version as 1 | 2,
    keepAliveDisabled: c.KeepAliveDisabled === true,
    keepAliveInterval: (c.KeepAliveInterval_ms as number) ?? 10_000,
    keepAliveTimeout: (c.KeepAliveTimeout_ms as number) ?? 30_000,
    maxFrameSize: c.MaxFrameSize as number,
    maxReceiveBuffer: c.MaxReceiveBuffer as number,
    maxStreamBuffer: c.MaxStreamBuffer as number,
  };
}

/** The exact payload of every vector frame; elided ones are slices of the big i % 251 write. */
function payloads(v: Vector): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = 0;
  for (const f of v.frames) {
    if (f.payload_hex !== undefined) out.push(new Uint8Array(Buffer.from(f.payload_hex, "hex")));
    else if (f.payload_len !== undefined) {
      const p = pattern(f.payload_len, offset);
      offset += f.payload_len;
      expect(sha256(p)).toBe(f.payload_sha256!);
      out.push(p);
    } else out.push(new Uint8Array(0));
  }
  return out;
}

function wireBytes(v: Vector, dir: "c2s" | "s2c"): Uint8Array {
  const p = payloads(v);
  const parts: Uint8Array[] = [];
  v.frames.forEach((f, i) => {
    if (f.dir !== dir) return;
    parts.push(new Uint8Array(Buffer.from(f.header_hex, "hex")), p[i]!);
  });
  return new Uint8Array(Buffer.concat(parts));
}

interface Recorded {
  dir: "c2s" | "s2c";
  header: Uint8Array;
  payload: Uint8Array;
}

/** Wraps a duplex so every byte written is split into frames (smux receive rules) in write order. */
class Recorder {
  frames: Recorded[] = [];
  bytes = { c2s: [] as Uint8Array[], s2c: [] as Uint8Array[] };
  private pending = { c2s: new Uint8Array(0), s2c: new Uint8Array(0) };

  wrap(inner: Duplex, dir: "c2s" | "s2c"): Duplex {
    const rec = this;
    return {
      setHandlers: (h: DuplexHandlers) => inner.setHandlers(h),
      write(chunk: Uint8Array) {
        rec.take(dir, chunk);
        return inner.write(chunk);
      },
      pause: () => inner.pause(),
      resume: () => inner.resume(),
      close: (err?: Error) => inner.close(err),
      get closed() {
        return inner.closed;
      },
    };
  }

  take(dir: "c2s" | "s2c", chunk: Uint8Array): void {
    this.bytes[dir].push(chunk.slice());
    let buf = new Uint8Array(Buffer.concat([this.pending[dir], chunk]));
    for (;;) {
      if (buf.length < HEADER_SIZE) break;
      const h = decodeHeader(buf);
      const body = h.cmd === Cmd.PSH ? h.length : h.cmd === Cmd.UPD ? 8 : 0;
      if (buf.length < HEADER_SIZE + body) break;
      this.frames.push({ dir, header: buf.slice(0, 8), payload: buf.slice(8, 8 + body) });
      buf = buf.slice(8 + body);
    }
    this.pending[dir] = buf;
  }

  all(dir: "c2s" | "s2c"): Uint8Array {
    return new Uint8Array(Buffer.concat(this.bytes[dir]));
  }
}

/** One comparable line per frame: direction, header, and the payload (hex when short, else length and sha256). */
function describeVector(v: Vector): string[] {
  return v.frames.map((f) =>
    f.payload_len !== undefined
      ? `${f.dir} ${f.header_hex} len=${f.payload_len} sha=${f.payload_sha256}`
      : `${f.dir} ${f.header_hex} ${f.payload_hex ?? ""}`,
  );
}
function describeRecorded(frames: Recorded[]): string[] {
  return frames.map((f) =>
    f.payload.length > 512
      ? `${f.dir} ${hex(f.header)} len=${f.payload.length} sha=${sha256(f.payload)}`
      : `${f.dir} ${hex(f.header)} ${hex(f.payload)}`,
  );
}

/** Two keepalive NOPs that fire at the same instant have no defined order between the two sides. */
function normaliseNops(lines: string[]): string[] {
  const out = [...lines];
  for (let i = 0; i + 1 < out.length; i++) {
    const a = out[i]!;
    const b = out[i + 1]!;
    const nop = / 0[12]03000000000000 $/;
    if (nop.test(a) && nop.test(b) && a > b) {
      out[i] = b;
      out[i + 1] = a;
    }
  }
  return out;
}

interface Reader {
  data: Uint8Array[];
  ended: boolean;
  endErr: Error | undefined;
  text(): string;
  all(): Uint8Array;
}
function reader(stream: Stream, onData?: (chunk: Uint8Array) => void): Reader {
  const r: Reader = {
    data: [],
    ended: false,
    endErr: undefined,
    text: () => Buffer.concat(r.data).toString(),
    all: () => new Uint8Array(Buffer.concat(r.data)),
  };
  stream.setHandlers({
    data: (c) => {
      r.data.push(c.slice());
      onData?.(c);
    },
    drain() {},
    close(err) {
      r.ended = true;
      r.endErr = err;
    },
  });
  return r;
}

describe.each(["smux_v1.json", "smux_v2.json"])("%s", (file) => {
  const v = load(file);
  const config = configOf(v);
  const te = new TextEncoder();

  test("our client and server replay the scenario with the same frames", async () => {
    const timers = new ManualTimers();
    const [a, b] = duplexPair();
    const rec = new Recorder();
    const client = Session.client(rec.wrap(a, "c2s"), { config, timers });
    const server = Session.server(rec.wrap(b, "s2c"), { config, timers });
    const serverStreams: Stream[] = [];
    const clientStreams: Stream[] = [];
    server.onStream((s) => serverStreams.push(s));
    client.onStream((s) => clientStreams.push(s));

    // 1. client opens sid 3 and writes "hello"; the server reads it.
    const c3 = client.openStream();
    expect(c3.id).toBe(3);
    await settle();
    expect(serverStreams.map((s) => s.id)).toEqual([3]);
    const s3 = reader(serverStreams[0]!);
    const c3r = reader(c3);
    c3.write(te.encode("hello"));
    await settle();
    expect(s3.text()).toBe("hello");

    // 2. the server answers "world!".
    serverStreams[0]!.write(te.encode("world!"));
    await settle();
    expect(c3r.text()).toBe("world!");

    // 3. the server opens sid 2 and writes "x".
    const s2 = server.openStream();
    expect(s2.id).toBe(2);
    await settle();
    expect(clientStreams.map((s) => s.id)).toEqual([2]);
    const c2r = reader(clientStreams[0]!);
    const s2r = reader(s2);
    s2.write(te.encode("x"));
    await settle();
    expect(c2r.text()).toBe("x");

    // 4. 70000 bytes from the client, split at MaxFrameSize.
    s3.data.length = 0;
    const big = pattern(70000);
    c3.write(big);
    await settle();
    expect(sha256(s3.all())).toBe(sha256(big));

    // 5. idle: one keepalive NOP each way.
    await timers.advance(config.keepAliveInterval);
    await settle();

    // 6. the client closes sid 3: the server reads EOF, cannot write any more, and closes.
    c3.close();
    await settle();
    expect(s3.ended).toBe(true);
    expect(s3.endErr).toBeUndefined();
    expect(serverStreams[0]!.eof).toBe(true);
    const before = rec.frames.length;
    expect(serverStreams[0]!.write(te.encode("late"))).toBe(false);
    serverStreams[0]!.close();
    await settle();
    expect(rec.frames.length).toBe(before);

    // 7. the server closes sid 2, the client reads EOF and closes.
    s2.close();
    await settle();
    expect(c2r.ended).toBe(true);
    expect(c2r.endErr).toBeUndefined();
    expect(s2r.ended).toBe(true);

    // 8. sessions close silently.
    const framesBeforeClose = rec.frames.length;
    client.close();
    server.close();
    await settle();
    expect(rec.frames.length).toBe(framesBeforeClose);

    expect(normaliseNops(describeRecorded(rec.frames))).toEqual(normaliseNops(describeVector(v)));
    expect(rec.all("c2s").length).toBe(v.c2s_len!);
    expect(sha256(rec.all("c2s"))).toBe(v.c2s_sha256!);
    expect(rec.all("s2c").length).toBe(v.s2c_len!);
    expect(sha256(rec.all("s2c"))).toBe(v.s2c_sha256!);
    expect(client.stats().streams).toBe(0);
    expect(server.stats().streams).toBe(0);
  });

  test("the wire bytes rebuilt from the vector match its totals", () => {
    expect(sha256(wireBytes(v, "c2s"))).toBe(v.c2s_sha256!);
    expect(sha256(wireBytes(v, "s2c"))).toBe(v.s2c_sha256!);
  });

  /** Expected application data per sid: the PSH payloads one side sent, in order. */
  function sentBySid(dir: "c2s" | "s2c"): Map<number, string> {
    const p = payloads(v);
    const m = new Map<number, Buffer[]>();
    v.frames.forEach((f, i) => {
      if (f.dir === dir && f.cmd === Cmd.PSH) m.set(f.sid, [...(m.get(f.sid) ?? []), Buffer.from(p[i]!)]);
    });
    return new Map([...m].map(([k, bufs]) => [k, sha256(Buffer.concat(bufs))]));
  }

  test.each([1, 7, 1000, 1 << 20])("Go's c2s frames fed into our server in %i-byte chunks", async (chunk) => {
    const [peer, ours] = duplexPair();
    const server = Session.server(ours, { config: { ...config, keepAliveDisabled: true } });
    const rec = new Recorder();
    peer.setHandlers({ data: (c) => rec.take("s2c", c), drain() {}, close() {} });
    const readers = new Map<number, Reader>();
    server.onStream((s) => readers.set(s.id, reader(s)));
    // The Go client's frames also touch sid 2, which the server side opened.
    const s2 = server.openStream();
    readers.set(2, reader(s2));
    s2.write(te.encode("x"));
    await settle();
    const bytes = wireBytes(v, "c2s");
    for (let i = 0; i < bytes.length; i += chunk) peer.write(bytes.subarray(i, i + chunk));
    await settle();
    await settle();
    const expected = sentBySid("c2s");
    expect([...readers.keys()].sort()).toEqual([2, 3]);
    for (const [sid, r] of readers) {
      if (expected.has(sid)) expect(sha256(r.all())).toBe(expected.get(sid)!);
      else expect(r.all().length).toBe(0);
      expect(r.ended).toBe(true);
      expect(r.endErr).toBeUndefined();
    }
    const lines = describeRecorded(rec.frames);
    const ver = `0${config.version}`;
    // Our replies: FIN for both streams, and on v2 the UPD after the first read of each.
    expect(lines).toContain(`s2c ${ver}01000003000000 `);
    expect(lines).toContain(`s2c ${ver}01000002000000 `);
    if (config.version === 2) expect(lines).toContain(`s2c ${ver}04080003000000 0500000000002000`);
    expect(server.closed).toBe(false);
    expect(server.stats().discardedBytes).toBe(0);
    server.close();
  });

  test.each([1, 13, 1 << 20])("Go's s2c frames fed into our client in %i-byte chunks", async (chunk) => {
    const [peer, ours] = duplexPair();
    const client = Session.client(ours, { config: { ...config, keepAliveDisabled: true } });
    peer.setHandlers({ data() {}, drain() {}, close() {} });
    const readers = new Map<number, Reader>();
    client.onStream((s) => readers.set(s.id, reader(s)));
    const c3 = client.openStream();
    readers.set(3, reader(c3));
    const bytes = wireBytes(v, "s2c");
    for (let i = 0; i < bytes.length; i += chunk) peer.write(bytes.subarray(i, i + chunk));
    await settle();
    await settle();
    const expected = sentBySid("s2c");
    expect([...readers.keys()].sort()).toEqual([2, 3]);
    for (const [sid, r] of readers) {
      expect(sha256(r.all())).toBe(expected.get(sid)!);
      expect(r.ended).toBe(true);
    }
    expect(readers.get(2)!.text()).toBe("x");
    expect(readers.get(3)!.text()).toBe("world!");
    expect(client.closed).toBe(false);
    client.close();
  });
});

describe("smux_v2_flow.json", () => {
  const v = load("smux_v2_flow.json");
  const config = configOf(v);

  test("the writer stops at the initial window, UPD follows the first read and every MaxStreamBuffer/2, writes resume on UPD", async () => {
    const [a, b] = duplexPair();
    const rec = new Recorder();
    const client = Session.client(rec.wrap(a, "c2s"), { config });
    const server = Session.server(rec.wrap(b, "s2c"), { config });
    let accepted: Stream | undefined;
    server.onStream((s) => (accepted = s));
    const c = client.openStream();
    const data = pattern(400000);
    c.write(data);
    await settle();
    const s = accepted!;
    expect(s.readableLength).toBe(262144);
    const reads: number[] = [];
    const got: Uint8Array[] = [];
    let total = 0;
    while (total < data.length) {
      const chunk = s.read(16384);
      expect(chunk).toBeDefined();
      got.push(chunk!.slice());
      total += chunk!.length;
      reads.push(chunk!.length);
      await settle();
    }
    expect(reads).toHaveLength(25);
    expect(sha256(Buffer.concat(got))).toBe(sha256(data));
    c.close();
    await settle();
    expect(s.read(16384)).toBeUndefined();
    expect(s.eof).toBe(true);
    await settle();
    expect(describeRecorded(rec.frames)).toEqual(describeVector(v));
    client.close();
    server.close();
  });
});

describe("paqet_stack_aes.json smux frames (paqet config)", () => {
  const d = JSON.parse(readFileSync(`${VECTORS}/paqet_stack_aes.json`, "utf8")) as {
    smux_frames_c2s: VFrame[];
    smux_frames_s2c: VFrame[];
    app_events: { who: string; what: string; data_hex?: string }[];
  };
  const line = (f: VFrame) => `${f.header_hex} ${f.payload_hex ?? ""}`;

  test("our client and server emit the same frames in each direction for the HTTP exchange", async () => {
    const timers = new ManualTimers();
    const [a, b] = duplexPair();
    const rec = new Recorder();
    const config = paqetSmuxConfig;
    const client = Session.client(rec.wrap(a, "c2s"), { config, timers });
    const server = Session.server(rec.wrap(b, "s2c"), { config, timers });
    const request = Buffer.from(d.app_events.find((e) => e.who === "client" && e.what === "stream write")!.data_hex!, "hex");
    const response = Buffer.from(d.app_events.find((e) => e.who === "server" && e.what === "stream write")!.data_hex!, "hex");
    let serverReader: Reader | undefined;
    server.onStream((s) => (serverReader = reader(s, () => s.write(response))));
    const c = client.openStream();
    const clientReader = reader(c);
    c.write(request);
    await settle();
    expect(Buffer.from(serverReader!.all()).equals(request)).toBe(true);
    expect(Buffer.from(clientReader.all()).equals(response)).toBe(true);
    c.close();
    await settle();
    expect(serverReader!.ended).toBe(true);
    await timers.advance(config.keepAliveInterval);
    await settle();
    const mine = (dir: "c2s" | "s2c") =>
      rec.frames.filter((f) => f.dir === dir).map((f) => `${hex(f.header)} ${f.payload.length > 0 ? hex(f.payload) : ""}`);
    expect(mine("c2s")).toEqual(d.smux_frames_c2s.map(line));
    expect(mine("s2c")).toEqual(d.smux_frames_s2c.map(line));
    client.close();
    server.close();
  });
});
