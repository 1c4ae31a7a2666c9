/**
 * The ONE place where the configuration becomes plain option objects for the layers below
 * (paqet-app.md §4.1): KCP session settings, the packet crypt, FEC shards, the smux config, the
 * guard, the client's TCPF words and the server's limits. Nothing under `tunnel` sees `conf`.
 *
 * Key derivation (PBKDF2, about 13 ms) runs once per passphrase per process.
 */
import type { PaqetConfig } from "../conf/index.ts";
import { createPacketCrypt, type KcpOptions, type PacketCrypt } from "../kcp/index.ts";
import { deriveKey } from "../kcp/kdf.ts";
import { parseFlagString } from "../packet/tcp.ts";
import type { SmuxConfig } from "../smux/index.ts";
import type { GuardOptions } from "../socket/guard.ts";

/** Seed-fork §4.1: header read (server) / write (client) deadline when the config gives none. */
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;

export interface ServerLimits {
  /** Concurrent KCP sessions; -1 = unlimited. */
  readonly maxSessions: number;
  /** Streams across all sessions; -1 = unlimited. */
  readonly maxStreamsTotal: number;
  /** Streams in one session; -1 = unlimited. Already lowered to maxStreamsTotal when larger. */
  readonly maxStreamsPerSession: number;
}

export interface TunnelOptions {
  readonly kcp: KcpOptions;
  /** Shared by every session of this process (seal/open are synchronous, so one buffer set suffices). */
  readonly crypt: PacketCrypt;
  readonly dataShards: number;
  readonly parityShards: number;
  readonly smux: SmuxConfig;
  /** Seed-fork guard cookies around the raw socket, or undefined (off). */
  readonly guard: GuardOptions | undefined;
  /** Client: transport connections in the pool (`transport.conn`). */
  readonly conns: number;
  /** Client: the TCPF words of `network.tcp.remote_flag`. */
  readonly remoteFlags: readonly number[];
  readonly headerTimeoutMs: number;
  readonly limits: ServerLimits;
}

const derivedKeys = new Map<string, Uint8Array>();

/** PBKDF2 of `passphrase`, computed once per process. */
export function derivedKey(passphrase: string): Uint8Array {
  let key = derivedKeys.get(passphrase);
  if (!key) {
    key = deriveKey(passphrase);
    derivedKeys.set(passphrase, key);
  }
  return key;
}

function perSessionLimit(perSession: number, total: number): number {
  if (total > 0 && (perSession < 0 || perSession > total)) return total;
  return perSession;
}

export function tunnelOptionsFromConfig(config: PaqetConfig): TunnelOptions {
  const k = config.transport.kcp;
  const kcp: KcpOptions = {
    nodelay: k.nodelay,
    interval: k.interval,
    resend: k.resend,
    nocongestion: k.nocongestion,
    writeDelay: k.wdelay,
    ackNoDelay: k.acknodelay,
    mtu: k.mtu,
    sndWnd: k.sndwnd,
    rcvWnd: k.rcvwnd,
    stream: true,
    deadLink: 20,
  };
  const smux: SmuxConfig = {
    version: 2,
    keepAliveDisabled: false,
    keepAliveInterval: k.smuxkalive * 1000,
    keepAliveTimeout: k.smuxktimeout * 1000,
    maxFrameSize: 65535,
    maxReceiveBuffer: k.smuxbuf,
    maxStreamBuffer: k.streambuf,
  };
  const guard: GuardOptions | undefined = k.guard
    ? { key: k.key, magic: k.guard_magic, windowSeconds: k.guard_window, skew: k.guard_skew }
    : undefined;
  return Object.freeze({
    kcp: Object.freeze(kcp),
    crypt: createPacketCrypt(k.block, derivedKey(k.key)),
    dataShards: k.dshard,
    parityShards: k.pshard,
    smux: Object.freeze(smux),
    guard: guard && Object.freeze(guard),
    conns: config.transport.conn,
    remoteFlags: Object.freeze(config.network.tcp.remote_flag.map(parseFlagString)),
    headerTimeoutMs: k.header_timeout > 0 ? k.header_timeout * 1000 : DEFAULT_HEADER_TIMEOUT_MS,
    limits: Object.freeze({
      maxSessions: k.max_sessions,
      maxStreamsTotal: k.max_streams_total,
      maxStreamsPerSession: perSessionLimit(k.max_streams_per_session, k.max_streams_total),
    }),
  });
}
