/**
 * smux v1.5.53 frame codec (spec kcp-smux-wire.md §8.1, §8.2). All integers are little-endian.
 *
 * ```
 * offset 0  ver  u8     1 or 2 (must equal the local version)
 * offset 1  cmd  u8     Cmd
 * offset 2  len  u16 LE payload length as the sender wrote it
 * offset 4  sid  u32 LE stream id (0 only in NOP)
 * offset 8  payload: `len` bytes for PSH, the 8-byte UPD body for UPD, nothing for SYN/FIN/NOP
 * ```
 *
 * The receiver does not trust `len` for anything but PSH: SYN, FIN and NOP carry no payload whatever
 * `len` says, and UPD always has exactly 8 body bytes. `FrameDecoder` applies those rules, so a
 * peer that sets odd lengths desynchronises us exactly as it desynchronises Go smux.
 */
import { SmuxError } from "./errors.ts";

export const OFF_VER = 0;
export const OFF_CMD = 1;
export const OFF_LEN = 2;
export const OFF_SID = 4;
const SIZE_VER = 1;
const SIZE_CMD = 1;
const SIZE_LEN = 2;
const SIZE_SID = 4;
/** 8: ver + cmd + len + sid. */
export const HEADER_SIZE = SIZE_VER + SIZE_CMD + SIZE_LEN + SIZE_SID;

/** UPD body: consumed (u32 LE) at 0, window (u32 LE) at 4. */
export const UPD_OFF_CONSUMED = 0;
export const UPD_OFF_WINDOW = 4;
export const UPD_SIZE = 8;

/** The largest payload the u16 length field can describe; receivers accept up to this. */
export const MAX_PAYLOAD = 0xffff;

/** v2: the window a writer assumes before the peer's first UPD (smux initialPeerWindow). */
export const INITIAL_PEER_WINDOW = 262144;

export enum Cmd {
  /** Open stream `sid`; no payload. */
  SYN = 0,
  /** The sender closed stream `sid` (not a half-close: the receiver's writes fail after it); no payload. */
  FIN = 1,
  /** `len` bytes of stream data. */
  PSH = 2,
  /** Keepalive, sid 0; no payload. */
  NOP = 3,
  /** v2 only: the receiver consumed `consumed` bytes in total and offers `window`. */
  UPD = 4,
}

export interface FrameHeader {
  ver: number;
  cmd: number;
  length: number;
  sid: number;
}

const EMPTY = new Uint8Array(0);

function u16le(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

/** Multiplies the top byte instead of shifting it, so values ≥ 2^31 stay positive. */
function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
}

function putU16le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

function putU32le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** Writes an 8-byte header at `offset`; returns HEADER_SIZE. */
export function encodeHeader(
  out: Uint8Array,
  offset: number,
  ver: number,
  cmd: number,
  length: number,
  sid: number,
): number {
  if (!Number.isInteger(length) || length < 0 || length > MAX_PAYLOAD) {
    throw new SmuxError("SMUX_FRAME_TOO_LARGE", `smux: payload length ${length} does not fit u16`);
  }
  if (offset < 0 || out.byteLength - offset < HEADER_SIZE) {
    throw new SmuxError("SMUX_TRUNCATED", `smux: ${out.byteLength - offset} bytes left for an 8-byte header`);
  }
  out[offset + OFF_VER] = ver & 0xff;
  out[offset + OFF_CMD] = cmd & 0xff;
  putU16le(out, offset + OFF_LEN, length);
  putU32le(out, offset + OFF_SID, sid >>> 0);
  return HEADER_SIZE;
}

/** Reads the header at `offset`; throws SMUX_TRUNCATED when fewer than 8 bytes are there. */
export function decodeHeader(bytes: Uint8Array, offset = 0): FrameHeader {
  if (offset < 0 || bytes.byteLength - offset < HEADER_SIZE) {
    throw new SmuxError("SMUX_TRUNCATED", `smux: ${Math.max(0, bytes.byteLength - offset)} bytes for an 8-byte header`);
  }
  return {
    ver: bytes[offset + OFF_VER]!,
    cmd: bytes[offset + OFF_CMD]!,
    length: u16le(bytes, offset + OFF_LEN),
    sid: u32le(bytes, offset + OFF_SID),
  };
}

export function encodeUpd(out: Uint8Array, offset: number, consumed: number, window: number): number {
  if (offset < 0 || out.byteLength - offset < UPD_SIZE) {
    throw new SmuxError("SMUX_TRUNCATED", `smux: ${out.byteLength - offset} bytes left for an 8-byte UPD body`);
  }
  putU32le(out, offset + UPD_OFF_CONSUMED, consumed >>> 0);
  putU32le(out, offset + UPD_OFF_WINDOW, window >>> 0);
  return UPD_SIZE;
}

export function decodeUpd(bytes: Uint8Array, offset = 0): { consumed: number; window: number } {
  if (offset < 0 || bytes.byteLength - offset < UPD_SIZE) {
    throw new SmuxError("SMUX_TRUNCATED", `smux: ${Math.max(0, bytes.byteLength - offset)} bytes for an 8-byte UPD body`);
  }
  return { consumed: u32le(bytes, offset + UPD_OFF_CONSUMED), window: u32le(bytes, offset + UPD_OFF_WINDOW) };
}

/** One contiguous frame (header ‖ payload) in a fresh buffer; `length` is the payload's length. */
export function encodeFrame(ver: number, cmd: number, sid: number, payload: Uint8Array = EMPTY): Uint8Array {
  if (payload.byteLength > MAX_PAYLOAD) {
    throw new SmuxError("SMUX_FRAME_TOO_LARGE", `smux: payload of ${payload.byteLength} bytes does not fit u16`);
  }
  const out = new Uint8Array(HEADER_SIZE + payload.byteLength);
  encodeHeader(out, 0, ver, cmd, payload.byteLength, sid);
  out.set(payload, HEADER_SIZE);
  return out;
}

/** A UPD frame: consumed ‖ window, length 8. */
export function encodeUpdFrame(ver: number, sid: number, consumed: number, window: number): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + UPD_SIZE);
  encodeHeader(out, 0, ver, Cmd.UPD, UPD_SIZE, sid);
  encodeUpd(out, HEADER_SIZE, consumed, window);
  return out;
}

/**
 * How many body bytes follow a header on receive, by smux's rules (§8.2), or a reason string when
 * the header is a protocol error. The version check comes first, as in smux's recvLoop.
 */
export function receiveBodyLength(localVersion: number, ver: number, cmd: number, length: number): number | string {
  if (ver !== localVersion) return `version ${ver}, expected ${localVersion}`;
  switch (cmd) {
    case Cmd.SYN:
    case Cmd.FIN:
    case Cmd.NOP:
      return 0;
    case Cmd.PSH:
      return length;
    case Cmd.UPD:
      return localVersion === 2 ? UPD_SIZE : "UPD on a version 1 session";
    default:
      return `unknown cmd ${cmd}`;
  }
}

/**
 * Incremental receiver over arbitrarily chunked bytes. `push` stores chunks (no copy); `next`
 * parses one frame when it is complete and exposes it in the public fields until the next call.
 * A body inside one chunk is a view of it; only a body split across chunks is copied.
 *
 * After `next` throws (SMUX_INVALID_PROTOCOL), the decoder is dead: smux reads nothing more.
 */
export class FrameDecoder {
  ver = 0;
  cmd = 0;
  /** The length field as sent (the body may differ: see receiveBodyLength). */
  length = 0;
  sid = 0;
  /** PSH payload or UPD body; empty for other commands. With `nextPiece`, one piece of a PSH payload. */
  body: Uint8Array = EMPTY;
  /** `nextPiece` only: `body` is the first piece of its frame (false for later pieces of the same PSH). */
  firstPiece = true;
  /** `nextPiece` only: PSH payload bytes still to come after `body`. */
  bodyLeft = 0;

  private chunks: Uint8Array[] = [];
  private head = 0;
  private offset = 0;
  private buffered = 0;
  private bodyNeeded = -1;
  /** `nextPiece`: payload bytes of the current PSH not yet handed out, and whether none was yet. */
  private pieceLeft = 0;
  private pieceFirst = false;
  private failed: SmuxError | undefined;
  private readonly scratch = new Uint8Array(HEADER_SIZE);

  constructor(private readonly localVersion: 1 | 2) {}

  /** Bytes received and not yet parsed. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0 || this.failed) return;
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
  }

  /**
   * True when a whole frame was parsed into the fields. `onHeader` runs as soon as a header is
   * complete (before its body arrives), which is when smux marks the session active.
   */
  next(onHeader?: () => void): boolean {
    if (this.failed) throw this.failed;
    if (this.bodyNeeded < 0 && !this.parseHeader(onHeader)) return false;
    if (this.buffered < this.bodyNeeded) return false;
    this.body = this.bodyNeeded === 0 ? EMPTY : this.take(this.bodyNeeded);
    this.bodyNeeded = -1;
    return true;
  }

  /**
   * Like `next`, except that a PSH payload is handed out in pieces as its bytes arrive, each a view
   * of one pushed chunk, so a payload split across transport chunks (a 64 KiB frame over ~50 KCP
   * segments) is never copied or reassembled. `firstPiece` tells a new frame from a continuation;
   * `bodyLeft` is what the current PSH still owes. Every other frame comes whole, as from `next`.
   * Do not mix with `next` on one decoder.
   */
  nextPiece(onHeader?: () => void): boolean {
    if (this.failed) throw this.failed;
    if (this.pieceLeft === 0) {
      if (this.bodyNeeded < 0 && !this.parseHeader(onHeader)) return false;
      if (this.cmd !== Cmd.PSH || this.bodyNeeded === 0) {
        if (this.buffered < this.bodyNeeded) return false;
        this.body = this.bodyNeeded === 0 ? EMPTY : this.take(this.bodyNeeded);
        this.bodyNeeded = -1;
        this.firstPiece = true;
        this.bodyLeft = 0;
        return true;
      }
      this.pieceLeft = this.bodyNeeded;
      this.pieceFirst = true;
      this.bodyNeeded = -1;
    }
    if (this.buffered === 0) return false;
    const avail = this.chunks[this.head]!.byteLength - this.offset;
    const n = avail < this.pieceLeft ? avail : this.pieceLeft;
    this.body = this.take(n);
    this.pieceLeft -= n;
    this.bodyLeft = this.pieceLeft;
    this.firstPiece = this.pieceFirst;
    this.pieceFirst = false;
    return true;
  }

  /** Parses the next header into the fields and sets bodyNeeded; false when fewer than 8 bytes wait. */
  private parseHeader(onHeader: (() => void) | undefined): boolean {
    if (this.buffered < HEADER_SIZE) return false;
    let h: Uint8Array;
    let at: number;
    const chunk = this.chunks[this.head]!;
    if (chunk.byteLength - this.offset > HEADER_SIZE) {
      // Read in place: the header is inside the head chunk and the chunk goes on after it.
      h = chunk;
      at = this.offset;
      this.offset += HEADER_SIZE;
      this.buffered -= HEADER_SIZE;
    } else {
      h = this.take(HEADER_SIZE, this.scratch);
      at = 0;
    }
    this.ver = h[at + OFF_VER]!;
    this.cmd = h[at + OFF_CMD]!;
    this.length = u16le(h, at + OFF_LEN);
    this.sid = u32le(h, at + OFF_SID);
    onHeader?.();
    const need = receiveBodyLength(this.localVersion, this.ver, this.cmd, this.length);
    if (typeof need === "string") {
      this.failed = new SmuxError("SMUX_INVALID_PROTOCOL", `smux: invalid protocol: ${need}`);
      this.chunks = [];
      this.buffered = 0;
      throw this.failed;
    }
    this.bodyNeeded = need;
    return true;
  }

  /** Removes `n` buffered bytes: a view when they sit in one chunk, else a copy into `into` or a new array. */
  private take(n: number, into?: Uint8Array): Uint8Array {
    let chunk = this.chunks[this.head]!;
    let avail = chunk.byteLength - this.offset;
    this.buffered -= n;
    if (avail >= n) {
      const view = this.offset === 0 && n === chunk.byteLength ? chunk : chunk.subarray(this.offset, this.offset + n);
      this.offset += n;
      if (this.offset === chunk.byteLength) this.dropHead();
      return view;
    }
    const out = into ?? new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      chunk = this.chunks[this.head]!;
      avail = chunk.byteLength - this.offset;
      const k = Math.min(avail, n - filled);
      out.set(chunk.subarray(this.offset, this.offset + k), filled);
      filled += k;
      this.offset += k;
      if (this.offset === chunk.byteLength) this.dropHead();
    }
    return out;
  }

  private dropHead(): void {
    this.chunks[this.head] = EMPTY;
    this.head++;
    this.offset = 0;
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}
