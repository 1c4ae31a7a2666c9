/**
 * One SOCKS5 UDP ASSOCIATE relay (spec §7.5): a UDP socket for the client's datagrams and one
 * pooled tunnel UDP stream per target.
 *
 * Datagrams from anyone but the expected client endpoint are dropped, as are fragments (FRAG != 0),
 * unknown address types and data above MAX_DATAGRAM; every drop is counted. While a target's stream
 * is being opened, up to FLOW_QUEUE datagrams wait for it (only that target waits, not the whole
 * association as in Go). Replies go back with the request's own address header.
 */
import type { TunnelClient } from "../client/api.ts";
import type { Duplex } from "../lib/duplex.ts";
import { errorMessage } from "../lib/errors.ts";
import { type Logger, RateLimitedLog } from "../lib/log.ts";
import { formatIp, isIpv4Mapped, tryParseIp } from "../packet/address.ts";
import { datagramFits, joinHostPort, MAX_DATAGRAM } from "../tunnel/protocol.ts";
import { AddressType, parseUdpHeader, type SocksAddress, UDP_MAX_HEADER, udpReplyHeader } from "./codec.ts";

/** Go's relay buffer: a datagram that fills all of it is too large. */
const RELAY_BUFFER = UDP_MAX_HEADER + MAX_DATAGRAM + 1;
/** Datagrams held per target while its stream opens (as a forward session's queue). */
const FLOW_QUEUE = 64;

export interface UdpStats {
  /** Datagrams received from the client endpoint and written to a tunnel stream. */
  toTunnel: number;
  /** Datagrams from the tunnel sent back to the client. */
  toClient: number;
  dropped: {
    /** From an address other than the expected client endpoint. */
    source: number;
    /** FRAG != 0: fragmentation is not supported. */
    frag: number;
    /** Too short or an unknown address type. */
    malformed: number;
    /** Empty, larger than MAX_DATAGRAM, or a reply chunk larger than MAX_DATAGRAM. */
    size: number;
    /** A target's queue was full while its stream opened, or its stream was backed up. */
    congested: number;
    /** The stream could not be opened or written. */
    tunnel: number;
    /** The client's socket would not take a reply. */
    reply: number;
  };
}

export function newUdpStats(): UdpStats {
  return { toTunnel: 0, toClient: 0, dropped: { source: 0, frag: 0, malformed: 0, size: 0, congested: 0, tunnel: 0, reply: 0 } };
}

export interface AssociationOptions {
  /** A flow with no datagram either way for this long is closed; 0 leaves expiry to the client pool. */
  readonly idleTimeoutMs: number;
  /** Called once when the association ends on its own (the relay socket failed). */
  readonly onEnd?: () => void;
}

interface Flow {
  readonly target: string;
  /** Reply header: 00 00 00 and the client's address bytes for this target. */
  readonly header: Uint8Array;
  opening: boolean;
  queue: Uint8Array[];
  key: string;
  stream: Duplex | undefined;
  /** This association created the pooled stream, so it reads replies and closes it. */
  owner: boolean;
  congested: boolean;
  lastActive: number;
}

type UdpSocket = import("bun").udp.Socket<"uint8array">;

/** Canonical IP text with IPv4-mapped addresses unmapped, so "::ffff:1.2.3.4" equals "1.2.3.4". */
function plainIp(text: string): string | undefined {
  const b = tryParseIp(text);
  if (!b) return undefined;
  return formatIp(b.length === 16 && isIpv4Mapped(b) ? b.subarray(12) : b);
}

function isUnspecified(host: string): boolean {
  const b = tryParseIp(host);
  return !!b && b.every((x) => x === 0);
}

export class UdpAssociation {
  readonly #client: TunnelClient;
  readonly #log: Logger;
  readonly #errors: RateLimitedLog;
  readonly #stats: UdpStats;
  readonly #options: AssociationOptions;
  readonly #flows = new Map<string, Flow>();
  readonly #abort = new AbortController();
  readonly #scratch = new Uint8Array(UDP_MAX_HEADER + MAX_DATAGRAM);
  #socket: UdpSocket | undefined;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #now = 0;
  #closed = false;
  /** Expected client IP (plain text) and port; port 0 until learned from the first datagram. */
  readonly #clientIp: string;
  #clientPort: number;
  /** The source address as the socket reports it, for sending replies, and the pool key source. */
  #replyAddress = "";
  #source = "";
  #lastSeenRaw = "";

  private constructor(client: TunnelClient, request: SocksAddress, controlPeer: string, options: AssociationOptions, stats: UdpStats, log: Logger) {
    this.#client = client;
    this.#options = options;
    this.#stats = stats;
    this.#log = log;
    this.#errors = new RateLimitedLog((m) => log.error(m));
    // RFC 1928 §7: the request names the address the client will send from; a domain or an
    // unspecified address means "not known yet", and then only the control peer's IP is trusted.
    if (request.type === AddressType.Domain || isUnspecified(request.host)) {
      this.#clientIp = plainIp(controlPeer) ?? controlPeer;
      this.#clientPort = 0;
    } else {
      this.#clientIp = plainIp(request.host) ?? request.host;
      this.#clientPort = request.port;
    }
    this.#now = performance.now();
  }

  /** Binds the relay socket on `bindHost` (the control connection's local IP), port 0. */
  static async open(
    client: TunnelClient,
    bindHost: string,
    request: SocksAddress,
    controlPeer: string,
    options: AssociationOptions,
    stats: UdpStats,
    log: Logger,
  ): Promise<UdpAssociation> {
    const a = new UdpAssociation(client, request, controlPeer, options, stats, log);
    a.#socket = await Bun.udpSocket({
      hostname: bindHost,
      port: 0,
      binaryType: "uint8array",
      socket: {
        data: (_s, buf, port, address) => a.#onDatagram(buf, port, address),
        // A relay socket error ends the association (Go: a read error ends the relay loop).
        error: (_s, err) => {
          log.debug(`SOCKS5 UDP relay socket error: ${errorMessage(err)}`);
          a.close();
          options.onEnd?.();
        },
      },
    });
    if (options.idleTimeoutMs > 0) {
      const tick = Math.max(50, Math.min(1000, options.idleTimeoutMs / 4));
      a.#sweeper = setInterval(() => a.#sweep(), tick);
    }
    return a;
  }

  /** The relay socket's address, for the reply's BND fields. */
  get bound(): { host: string; port: number } {
    return { host: this.#socket!.address.address, port: this.#socket!.port };
  }

  get flowCount(): number {
    return this.#flows.size;
  }

  /** Ends the association: the relay socket and every stream it created close. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort(new Error("UDP association ended"));
    if (this.#sweeper) clearInterval(this.#sweeper);
    this.#socket?.close();
    for (const f of this.#flows.values()) this.#releaseFlow(f);
    this.#flows.clear();
  }

  #sourceOk(address: string, port: number): boolean {
    if (address !== this.#lastSeenRaw) {
      if (plainIp(address) !== this.#clientIp) return false;
      this.#lastSeenRaw = address;
    }
    if (this.#clientPort === 0) this.#clientPort = port;
    else if (port !== this.#clientPort) return false;
    if (!this.#source) {
      this.#replyAddress = address;
      this.#source = joinHostPort(this.#clientIp, this.#clientPort);
    }
    return true;
  }

  #onDatagram(buf: Uint8Array, port: number, address: string): void {
    if (this.#closed) return;
    const dropped = this.#stats.dropped;
    if (buf.length >= RELAY_BUFFER) {
      dropped.size++;
      return;
    }
    if (!this.#sourceOk(address, port)) {
      dropped.source++;
      return;
    }
    const h = parseUdpHeader(buf);
    if (typeof h === "string") {
      if (h === "frag") dropped.frag++;
      else dropped.malformed++;
      return;
    }
    const data = buf.subarray(h.dataOffset);
    if (!datagramFits(data.length)) {
      dropped.size++;
      return;
    }
    let flow = this.#flows.get(h.address.target);
    if (!flow) {
      flow = {
        target: h.address.target,
        header: udpReplyHeader(buf, h.dataOffset),
        opening: true,
        queue: [],
        key: "",
        stream: undefined,
        owner: false,
        congested: false,
        lastActive: this.#now,
      };
      this.#flows.set(flow.target, flow);
      this.#openFlow(flow);
    }
    flow.lastActive = this.#now;
    if (flow.opening) {
      if (flow.queue.length >= FLOW_QUEUE) dropped.congested++;
      else flow.queue.push(data);
      return;
    }
    this.#send(flow, data);
  }

  #openFlow(flow: Flow): void {
    this.#client.openUdp(this.#source, flow.target, this.#abort.signal).then(
      (f) => {
        if (this.#closed || this.#flows.get(flow.target) !== flow) {
          if (f.isNew) this.#client.closeUdp(f.key, f.stream);
          return;
        }
        flow.opening = false;
        flow.key = f.key;
        flow.stream = f.stream;
        flow.owner = f.isNew;
        if (f.isNew) {
          this.#log.info(`SOCKS5 accepted UDP connection ${this.#source} -> ${flow.target}`);
          f.stream.setHandlers({
            data: (chunk) => this.#reply(flow, chunk),
            drain: () => {
              flow.congested = false;
            },
            close: () => this.#dropFlow(flow),
          });
        }
        const queued = flow.queue;
        flow.queue = [];
        for (const d of queued) this.#send(flow, d);
      },
      (err) => {
        if (this.#closed) return;
        this.#errors.emit(`SOCKS5 UDP: cannot open a stream to ${flow.target}: ${errorMessage(err)}`);
        this.#stats.dropped.tunnel += flow.queue.length;
        if (this.#flows.get(flow.target) === flow) this.#flows.delete(flow.target);
      },
    );
  }

  #send(flow: Flow, data: Uint8Array): void {
    const stream = flow.stream;
    if (!stream || stream.closed) {
      this.#stats.dropped.tunnel++;
      this.#dropFlow(flow);
      return;
    }
    if (flow.congested) {
      this.#stats.dropped.congested++;
      return;
    }
    // One write is one datagram (§4.5). False means queued behind others: hold further datagrams
    // until drain rather than queue without bound (a stream we do not own never reports drain).
    if (!stream.write(data) && flow.owner) flow.congested = true;
    this.#stats.toTunnel++;
    this.#client.touchUdp(flow.key);
  }

  #reply(flow: Flow, chunk: Uint8Array): void {
    if (chunk.length > MAX_DATAGRAM || chunk.length === 0) {
      this.#stats.dropped.size++;
      return;
    }
    flow.lastActive = this.#now;
    this.#client.touchUdp(flow.key);
    const h = flow.header;
    const out = this.#scratch;
    out.set(h, 0);
    out.set(chunk, h.length);
    // send() copies into the kernel before returning, so the scratch buffer is free again after it.
    if (this.#socket!.send(out.subarray(0, h.length + chunk.length), this.#clientPort, this.#replyAddress)) this.#stats.toClient++;
    else this.#stats.dropped.reply++;
  }

  #dropFlow(flow: Flow): void {
    if (this.#flows.get(flow.target) === flow) this.#flows.delete(flow.target);
    this.#releaseFlow(flow);
  }

  #releaseFlow(flow: Flow): void {
    if (flow.owner && flow.stream) this.#client.closeUdp(flow.key, flow.stream);
    flow.stream = undefined;
    flow.owner = false;
    flow.queue = [];
  }

  #sweep(): void {
    this.#now = performance.now();
    const limit = this.#now - this.#options.idleTimeoutMs;
    for (const f of this.#flows.values()) {
      if (!f.opening && f.lastActive <= limit) {
        this.#log.debug(`SOCKS5 UDP: closing idle flow ${this.#source} -> ${f.target}`);
        this.#dropFlow(f);
      }
    }
  }
}
