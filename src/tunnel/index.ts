/** The tunnel layer: paqet's stream protocol, one transport connection, and the config mapping. */
export { closePacket, transportPacketConn, TunnelConn } from "./conn.ts";
export { TunnelError, type TunnelErrorCode } from "./errors.ts";
export { DEFAULT_HEADER_TIMEOUT_MS, derivedKey, tunnelOptionsFromConfig, type ServerLimits, type TunnelOptions } from "./options.ts";
export * from "./protocol.ts";
export { openTarget, pingConn, sendTcpf } from "./requests.ts";
