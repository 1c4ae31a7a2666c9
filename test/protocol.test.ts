import { describe, expect, test } from "bun:test";
import { isPaqetError } from "../src/lib/errors.ts";
import { TunnelError } from "../src/tunnel/errors.ts";
import {
  HEADER_LEN,
  MAX_BODY,
  MAX_DATAGRAM,
  MessageDecoder,
  MessageType,
  datagramFits,
  decodeMessage,
  encodeMessage,
  joinHostPort,
  splitHostPort,
  targetMessage,
  type Decoded,
  type Message,
} from "../src/tunnel/protocol.ts";
import { seededRandom as rng } from "../src/socket/lossy.ts";

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((b) => Number.parseInt(b, 16)));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TunnelError);
    return (e as TunnelError).code;
  }
  throw new Error("expected a TunnelError");
}

/** Feeds `bytes` in the given chunk sizes, then ends; returns the result or the error code. */
function feed(bytes: Uint8Array, cuts: number[]): { result?: Decoded; rest: Uint8Array; code?: string } {
  const d = new MessageDecoder();
  let result: Decoded | undefined;
  const rest: number[] = [];
  try {
    let at = 0;
    for (const end of [...cuts, bytes.length]) {
      const r = d.push(bytes.subarray(at, end));
      at = end;
      if (r) {
        result ??= r;
        rest.push(...r.rest);
      }
    }
    d.end();
    return { result, rest: Uint8Array.from(rest) };
  } catch (e) {
    if (!(e instanceof TunnelError)) throw e;
    return { rest: Uint8Array.from(rest), code: e.code };
  }
}

// Spec paqet-app.md §4.2 "Example encodings".
const EXAMPLES: [string, Message, string][] = [
  ["PING", { type: MessageType.Ping }, "50 01 01 00 00"],
  ["PONG", { type: MessageType.Pong }, "50 01 02 00 00"],
  ["TCPF [PA]", { type: MessageType.Tcpf, flags: [0x18] }, "50 01 03 00 03 01 00 18"],
  ["TCPF [S,SA,A]", { type: MessageType.Tcpf, flags: [0x02, 0x12, 0x10] }, "50 01 03 00 07 03 00 02 00 12 00 10"],
  [
    "TCP example.com:443",
    { type: MessageType.Tcp, host: "example.com", port: 443 },
    "50 01 04 00 0E 0B 65 78 61 6D 70 6C 65 2E 63 6F 6D 01 BB",
  ],
  [
    "UDP [2001:db8::1]:53",
    { type: MessageType.Udp, host: "2001:db8::1", port: 53 },
    "50 01 05 00 0E 0B 32 30 30 31 3A 64 62 38 3A 3A 31 00 35",
  ],
  ["TCPF empty", { type: MessageType.Tcpf, flags: [] }, "50 01 03 00 01 00"],
];

describe("protocol: spec example encodings", () => {
  for (const [name, msg, bytes] of EXAMPLES) {
    test(`${name} encodes and decodes`, () => {
      expect(toHex(encodeMessage(msg))).toBe(toHex(hex(bytes)));
      const { message, rest } = decodeMessage(hex(bytes));
      expect(message).toEqual(msg);
      expect(rest.length).toBe(0);
    });
  }
  test("targetMessage splits bracketed IPv6 as the UDP example", () => {
    expect(toHex(encodeMessage(targetMessage(MessageType.Udp, "[2001:db8::1]:53")))).toBe(toHex(hex(EXAMPLES[5]![2])));
  });
});

describe("protocol: writer checks", () => {
  test("host of 253 bytes is fine, 254 is TUN_HOST_TOO_LONG (counted in UTF-8 bytes)", () => {
    expect(encodeMessage({ type: MessageType.Tcp, host: "a".repeat(253), port: 1 }).length).toBe(HEADER_LEN + 1 + 253 + 2);
    expect(codeOf(() => encodeMessage({ type: MessageType.Tcp, host: "a".repeat(254), port: 1 }))).toBe("TUN_HOST_TOO_LONG");
    expect(codeOf(() => encodeMessage({ type: MessageType.Udp, host: "é".repeat(127), port: 1 }))).toBe("TUN_HOST_TOO_LONG");
  });
  test("ports 0 and 65535 are fine; -1, 65536, 1.5 and NaN are TUN_BAD_PORT", () => {
    expect(decodeMessage(encodeMessage({ type: MessageType.Tcp, host: "", port: 0 })).message).toEqual({
      type: MessageType.Tcp,
      host: "",
      port: 0,
    });
    expect(encodeMessage({ type: MessageType.Tcp, host: "h", port: 65535 }).at(-1)).toBe(0xff);
    for (const port of [-1, 65536, 1.5, Number.NaN]) {
      expect(codeOf(() => encodeMessage({ type: MessageType.Tcp, host: "h", port }))).toBe("TUN_BAD_PORT");
    }
  });
  test("missing address is TUN_NO_ADDRESS", () => {
    expect(codeOf(() => encodeMessage({ type: MessageType.Udp } as unknown as Message))).toBe("TUN_NO_ADDRESS");
  });
  test("64 TCPF entries are fine, 65 are TUN_TOO_MANY_FLAGS, a non-u16 word is TUN_BAD_FLAG", () => {
    expect(encodeMessage({ type: MessageType.Tcpf, flags: new Array(64).fill(0x18) }).length).toBe(HEADER_LEN + 1 + 128);
    expect(codeOf(() => encodeMessage({ type: MessageType.Tcpf, flags: new Array(65).fill(0x18) }))).toBe("TUN_TOO_MANY_FLAGS");
    expect(codeOf(() => encodeMessage({ type: MessageType.Tcpf, flags: [0x10000] }))).toBe("TUN_BAD_FLAG");
  });
  test("unknown type is TUN_BAD_TYPE", () => {
    expect(codeOf(() => encodeMessage({ type: 9 } as unknown as Message))).toBe("TUN_BAD_TYPE");
  });
});

describe("protocol: reader errors", () => {
  const cases: [string, string, string][] = [
    ["bad magic", "51 01 01 00 00", "TUN_BAD_MAGIC"],
    ["bad version", "50 02 01 00 00", "TUN_BAD_VERSION"],
    ["length 4097, no body needed", "50 01 04 10 01", "TUN_TOO_LONG"],
    ["unknown type 0x06 after its body", "50 01 06 00 02 aa bb", "TUN_BAD_TYPE"],
    ["unknown type 0x00", "50 01 00 00 00", "TUN_BAD_TYPE"],
    ["TCP body of 2 bytes", "50 01 04 00 02 00 50", "TUN_TRUNCATED"],
    ["UDP body empty", "50 01 05 00 00", "TUN_TRUNCATED"],
    ["hostLen larger than the body", "50 01 04 00 04 02 61 00 50", "TUN_BAD_HOST_LENGTH"],
    ["hostLen smaller than the body", "50 01 04 00 05 01 61 62 00 50", "TUN_BAD_HOST_LENGTH"],
    ["TCPF body empty", "50 01 03 00 00", "TUN_TRUNCATED"],
    ["TCPF count 2 with one word", "50 01 03 00 03 02 00 18", "TUN_BAD_TCPF_COUNT"],
    ["TCPF trailing byte", "50 01 03 00 04 01 00 18 00", "TUN_BAD_TCPF_COUNT"],
    ["nothing at all", "", "TUN_EOF"],
    ["half a header", "50 01 04", "TUN_TRUNCATED"],
    ["half a body", "50 01 04 00 0E 0B 65 78", "TUN_TRUNCATED"],
  ];
  for (const [name, bytes, code] of cases) {
    test(`${name} → ${code}, at every split point`, () => {
      const b = bytes ? hex(bytes) : new Uint8Array(0);
      expect(feed(b, []).code).toBe(code);
      for (let cut = 0; cut <= b.length; cut++) expect(feed(b, [cut]).code).toBe(code);
      expect(feed(b, Array.from({ length: b.length }, (_, i) => i)).code).toBe(code);
    });
  }
  test("hostLen 254 with a matching body length is rejected", () => {
    const body = new Uint8Array(1 + 254 + 2);
    body[0] = 254;
    const msg = new Uint8Array([0x50, 0x01, 0x04, 0x01, 0x01, ...body]);
    expect(codeOf(() => decodeMessage(msg))).toBe("TUN_BAD_HOST_LENGTH");
  });
  test("TCPF count 65 with a matching body length is rejected", () => {
    const body = new Uint8Array(1 + 130);
    body[0] = 65;
    const msg = new Uint8Array([0x50, 0x01, 0x03, 0x00, 131, ...body]);
    expect(codeOf(() => decodeMessage(msg))).toBe("TUN_BAD_TCPF_COUNT");
  });
  test("a bad magic fails on the first byte, before a header is complete", () => {
    const d = new MessageDecoder();
    expect(codeOf(() => d.push(new Uint8Array([0x16])))).toBe("TUN_BAD_MAGIC");
  });
  test("length 4096 is accepted (PING with a 4096-byte body is ignored)", () => {
    const msg = new Uint8Array(HEADER_LEN + MAX_BODY);
    msg.set([0x50, 0x01, 0x01, 0x10, 0x00]);
    msg.fill(0xee, HEADER_LEN);
    const r = feed(msg, [3, 100, 2000]);
    expect(r.code).toBeUndefined();
    expect(r.result!.message).toEqual({ type: MessageType.Ping });
  });
});

describe("protocol: payload after the header", () => {
  const header = encodeMessage({ type: MessageType.Tcp, host: "example.com", port: 443 });
  const payload = Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + 3) & 0xff);
  const all = new Uint8Array([...header, ...payload]);

  test("every split point yields the message once and hands on every payload byte", () => {
    for (let cut = 0; cut <= all.length; cut++) {
      const r = feed(all, [cut]);
      expect(r.code).toBeUndefined();
      expect(r.result!.message).toEqual({ type: MessageType.Tcp, host: "example.com", port: 443 });
      expect(toHex(r.rest)).toBe(toHex(payload));
    }
    for (let a = 0; a <= header.length + 2; a++) {
      for (let b = a; b <= header.length + 3; b++) {
        const r = feed(all, [a, b]);
        expect(toHex(r.rest)).toBe(toHex(payload));
      }
    }
  });
  test("byte-by-byte delivery", () => {
    const r = feed(all, Array.from({ length: all.length }, (_, i) => i));
    expect(toHex(r.rest)).toBe(toHex(payload));
    expect(r.result!.message.type).toBe(MessageType.Tcp);
  });
  test("after the message the decoder passes chunks through untouched", () => {
    const d = new MessageDecoder();
    expect(d.push(header)!.rest.length).toBe(0);
    const c = new Uint8Array([1, 2, 3]);
    expect(d.push(c)!.rest).toBe(c);
    expect(d.consumed).toBe(header.length);
    d.end();
  });
});

describe("protocol: properties", () => {
  test("random valid messages round-trip, whole and split", () => {
    const r = rng(1);
    const int = (n: number) => Math.floor(r() * n);
    for (let i = 0; i < 3000; i++) {
      let m: Message;
      const k = int(5);
      if (k === 0) m = { type: r() < 0.5 ? MessageType.Ping : MessageType.Pong };
      else if (k === 1) m = { type: MessageType.Tcpf, flags: Array.from({ length: int(65) }, () => int(0x10000)) };
      else {
        const host = Array.from({ length: int(254) }, () => String.fromCharCode(0x21 + int(94))).join("");
        m = { type: k === 2 ? MessageType.Tcp : MessageType.Udp, host, port: int(0x10000) };
      }
      const bytes = encodeMessage(m);
      expect(decodeMessage(bytes).message).toEqual(m);
      const cut = int(bytes.length + 1);
      expect(feed(bytes, [cut]).result!.message).toEqual(m);
    }
  });

  test("100k random inputs throw nothing but TunnelError", () => {
    const r = rng(42);
    const int = (n: number) => Math.floor(r() * n);
    let ok = 0;
    let failed = 0;
    for (let i = 0; i < 100_000; i++) {
      const len = int(40);
      const b = new Uint8Array(len);
      for (let j = 0; j < len; j++) b[j] = int(256);
      // Bias most inputs past the magic/version checks so the body validators get exercised.
      if (len > 0 && r() < 0.8) b[0] = 0x50;
      if (len > 1 && r() < 0.8) b[1] = 0x01;
      if (len > 2 && r() < 0.8) b[2] = int(7);
      if (len > 3 && r() < 0.8) b[3] = 0;
      if (len > 4 && r() < 0.5) b[4] = int(len - 4);
      if (len > 5 && r() < 0.5) b[5] = int(len - 7);
      const cuts: number[] = [];
      for (let c = int(len + 1); c < len && cuts.length < 3; c += 1 + int(6)) cuts.push(c);
      try {
        const res = feed(b, cuts);
        if (res.code) failed++;
        else ok++;
      } catch (e) {
        expect(isPaqetError(e) && e instanceof TunnelError).toBe(true);
        throw e;
      }
    }
    // Both outcomes occur, so the fuzz reaches past the header checks.
    expect(ok).toBeGreaterThan(1000);
    expect(failed).toBeGreaterThan(1000);
  });
});

describe("protocol: UDP payload phase and target text", () => {
  test("datagramFits: 1..4096", () => {
    expect(MAX_DATAGRAM).toBe(4096);
    expect(datagramFits(0)).toBe(false);
    expect(datagramFits(1)).toBe(true);
    expect(datagramFits(4096)).toBe(true);
    expect(datagramFits(4097)).toBe(false);
  });
  test("splitHostPort follows Go's net.SplitHostPort", () => {
    expect(splitHostPort("example.com:443")).toEqual({ host: "example.com", port: 443 });
    expect(splitHostPort("[::1]:53")).toEqual({ host: "::1", port: 53 });
    expect(splitHostPort(":80")).toEqual({ host: "", port: 80 });
    expect(splitHostPort("1.2.3.4:0")).toEqual({ host: "1.2.3.4", port: 0 });
    expect(codeOf(() => splitHostPort("example.com"))).toBe("TUN_BAD_TARGET");
    expect(codeOf(() => splitHostPort("::1:53"))).toBe("TUN_BAD_TARGET");
    expect(codeOf(() => splitHostPort("[::1:53"))).toBe("TUN_BAD_TARGET");
    expect(codeOf(() => splitHostPort("[::1]53"))).toBe("TUN_BAD_TARGET");
    expect(codeOf(() => splitHostPort("a]:53"))).toBe("TUN_BAD_TARGET");
    expect(codeOf(() => splitHostPort("host:"))).toBe("TUN_BAD_PORT");
    expect(codeOf(() => splitHostPort("host:65536"))).toBe("TUN_BAD_PORT");
    expect(codeOf(() => splitHostPort("host:http"))).toBe("TUN_BAD_PORT");
  });
  test("joinHostPort brackets IPv6 only", () => {
    expect(joinHostPort("::1", 53)).toBe("[::1]:53");
    expect(joinHostPort("example.com", 80)).toBe("example.com:80");
  });
});
