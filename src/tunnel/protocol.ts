/**
 * The paqet stream protocol of alpha.21 (spec paqet-app.md §4.2-§4.5).
 *
 * Every smux stream a client opens starts with one message:
 *
 *   offset 0  magic   u8      0x50 ('P')
 *   offset 1  version u8      0x01
 *   offset 2  type    u8      MessageType
 *   offset 3  length  u16 BE  body length, at most 4096
 *   offset 5  body    length bytes, layout fixed by the type
 *
 * TCP and UDP bodies are `hostLen:u8 host port:u16be` (exactly 1 + hostLen + 2 bytes, hostLen <= 253);
 * TCPF is `count:u8` then count x `flags:u16be` (exactly 1 + 2*count bytes, count <= 64); PING and
 * PONG are written empty and read with any body. On a TCP or UDP stream the payload follows at once,
 * so a decoder hands back whatever it was given beyond the message (`rest`).
 *
 * Encoding throws TunnelError for a message the writer rules forbid and writes nothing. Decoding
 * untrusted bytes never reads out of bounds and throws nothing but TunnelError.
 */
import { TunnelError } from "./errors.ts";

export const MAGIC = 0x50;
export const VERSION = 0x01;

export const OFF_MAGIC = 0;
export const OFF_VERSION = 1;
export const OFF_TYPE = 2;
export const OFF_LENGTH = 3;
export const HEADER_LEN = OFF_LENGTH + 2;

/** Largest body a reader accepts and a writer produces. */
export const MAX_BODY = 4096;
/** Largest host in a TCP/UDP body, in bytes (a DNS name's text limit). */
export const MAX_HOST_LEN = 253;
/** Largest TCPF list. */
export const MAX_TCPF_FLAGS = 64;

/** Body offsets of a TCP/UDP message: hostLen, then host, then the port after the host. */
const OFF_HOST_LEN = 0;
const OFF_HOST = OFF_HOST_LEN + 1;
const PORT_LEN = 2;
/** Smallest TCP/UDP body: an empty host and a port. */
const MIN_TARGET_BODY = OFF_HOST + PORT_LEN;
/** Body offsets of a TCPF message: the count, then 2 bytes per flag word. */
const OFF_TCPF_COUNT = 0;
const OFF_TCPF_FLAGS = OFF_TCPF_COUNT + 1;
const TCPF_FLAG_LEN = 2;

export enum MessageType {
  /** Client → server liveness probe; the server answers PONG on the same stream and closes it. */
  Ping = 0x01,
  /** Server → client answer to PING. */
  Pong = 0x02,
  /** Client → server: the client's `remote_flag` list for this (IP, port); empty clears it. */
  Tcpf = 0x03,
  /** Client → server: dial TCP to host:port, then the stream carries raw bytes both ways. */
  Tcp = 0x04,
  /** Client → server: "dial" UDP to host:port, then one stream write per datagram both ways. */
  Udp = 0x05,
}

export interface PingMessage {
  readonly type: MessageType.Ping | MessageType.Pong;
}
export interface TcpfMessage {
  readonly type: MessageType.Tcpf;
  /** TCP flag words, laid out as TCP's own flags field (FIN 0x01 ... NS 0x100; "PA" = 0x18). */
  readonly flags: readonly number[];
}
export interface TargetMessage {
  readonly type: MessageType.Tcp | MessageType.Udp;
  /** Domain name, IPv4 literal or IPv6 literal without brackets; empty is legal on the wire. */
  readonly host: string;
  readonly port: number;
}
export type Message = PingMessage | TcpfMessage | TargetMessage;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

function targetHostBytes(m: TargetMessage): Uint8Array {
  // A JS caller can bypass the types; Go's writer rejects a TCP/UDP message without an address.
  if (typeof m.host !== "string") throw new TunnelError("TUN_NO_ADDRESS", "protocol: TCP/UDP message without an address");
  const host = utf8Encoder.encode(m.host);
  if (host.length > MAX_HOST_LEN) {
    throw new TunnelError("TUN_HOST_TOO_LONG", `protocol: host of ${host.length} bytes (at most ${MAX_HOST_LEN})`);
  }
  if (!Number.isInteger(m.port) || m.port < 0 || m.port > 0xffff) {
    throw new TunnelError("TUN_BAD_PORT", `protocol: port ${m.port} outside 0-65535`);
  }
  return host;
}

function checkFlags(m: TcpfMessage): void {
  if (m.flags.length > MAX_TCPF_FLAGS) {
    throw new TunnelError("TUN_TOO_MANY_FLAGS", `protocol: ${m.flags.length} TCPF entries (at most ${MAX_TCPF_FLAGS})`);
  }
  for (const f of m.flags) {
    if (!Number.isInteger(f) || f < 0 || f > 0xffff) throw new TunnelError("TUN_BAD_FLAG", `protocol: TCPF word ${f} is not a u16`);
  }
}

/** Encodes one message as the single stream write that carries it; throws TunnelError on a writer-rule violation. */
export function encodeMessage(m: Message): Uint8Array {
  let body: number;
  let host: Uint8Array | undefined;
  switch (m.type) {
    case MessageType.Ping:
    case MessageType.Pong:
      body = 0;
      break;
    case MessageType.Tcpf:
      checkFlags(m);
      body = OFF_TCPF_FLAGS + TCPF_FLAG_LEN * m.flags.length;
      break;
    case MessageType.Tcp:
    case MessageType.Udp:
      host = targetHostBytes(m);
      body = OFF_HOST + host.length + PORT_LEN;
      break;
    default:
      throw new TunnelError("TUN_BAD_TYPE", `protocol: unknown message type ${(m as { type: unknown }).type}`);
  }
  // Unreachable given the limits above; kept because the reader enforces the same bound.
  if (body > MAX_BODY) throw new TunnelError("TUN_TOO_LONG", `protocol: body of ${body} bytes (at most ${MAX_BODY})`);
  const out = new Uint8Array(HEADER_LEN + body);
  const view = new DataView(out.buffer);
  out[OFF_MAGIC] = MAGIC;
  out[OFF_VERSION] = VERSION;
  out[OFF_TYPE] = m.type;
  view.setUint16(OFF_LENGTH, body, false);
  if (m.type === MessageType.Tcpf) {
    out[HEADER_LEN + OFF_TCPF_COUNT] = m.flags.length;
    for (let i = 0; i < m.flags.length; i++) view.setUint16(HEADER_LEN + OFF_TCPF_FLAGS + TCPF_FLAG_LEN * i, m.flags[i]!, false);
  } else if (host) {
    const t = m as TargetMessage;
    out[HEADER_LEN + OFF_HOST_LEN] = host.length;
    out.set(host, HEADER_LEN + OFF_HOST);
    view.setUint16(HEADER_LEN + OFF_HOST + host.length, t.port, false);
  }
  return out;
}

/** Validates a complete body for `type` (reader step 6) and builds the message. */
export function decodeBody(type: number, body: Uint8Array): Message {
  switch (type) {
    case MessageType.Ping:
    case MessageType.Pong:
      // A reader accepts any body on PING/PONG and ignores it.
      return { type };
    case MessageType.Tcp:
    case MessageType.Udp: {
      if (body.length < MIN_TARGET_BODY) throw new TunnelError("TUN_TRUNCATED", "protocol: truncated address body");
      const hostLen = body[OFF_HOST_LEN]!;
      if (hostLen > MAX_HOST_LEN || hostLen !== body.length - MIN_TARGET_BODY) {
        throw new TunnelError("TUN_BAD_HOST_LENGTH", `protocol: bad host length ${hostLen}`);
      }
      const portAt = OFF_HOST + hostLen;
      return {
        type,
        host: utf8Decoder.decode(body.subarray(OFF_HOST, portAt)),
        port: (body[portAt]! << 8) | body[portAt + 1]!,
      };
    }
    case MessageType.Tcpf: {
      if (body.length < OFF_TCPF_FLAGS) throw new TunnelError("TUN_TRUNCATED", "protocol: truncated tcpf body");
      const count = body[OFF_TCPF_COUNT]!;
      if (count > MAX_TCPF_FLAGS || body.length !== OFF_TCPF_FLAGS + TCPF_FLAG_LEN * count) {
        throw new TunnelError("TUN_BAD_TCPF_COUNT", `protocol: bad tcpf count ${count}`);
      }
      const flags: number[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const at = OFF_TCPF_FLAGS + TCPF_FLAG_LEN * i;
        flags[i] = (body[at]! << 8) | body[at + 1]!;
      }
      return { type, flags };
    }
    default:
      throw new TunnelError("TUN_BAD_TYPE", `protocol: unknown message type 0x${hex2(type)}`);
  }
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, "0");
}

/** What a decoder returns once the message is complete: the message and the payload bytes that followed it. */
export interface Decoded {
  readonly message: Message;
  /** Bytes after the message in the chunk that completed it (a view, possibly empty): payload phase. */
  readonly rest: Uint8Array;
}

enum DecoderState {
  Header,
  Body,
  Done,
}

const EMPTY = new Uint8Array(0);

/**
 * Incremental reader of the one message at the start of a stream. Feed every chunk to `push`
 * until it returns a result; call `end` when the stream ends first. Checks run in the order of the
 * Go reader (magic, version, length before the body is read, then the body by type), but each one
 * fires as soon as its byte arrives, so a stream of garbage fails on its first byte. After a
 * throw the stream is unusable (the Go server closes it) and so is the decoder.
 */
export class MessageDecoder {
  #state = DecoderState.Header;
  readonly #header = new Uint8Array(HEADER_LEN);
  #headerFill = 0;
  #body: Uint8Array = EMPTY;
  #bodyFill = 0;
  /** Kept without its `rest`: the decoder lives as long as its stream, the first chunk need not. */
  #message: Message | undefined;

  /** Bytes consumed so far that belong to the message. */
  get consumed(): number {
    return this.#headerFill + this.#bodyFill;
  }

  /**
   * Takes the next chunk. Returns the message once complete; the bytes beyond it are `rest`.
   * After that, every further chunk is payload and comes back whole as `rest`.
   */
  push(chunk: Uint8Array): Decoded | undefined {
    if (this.#state === DecoderState.Done) return { message: this.#message!, rest: chunk };
    let at = 0;
    if (this.#state === DecoderState.Header) {
      while (at < chunk.length && this.#headerFill < HEADER_LEN) {
        const i = this.#headerFill++;
        this.#header[i] = chunk[at++]!;
        this.#checkHeaderByte(i);
      }
      if (this.#headerFill < HEADER_LEN) return undefined;
      const length = (this.#header[OFF_LENGTH]! << 8) | this.#header[OFF_LENGTH + 1]!;
      this.#state = DecoderState.Body;
      if (length === 0) return this.#finish(EMPTY, chunk.subarray(at));
      // The common case: the whole body is in this chunk, so it is decoded in place without a copy.
      if (chunk.length - at >= length) return this.#finish(chunk.subarray(at, at + length), chunk.subarray(at + length));
      this.#body = new Uint8Array(length);
    }
    const want = this.#body.length - this.#bodyFill;
    const take = Math.min(want, chunk.length - at);
    this.#body.set(chunk.subarray(at, at + take), this.#bodyFill);
    this.#bodyFill += take;
    at += take;
    if (this.#bodyFill < this.#body.length) return undefined;
    return this.#finish(this.#body, chunk.subarray(at));
  }

  /** The stream ended. Throws TUN_EOF when nothing arrived, TUN_TRUNCATED mid-message; no-op once complete. */
  end(): void {
    if (this.#state === DecoderState.Done) return;
    if (this.consumed === 0) throw new TunnelError("TUN_EOF", "protocol: stream closed before a message");
    throw new TunnelError("TUN_TRUNCATED", `protocol: stream closed after ${this.consumed} bytes of a message`);
  }

  #checkHeaderByte(i: number): void {
    const h = this.#header;
    if (i === OFF_MAGIC && h[OFF_MAGIC] !== MAGIC) {
      throw new TunnelError("TUN_BAD_MAGIC", `protocol: bad magic byte 0x${hex2(h[OFF_MAGIC]!)} (want 0x50)`);
    }
    if (i === OFF_VERSION && h[OFF_VERSION] !== VERSION) {
      throw new TunnelError("TUN_BAD_VERSION", `protocol: unsupported version 0x${hex2(h[OFF_VERSION]!)} (want 0x01)`);
    }
    if (i === OFF_LENGTH + 1) {
      const length = (h[OFF_LENGTH]! << 8) | h[OFF_LENGTH + 1]!;
      if (length > MAX_BODY) throw new TunnelError("TUN_TOO_LONG", `protocol: body length ${length} exceeds ${MAX_BODY}`);
    }
  }

  #finish(body: Uint8Array, rest: Uint8Array): Decoded {
    const message = decodeBody(this.#header[OFF_TYPE]!, body);
    this.#bodyFill = body.length;
    this.#body = EMPTY;
    this.#state = DecoderState.Done;
    this.#message = message;
    return { message, rest };
  }
}

/**
 * Decodes a message from a buffer that holds all of it (and possibly payload after it).
 * Throws TUN_EOF/TUN_TRUNCATED when the buffer ends early.
 */
export function decodeMessage(bytes: Uint8Array): Decoded {
  const d = new MessageDecoder();
  const r = d.push(bytes);
  if (r) return r;
  d.end();
  throw new TunnelError("TUN_TRUNCATED", "protocol: incomplete message");
}

// ---- UDP payload phase (§4.5) ----------------------------------------------------------------

/**
 * Largest datagram in a UDP stream. There is no length prefix and no per-datagram address: one
 * datagram is exactly one stream write, and a reader takes each chunk its stream delivers (one
 * smux frame) as one datagram. A chunk above this size is dropped silently (and counted) by the
 * reader; a sender drops such a datagram before writing it.
 */
export const MAX_DATAGRAM = 4096;

/** Whether a datagram may be written to, or accepted from, a UDP stream. Empty datagrams never make a smux frame, so they are not sent either. */
export function datagramFits(length: number): boolean {
  return length > 0 && length <= MAX_DATAGRAM;
}

// ---- target text ------------------------------------------------------------------------------

/** Splits `host:port` or `[v6]:port` as Go's net.SplitHostPort and parses the port (0-65535). */
export function splitHostPort(target: string): { host: string; port: number } {
  let host: string;
  let portText: string;
  if (target.startsWith("[")) {
    const close = target.indexOf("]");
    if (close < 0) throw new TunnelError("TUN_BAD_TARGET", `missing ']' in address ${JSON.stringify(target)}`);
    if (target[close + 1] !== ":") throw new TunnelError("TUN_BAD_TARGET", `missing port in address ${JSON.stringify(target)}`);
    host = target.slice(1, close);
    portText = target.slice(close + 2);
    if (host.includes("[")) throw new TunnelError("TUN_BAD_TARGET", `unexpected '[' in address ${JSON.stringify(target)}`);
  } else {
    const colon = target.lastIndexOf(":");
    if (colon < 0) throw new TunnelError("TUN_BAD_TARGET", `missing port in address ${JSON.stringify(target)}`);
    host = target.slice(0, colon);
    portText = target.slice(colon + 1);
    if (host.includes(":")) throw new TunnelError("TUN_BAD_TARGET", `too many colons in address ${JSON.stringify(target)}`);
    if (host.includes("[") || host.includes("]")) {
      throw new TunnelError("TUN_BAD_TARGET", `unexpected bracket in address ${JSON.stringify(target)}`);
    }
  }
  if (portText.includes("]")) throw new TunnelError("TUN_BAD_TARGET", `unexpected ']' in address ${JSON.stringify(target)}`);
  if (!/^[0-9]{1,5}$/.test(portText)) throw new TunnelError("TUN_BAD_PORT", `bad port ${JSON.stringify(portText)} in ${JSON.stringify(target)}`);
  const port = Number(portText);
  if (port > 0xffff) throw new TunnelError("TUN_BAD_PORT", `port ${port} outside 0-65535`);
  return { host, port };
}

/** `host:port`, with brackets around a host that contains ':' (an IPv6 literal). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The TCP or UDP request message for a `host:port` target; throws TunnelError on a malformed target. */
export function targetMessage(type: MessageType.Tcp | MessageType.Udp, target: string): TargetMessage {
  const { host, port } = splitHostPort(target);
  return { type, host, port };
}
