/**
 * `paqet dump --decrypt`: the whole receive pipeline of a paqet peer, run over captured payloads
 * for reading instead of for delivery (kcp-smux-wire.md §2-8, paqet-app.md §4.2, seed-fork.md §1).
 *
 *   payload --guard header?--> datagram --crypt.open--> inner --FEC--> KCP segments
 *   PUSH data --reassembled by sn per (src, dst, conv)--> smux frames --first PSH of a stream--> paqet message
 *
 * Output is one line per datagram, then one indented line per KCP segment and, under it, one per
 * smux frame that the segment completed (a frame spread over several segments is shown under the
 * last one, where it becomes whole). Nothing here throws on captured bytes: every failure is a line
 * of output and a count in the summary.
 *
 * This sits in `cli` because it is the one layer allowed to see kcp, smux and tunnel together.
 */
import type { PaqetConfig } from "../../conf/index.ts";
import type { FecCodec, PacketCrypt } from "../../kcp/index.ts";
import { createFec } from "../../kcp/index.ts";
import { FEC_HEADER_BYTES, FEC_TYPE_DATA, FEC_TYPE_OOB, FEC_TYPE_PARITY } from "../../kcp/fec.ts";
import { Cmd as KcpCmd, decodeSegment, KCP_OVERHEAD, readU16, readU32 } from "../../kcp/segment.ts";
import { errorMessage } from "../../lib/errors.ts";
import { formatFlags } from "../../packet/tcp.ts";
import { Cmd as SmuxCmd, decodeHeader, decodeUpd, FrameDecoder, HEADER_SIZE, OFF_VER, UPD_SIZE } from "../../smux/frame.ts";
import { GUARD_HEADER_BYTES, guardCookie, guardKey, type GuardOptions, GUARD_DEFAULT_MAGIC, GUARD_DEFAULT_SKEW, GUARD_DEFAULT_WINDOW_S } from "../../socket/guard.ts";
import { joinHostPort, MessageDecoder, MessageType, type Message } from "../../tunnel/protocol.ts";
import { tunnelOptionsFromConfig } from "../../tunnel/options.ts";
import { clockStamp } from "../_raw.ts";

/** What the decoder needs from a configuration. */
export interface DecryptOptions {
  /** `transport.kcp.block`, shown on every datagram line. */
  readonly block: string;
  readonly crypt: PacketCrypt;
  /** Configured FEC shards; FEC packets from a peer are decoded (and auto-tuned) even when these are 0. */
  readonly dataShards: number;
  readonly parityShards: number;
  /** Seed-fork guard, when the config has it on. */
  readonly guard?: GuardOptions;
}

export function decryptOptionsFromConfig(config: PaqetConfig): DecryptOptions {
  const t = tunnelOptionsFromConfig(config);
  return {
    block: config.transport.kcp.block,
    crypt: t.crypt,
    dataShards: t.dataShards,
    parityShards: t.parityShards,
    guard: t.guard,
  };
}

/** One captured payload and where it was seen. */
export interface DatagramMeta {
  readonly when: Date;
  readonly from: string;
  readonly to: string;
  /** TCP flags of the carrying frame, when known (pcap files; not the live socket). */
  readonly flags?: number;
}

/** Counters of a run; they only grow. */
export interface DecryptCounts {
  datagrams: number;
  /** Passed guard and crypto (CRC or GCM tag verified). */
  ok: number;
  /** Dropped before KCP: the sum of the four reasons below. */
  failed: number;
  guardFailed: number;
  /** CRC mismatch (CFB family, salsa20, xor, none) or GCM tag mismatch. */
  checksumFailed: number;
  /** Shorter than the crypto header. */
  tooShort: number;
  /** Decrypted, but the FEC layer or the KCP parser rejected the bytes. */
  malformed: number;
  segments: number;
  push: number;
  ack: number;
  wask: number;
  wins: number;
  /** PUSH segments whose sn was already seen (their data is not fed again). */
  retransmissions: number;
  /** PUSH segments dropped because too many were waiting for an earlier sn. */
  overflow: number;
  fecData: number;
  fecParity: number;
  fecRecovered: number;
  smuxFrames: number;
  /** Invalid smux headers (framing then waits for the next plausible frame start). */
  smuxErrors: number;
  paqetMessages: number;
}

/** Out-of-order PUSH data held per direction before the oldest gap is given up on. */
const MAX_PENDING_SEGMENTS = 4096;
/** Printable bytes shown of a PSH payload. */
const PREVIEW_BYTES = 48;
/** Hex bytes shown of a payload that is not mostly text. */
const PREVIEW_HEX_BYTES = 16;
/** FEC header fields (kcp-smux-wire.md §4): seqid u32 LE at 0, type u16 LE at 4. */
const FEC_OFF_SEQID = 0;
const FEC_OFF_TYPE = 4;
/** FEC data shard: the u16 size field after the 6-byte header counts itself and the KCP bytes. */
const FEC_SIZE_FIELD = 2;
/** kcp-go's session drops decrypted packets shorter than this (see fec.ts MIN_INNER_BYTES). */
const MIN_INNER_BYTES = 12;
const SMUX_VERSION = 2;

const KCP_NAMES: Record<number, string> = { 81: "PUSH", 82: "ACK", 83: "WASK", 84: "WINS" };
const SMUX_NAMES: Record<number, string> = { 0: "SYN", 1: "FIN", 2: "PSH", 3: "NOP", 4: "UPD" };

/** int32(a − b): KCP's wrap-aware sequence comparison. */
const snDiff = (a: number, b: number): number => (a - b) | 0;

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += (x < 16 ? "0" : "") + x.toString(16);
  return s;
}

/** A short, one-line rendering of payload bytes: quoted text when mostly printable, else hex. */
export function preview(data: Uint8Array): string {
  const head = data.subarray(0, PREVIEW_BYTES);
  let printable = 0;
  for (const b of head) if ((b >= 0x20 && b <= 0x7e) || b === 0x0a || b === 0x0d || b === 0x09) printable++;
  if (head.length > 0 && printable * 4 >= head.length * 3) {
    let s = "";
    for (const b of head) {
      if (b === 0x0a) s += "\\n";
      else if (b === 0x0d) s += "\\r";
      else if (b === 0x09) s += "\\t";
      else if (b === 0x22 || b === 0x5c) s += `\\${String.fromCharCode(b)}`;
      else if (b >= 0x20 && b <= 0x7e) s += String.fromCharCode(b);
      else s += `\\x${(b < 16 ? "0" : "") + b.toString(16)}`;
    }
    return `"${s}"${data.length > head.length ? "…" : ""}`;
  }
  return `hex ${hex(data.subarray(0, PREVIEW_HEX_BYTES))}${data.length > PREVIEW_HEX_BYTES ? "…" : ""}`;
}

/**
 * Whether `b` starts with a header smux v2 could have written: the version, a known command, and
 * the lengths and sids each command carries (SYN/FIN/NOP empty, NOP on sid 0, UPD 8 bytes).
 */
export function looksLikeFrameStart(b: Uint8Array): boolean {
  if (b.length < HEADER_SIZE || b[OFF_VER] !== SMUX_VERSION) return false;
  const { cmd, length, sid } = decodeHeader(b);
  switch (cmd) {
    case SmuxCmd.SYN:
    case SmuxCmd.FIN:
      return length === 0 && sid !== 0;
    case SmuxCmd.NOP:
      return length === 0 && sid === 0;
    case SmuxCmd.UPD:
      return length === UPD_SIZE && sid !== 0;
    case SmuxCmd.PSH:
      return length > 0 && sid !== 0;
    default:
      return false;
  }
}

export function describeMessage(m: Message): string {
  switch (m.type) {
    case MessageType.Ping:
      return "PING";
    case MessageType.Pong:
      return "PONG";
    case MessageType.Tcpf:
      return `TCPF [${m.flags.map((f) => JSON.stringify(formatFlags(f))).join(",")}]`;
    case MessageType.Tcp:
      return `TCP ${joinHostPort(m.host, m.port)}`;
    case MessageType.Udp:
      return `UDP ${joinHostPort(m.host, m.port)}`;
  }
}

/** The paqet message expected at the start of a stream, per side. */
interface StreamState {
  /** Direction key of the side that sent SYN. */
  readonly opener: string;
  /** The opener's message, until it is complete or broken. */
  openerMessage: MessageDecoder | undefined;
  /** The answering side's message: only PING gets one (PONG). */
  replyMessage: MessageDecoder | undefined;
  fins: number;
}

/** One direction of one KCP conversation: the byte stream of its PUSH data, in sn order. */
class Direction {
  /** Next sn to feed; undefined until the first PUSH is seen (a live dump starts mid-stream). */
  next: number | undefined;
  readonly pending = new Map<number, Uint8Array>();
  frames = new FrameDecoder(SMUX_VERSION);
  /**
   * The smux decoder lost (or never had) the frame boundaries: after an invalid frame, or when the
   * dump joined the conversation after its first PUSH. Framing resumes at the first segment that
   * starts with a plausible frame header (smux writes usually start a segment).
   */
  broken = false;
  constructor(
    readonly key: string,
    readonly session: Map<number, StreamState>,
  ) {}
}

export class DecryptDumper {
  readonly counts: DecryptCounts = {
    datagrams: 0,
    ok: 0,
    failed: 0,
    guardFailed: 0,
    checksumFailed: 0,
    tooShort: 0,
    malformed: 0,
    segments: 0,
    push: 0,
    ack: 0,
    wask: 0,
    wins: 0,
    retransmissions: 0,
    overflow: 0,
    fecData: 0,
    fecParity: 0,
    fecRecovered: 0,
    smuxFrames: 0,
    smuxErrors: 0,
    paqetMessages: 0,
  };
  private readonly directions = new Map<string, Direction>();
  /** Stream states per conversation (both directions share them): key is the sorted address pair + conv. */
  private readonly sessions = new Map<string, Map<number, StreamState>>();
  /** FEC decoders per sending direction (src → dst), as each receiving session has its own. */
  private readonly fec = new Map<string, FecCodec>();
  private readonly guard:
    | { readonly key: Uint8Array; readonly magic: Uint8Array; readonly windowMs: number; readonly skew: number }
    | undefined;
  private cookieWindow = -1;
  private cookies: Uint8Array[] = [];

  constructor(private readonly opts: DecryptOptions) {
    const g = opts.guard;
    this.guard = g && {
      key: guardKey(g.key),
      magic: new TextEncoder().encode(g.magic ?? GUARD_DEFAULT_MAGIC),
      windowMs: (g.windowSeconds ?? GUARD_DEFAULT_WINDOW_S) * 1000,
      skew: g.skew ?? GUARD_DEFAULT_SKEW,
    };
  }

  /** Decodes one captured payload; returns its lines (each ending in a newline). */
  datagram(payload: Uint8Array, meta: DatagramMeta): string {
    this.counts.datagrams++;
    const flags = meta.flags === undefined ? "" : ` ${formatFlags(meta.flags) || "-"}`;
    let out = `${clockStamp(meta.when)} ${meta.from} -> ${meta.to}${flags} ${payload.length} B`;

    let datagram = payload;
    if (this.guard) {
      const why = this.checkGuard(payload, meta.when.getTime());
      if (why) {
        this.counts.guardFailed++;
        this.counts.failed++;
        return `${out}: guard FAILED (${why})\n`;
      }
      datagram = payload.subarray(GUARD_HEADER_BYTES);
    }

    const stats = this.opts.crypt.stats;
    const shortBefore = stats.malformed;
    const inner = this.opts.crypt.open(datagram);
    if (inner === undefined) {
      this.counts.failed++;
      if (stats.malformed !== shortBefore) {
        this.counts.tooShort++;
        return `${out}: ${this.opts.block} FAILED (shorter than the crypto header)\n`;
      }
      this.counts.checksumFailed++;
      const what = this.opts.block === "aes-128-gcm" ? "GCM tag mismatch" : "CRC mismatch";
      return `${out}: ${this.opts.block} FAILED (${what})\n`;
    }
    this.counts.ok++;
    out += `: ${this.opts.block} ok`;

    if (inner.length < MIN_INNER_BYTES) {
      this.counts.malformed++;
      return `${out}, ${inner.length} bytes is too short for KCP\n`;
    }
    const type = readU16(inner, FEC_OFF_TYPE);
    const dirKey = `${meta.from}>${meta.to}`;
    if (type === FEC_TYPE_DATA || type === FEC_TYPE_PARITY || type === FEC_TYPE_OOB) {
      const kind = type === FEC_TYPE_DATA ? "data" : type === FEC_TYPE_PARITY ? "parity" : "oob";
      out += `, fec ${kind} seqid=${readU32(inner, FEC_OFF_SEQID)}`;
      if (type === FEC_TYPE_PARITY) this.counts.fecParity++;
      if (type === FEC_TYPE_DATA) {
        this.counts.fecData++;
        const size = readU16(inner, FEC_HEADER_BYTES);
        out += ` size=${size}`;
        if (size < FEC_SIZE_FIELD || FEC_HEADER_BYTES + size > inner.length) {
          this.counts.malformed++;
          return `${out} (does not fit the shard)\n`;
        }
      }
      out += "\n";
      let fec = this.fec.get(dirKey);
      if (!fec) {
        fec = createFec(this.opts.dataShards, this.opts.parityShards);
        this.fec.set(dirKey, fec);
      }
      fec.decode(inner, (kcp, regular) => {
        if (!regular) {
          this.counts.fecRecovered++;
          out += "  recovered from parity:\n";
        }
        out += this.segments(kcp, meta);
      });
      return out;
    }
    return `${out}\n${this.segments(inner, meta)}`;
  }

  /** `decrypt: N datagrams, X ok, Y failed (reasons)`, then what was decoded; one line. */
  summary(): string {
    const c = this.counts;
    const reasons: string[] = [];
    if (c.guardFailed) reasons.push(`${c.guardFailed} guard`);
    if (c.checksumFailed) reasons.push(`${c.checksumFailed} ${this.opts.block === "aes-128-gcm" ? "tag" : "crc"}`);
    if (c.tooShort) reasons.push(`${c.tooShort} too short`);
    const failed = `${c.failed} failed${reasons.length ? ` (${reasons.join(", ")})` : ""}`;
    const fec = c.fecData + c.fecParity ? `; fec ${c.fecData} data, ${c.fecParity} parity, ${c.fecRecovered} recovered` : "";
    return (
      `decrypt: ${c.datagrams} datagrams, ${c.ok} ok, ${failed}, ${c.malformed} malformed; ` +
      `kcp ${c.segments} segments (${c.push} PUSH, ${c.ack} ACK, ${c.wask} WASK, ${c.wins} WINS), ` +
      `${c.retransmissions} retransmitted${c.overflow ? `, ${c.overflow} overflowed` : ""}${fec}; ` +
      `smux ${c.smuxFrames} frames${c.smuxErrors ? `, ${c.smuxErrors} invalid` : ""}; ` +
      `${c.paqetMessages} paqet messages`
    );
  }

  /** Why a guard header is rejected, or undefined when it passes (seed-fork.md §1.4). */
  private checkGuard(p: Uint8Array, whenMs: number): string | undefined {
    const g = this.guard!;
    if (p.length < GUARD_HEADER_BYTES) return `${p.length} bytes, shorter than the guard header`;
    for (let i = 0; i < g.magic.length; i++) if (p[i] !== g.magic[i]) return `magic ${hex(p.subarray(0, 4))}`;
    const w = Math.floor(whenMs / g.windowMs);
    if (w !== this.cookieWindow) {
      this.cookieWindow = w;
      this.cookies = [];
      for (let i = 0; i <= g.skew && w - i >= 0; i++) this.cookies.push(guardCookie(g.key, g.magic, w - i));
    }
    const got = p.subarray(4, GUARD_HEADER_BYTES);
    if (this.cookies.some((c) => c.every((b, i) => b === got[i]))) return undefined;
    return `cookie ${hex(got)} is not one of the ${this.cookies.length} windows accepted at that time`;
  }

  /** Lines for the KCP segments of one packet (and the smux frames they complete). */
  private segments(kcp: Uint8Array, meta: DatagramMeta): string {
    let out = "";
    let off = 0;
    while (off < kcp.length) {
      let seg;
      try {
        seg = decodeSegment(kcp, off);
      } catch (err) {
        this.counts.malformed++;
        out += `  kcp: ${errorMessage(err)} at byte ${off}\n`;
        break;
      }
      off += KCP_OVERHEAD + seg.len;
      this.counts.segments++;
      const name = KCP_NAMES[seg.cmd]!;
      out += `  ${name.padEnd(4)} conv=${seg.conv.toString(16).padStart(8, "0")} sn=${seg.sn} una=${seg.una} wnd=${seg.wnd} ts=${seg.ts} frg=${seg.frg} len=${seg.len}`;
      switch (seg.cmd) {
        case KcpCmd.Push:
          this.counts.push++;
          out += this.push(seg.conv, seg.sn, seg.data, meta);
          break;
        case KcpCmd.Ack:
          this.counts.ack++;
          out += "\n";
          break;
        case KcpCmd.Wask:
          this.counts.wask++;
          out += "\n";
          break;
        default:
          this.counts.wins++;
          out += "\n";
      }
    }
    return out;
  }

  private direction(meta: DatagramMeta, conv: number): Direction {
    const key = `${meta.from}>${meta.to}#${conv}`;
    let d = this.directions.get(key);
    if (!d) {
      const pair = meta.from < meta.to ? `${meta.from}|${meta.to}` : `${meta.to}|${meta.from}`;
      const sessionKey = `${pair}#${conv}`;
      let session = this.sessions.get(sessionKey);
      if (!session) {
        session = new Map();
        this.sessions.set(sessionKey, session);
      }
      d = new Direction(key, session);
      this.directions.set(key, d);
    }
    return d;
  }

  /** Places one PUSH in its direction's sn order; returns the rest of its line and its frames. */
  private push(conv: number, sn: number, data: Uint8Array, meta: DatagramMeta): string {
    const d = this.direction(meta, conv);
    let joined = "";
    if (d.next === undefined) {
      d.next = sn;
      if (sn !== 0) {
        d.broken = true;
        joined = `    smux: joined this direction at sn ${sn}; frames resume at the next frame boundary\n`;
      }
    }
    const behind = snDiff(sn, d.next);
    if (behind < 0 || d.pending.has(sn)) {
      this.counts.retransmissions++;
      return " (retransmission)\n";
    }
    if (behind > 0) {
      if (d.pending.size >= MAX_PENDING_SEGMENTS) {
        this.counts.overflow++;
        return ` (dropped: ${MAX_PENDING_SEGMENTS} segments already wait for sn ${d.next})\n`;
      }
      // The captured bytes live in a reused buffer: keep a copy until the gap is filled.
      d.pending.set(sn, data.slice());
      return ` (held: waiting for sn ${d.next})\n`;
    }
    let out = `\n${joined}`;
    out += this.feed(d, sn, data.slice());
    d.next = (d.next + 1) >>> 0;
    for (let held = d.pending.get(d.next); held !== undefined; held = d.pending.get(d.next)) {
      d.pending.delete(d.next);
      out += `    (sn ${d.next}, held until now)\n`;
      out += this.feed(d, d.next, held);
      d.next = (d.next + 1) >>> 0;
    }
    return out;
  }

  /** Feeds in-order stream bytes to the smux decoder; returns a line per completed frame. */
  private feed(d: Direction, sn: number, bytes: Uint8Array): string {
    let out = "";
    if (d.broken) {
      if (!looksLikeFrameStart(bytes)) return "";
      d.frames = new FrameDecoder(SMUX_VERSION);
      d.broken = false;
      out += `    smux: framing from sn ${sn}\n`;
    }
    d.frames.push(bytes);
    try {
      while (d.frames.next()) {
        this.counts.smuxFrames++;
        out += `    ${this.frame(d)}\n`;
      }
    } catch (err) {
      d.broken = true;
      this.counts.smuxErrors++;
      out += `    ${errorMessage(err)}; framing resumes at the next frame boundary\n`;
    }
    return out;
  }

  private frame(d: Direction): string {
    const f = d.frames;
    const name = SMUX_NAMES[f.cmd] ?? `cmd${f.cmd}`;
    let line = `smux ${name} v${f.ver} sid=${f.sid}`;
    switch (f.cmd) {
      case SmuxCmd.SYN:
        d.session.set(f.sid, { opener: d.key, openerMessage: new MessageDecoder(), replyMessage: undefined, fins: 0 });
        return line;
      case SmuxCmd.FIN: {
        const s = d.session.get(f.sid);
        if (s && ++s.fins >= 2) d.session.delete(f.sid);
        return line;
      }
      case SmuxCmd.UPD: {
        const u = decodeUpd(f.body);
        return `${line} consumed=${u.consumed} window=${u.window}`;
      }
      case SmuxCmd.PSH:
        line += ` len=${f.length}`;
        return `${line} ${this.payload(d, f.sid, f.body)}`;
      default:
        return f.length ? `${line} len=${f.length}` : line;
    }
  }

  /** A PSH payload: the paqet message when the stream is at its start, then a preview of the data. */
  private payload(d: Direction, sid: number, body: Uint8Array): string {
    const s = d.session.get(sid);
    const opener = s !== undefined && s.opener === d.key;
    const decoder = s === undefined ? undefined : opener ? s.openerMessage : s.replyMessage;
    if (!s || !decoder) return preview(body);
    try {
      const r = decoder.push(body);
      if (!r) return `paqet message, ${decoder.consumed} bytes so far`;
      this.counts.paqetMessages++;
      if (opener) {
        s.openerMessage = undefined;
        if (r.message.type === MessageType.Ping) s.replyMessage = new MessageDecoder();
      } else {
        s.replyMessage = undefined;
      }
      const text = `paqet ${describeMessage(r.message)}`;
      return r.rest.length ? `${text} + ${r.rest.length} B ${preview(r.rest)}` : text;
    } catch (err) {
      if (opener) s.openerMessage = undefined;
      else s.replyMessage = undefined;
      return `paqet: ${errorMessage(err)}; ${preview(body)}`;
    }
  }
}
