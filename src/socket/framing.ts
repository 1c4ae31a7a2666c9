/**
 * paqet's raw-TCP framing (paqet-app.md §3.4–3.7): one KCP datagram = the payload of one hand-built
 * Ethernet/IPv4-or-IPv6/TCP frame. Pure: no libpcap here. It sits between the pcap handle and KCP.
 *
 * Sending (one FrameBuilder per raw socket, i.e. per pair of pcap handles):
 *
 *     const port = resolveLocalPort(configuredPort);           // §3.2: 0 → random 32768..65535
 *     const fb = new FrameBuilder({
 *       srcMac: "02:77:00:00:00:01",                           // network.interface hardware address
 *       ipv4: { ip: "10.77.0.1", routerMac: "02:77:00:00:00:02" },   // network.ipv4.{addr,router_mac}
 *       ipv6: undefined,                                       // network.ipv6, when configured
 *       srcPort: port,
 *       localFlags: ["PA"],                                    // network.tcp.local_flag
 *     });                                                      // t0 = Date.now() (ms, mod 2^32) unless given
 *     const frame = fb.build(kcpDatagram, to);                 // throws PacketError; see build()
 *     pcapSendPacket(frame);                                   // frame is a view, valid until the next build()
 *
 *   Server only: on a TCPF message from a client call `fb.setPeerFlags(from, flags)` (restarts that
 *   peer's cycle at entry 0; an empty list deletes it), and `fb.clearPeerFlags(addr)` when that
 *   client's KCP connection handler ends (§3.5).
 *
 * Receiving (the BPF filter `tcp and dst port P` has already run in the kernel):
 *
 *     const stats = newFrameStats();
 *     const f = parseFrame(captured, stats);                   // never throws
 *     if (f) deliver(f.payload, f.src);                        // payload is a view into `captured`
 *
 *   `f.src` is how the server learns a client's address (§3.7): replies go back to exactly that
 *   (IP, port), from the server's configured IP of the same family and its port P, to its configured
 *   router MAC. Frames that are not Ethernet/IPv4-or-IPv6/TCP with a non-empty payload return
 *   undefined and are counted in `stats` by reason. Like upstream, nothing else is checked:
 *   destination IP or MAC, flags, sequence numbers, checksums and TTL are ignored on input.
 *   One difference from upstream's decoder (gopacket): a frame cut short of its IP length is
 *   dropped (counted `truncated`) rather than decoded from the bytes present; with snaplen 65536
 *   this only happens to damaged captures, whose payload KCP would reject anyway.
 *   `f.src`/`f.dst` are new objects per frame; keep them freely. Pass one FrameStats per socket
 *   (the default is a module-wide object).
 *
 * Sizes: Ethernet 14 + IPv4 20 (IPv6 40) + TCP 32 (40 with SYN) + payload; with the default KCP
 * mtu of 1350 the largest IPv4 frame is 1416 bytes.
 */
import { formatIp, formatIpv4, IPV4_LEN, IPV6_LEN, isIpv4Mapped, MAC_LEN, parseMac, tryParseIp } from "../packet/address.ts";
import { finishChecksum, sumWords, sumWordsAligned } from "../packet/checksum.ts";
import { PacketError } from "../packet/errors.ts";
import { ETH_DST, ETH_HEADER_LEN, ETH_MIN_FRAME, ETH_SRC, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "../packet/ethernet.ts";
import {
  IP_PROTO_TCP,
  IPV4_CHECKSUM,
  IPV4_DST,
  IPV4_FLAGS_FRAG,
  IPV4_ID,
  IPV4_MIN_HEADER_LEN,
  IPV4_PROTOCOL,
  IPV4_SRC,
  IPV4_TOS,
  IPV4_TOTAL_LEN,
  IPV4_TTL,
  IPV4_VER_IHL,
} from "../packet/ipv4.ts";
import { IPV6_DST, IPV6_HEADER_LEN, IPV6_HOP_LIMIT, IPV6_NEXT_HEADER, IPV6_PAYLOAD_LEN, IPV6_SRC } from "../packet/ipv6.ts";
import {
  parseFlagString,
  TCP_ACK,
  TCP_ACK_FLAG,
  TCP_CHECKSUM,
  TCP_DST_PORT,
  TCP_FLAGS,
  TCP_MIN_HEADER_LEN,
  TCP_OFFSET_NS,
  TCP_SEQ,
  TCP_SRC_PORT,
  TCP_SYN,
  TCP_URGENT,
  TCP_WINDOW,
} from "../packet/tcp.ts";
import { addrKey, type PacketAddr } from "./types.ts";

// ---------------------------------------------------------------------------------------------------
// Wire constants (paqet-app.md §3.4, Appendix A)

/** DSCP 46 (EF), ECN 0: IPv4 TOS and IPv6 traffic class. */
export const PAQET_TOS = 0xb8;
export const PAQET_TTL = 64;
export const PAQET_IPV4_ID = 0;
/** Flags/fragment-offset word: DF set, offset 0. */
export const PAQET_IPV4_FLAGS_FRAG = 0x4000;
export const PAQET_WINDOW = 65535;
export const PAQET_MSS = 1460;
export const PAQET_WSCALE = 8;
/** TCP header lengths: 20 + 20 bytes of options with SYN, 20 + 12 without. */
export const PAQET_TCP_SYN_LEN = 40;
export const PAQET_TCP_LEN = 32;
/** Random local port range when the configured port is 0 (§3.2). */
export const RANDOM_PORT_MIN = 32768;
export const RANDOM_PORT_MAX = 65535;
/** Flag cycles hold 1..64 entries (§3.5). */
export const MAX_FLAG_LIST = 64;

/** SYN options: MSS 1460, SACK permitted, timestamps (TSval at +10, TSecr 0 at +14), NOP, wscale 8. */
const SYN_OPTIONS = Uint8Array.of(0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x03, 0x03, 0x08);
const SYN_TSVAL = 8;
/** Non-SYN options: NOP, NOP, timestamps (TSval at +4, TSecr at +8). */
const OPTIONS = Uint8Array.of(0x01, 0x01, 0x08, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0);
const OPT_TSVAL = 4;
const OPT_TSECR = 8;

const MAX_HEADERS = ETH_HEADER_LEN + IPV6_HEADER_LEN + PAQET_TCP_SYN_LEN;
/** The IPv4 total length and the IPv6 payload length are 16-bit. */
const MAX_IP_PAYLOAD = 0xffff;
/** Cached peers without a flag list are forgotten beyond this many (a server sees many clients). */
const PEER_CACHE_LIMIT = 4096;

// ---------------------------------------------------------------------------------------------------
// Local port (§3.2)

/** A port drawn uniformly from 32768..65535. `random` returns [0, 1) (tests inject a seeded one). */
export function randomLocalPort(random?: () => number): number {
  const span = RANDOM_PORT_MAX - RANDOM_PORT_MIN + 1;
  if (random) return RANDOM_PORT_MIN + Math.min(span - 1, Math.floor(random() * span));
  const v = crypto.getRandomValues(new Uint16Array(1))[0]!;
  return RANDOM_PORT_MIN + (v % span);
}

/** The port a new raw socket uses: the configured one, or a fresh random one per socket when it is 0. */
export function resolveLocalPort(configured: number, random?: () => number): number {
  return configured === 0 ? randomLocalPort(random) : configured;
}

// ---------------------------------------------------------------------------------------------------
// Builder

export interface FamilyOptions {
  /** This host's address of the family (text; IPv6 in any RFC 4291 form). */
  readonly ip: string;
  /** The next hop's MAC; every frame of this family goes to it (never learned). */
  readonly routerMac: Uint8Array | string;
}

export interface FrameBuilderOptions {
  /** Hardware address of the interface. */
  readonly srcMac: Uint8Array | string;
  readonly ipv4?: FamilyOptions;
  readonly ipv6?: FamilyOptions;
  /** Local TCP port P (already resolved: see resolveLocalPort). */
  readonly srcPort: number;
  /** Flag strings ("PA", "S", "" ...) or 9-bit flag values, cycled round-robin; default ["PA"]. */
  readonly localFlags?: readonly (string | number)[];
  /** Unix time in ms when the send handle was created; taken mod 2^32. Default Date.now(). */
  readonly t0?: number;
  /** Largest payload build() accepts; sizes the reused buffer. Default 65535 − 40 (IPv6 SYN; build() also enforces the IPv4 limit). */
  readonly maxPayload?: number;
}

interface Family {
  readonly v6: boolean;
  readonly src: Uint8Array;
  readonly routerMac: Uint8Array;
  /** Ones' complement sum (unfolded) of the constant IPv4 header words, or 0 for IPv6. */
  readonly ipConstSum: number;
  /** Sum of the source address words, for the TCP pseudo-header. */
  readonly srcSum: number;
}

interface Peer {
  readonly key: string;
  /** Destination address bytes of the family used (an IPv4-mapped IPv6 is stored as 4 bytes). */
  readonly ip: Uint8Array;
  readonly v6: boolean;
  readonly port: number;
  readonly dstSum: number;
  /** Set by setPeerFlags (server, after TCPF); the default cycle is used otherwise. */
  flags: Uint16Array | undefined;
  flagIndex: number;
  /** False once evicted from the map: a WeakMap hit on a dead peer falls back to the map. */
  alive: boolean;
}

function toMac(m: Uint8Array | string, what: string): Uint8Array {
  if (typeof m === "string") return parseMac(m);
  if (m.length !== MAC_LEN) throw new PacketError("PKT_BAD_ADDRESS", `${what} must have 6 bytes, not ${m.length}`);
  return m.slice();
}

function toFlagList(list: readonly (string | number)[], what: string): Uint16Array {
  if (list.length < 1 || list.length > MAX_FLAG_LIST) {
    throw new PacketError("PKT_BAD_FLAGS", `${what} must hold 1 to ${MAX_FLAG_LIST} entries, not ${list.length}`);
  }
  return Uint16Array.from(list, (f) => {
    if (typeof f === "string") return parseFlagString(f);
    if (!Number.isInteger(f) || f < 0 || f > 0x1ff) throw new PacketError("PKT_BAD_FLAGS", `TCP flag value ${f} is not 9-bit`);
    return f;
  });
}

function makeFamily(opts: FamilyOptions, v6: boolean): Family {
  const src = tryParseIp(opts.ip);
  const want = v6 ? IPV6_LEN : IPV4_LEN;
  if (!src || src.length !== want || (v6 && isIpv4Mapped(src))) {
    throw new PacketError("PKT_BAD_ADDRESS", `network.${v6 ? "ipv6" : "ipv4"}.addr ${JSON.stringify(opts.ip)} is not an IPv${v6 ? 6 : 4} address`);
  }
  const srcSum = sumWords(src, 0, src.length);
  const ipConstSum = v6
    ? 0
    : (0x45 << 8) + PAQET_TOS + PAQET_IPV4_ID + PAQET_IPV4_FLAGS_FRAG + ((PAQET_TTL << 8) | IP_PROTO_TCP) + srcSum;
  return { v6, src, routerMac: toMac(opts.routerMac, `network.${v6 ? "ipv6" : "ipv4"}.router_mac`), ipConstSum, srcSum };
}

/** Bytes before the frame in FrameBuilder's buffer (see its constructor). */
const FRAME_PAD = 2;

function putU32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = (v >>> 16) & 0xff;
  b[i + 2] = (v >>> 8) & 0xff;
  b[i + 3] = v & 0xff;
}

/**
 * Writes paqet frames into one reused buffer. Holds the socket's counters (t0 and c, shared by all
 * destinations), the default flag cycle, and per-peer flag cycles keyed by addrKey.
 */
export class FrameBuilder {
  readonly t0: number;
  readonly srcPort: number;
  private readonly srcMac: Uint8Array;
  private readonly v4: Family | undefined;
  private readonly v6: Family | undefined;
  private readonly localFlags: Uint16Array;
  private localIndex = 0;
  private c = 0;
  private readonly buf: Uint8Array;
  private readonly rawBytes: Uint8Array;
  private readonly words: Uint32Array;
  private readonly maxPayload: number;
  private readonly peers = new Map<string, Peer>();
  private readonly byObject = new WeakMap<PacketAddr, Peer>();

  constructor(opts: FrameBuilderOptions) {
    this.srcMac = toMac(opts.srcMac, "interface MAC");
    this.v4 = opts.ipv4 ? makeFamily(opts.ipv4, false) : undefined;
    this.v6 = opts.ipv6 ? makeFamily(opts.ipv6, true) : undefined;
    if (!Number.isInteger(opts.srcPort) || opts.srcPort < 1 || opts.srcPort > 65535) {
      throw new PacketError("PKT_BAD_ADDRESS", `local port ${opts.srcPort} is not 1..65535 (resolve 0 with resolveLocalPort)`);
    }
    this.srcPort = opts.srcPort;
    this.localFlags = toFlagList(opts.localFlags ?? ["PA"], "local_flag");
    this.t0 = (opts.t0 ?? Date.now()) >>> 0;
    this.maxPayload = opts.maxPayload ?? MAX_IP_PAYLOAD - PAQET_TCP_SYN_LEN;
    // The frame starts FRAME_PAD bytes into the buffer, which puts the TCP header (after 14 + 20 or
    // 14 + 40 bytes) on a 4-byte boundary for sumWordsAligned.
    const raw = new ArrayBuffer((FRAME_PAD + MAX_HEADERS + this.maxPayload + 3) & ~3);
    this.buf = new Uint8Array(raw, FRAME_PAD);
    this.rawBytes = new Uint8Array(raw);
    this.words = new Uint32Array(raw);
  }

  /** Packets built so far: the counter c of §3.4 (the next packet uses c + 1). */
  get packetCount(): number {
    return this.c;
  }

  /**
   * Builds the frame carrying `payload` to `to` and returns a view of it, valid until the next call.
   * Throws PacketError: PKT_BAD_ADDRESS (unparsable IP or port), PKT_UNSUPPORTED (that family has
   * no configured source address), PKT_TOO_LARGE (payload above maxPayload). Counters advance only
   * for frames that are built.
   */
  build(payload: Uint8Array, to: PacketAddr): Uint8Array {
    const peer = this.peer(to);
    const fam = peer.v6 ? this.v6 : this.v4;
    if (!fam) throw new PacketError("PKT_UNSUPPORTED", `no network.${peer.v6 ? "ipv6" : "ipv4"}.addr configured to reach ${peer.key}`);
    if (payload.length > this.maxPayload) throw new PacketError("PKT_TOO_LARGE", `payload of ${payload.length} bytes exceeds ${this.maxPayload}`);

    let flags: number;
    if (peer.flags) {
      flags = peer.flags[peer.flagIndex % peer.flags.length]!;
      peer.flagIndex = (peer.flagIndex + 1) >>> 0;
    } else {
      flags = this.localFlags[this.localIndex % this.localFlags.length]!;
      this.localIndex = (this.localIndex + 1) >>> 0;
    }
    const c = (this.c = (this.c + 1) >>> 0);
    const syn = (flags & TCP_SYN) !== 0;
    const tcpLen = (syn ? PAQET_TCP_SYN_LEN : PAQET_TCP_LEN) + payload.length;
    const b = this.buf;

    // Ethernet
    b.set(fam.routerMac, ETH_DST);
    b.set(this.srcMac, ETH_SRC);
    const etherType = fam.v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
    b[ETH_TYPE] = etherType >>> 8;
    b[ETH_TYPE + 1] = etherType & 0xff;

    // IP
    const ip = ETH_HEADER_LEN;
    let t: number;
    if (fam.v6) {
      if (tcpLen > MAX_IP_PAYLOAD) throw new PacketError("PKT_TOO_LARGE", `TCP segment of ${tcpLen} bytes`);
      b[ip] = 0x60 | (PAQET_TOS >> 4);
      b[ip + 1] = (PAQET_TOS & 0x0f) << 4; // flow label 0
      b[ip + 2] = 0;
      b[ip + 3] = 0;
      b[ip + IPV6_PAYLOAD_LEN] = tcpLen >>> 8;
      b[ip + IPV6_PAYLOAD_LEN + 1] = tcpLen & 0xff;
      b[ip + IPV6_NEXT_HEADER] = IP_PROTO_TCP;
      b[ip + IPV6_HOP_LIMIT] = PAQET_TTL;
      b.set(fam.src, ip + IPV6_SRC);
      b.set(peer.ip, ip + IPV6_DST);
      t = ip + IPV6_HEADER_LEN;
    } else {
      const total = IPV4_MIN_HEADER_LEN + tcpLen;
      if (total > MAX_IP_PAYLOAD) throw new PacketError("PKT_TOO_LARGE", `IPv4 packet of ${total} bytes`);
      b[ip + IPV4_VER_IHL] = 0x45;
      b[ip + IPV4_TOS] = PAQET_TOS;
      b[ip + IPV4_TOTAL_LEN] = total >>> 8;
      b[ip + IPV4_TOTAL_LEN + 1] = total & 0xff;
      b[ip + IPV4_ID] = PAQET_IPV4_ID >>> 8;
      b[ip + IPV4_ID + 1] = PAQET_IPV4_ID & 0xff;
      b[ip + IPV4_FLAGS_FRAG] = PAQET_IPV4_FLAGS_FRAG >>> 8;
      b[ip + IPV4_FLAGS_FRAG + 1] = PAQET_IPV4_FLAGS_FRAG & 0xff;
      b[ip + IPV4_TTL] = PAQET_TTL;
      b[ip + IPV4_PROTOCOL] = IP_PROTO_TCP;
      b.set(fam.src, ip + IPV4_SRC);
      b.set(peer.ip, ip + IPV4_DST);
      const cs = finishChecksum(fam.ipConstSum + total + peer.dstSum);
      b[ip + IPV4_CHECKSUM] = cs >>> 8;
      b[ip + IPV4_CHECKSUM + 1] = cs & 0xff;
      t = ip + IPV4_MIN_HEADER_LEN;
    }

    // TCP (§3.4 sequence and timestamp scheme; all mod 2^32)
    const tsval = (this.t0 + (c >>> 3)) >>> 0;
    let seq: number;
    let ack: number;
    b[t + TCP_SRC_PORT] = this.srcPort >>> 8;
    b[t + TCP_SRC_PORT + 1] = this.srcPort & 0xff;
    b[t + TCP_DST_PORT] = peer.port >>> 8;
    b[t + TCP_DST_PORT + 1] = peer.port & 0xff;
    const o = t + TCP_MIN_HEADER_LEN;
    if (syn) {
      seq = 1 + (c & 7);
      ack = flags & TCP_ACK_FLAG ? seq + 1 : 0;
      b.set(SYN_OPTIONS, o);
      putU32(b, o + SYN_TSVAL, tsval);
    } else {
      seq = (this.t0 + (c << 7)) >>> 0;
      ack = (seq - (c & 0x3ff) + 1400) >>> 0;
      b.set(OPTIONS, o);
      putU32(b, o + OPT_TSVAL, tsval);
      putU32(b, o + OPT_TSECR, (tsval - ((c % 200) + 50)) >>> 0);
    }
    putU32(b, t + TCP_SEQ, seq);
    putU32(b, t + TCP_ACK, ack);
    const hdrLen = syn ? PAQET_TCP_SYN_LEN : PAQET_TCP_LEN;
    b[t + TCP_OFFSET_NS] = ((hdrLen >> 2) << 4) | ((flags >> 8) & 1);
    b[t + TCP_FLAGS] = flags & 0xff;
    b[t + TCP_WINDOW] = PAQET_WINDOW >>> 8;
    b[t + TCP_WINDOW + 1] = PAQET_WINDOW & 0xff;
    b[t + TCP_CHECKSUM] = 0;
    b[t + TCP_CHECKSUM + 1] = 0;
    b[t + TCP_URGENT] = 0;
    b[t + TCP_URGENT + 1] = 0;
    b.set(payload, t + hdrLen);

    // Pseudo-header: src, dst, protocol, TCP length (the IPv6 32-bit length fits in 16 bits here).
    const pseudo = fam.srcSum + peer.dstSum + IP_PROTO_TCP + tcpLen;
    const cs = finishChecksum(pseudo + sumWordsAligned(this.words, this.rawBytes, FRAME_PAD + t, tcpLen));
    b[t + TCP_CHECKSUM] = cs >>> 8;
    b[t + TCP_CHECKSUM + 1] = cs & 0xff;

    let end = t + tcpLen;
    if (end < ETH_MIN_FRAME) {
      b.fill(0, end, ETH_MIN_FRAME);
      end = ETH_MIN_FRAME;
    }
    return b.subarray(0, end);
  }

  /**
   * Server, on a TCPF message from `addr`: that peer's frames now cycle through `flags` from entry 0
   * (upstream replaces the iterator on every TCPF, so the restart is kept). An empty list deletes it.
   */
  setPeerFlags(addr: PacketAddr, flags: readonly (string | number)[]): void {
    if (flags.length === 0) {
      this.clearPeerFlags(addr);
      return;
    }
    const list = toFlagList(flags, "TCPF flag list");
    const peer = this.peer(addr);
    peer.flags = list;
    peer.flagIndex = 0;
  }

  /** Server, when the client's KCP connection handler ends: back to the shared local_flag cycle. */
  clearPeerFlags(addr: PacketAddr): void {
    const peer = this.peers.get(addrKey(addr));
    if (peer) peer.flags = undefined;
  }

  /** The flag list stored for a peer, if any (for status output and tests). */
  peerFlags(addr: PacketAddr): readonly number[] | undefined {
    const f = this.peers.get(addrKey(addr))?.flags;
    return f ? [...f] : undefined;
  }

  private peer(addr: PacketAddr): Peer {
    const cached = this.byObject.get(addr);
    if (cached?.alive) return cached;
    const key = addrKey(addr);
    let peer = this.peers.get(key);
    if (!peer) {
      let ip = tryParseIp(addr.ip);
      if (!ip) throw new PacketError("PKT_BAD_ADDRESS", `not an IP address: ${JSON.stringify(addr.ip)}`);
      if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
        throw new PacketError("PKT_BAD_ADDRESS", `port ${addr.port} of ${key} is not 0..65535`);
      }
      // §3.4: an IPv4-mapped destination is sent as IPv4.
      if (ip.length === IPV6_LEN && isIpv4Mapped(ip)) ip = ip.slice(12);
      if (this.peers.size >= PEER_CACHE_LIMIT) this.evict();
      peer = {
        key,
        ip,
        v6: ip.length === IPV6_LEN,
        port: addr.port,
        dstSum: sumWords(ip, 0, ip.length),
        flags: undefined,
        flagIndex: 0,
        alive: true,
      };
      this.peers.set(key, peer);
    }
    this.byObject.set(addr, peer);
    return peer;
  }

  /** Forgets cached peers that hold no flag list; those with one are kept until cleared. */
  private evict(): void {
    for (const [k, p] of this.peers) {
      if (!p.flags) {
        p.alive = false;
        this.peers.delete(k);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Parser

/** Why captured frames were or were not handed on. Counters only grow. */
export interface FrameStats {
  /** Frames looked at. */
  frames: number;
  /** Frames returned (TCP with a payload). */
  accepted: number;
  /** Cut short: the buffer ends inside a header or before the IP length says. */
  truncated: number;
  /** EtherType is neither IPv4 nor IPv6 (ARP, VLAN-tagged, ...). */
  notIp: number;
  /** IP protocol / next header is not TCP (IPv6 extension headers land here too). */
  notTcp: number;
  /** IPv4 fragments (upstream's decoder does not reassemble them either). */
  fragment: number;
  /** Impossible fields: IP version, IHL < 5, total length < header, TCP data offset < 5. */
  malformed: number;
  /** TCP without payload (pure ACKs, RSTs). */
  empty: number;
}

export function newFrameStats(): FrameStats {
  return { frames: 0, accepted: 0, truncated: 0, notIp: 0, notTcp: 0, fragment: 0, malformed: 0, empty: 0 };
}

export interface ParsedFrame {
  readonly src: PacketAddr;
  readonly dst: PacketAddr;
  /** 9-bit TCP flags (TCP_FIN ... TCP_NS). */
  readonly flags: number;
  /** TCP payload: a view into the frame passed in. */
  readonly payload: Uint8Array;
}

const SHARED_STATS = newFrameStats();

/**
 * Address text by address bytes, in a small direct-mapped cache: a socket talks to few peers, so
 * formatting the same address per packet is avoided without allocating a key.
 */
const TEXT_SLOTS = 256;
const textWords = new Uint32Array(TEXT_SLOTS * 4);
const textFamily = new Uint8Array(TEXT_SLOTS);
const textValue: string[] = new Array<string>(TEXT_SLOTS).fill("");

function word(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

function ipText(b: Uint8Array, off: number, len: 4 | 16): string {
  const w0 = word(b, off);
  const w1 = len === 16 ? word(b, off + 4) : 0;
  const w2 = len === 16 ? word(b, off + 8) : 0;
  const w3 = len === 16 ? word(b, off + 12) : 0;
  const slot = (Math.imul(w0 ^ w1 ^ w2 ^ w3 ^ len, 0x9e3779b1) >>> 24) & (TEXT_SLOTS - 1);
  const k = slot * 4;
  if (textFamily[slot] === len && textWords[k] === w0 && textWords[k + 1] === w1 && textWords[k + 2] === w2 && textWords[k + 3] === w3) {
    return textValue[slot]!;
  }
  const s = len === 4 ? formatIpv4(b, off) : formatIp(b.subarray(off, off + 16));
  textFamily[slot] = len;
  textWords[k] = w0;
  textWords[k + 1] = w1;
  textWords[k + 2] = w2;
  textWords[k + 3] = w3;
  textValue[slot] = s;
  return s;
}

/**
 * parseFrameAt's result, reused from call to call by its owner: addresses as text and port, and
 * where the TCP payload sits in the buffer that was parsed.
 */
export interface FrameFields {
  srcIp: string;
  srcPort: number;
  dstIp: string;
  dstPort: number;
  /** 9-bit TCP flags (TCP_FIN ... TCP_NS). */
  flags: number;
  /** The payload is `buf[payloadStart .. payloadEnd)`. */
  payloadStart: number;
  payloadEnd: number;
}

export function newFrameFields(): FrameFields {
  return { srcIp: "", srcPort: 0, dstIp: "", dstPort: 0, flags: 0, payloadStart: 0, payloadEnd: 0 };
}

/**
 * Decodes the Ethernet frame `buf[start .. start + length)` as paqet does (§3.6) into `out`, with no
 * allocation (the capture path calls it per frame on the shared ring). Returns false, counting the
 * reason in `stats`, for anything that is not Ethernet / IPv4 or IPv6 / TCP with a non-empty
 * payload; `out` is then unspecified. Never throws and never reads outside that range. Ethernet
 * padding beyond the IP length is ignored.
 */
export function parseFrameAt(buf: Uint8Array, start: number, length: number, out: FrameFields, stats: FrameStats = SHARED_STATS): boolean {
  stats.frames++;
  const n = Math.min(length, buf.length - start);
  if (n < ETH_HEADER_LEN) {
    stats.truncated++;
    return false;
  }
  const etherType = (buf[start + ETH_TYPE]! << 8) | buf[start + ETH_TYPE + 1]!;
  const ip = start + ETH_HEADER_LEN;
  const limit = start + n;
  let t: number;
  let end: number;
  if (etherType === ETHERTYPE_IPV4) {
    if (limit - ip < IPV4_MIN_HEADER_LEN) {
      stats.truncated++;
      return false;
    }
    const b0 = buf[ip + IPV4_VER_IHL]!;
    const ihl = (b0 & 0x0f) * 4;
    const total = (buf[ip + IPV4_TOTAL_LEN]! << 8) | buf[ip + IPV4_TOTAL_LEN + 1]!;
    if (b0 >> 4 !== 4 || ihl < IPV4_MIN_HEADER_LEN || total < ihl) {
      stats.malformed++;
      return false;
    }
    if (ip + total > limit) {
      stats.truncated++;
      return false;
    }
    if (buf[ip + IPV4_PROTOCOL] !== IP_PROTO_TCP) {
      stats.notTcp++;
      return false;
    }
    // MF set or a non-zero offset: a fragment, not a TCP segment.
    if (((buf[ip + IPV4_FLAGS_FRAG]! << 8) | buf[ip + IPV4_FLAGS_FRAG + 1]!) & 0x3fff) {
      stats.fragment++;
      return false;
    }
    t = ip + ihl;
    end = ip + total;
  } else if (etherType === ETHERTYPE_IPV6) {
    if (limit - ip < IPV6_HEADER_LEN) {
      stats.truncated++;
      return false;
    }
    if (buf[ip]! >> 4 !== 6) {
      stats.malformed++;
      return false;
    }
    const plen = (buf[ip + IPV6_PAYLOAD_LEN]! << 8) | buf[ip + IPV6_PAYLOAD_LEN + 1]!;
    if (ip + IPV6_HEADER_LEN + plen > limit) {
      stats.truncated++;
      return false;
    }
    if (buf[ip + IPV6_NEXT_HEADER] !== IP_PROTO_TCP) {
      stats.notTcp++;
      return false;
    }
    t = ip + IPV6_HEADER_LEN;
    end = t + plen;
  } else {
    stats.notIp++;
    return false;
  }
  if (end - t < TCP_MIN_HEADER_LEN) {
    stats.truncated++;
    return false;
  }
  const hdr = (buf[t + TCP_OFFSET_NS]! >> 4) * 4;
  if (hdr < TCP_MIN_HEADER_LEN) {
    stats.malformed++;
    return false;
  }
  if (t + hdr > end) {
    stats.truncated++;
    return false;
  }
  if (t + hdr === end) {
    stats.empty++;
    return false;
  }
  stats.accepted++;
  if (etherType === ETHERTYPE_IPV4) {
    out.srcIp = ipText(buf, ip + IPV4_SRC, IPV4_LEN);
    out.dstIp = ipText(buf, ip + IPV4_DST, IPV4_LEN);
  } else {
    out.srcIp = ipText(buf, ip + IPV6_SRC, IPV6_LEN);
    out.dstIp = ipText(buf, ip + IPV6_DST, IPV6_LEN);
  }
  out.srcPort = (buf[t + TCP_SRC_PORT]! << 8) | buf[t + TCP_SRC_PORT + 1]!;
  out.dstPort = (buf[t + TCP_DST_PORT]! << 8) | buf[t + TCP_DST_PORT + 1]!;
  out.flags = ((buf[t + TCP_OFFSET_NS]! & 1) << 8) | buf[t + TCP_FLAGS]!;
  out.payloadStart = t + hdr;
  out.payloadEnd = end;
  return true;
}

const PARSE_SCRATCH = newFrameFields();

/**
 * Decodes a captured Ethernet frame as paqet does (§3.6). Returns undefined, counting the reason in
 * `stats`, for anything that is not Ethernet / IPv4 or IPv6 / TCP with a non-empty payload. Never
 * throws and never reads outside `frame`. Ethernet padding beyond the IP length is ignored.
 */
export function parseFrame(frame: Uint8Array, stats: FrameStats = SHARED_STATS): ParsedFrame | undefined {
  const f = PARSE_SCRATCH;
  if (!parseFrameAt(frame, 0, frame.length, f, stats)) return undefined;
  return {
    src: { ip: f.srcIp, port: f.srcPort },
    dst: { ip: f.dstIp, port: f.dstPort },
    flags: f.flags,
    payload: frame.subarray(f.payloadStart, f.payloadEnd),
  };
}
