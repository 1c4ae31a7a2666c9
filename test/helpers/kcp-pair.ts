/** Test plumbing: a KCP client and server session over an in-memory (optionally lossy) link. */
import type { Duplex } from "../../src/lib/duplex.ts";
import type { FecCodec, PacketCrypt } from "../../src/kcp/codec-types.ts";
import { createPacketCrypt } from "../../src/kcp/crypt/index.ts";
import { listen, type KcpListener } from "../../src/kcp/listener.ts";
import { paqetKcpOptions, type KcpMode, type KcpOptions } from "../../src/kcp/options.ts";
import { dial, type KcpSession } from "../../src/kcp/session.ts";
import { lossyPacketConn, type LossyOptions, type LossyPacketConn } from "../../src/socket/lossy.ts";
import { MemoryNetwork } from "../../src/socket/memory.ts";

export interface PairOptions {
  mode?: KcpMode;
  link?: LossyOptions;
  crypt?: () => PacketCrypt;
  fec?: () => FecCodec;
  client?: Partial<KcpOptions>;
  server?: Partial<KcpOptions>;
}

export interface KcpPair {
  net: MemoryNetwork;
  clientConn: LossyPacketConn;
  serverConn: LossyPacketConn;
  listener: KcpListener;
  client: KcpSession;
  server: KcpSession;
  close(): void;
}

/** Dials, sends one byte to make the listener create the session, accepts it and reads the byte. */
export async function kcpPair(o: PairOptions = {}): Promise<KcpPair> {
  const net = new MemoryNetwork();
  const mode = o.mode ?? "fast";
  const crypt = o.crypt ?? (() => createPacketCrypt("null", new Uint8Array(32)));
  const serverConn = lossyPacketConn(net.bind({ ip: "10.77.0.1", port: 4000 }), { ...o.link, seed: (o.link?.seed ?? 1) * 2 });
  const clientConn = lossyPacketConn(net.bind({ ip: "10.77.0.2", port: 5000 }), { ...o.link, seed: (o.link?.seed ?? 1) * 2 + 1 });
  const listener = listen(serverConn, { kcp: paqetKcpOptions("server", mode, o.server), crypt: crypt(), fec: o.fec });
  const client = dial(clientConn, serverConn.localAddr, {
    kcp: paqetKcpOptions("client", mode, o.client),
    crypt: crypt(),
    fec: o.fec?.(),
  });
  client.write(new Uint8Array([0x5a]));
  const server = await withTimeout(listener.accept(), 10_000, "accept");
  await withTimeout(readExactly(server, 1), 10_000, "first byte");
  return {
    net,
    clientConn,
    serverConn,
    listener,
    client,
    server,
    close() {
      client.close();
      listener.close();
      clientConn.close();
      serverConn.close();
    },
  };
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** Installs handlers that collect exactly n bytes, then resolves with them. */
export function readExactly(d: Duplex, n: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const out = new Uint8Array(n);
    let got = 0;
    d.setHandlers({
      data(chunk) {
        out.set(chunk.subarray(0, Math.min(chunk.byteLength, n - got)), got);
        got += chunk.byteLength;
        if (got >= n) resolve(out);
      },
      drain() {},
      close(err) {
        reject(err ?? new Error(`closed after ${got} of ${n} bytes`));
      },
    });
  });
}

/** A deterministic byte stream: chunk i of a transfer, from a seeded xorshift. */
export function patternChunk(seed: number, index: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  let x = (seed * 0x9e3779b1 + index * 0x85ebca6b + 1) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return out;
}

export interface Transfer {
  /** Resolves with the sha256 of everything written. */
  sent: Promise<string>;
  /** Resolves with the sha256 of the first `expect` bytes received. */
  received: Promise<string>;
}

/**
 * Writes `total` pattern bytes into `d` honouring write→false/drain, and hashes what `d` receives
 * until `expect` bytes arrived. Both directions can run at once on the two ends of a pair.
 */
export function transfer(d: Duplex, total: number, expect: number, seed: number, chunkSize = 64 * 1024): Transfer {
  let drainWake: (() => void) | undefined;
  let fail: (err: Error) => void = () => {};
  let done: (hash: string) => void = () => {};
  const rx = new Bun.CryptoHasher("sha256");
  let got = 0;
  const received = new Promise<string>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  if (expect === 0) done(rx.digest("hex"));
  d.setHandlers({
    data(chunk) {
      if (got >= expect) return;
      const take = Math.min(chunk.byteLength, expect - got);
      rx.update(take === chunk.byteLength ? chunk : chunk.subarray(0, take));
      got += take;
      if (got >= expect) done(rx.digest("hex"));
    },
    drain() {
      drainWake?.();
    },
    close(err) {
      fail(err ?? new Error(`closed after receiving ${got} of ${expect} bytes`));
      drainWake?.();
    },
  });
  const sent = (async () => {
    const tx = new Bun.CryptoHasher("sha256");
    let written = 0;
    for (let i = 0; written < total; i++) {
      const chunk = patternChunk(seed, i, Math.min(chunkSize, total - written));
      tx.update(chunk);
      written += chunk.byteLength;
      if (!d.write(chunk)) {
        if (d.closed) throw new Error("closed while writing");
        await new Promise<void>((r) => (drainWake = r));
        drainWake = undefined;
      }
    }
    return tx.digest("hex");
  })();
  return { sent, received };
}
