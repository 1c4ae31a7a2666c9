/**
 * The datagram seam between the packet layer and KCP.
 *
 * A PacketConn carries opaque datagrams (kcp-go's encrypted payloads) to and from peers named by
 * IP and port. Adapters: pcap (raw TCP frames through libpcap), memory (a pair in one process) and
 * lossy (a seeded fault injector around any PacketConn). Reading is push-based: the conn calls the
 * handler for each datagram, and the bytes are only valid during that call (they may be a view into
 * a capture ring), so a receiver that keeps them must copy.
 */
export interface PacketAddr {
  /** Dotted IPv4 or canonical IPv6 text, as `formatIp` in src/packet prints it. */
  readonly ip: string;
  readonly port: number;
}

/** A stable map key for an address: `1.2.3.4:5` or `[::1]:5`. */
export function addrKey(addr: PacketAddr): string {
  return addr.ip.includes(":") ? `[${addr.ip}]:${addr.port}` : `${addr.ip}:${addr.port}`;
}

export type PacketHandler = (data: Uint8Array, from: PacketAddr) => void;

export interface PacketConn {
  readonly localAddr: PacketAddr;
  /** Installs the receive handler; only one is active at a time. */
  onPacket(handler: PacketHandler): void;
  /**
   * Sends one datagram. Synchronous; the conn does not keep `data` after returning.
   * Throws SocketError when the conn is closed or the link refuses the frame.
   */
  writeTo(data: Uint8Array, to: PacketAddr): void;
  close(): void;
  readonly isClosed: boolean;
}
