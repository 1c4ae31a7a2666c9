/**
 * KCP session options as plain data. `conf` builds a `KcpOptions` from YAML; nothing here reads
 * configuration itself.
 */
export type KcpMode = "normal" | "fast" | "fast2" | "fast3" | "manual";

/** The per-mode ARQ knobs (paqet-app.md §2.4). */
export interface KcpModeParams {
  nodelay: number;
  /** Flush interval in ms; kcp-go clamps it to 10..5000. */
  interval: number;
  /** Fast-resend threshold in duplicate ACKs (0: off). */
  resend: number;
  /** 1 turns congestion control off. */
  nocongestion: number;
  /**
   * kcp-go's write delay (small writes wait for the periodic flush). Kept for configuration
   * fidelity only: sessions follow one flush rule in every mode (session.ts), coalescing the writes
   * of one event-loop turn and flushing at its end.
   */
  writeDelay: boolean;
  /** Every inbound data datagram is acknowledged at once. */
  ackNoDelay: boolean;
}

export interface KcpOptions extends KcpModeParams {
  /** Session MTU: the largest datagram handed to the PacketConn, crypto and FEC headers included. */
  mtu: number;
  /** Send window in segments. */
  sndWnd: number;
  /** Receive window in segments (what `wnd` advertises). */
  rcvWnd: number;
  /** paqet turns stream mode on in every mode. */
  stream: boolean;
  /**
   * Transmissions of one segment without an ACK after which the session closes with
   * KCP_DEAD_LINK. kcp-go marks the state and carries on; paqet-ts acts on it. 0 disables.
   */
  deadLink: number;
}

const PRESETS: Record<Exclude<KcpMode, "manual">, KcpModeParams> = {
  normal: { nodelay: 0, interval: 40, resend: 2, nocongestion: 1, writeDelay: true, ackNoDelay: false },
  fast: { nodelay: 0, interval: 30, resend: 2, nocongestion: 1, writeDelay: true, ackNoDelay: false },
  fast2: { nodelay: 1, interval: 20, resend: 2, nocongestion: 1, writeDelay: false, ackNoDelay: true },
  fast3: { nodelay: 1, interval: 10, resend: 2, nocongestion: 1, writeDelay: false, ackNoDelay: true },
};

/**
 * The knobs of a preset mode. `manual` takes them from `manual` (paqet's `nodelay`, `interval`,
 * `resend`, `nocongestion`, `wdelay`, `acknodelay` keys, each defaulting to 0/false).
 */
export function modeParams(mode: KcpMode, manual: Partial<KcpModeParams> = {}): KcpModeParams {
  if (mode !== "manual") return { ...PRESETS[mode] };
  return {
    nodelay: manual.nodelay ?? 0,
    interval: manual.interval ?? 0,
    resend: manual.resend ?? 0,
    nocongestion: manual.nocongestion ?? 0,
    writeDelay: manual.writeDelay ?? false,
    ackNoDelay: manual.ackNoDelay ?? false,
  };
}

/** kcp-go library defaults (what a listener-created session starts with before paqet tunes it). */
export const KCP_LIBRARY_DEFAULTS: KcpOptions = {
  nodelay: 0,
  interval: 100,
  resend: 0,
  nocongestion: 0,
  writeDelay: false,
  ackNoDelay: false,
  mtu: 1400,
  sndWnd: 32,
  rcvWnd: 32,
  stream: false,
  deadLink: 20,
};

/** paqet's settings for one role and mode: the preset plus windows, MTU 1350 and stream mode. */
export function paqetKcpOptions(
  role: "client" | "server",
  mode: KcpMode = "fast",
  overrides: Partial<KcpOptions> = {},
): KcpOptions {
  const wnd = role === "client" ? { sndWnd: 128, rcvWnd: 512 } : { sndWnd: 1024, rcvWnd: 1024 };
  return { ...modeParams(mode, overrides), mtu: 1350, ...wnd, stream: true, deadLink: 20, ...overrides };
}
