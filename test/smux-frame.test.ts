import { describe, expect, test } from "bun:test";
import { isPaqetError } from "../src/lib/errors.ts";
import {
  Cmd,
  FrameDecoder,
  HEADER_SIZE,
  decodeHeader,
  decodeUpd,
  encodeFrame,
  encodeHeader,
  encodeUpd,
  encodeUpdFrame,
  receiveBodyLength,
} from "../src/smux/frame.ts";
import { SmuxError } from "../src/smux/errors.ts";
import { smuxConfigProblems, verifySmuxConfig, defaultSmuxConfig, paqetSmuxConfig } from "../src/smux/config.ts";
import { seededRandom as rng } from "../src/socket/lossy.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** A slow, obviously-correct oracle built on DataView. */
function oracleHeader(ver: number, cmd: number, length: number, sid: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, ver);
  dv.setUint8(1, cmd);
  dv.setUint16(2, length, true);
  dv.setUint32(4, sid, true);
  return b;
}

describe("smux frame header", () => {
  const table: [number, number, number, number][] = [
    [1, Cmd.SYN, 0, 3],
    [2, Cmd.PSH, 0xffff, 0xffffffff],
    [2, Cmd.UPD, 8, 0x80000000],
    [1, Cmd.NOP, 0, 0],
    [2, Cmd.FIN, 0x1234, 0x7fffffff],
    [0xff, 0xff, 1, 2],
  ];
  test.each(table)("ver %i cmd %i len %i sid %i round-trips and matches the DataView oracle", (ver, cmd, len, sid) => {
    const out = new Uint8Array(HEADER_SIZE);
    expect(encodeHeader(out, 0, ver, cmd, len, sid)).toBe(8);
    expect(hex(out)).toBe(hex(oracleHeader(ver, cmd, len, sid)));
    expect(decodeHeader(out)).toEqual({ ver, cmd, length: len, sid });
  });

  test("golden headers from smux_v2.json", () => {
    expect(hex(encodeFrame(2, Cmd.SYN, 3))).toBe("0200000003000000");
    expect(hex(encodeFrame(2, Cmd.PSH, 3, new TextEncoder().encode("hello")))).toBe("020205000300000068656c6c6f");
    expect(hex(encodeUpdFrame(2, 3, 5, 2097152))).toBe("02040800030000000500000000002000");
    expect(decodeUpd(Buffer.from("0040000000000100", "hex"))).toEqual({ consumed: 16384, window: 65536 });
  });

  test("random headers agree with the oracle", () => {
    const r = rng(7);
    for (let i = 0; i < 2000; i++) {
      const v = [Math.floor(r() * 256), Math.floor(r() * 256), Math.floor(r() * 65536), Math.floor(r() * 2 ** 32)] as const;
      const out = new Uint8Array(12);
      encodeHeader(out, 4, ...v);
      expect(hex(out.subarray(4))).toBe(hex(oracleHeader(...v)));
      expect(decodeHeader(out, 4)).toEqual({ ver: v[0], cmd: v[1], length: v[2], sid: v[3] });
    }
  });

  test("truncated input and oversize lengths fail with our codes", () => {
    for (let n = 0; n < 8; n++) {
      expect(() => decodeHeader(new Uint8Array(n))).toThrow(SmuxError);
      expect(() => decodeUpd(new Uint8Array(n))).toThrow(SmuxError);
    }
    expect(() => decodeHeader(new Uint8Array(10), 3)).toThrow(SmuxError);
    expect(() => decodeHeader(new Uint8Array(10), -1)).toThrow(SmuxError);
    const err = (() => {
      try {
        encodeFrame(2, Cmd.PSH, 1, new Uint8Array(65536));
      } catch (e) {
        return e;
      }
    })();
    expect(isPaqetError(err) && err.code).toBe("SMUX_FRAME_TOO_LARGE");
    expect(() => encodeHeader(new Uint8Array(8), 0, 1, 2, -1, 0)).toThrow(SmuxError);
    expect(() => encodeHeader(new Uint8Array(7), 0, 1, 2, 0, 0)).toThrow(SmuxError);
    expect(() => encodeUpd(new Uint8Array(7), 0, 1, 2)).toThrow(SmuxError);
  });
});

describe("smux receive rules", () => {
  test("body lengths follow smux: length ignored except for PSH, UPD always 8, errors otherwise", () => {
    expect(receiveBodyLength(2, 2, Cmd.SYN, 100)).toBe(0);
    expect(receiveBodyLength(2, 2, Cmd.FIN, 7)).toBe(0);
    expect(receiveBodyLength(2, 2, Cmd.NOP, 65535)).toBe(0);
    expect(receiveBodyLength(2, 2, Cmd.PSH, 300)).toBe(300);
    expect(receiveBodyLength(2, 2, Cmd.UPD, 0)).toBe(8);
    expect(typeof receiveBodyLength(1, 1, Cmd.UPD, 8)).toBe("string");
    expect(typeof receiveBodyLength(2, 1, Cmd.PSH, 8)).toBe("string");
    expect(typeof receiveBodyLength(1, 1, 5, 0)).toBe("string");
  });

  function stream(): { bytes: Uint8Array; frames: string[] } {
    const parts = [
      encodeFrame(2, Cmd.SYN, 3),
      encodeFrame(2, Cmd.PSH, 3, new Uint8Array(1000).map((_, i) => i % 251)),
      encodeUpdFrame(2, 3, 77, 2097152),
      encodeFrame(2, Cmd.NOP, 0),
      encodeFrame(2, Cmd.PSH, 3, new Uint8Array(0)),
      encodeFrame(2, Cmd.PSH, 5, new Uint8Array([9])),
      encodeFrame(2, Cmd.FIN, 3),
    ];
    const bytes = Buffer.concat(parts);
    const frames = parts.map((p) => {
      const h = decodeHeader(p);
      return `${h.ver}/${h.cmd}/${h.length}/${h.sid}/${hex(p.subarray(HEADER_SIZE))}`;
    });
    return { bytes: new Uint8Array(bytes), frames };
  }

  function decodeAll(chunks: Uint8Array[]): string[] {
    const d = new FrameDecoder(2);
    const seen: string[] = [];
    for (const c of chunks) {
      d.push(c);
      while (d.next()) seen.push(`${d.ver}/${d.cmd}/${d.length}/${d.sid}/${hex(d.body)}`);
    }
    expect(d.bufferedBytes).toBe(0);
    return seen;
  }

  test("the decoder yields the same frames for one chunk, 1-byte chunks and random splits", () => {
    const { bytes, frames } = stream();
    expect(decodeAll([bytes])).toEqual(frames);
    expect(decodeAll([...bytes].map((b) => new Uint8Array([b])))).toEqual(frames);
    const r = rng(99);
    for (let round = 0; round < 200; round++) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; ) {
        const n = 1 + Math.floor(r() * 40);
        chunks.push(bytes.slice(i, i + n));
        i += n;
      }
      expect(decodeAll(chunks)).toEqual(frames);
    }
  });

  test("a payload inside one chunk is a view, not a copy", () => {
    const f = encodeFrame(2, Cmd.PSH, 3, new Uint8Array(100).fill(7));
    const d = new FrameDecoder(2);
    d.push(f);
    expect(d.next()).toBe(true);
    expect(d.body.buffer).toBe(f.buffer);
  });

  test("SYN with a length is not followed by a payload; UPD reads 8 bytes whatever its length says", () => {
    const d = new FrameDecoder(2);
    const syn = encodeFrame(2, Cmd.SYN, 3);
    syn[2] = 8; // claims 8 payload bytes
    const upd = encodeUpdFrame(2, 3, 1, 2);
    upd[2] = 0; // claims none
    d.push(syn);
    d.push(upd);
    expect(d.next()).toBe(true);
    expect([d.cmd, d.length, d.body.length]).toEqual([Cmd.SYN, 8, 0]);
    expect(d.next()).toBe(true);
    expect([d.cmd, d.length, d.body.length]).toEqual([Cmd.UPD, 0, 8]);
  });

  test("a wrong version, an unknown cmd and UPD on v1 throw SMUX_INVALID_PROTOCOL, and the decoder stays dead", () => {
    for (const [local, frame] of [
      [2, encodeFrame(1, Cmd.SYN, 3)],
      [2, encodeFrame(2, 9, 3)],
      [1, encodeUpdFrame(1, 3, 0, 0)],
    ] as const) {
      const d = new FrameDecoder(local);
      d.push(frame);
      let code = "";
      try {
        d.next();
      } catch (e) {
        code = (e as SmuxError).code;
      }
      expect(code).toBe("SMUX_INVALID_PROTOCOL");
      expect(() => d.next()).toThrow(SmuxError);
    }
  });

  test("random bytes never throw anything but SmuxError", () => {
    const r = rng(1234);
    for (let round = 0; round < 300; round++) {
      const d = new FrameDecoder(round % 2 === 0 ? 1 : 2);
      try {
        for (let k = 0; k < 20; k++) {
          const n = Math.floor(r() * 64);
          const c = new Uint8Array(n).map(() => Math.floor(r() * 256));
          if (k % 3 === 0 && n >= 1) c[0] = round % 2 === 0 ? 1 : 2;
          d.push(c);
          while (d.next()) {
            /* drain */
          }
        }
      } catch (e) {
        expect(e).toBeInstanceOf(SmuxError);
      }
    }
  });
});

describe("smux config", () => {
  test("defaults are smux.DefaultConfig and paqet's §8.8 values", () => {
    expect(defaultSmuxConfig).toEqual({
      version: 1,
      keepAliveDisabled: false,
      keepAliveInterval: 10000,
      keepAliveTimeout: 30000,
      maxFrameSize: 32768,
      maxReceiveBuffer: 4194304,
      maxStreamBuffer: 65536,
    });
    expect(paqetSmuxConfig.version).toBe(2);
    expect(paqetSmuxConfig.maxFrameSize).toBe(65535);
    expect(paqetSmuxConfig.maxStreamBuffer).toBe(2097152);
    expect(smuxConfigProblems(defaultSmuxConfig)).toEqual([]);
    expect(smuxConfigProblems(paqetSmuxConfig)).toEqual([]);
  });

  test("VerifyConfig's rules are enforced, all problems at once", () => {
    const bad = {
      ...defaultSmuxConfig,
      version: 3 as 2,
      keepAliveInterval: 0,
      maxFrameSize: 65536,
      maxStreamBuffer: 8 << 20,
    };
    expect(smuxConfigProblems(bad)).toHaveLength(4);
    expect(() => verifySmuxConfig(bad)).toThrow(SmuxError);
    expect(smuxConfigProblems({ ...defaultSmuxConfig, keepAliveTimeout: 5000 })).toHaveLength(1);
    expect(smuxConfigProblems({ ...defaultSmuxConfig, keepAliveDisabled: true, keepAliveTimeout: 0, keepAliveInterval: 0 })).toEqual([]);
    expect(smuxConfigProblems({ ...defaultSmuxConfig, maxReceiveBuffer: 2 ** 31, maxStreamBuffer: 10 })).toHaveLength(1);
  });
});
