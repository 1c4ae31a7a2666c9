/** The kcp layer's public surface: sessions and listener over a PacketConn, options, codecs. */
export type { CryptStats, FecCodec, FecStats, PacketCrypt } from "./codec-types.ts";
export { createPacketCrypt } from "./crypt/index.ts";
export { KcpError, type KcpErrorCode } from "./errors.ts";
export { createFec } from "./fec.ts";
export { ACCEPT_BACKLOG, KcpListener, listen, type KcpListenerStats, type ListenOptions } from "./listener.ts";
export {
  KCP_LIBRARY_DEFAULTS,
  modeParams,
  paqetKcpOptions,
  type KcpMode,
  type KcpModeParams,
  type KcpOptions,
} from "./options.ts";
export {
  defaultScheduler,
  dial,
  KcpScheduler,
  KcpSession,
  randomConv,
  sessionCounters,
  type DialOptions,
  type KcpSessionStats,
} from "./session.ts";
