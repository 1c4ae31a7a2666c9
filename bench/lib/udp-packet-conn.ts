/**
 * A PacketConn over a UDP socket on loopback, for benchmarks that need a client and a server in
 * separate processes without pcap (one capture worker per raw socket would make hundreds of
 * clients in one process impossible). Datagrams carry what the pcap conn would put in a TCP
 * payload; addresses are the UDP ones. Bun does not hand a datagram's bytes out again, so the
 * handler gets the buffer itself.
 */
import type { udp } from "bun";
import { SocketError } from "../../src/socket/errors.ts";
import type { PacketAddr, PacketConn, PacketHandler } from "../../src/socket/types.ts";

export class UdpPacketConn implements PacketConn {
  private handler: PacketHandler = () => {};
  private closed = false;
  /** Datagrams the socket refused (its send buffer was full); KCP resends them. */
  refused = 0;
  /** Errors the socket reported, such as ICMP port-unreachable after a peer closed its socket. */
  errors = 0;

  private constructor(
    private readonly socket: udp.Socket<"uint8array">,
    readonly localAddr: PacketAddr,
  ) {}

  static async bind(port = 0, ip = "127.0.0.1"): Promise<UdpPacketConn> {
    let conn: UdpPacketConn | undefined;
    const socket = await Bun.udpSocket({
      hostname: ip,
      port,
      binaryType: "uint8array",
      socket: {
        data(_s, data, fromPort, fromIp) {
          conn?.handler(data, { ip: fromIp, port: fromPort });
        },
        error() {
          if (conn) conn.errors++;
        },
      },
    });
    conn = new UdpPacketConn(socket, { ip, port: socket.port });
    return conn;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  onPacket(handler: PacketHandler): void {
    this.handler = handler;
  }

  writeTo(data: Uint8Array, to: PacketAddr): void {
    if (this.closed) throw new SocketError("SOCK_CLOSED", "UDP packet conn is closed");
    if (!this.socket.send(data, to.port, to.ip)) this.refused++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}
