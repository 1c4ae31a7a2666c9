/**
 * SOCKS5 messages (RFC 1928) and username/password auth (RFC 1929) as pure functions.
 *
 * Parsers take the bytes received so far and return `undefined` while more are needed; malformed
 * input throws Socks5Error (handshake) or yields a drop reason (UDP datagrams, a hot path).
 */
import { formatIpv4, formatIpv6, isIpv4Mapped, tryParseIp } from "../packet/address.ts";
import { joinHostPort } from "../tunnel/protocol.ts";
import { Socks5Error } from "./errors.ts";

export const SOCKS_VERSION = 0x05;
/** RFC 1929: "The VER field contains the current version of the subnegotiation, which is X'01'". */
export const AUTH_VERSION = 0x01;

export enum Method {
  NoAuth = 0x00,
  UserPass = 0x02,
  NoAcceptable = 0xff,
}

export enum Command {
  Connect = 0x01,
  Bind = 0x02,
  UdpAssociate = 0x03,
}

export enum AddressType {
  IPv4 = 0x01,
  Domain = 0x03,
  IPv6 = 0x04,
}

export enum Reply {
  Succeeded = 0x00,
  GeneralFailure = 0x01,
  NotAllowed = 0x02,
  NetworkUnreachable = 0x03,
  HostUnreachable = 0x04,
  ConnectionRefused = 0x05,
  TtlExpired = 0x06,
  CommandNotSupported = 0x07,
  AddressTypeNotSupported = 0x08,
}

export enum AuthStatus {
  Success = 0x00,
  Failure = 0x01,
}

const IPV4_LEN = 4;
const IPV6_LEN = 16;
const PORT_LEN = 2;

/** Greeting: VER NMETHODS METHODS... */
const OFF_GREETING_NMETHODS = 1;
const GREETING_MIN = OFF_GREETING_NMETHODS + 1;
/** Request: VER CMD RSV ATYP DST.ADDR DST.PORT */
const OFF_REQ_CMD = 1;
const OFF_REQ_ADDR = 3;
/** UDP request header: RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA */
const OFF_UDP_FRAG = 2;
export const OFF_UDP_ADDR = 3;
/** Smallest UDP datagram the relay parses (RFC header up to ATYP). */
export const UDP_MIN_DATAGRAM = OFF_UDP_ADDR + 1;
/** Largest SOCKS UDP header: RSV FRAG ATYP, a 255-byte domain with its length, the port. */
export const UDP_MAX_HEADER = OFF_UDP_ADDR + 1 + 1 + 255 + PORT_LEN;

/** An address as carried in a request or a UDP header. */
export interface SocksAddress {
  readonly type: AddressType;
  /** IPv4 dotted, IPv6 canonical (an IPv4-mapped one as dotted IPv4), or the domain as sent. */
  readonly host: string;
  readonly port: number;
  /** Target text for the tunnel: `host:port`, IPv6 in brackets. */
  readonly target: string;
}

const domainDecoder = new TextDecoder();

/** Reads ATYP DST.ADDR DST.PORT at `off`: the address and where it ends, "short" or "atyp". */
export function readAddress(buf: Uint8Array, off: number): { address: SocksAddress; end: number } | "short" | "atyp" {
  if (buf.length <= off) return "short";
  const type = buf[off]!;
  let host: string;
  let at = off + 1;
  switch (type) {
    case AddressType.IPv4:
      if (buf.length < at + IPV4_LEN + PORT_LEN) return "short";
      host = formatIpv4(buf, at);
      at += IPV4_LEN;
      break;
    case AddressType.IPv6:
      if (buf.length < at + IPV6_LEN + PORT_LEN) return "short";
      host = isIpv4Mapped(buf, at) ? formatIpv4(buf, at + 12) : formatIpv6(buf, at);
      at += IPV6_LEN;
      break;
    case AddressType.Domain: {
      if (buf.length < at + 1) return "short";
      const len = buf[at]!;
      if (buf.length < at + 1 + len + PORT_LEN) return "short";
      host = domainDecoder.decode(buf.subarray(at + 1, at + 1 + len));
      at += 1 + len;
      break;
    }
    default:
      return "atyp";
  }
  const port = (buf[at]! << 8) | buf[at + 1]!;
  return { address: { type, host, port, target: joinHostPort(host, port) }, end: at + PORT_LEN };
}

export interface Greeting {
  readonly methods: Uint8Array;
  readonly length: number;
}

export function parseGreeting(buf: Uint8Array): Greeting | undefined {
  if (buf.length >= 1 && buf[0] !== SOCKS_VERSION) {
    throw new Socks5Error("SOCKS_BAD_VERSION", `greeting version 0x${buf[0]!.toString(16)} (want 5)`);
  }
  if (buf.length < GREETING_MIN) return undefined;
  const n = buf[OFF_GREETING_NMETHODS]!;
  if (buf.length < GREETING_MIN + n) return undefined;
  return { methods: buf.subarray(GREETING_MIN, GREETING_MIN + n), length: GREETING_MIN + n };
}

export interface Credentials {
  readonly username: Uint8Array;
  readonly password: Uint8Array;
  readonly length: number;
}

/** RFC 1929 request: VER ULEN UNAME PLEN PASSWD (either field may be empty). */
export function parseAuth(buf: Uint8Array): Credentials | undefined {
  if (buf.length >= 1 && buf[0] !== AUTH_VERSION) {
    throw new Socks5Error("SOCKS_BAD_AUTH_VERSION", `auth version 0x${buf[0]!.toString(16)} (want 1)`);
  }
  if (buf.length < 2) return undefined;
  const ulen = buf[1]!;
  if (buf.length < 2 + ulen + 1) return undefined;
  const plen = buf[2 + ulen]!;
  const end = 2 + ulen + 1 + plen;
  if (buf.length < end) return undefined;
  return { username: buf.subarray(2, 2 + ulen), password: buf.subarray(3 + ulen, end), length: end };
}

export interface Request {
  readonly command: number;
  readonly address: SocksAddress;
  readonly length: number;
}

export function parseRequest(buf: Uint8Array): Request | undefined {
  if (buf.length >= 1 && buf[0] !== SOCKS_VERSION) {
    throw new Socks5Error("SOCKS_BAD_VERSION", `request version 0x${buf[0]!.toString(16)} (want 5)`);
  }
  if (buf.length <= OFF_REQ_ADDR) return undefined;
  const r = readAddress(buf, OFF_REQ_ADDR);
  if (r === "short") return undefined;
  if (r === "atyp") {
    throw new Socks5Error("SOCKS_BAD_ADDRESS_TYPE", `address type 0x${buf[OFF_REQ_ADDR]!.toString(16)}`, {
      reply: Reply.AddressTypeNotSupported,
    });
  }
  return { command: buf[OFF_REQ_CMD]!, address: r.address, length: r.end };
}

export function encodeMethodChoice(method: Method): Uint8Array {
  return new Uint8Array([SOCKS_VERSION, method]);
}

export function encodeAuthStatus(status: AuthStatus): Uint8Array {
  return new Uint8Array([AUTH_VERSION, status]);
}

/**
 * A reply: VER REP RSV ATYP BND.ADDR BND.PORT. Failures carry the IPv4 zero address. A bound IPv4
 * or IPv4-mapped address is written as ATYP 1, anything else as ATYP 4 (Go paqet's putAddr).
 */
export function encodeReply(reply: Reply, bound?: { host: string; port: number }): Uint8Array {
  const ip = bound ? tryParseIp(bound.host) : undefined;
  const v4 = ip && (ip.length === IPV4_LEN ? ip : isIpv4Mapped(ip) ? ip.subarray(12) : undefined);
  const addr = v4 ?? ip ?? new Uint8Array(IPV4_LEN);
  const out = new Uint8Array(OFF_REQ_ADDR + 1 + addr.length + PORT_LEN);
  out[0] = SOCKS_VERSION;
  out[1] = reply;
  out[OFF_REQ_ADDR] = addr.length === IPV4_LEN ? AddressType.IPv4 : AddressType.IPv6;
  out.set(addr, OFF_REQ_ADDR + 1);
  const port = ip && bound ? bound.port : 0;
  out[out.length - 2] = port >> 8;
  out[out.length - 1] = port & 0xff;
  return out;
}

/** Why a UDP datagram from the client was dropped. */
export type UdpDropReason = "short" | "frag" | "atyp";

export interface UdpHeader {
  readonly address: SocksAddress;
  /** Offset of DATA in the datagram; bytes 0..dataOffset are the header to repeat on replies. */
  readonly dataOffset: number;
}

/**
 * Parses RSV(2) FRAG ATYP DST.ADDR DST.PORT. RSV is ignored; "An implementation that does not
 * support fragmentation MUST drop any datagram whose FRAG field is other than X'00'" (RFC 1928 §7).
 */
export function parseUdpHeader(d: Uint8Array): UdpHeader | UdpDropReason {
  if (d.length < UDP_MIN_DATAGRAM) return "short";
  if (d[OFF_UDP_FRAG] !== 0) return "frag";
  const r = readAddress(d, OFF_UDP_ADDR);
  if (typeof r === "string") return r;
  return { address: r.address, dataOffset: r.end };
}

/**
 * The header for replies to the client: 00 00 00 and the request's address bytes exactly as the
 * client sent them (domain form included), so it can match the reply to its request.
 */
export function udpReplyHeader(datagram: Uint8Array, dataOffset: number): Uint8Array {
  const h = datagram.slice(0, dataOffset);
  h[0] = 0;
  h[1] = 0;
  h[OFF_UDP_FRAG] = 0;
  return h;
}

/** Builds a client UDP datagram (for tests and clients): RSV FRAG=0, the address, then data. */
export function encodeUdpDatagram(address: { type: AddressType; host: string; port: number }, data: Uint8Array): Uint8Array {
  const addr = encodeAddress(address);
  const out = new Uint8Array(OFF_UDP_ADDR + addr.length + data.length);
  out.set(addr, OFF_UDP_ADDR);
  out.set(data, OFF_UDP_ADDR + addr.length);
  return out;
}

/** ATYP DST.ADDR DST.PORT for an address given as text. */
export function encodeAddress(address: { type: AddressType; host: string; port: number }): Uint8Array {
  let body: Uint8Array;
  if (address.type === AddressType.Domain) {
    const name = new TextEncoder().encode(address.host);
    if (name.length > 255) throw new Socks5Error("SOCKS_BAD_ADDRESS", "a domain name has at most 255 bytes");
    body = new Uint8Array([name.length, ...name]);
  } else {
    const ip = tryParseIp(address.host);
    const want = address.type === AddressType.IPv4 ? IPV4_LEN : IPV6_LEN;
    if (!ip || ip.length !== want) throw new Socks5Error("SOCKS_BAD_ADDRESS", `not an address of type ${address.type}: ${address.host}`);
    body = ip;
  }
  const out = new Uint8Array(1 + body.length + PORT_LEN);
  out[0] = address.type;
  out.set(body, 1);
  out[out.length - 2] = address.port >> 8;
  out[out.length - 1] = address.port & 0xff;
  return out;
}

/** The reply code for a failed CONNECT, from the tunnel error's code (§7.3; only 0x01 from an alpha.21 client). */
export function replyForError(err: unknown): Reply {
  switch ((err as { code?: unknown } | null)?.code) {
    case "TUN_REFUSED":
      return Reply.ConnectionRefused;
    case "TUN_UNREACHABLE":
    case "TUN_TIMEOUT":
      return Reply.HostUnreachable;
    default:
      return Reply.GeneralFailure;
  }
}
