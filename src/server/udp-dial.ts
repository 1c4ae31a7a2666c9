/**
 * A connected UDP socket to one target (paqet-app.md §6.6): the kernel delivers only datagrams
 * from that peer. Resolution and connect are bounded by a timeout and cancellable.
 */
import { lookup } from "node:dns/promises";
import { createSocket, type Socket } from "node:dgram";
import { isIP } from "node:net";

export interface UdpDialOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

export async function dialUdp(host: string, port: number, options: UdpDialOptions): Promise<Socket> {
  const { timeoutMs, signal } = options;
  if (signal?.aborted) throw signal.reason;
  let address = host;
  let family = isIP(host);
  if (family === 0) {
    const resolved = await lookup(host);
    address = resolved.address;
    family = resolved.family;
  }
  if (signal?.aborted) throw signal.reason;
  const socket = createSocket(family === 6 ? "udp6" : "udp4");
  return new Promise<Socket>((resolve, reject) => {
    let settled = false;
    const settle = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.off("error", onError);
      if (err === undefined) {
        resolve(socket);
        return;
      }
      try {
        socket.close();
      } catch {
        // Closing a socket that never bound can throw; the socket is gone either way.
      }
      reject(err);
    };
    const onAbort = (): void => settle(signal!.reason);
    const onError = (err: Error): void => settle(err);
    const timer = setTimeout(() => settle(withCode(`UDP dial ${host}:${port} timed out`, "ETIMEDOUT")), timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("error", onError);
    socket.connect(port, address, () => settle());
  });
}
