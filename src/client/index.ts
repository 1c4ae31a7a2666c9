/** The client role: the transport connection pool and the TunnelClient the front-ends use. */
export type { TunnelClient, UdpFlow } from "./api.ts";
export {
  backoffDelay,
  DEFAULT_TIMINGS,
  DEFAULT_UDP_POOL,
  PaqetClient,
  type ClientOptions,
  type ClientStats,
  type ClientTimings,
  type UdpPoolOptions,
} from "./client.ts";
