/**
 * The client's side of the stream protocol on one connection (paqet-app.md §4.3): TCPF, PING/PONG
 * and the TCP/UDP request header. Each message goes out as one stream write.
 */
import type { Stream } from "../smux/index.ts";
import type { TunnelConn } from "./conn.ts";
import { TunnelError } from "./errors.ts";
import { encodeMessage, MessageDecoder, MessageType, targetMessage } from "./protocol.ts";

/** Sends the client's `remote_flag` words on a stream of their own and closes it (§4.3). */
export function sendTcpf(conn: TunnelConn, flags: readonly number[]): void {
  const message = encodeMessage({ type: MessageType.Tcpf, flags });
  const stream = conn.openStream();
  stream.write(message);
  stream.close();
}

/**
 * Opens a stream and writes the TCP or UDP header for `target` (`host:port`). The target is
 * checked before the stream opens, so a bad one costs no stream.
 */
export function openTarget(conn: TunnelConn, type: MessageType.Tcp | MessageType.Udp, target: string): Stream {
  const header = encodeMessage(targetMessage(type, target));
  const stream = conn.openStream();
  stream.write(header);
  return stream;
}

/**
 * PING on a fresh stream; resolves with the round trip in ms once the PONG arrives. Rejects with
 * TUN_TIMEOUT after `timeoutMs`, TUN_ABORTED when `signal` fires, TUN_CLOSED when the stream ends
 * first, or the reader's code when the answer is not a PONG.
 */
export function pingConn(conn: TunnelConn, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new TunnelError("TUN_ABORTED", "ping aborted"));
      return;
    }
    let stream: Stream;
    try {
      stream = conn.openStream();
    } catch (err) {
      reject(err);
      return;
    }
    const started = performance.now();
    const decoder = new MessageDecoder();
    let settled = false;
    const settle = (err: Error | undefined, rtt = 0): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      stream.close();
      if (err) reject(err);
      else resolve(rtt);
    };
    const onAbort = (): void => settle(new TunnelError("TUN_ABORTED", "ping aborted"));
    const timer = setTimeout(() => settle(new TunnelError("TUN_TIMEOUT", `no PONG within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });
    stream.setHandlers({
      data(chunk) {
        try {
          const r = decoder.push(chunk);
          if (!r) return;
          if (r.message.type !== MessageType.Pong) {
            settle(new TunnelError("TUN_BAD_TYPE", `expected PONG, got message type ${r.message.type}`));
            return;
          }
          settle(undefined, performance.now() - started);
        } catch (err) {
          settle(err instanceof Error ? err : new Error(String(err)));
        }
      },
      drain() {},
      close(err) {
        settle(new TunnelError("TUN_CLOSED", `stream closed before the PONG${err ? `: ${err.message}` : ""}`));
      },
    });
    stream.write(encodeMessage({ type: MessageType.Ping }));
  });
}
