import { describe, expect, test } from "bun:test";
import {
  AddressType,
  encodeAddress,
  encodeReply,
  encodeUdpDatagram,
  parseAuth,
  parseGreeting,
  parseRequest,
  parseUdpHeader,
  readAddress,
  Reply,
  replyForError,
  udpReplyHeader,
} from "../src/socks5/codec.ts";
import { Socks5Error } from "../src/socks5/errors.ts";
import { TunnelError } from "../src/tunnel/errors.ts";

const b = (...x: number[]) => Uint8Array.from(x);

describe("socks5 codec: handshake messages", () => {
  test("greeting needs all its methods; NMETHODS 0 is legal; VER must be 5", () => {
    expect(parseGreeting(b(5))).toBeUndefined();
    expect(parseGreeting(b(5, 2, 0))).toBeUndefined();
    expect([...parseGreeting(b(5, 2, 0, 2, 99))!.methods]).toEqual([0, 2]);
    expect(parseGreeting(b(5, 2, 0, 2, 99))!.length).toBe(4);
    expect(parseGreeting(b(5, 0))!.methods.length).toBe(0);
    expect(() => parseGreeting(b(4, 1, 0))).toThrow(Socks5Error);
  });

  test("auth: empty fields allowed; VER must be 1", () => {
    const c = parseAuth(b(1, 0, 0))!;
    expect([c.username.length, c.password.length, c.length]).toEqual([0, 0, 3]);
    const d = parseAuth(b(1, 1, 0x61, 2, 0x62, 0x63, 0xff))!;
    expect([...d.username, ...d.password, d.length]).toEqual([0x61, 0x62, 0x63, 6]);
    expect(parseAuth(b(1, 1, 0x61, 2, 0x62))).toBeUndefined();
    expect(() => parseAuth(b(5, 0, 0))).toThrow(Socks5Error);
  });

  test("request: IPv4, IPv6, IPv4-mapped IPv6 (printed dotted), domain; unknown ATYP carries reply 0x08", () => {
    expect(parseRequest(b(5, 1, 0, 1, 10, 0, 0, 1, 0, 80))!.address.target).toBe("10.0.0.1:80");
    const v6 = parseRequest(b(5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xbb))!;
    expect(v6.address.target).toBe("[2001:db8::1]:443");
    const mapped = parseRequest(b(5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4, 0, 53))!;
    expect(mapped.address.target).toBe("1.2.3.4:53");
    const dom = parseRequest(b(5, 3, 0, 3, 3, 0x61, 0x2e, 0x62, 0, 1))!;
    expect([dom.command, dom.address.type, dom.address.target, dom.length]).toEqual([3, AddressType.Domain, "a.b:1", 10]);
    expect(parseRequest(b(5, 1, 0, 3, 3, 0x61))).toBeUndefined();
    try {
      parseRequest(b(5, 1, 0, 2, 0, 0));
      throw new Error("no throw");
    } catch (e) {
      expect(e).toBeInstanceOf(Socks5Error);
      expect((e as Socks5Error).code).toBe("SOCKS_BAD_ADDRESS_TYPE");
      expect((e as Socks5Error).reply).toBe(Reply.AddressTypeNotSupported);
    }
  });

  test("replies: failure is 05 REP 00 01 + zeros; BND IPv4 / mapped → ATYP 1, IPv6 → ATYP 4", () => {
    expect([...encodeReply(Reply.CommandNotSupported)]).toEqual([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect([...encodeReply(Reply.Succeeded, { host: "127.0.0.1", port: 1080 })]).toEqual([5, 0, 0, 1, 127, 0, 0, 1, 4, 56]);
    expect([...encodeReply(Reply.Succeeded, { host: "::ffff:10.1.2.3", port: 1 })]).toEqual([5, 0, 0, 1, 10, 1, 2, 3, 0, 1]);
    const v6 = encodeReply(Reply.Succeeded, { host: "::1", port: 2 });
    expect([...v6]).toEqual([5, 0, 0, 4, ...new Array(15).fill(0), 1, 0, 2]);
  });

  test("tunnel error codes map to reply codes; anything else is 0x01", () => {
    expect(replyForError(new TunnelError("TUN_REFUSED", ""))).toBe(Reply.ConnectionRefused);
    expect(replyForError(new TunnelError("TUN_UNREACHABLE", ""))).toBe(Reply.HostUnreachable);
    expect(replyForError(new TunnelError("TUN_TIMEOUT", ""))).toBe(Reply.HostUnreachable);
    expect(replyForError(new TunnelError("TUN_HOST_TOO_LONG", ""))).toBe(Reply.GeneralFailure);
    expect(replyForError(new Error("x"))).toBe(Reply.GeneralFailure);
    expect(replyForError(undefined)).toBe(Reply.GeneralFailure);
  });
});

describe("socks5 codec: UDP header", () => {
  test("round trip, FRAG rule, reply header repeats the address bytes with RSV/FRAG zero", () => {
    const dg = encodeUdpDatagram({ type: AddressType.Domain, host: "example.com", port: 53 }, b(1, 2, 3));
    const h = parseUdpHeader(dg);
    if (typeof h === "string") throw new Error(h);
    expect(h.address.target).toBe("example.com:53");
    expect([...dg.subarray(h.dataOffset)]).toEqual([1, 2, 3]);
    const withRsv = dg.slice();
    withRsv[0] = 0xaa;
    withRsv[1] = 0xbb;
    expect(typeof parseUdpHeader(withRsv)).toBe("object");
    expect([...udpReplyHeader(withRsv, h.dataOffset)]).toEqual([0, 0, 0, ...encodeAddress({ type: AddressType.Domain, host: "example.com", port: 53 })]);
    const frag = dg.slice();
    frag[2] = 1;
    expect(parseUdpHeader(frag)).toBe("frag");
    expect(parseUdpHeader(b(0, 0, 0))).toBe("short");
    expect(parseUdpHeader(b(0, 0, 0, 1, 1, 2, 3, 4, 0))).toBe("short");
    expect(parseUdpHeader(b(0, 0, 0, 5, 1, 2))).toBe("atyp");
  });
});

describe("socks5 codec: fuzz", () => {
  test("100k random inputs: parsers throw only Socks5Error and never read past the input", () => {
    let s = 7;
    const r = () => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 4294967296;
    };
    const int = (n: number) => Math.floor(r() * n);
    let parsed = 0;
    let bad = 0;
    for (let i = 0; i < 100_000; i++) {
      const len = int(48);
      const x = new Uint8Array(len);
      for (let j = 0; j < len; j++) x[j] = int(256);
      if (len > 0 && r() < 0.7) x[0] = int(3) === 0 ? 1 : 5;
      if (len > 3 && r() < 0.7) x[3] = [1, 3, 4, int(256)][int(4)]!;
      if (len > 4 && r() < 0.5) x[4] = int(len);
      for (const parse of [parseGreeting, parseAuth, parseRequest]) {
        try {
          if (parse(x)) parsed++;
        } catch (e) {
          if (!(e instanceof Socks5Error)) throw e;
        }
      }
      const u = parseUdpHeader(x);
      if (typeof u === "object") {
        if (u.dataOffset > len) bad++;
        parsed++;
      }
      const a = readAddress(x, 3);
      if (typeof a === "object" && a.end > len) bad++;
    }
    expect(bad).toBe(0);
    expect(parsed).toBeGreaterThan(10_000);
  });
});
