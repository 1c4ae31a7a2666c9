/** The server role: one raw socket, the KCP listener, and the stream handlers behind it. */
export { DIAL_TIMEOUT_MS, SHUTDOWN_GRACE_MS, TunnelServer, type PeerFlagSink, type ServerOptions, type ServerStats } from "./server.ts";
export { dialUdp } from "./udp-dial.ts";
