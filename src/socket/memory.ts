/**
 * In-process PacketConns for tests, benchmarks and the demo.
 *
 * A `MemoryNetwork` routes datagrams between the conns bound on it by address. Delivery is
 * asynchronous and batched: everything written during one event-loop turn is delivered in one
 * `setImmediate` callback on the next turn, in write order. This keeps handlers from ever running
 * inside `writeTo` (no re-entrancy), and, unlike a microtask chain, lets timers and I/O run between
 * batches, so two KCP sessions ping-ponging over it cannot starve their own retransmit timers.
 */
import { SocketError } from "./errors.ts";
import { addrKey, type PacketAddr, type PacketConn, type PacketHandler } from "./types.ts";

export interface MemoryNetworkStats {
  delivered: number;
  /** Datagrams addressed to no bound conn, or to a conn that closed before delivery. */
  unroutable: number;
  /** Datagrams dropped because `queueLimit` were already waiting, as a full NIC ring would. */
  overflow: number;
}

export interface MemoryNetworkOptions {
  /** Datagrams that may wait for delivery at once; more are dropped and counted. Default 65536. */
  queueLimit?: number;
}

interface InFlight {
  data: Uint8Array;
  from: PacketAddr;
  to: string;
}

export class MemoryNetwork {
  readonly stats: MemoryNetworkStats = { delivered: 0, unroutable: 0, overflow: 0 };
  private readonly queueLimit: number;
  private readonly conns = new Map<string, MemoryPacketConn>();
  private queue: InFlight[] = [];
  private scheduled = false;
  private nextPort = 40000;

  constructor(options: MemoryNetworkOptions = {}) {
    this.queueLimit = options.queueLimit ?? 65536;
  }

  /** Binds a conn at `addr` (default 10.77.0.1 with a fresh port). Throws SOCK_BAD_ADDRESS if taken. */
  bind(addr?: Partial<PacketAddr>): PacketConn {
    const local: PacketAddr = { ip: addr?.ip ?? "10.77.0.1", port: addr?.port ?? this.nextPort++ };
    const key = addrKey(local);
    if (this.conns.has(key)) throw new SocketError("SOCK_BAD_ADDRESS", `memory address ${key} is already bound`);
    const conn = new MemoryPacketConn(this, local);
    this.conns.set(key, conn);
    return conn;
  }

  /** @internal */
  enqueue(data: Uint8Array, from: PacketAddr, to: PacketAddr): void {
    if (this.queue.length >= this.queueLimit) {
      this.stats.overflow++;
      return;
    }
    this.queue.push({ data: data.slice(), from, to: addrKey(to) });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.deliver);
    }
  }

  /** @internal */
  unbind(conn: MemoryPacketConn): void {
    const key = addrKey(conn.localAddr);
    if (this.conns.get(key) === conn) this.conns.delete(key);
  }

  private readonly deliver = (): void => {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const item of batch) {
      const conn = this.conns.get(item.to);
      if (!conn || conn.isClosed) {
        this.stats.unroutable++;
        continue;
      }
      this.stats.delivered++;
      conn.receive(item.data, item.from);
    }
  };
}

class MemoryPacketConn implements PacketConn {
  isClosed = false;
  private handler: PacketHandler | undefined;

  constructor(
    private readonly network: MemoryNetwork,
    readonly localAddr: PacketAddr,
  ) {}

  onPacket(handler: PacketHandler): void {
    this.handler = handler;
  }

  writeTo(data: Uint8Array, to: PacketAddr): void {
    if (this.isClosed) throw new SocketError("SOCK_CLOSED", "memory conn is closed");
    this.network.enqueue(data, this.localAddr, to);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.handler = undefined;
    this.network.unbind(this);
  }

  /** @internal Delivery from the network; a handler that throws must not stop the batch. */
  receive(data: Uint8Array, from: PacketAddr): void {
    const h = this.handler;
    if (!h) return;
    try {
      h(data, from);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/** Two conns on a private network: 10.77.0.1:40000 and 10.77.0.2:40001 unless given. */
export function memoryPacketPair(
  a: Partial<PacketAddr> = { ip: "10.77.0.1", port: 40000 },
  b: Partial<PacketAddr> = { ip: "10.77.0.2", port: 40001 },
): [PacketConn, PacketConn] {
  const net = new MemoryNetwork();
  return [net.bind(a), net.bind(b)];
}
