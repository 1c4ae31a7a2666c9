/**
 * A small SOCKS5 client (RFC 1928: no-auth CONNECT and UDP ASSOCIATE) and an HTTP/1.1 GET reader,
 * enough to drive the demo, the end-to-end tests and the tunnel benchmark from inside a namespace.
 * Every wait is bounded by a deadline; errors name the step that failed.
 */
import { CryptoHasher, type Socket, type udp } from "bun";
import { isIP } from "node:net";

/** A TCP connection with pull-style reads over Bun's push-style socket. */
export class Conn {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private wake: (() => void) | undefined;
  private closedFlag = false;
  private error: Error | undefined;
  private writeQueue: Uint8Array[] = [];
  /** Bytes consumed through `sink` (bypasses buffering when set). */
  private sinkFn: ((chunk: Uint8Array) => void) | undefined;

  private constructor(private readonly socket: Socket<undefined>) {}

  static connect(host: string, port: number, timeoutMs: number): Promise<Conn> {
    return new Promise<Conn>((resolve, reject) => {
      let conn: Conn | undefined;
      const timer = setTimeout(() => reject(new Error(`connect ${host}:${port}: no answer within ${timeoutMs} ms`)), timeoutMs);
      Bun.connect<undefined>({
        hostname: host,
        port,
        socket: {
          open(s) {
            s.setNoDelay(true);
            conn = new Conn(s);
            clearTimeout(timer);
            resolve(conn);
          },
          data(_s, data) {
            conn?.push(data);
          },
          drain() {
            conn?.flush();
          },
          close() {
            conn?.end(undefined);
          },
          error(_s, err) {
            conn?.end(err);
          },
          connectError(_s, err) {
            clearTimeout(timer);
            reject(new Error(`connect ${host}:${port}: ${err.message}`));
          },
        },
      }).catch((err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  private push(data: Uint8Array): void {
    if (this.sinkFn) {
      this.sinkFn(data);
    } else {
      // Bun reuses the buffer it hands to data(); keep a copy.
      this.chunks.push(new Uint8Array(data));
      this.buffered += data.length;
    }
    this.kick();
  }

  private end(err: Error | undefined): void {
    if (!this.closedFlag) {
      this.closedFlag = true;
      this.error = err;
    }
    this.kick();
  }

  private kick(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private flush(): void {
    while (this.writeQueue.length > 0) {
      const head = this.writeQueue[0]!;
      const n = this.socket.write(head);
      if (n < head.length) {
        this.writeQueue[0] = head.subarray(Math.max(n, 0));
        return;
      }
      this.writeQueue.shift();
    }
  }

  write(bytes: Uint8Array | string): void {
    const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
    if (this.writeQueue.length > 0) {
      this.writeQueue.push(data);
      return;
    }
    const n = this.socket.write(data);
    if (n < data.length) this.writeQueue.push(data.subarray(Math.max(n, 0)));
  }

  /** Waits for more data, the close, or the deadline. */
  private wait(deadline: number, what: string): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(new Error(`${what}: timed out`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        reject(new Error(`${what}: timed out`));
      }, left);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Takes exactly `n` bytes. */
  async take(n: number, deadline: number, what: string): Promise<Uint8Array> {
    while (this.buffered < n) {
      if (this.closedFlag) throw new Error(`${what}: connection closed after ${this.buffered} of ${n} bytes${this.error ? ` (${this.error.message})` : ""}`);
      await this.wait(deadline, what);
    }
    const out = new Uint8Array(n);
    let off = 0;
    while (off < n) {
      const head = this.chunks[0]!;
      const k = Math.min(head.length, n - off);
      out.set(head.subarray(0, k), off);
      off += k;
      if (k === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  /** Everything up to and including `sep` (latin1 text). */
  async until(sep: string, deadline: number, what: string, max = 64 * 1024): Promise<string> {
    for (;;) {
      const text = Buffer.concat(this.chunks).toString("latin1");
      const i = text.indexOf(sep);
      if (i >= 0) {
        await this.take(i + sep.length, deadline, what);
        return text.slice(0, i + sep.length);
      }
      if (text.length > max) throw new Error(`${what}: no ${JSON.stringify(sep)} in ${max} bytes`);
      if (this.closedFlag) throw new Error(`${what}: connection closed${this.error ? ` (${this.error.message})` : ""}`);
      await this.wait(deadline, what);
    }
  }

  /** Whatever arrives until the peer closes or `deadline`; `closed` tells which. */
  async drainUntilClose(deadline: number): Promise<{ bytes: Uint8Array; closed: boolean }> {
    while (!this.closedFlag && Date.now() < deadline) {
      try {
        await this.wait(deadline, "read");
      } catch {
        break;
      }
    }
    const bytes = new Uint8Array(Buffer.concat(this.chunks));
    this.chunks = [];
    this.buffered = 0;
    return { bytes, closed: this.closedFlag };
  }

  /**
   * Streams exactly `n` body bytes into `onChunk` without buffering them (buffered bytes go
   * first). Resolves when all arrived; rejects on close or deadline.
   */
  async stream(n: number, deadline: number, what: string, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    let got = 0;
    while (this.chunks.length > 0 && got < n) {
      const head = this.chunks[0]!;
      const k = Math.min(head.length, n - got);
      onChunk(head.subarray(0, k));
      got += k;
      this.buffered -= k;
      if (k === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(k);
    }
    if (got >= n) return;
    let overflow: Uint8Array | undefined;
    this.sinkFn = (chunk) => {
      const k = Math.min(chunk.length, n - got);
      if (k > 0) onChunk(chunk.subarray(0, k));
      got += k;
      if (k < chunk.length) overflow = new Uint8Array(chunk.subarray(k));
    };
    try {
      while (got < n) {
        if (this.closedFlag) throw new Error(`${what}: connection closed after ${got} of ${n} bytes${this.error ? ` (${this.error.message})` : ""}`);
        await this.wait(deadline, `${what} (${got} of ${n} bytes)`);
      }
    } finally {
      this.sinkFn = undefined;
      if (overflow) {
        this.chunks.push(overflow);
        this.buffered += overflow.length;
      }
    }
  }

  close(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.terminate();
  }
}

export type Socks5Addr = { host: string; port: number };

/** ATYP + address + port as SOCKS5 encodes them (IPv4, IPv6 or a domain name). */
export function encodeSocksAddr(host: string, port: number): Uint8Array {
  const fam = isIP(host);
  let head: number[];
  if (fam === 4) head = [1, ...host.split(".").map(Number)];
  else if (fam === 6) head = [4, ...ipv6Bytes(host)];
  else {
    const name = new TextEncoder().encode(host);
    if (name.length > 255) throw new Error(`host name too long: ${host}`);
    head = [3, name.length, ...name];
  }
  return new Uint8Array([...head, port >> 8, port & 0xff]);
}

function ipv6Bytes(host: string): number[] {
  const [l, r] = host.includes("::") ? host.split("::") : [host, undefined];
  const left = l ? l.split(":") : [];
  const right = r !== undefined && r !== "" ? r.split(":") : [];
  const groups = r === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return groups.flatMap((g) => {
    const v = Number.parseInt(g, 16);
    return [v >> 8, v & 0xff];
  });
}

/** Decodes ATYP+addr+port at `buf[off..]`; returns the address and the offset after it, or undefined if short. */
export function decodeSocksAddr(buf: Uint8Array, off: number): { host: string; port: number; end: number } | undefined {
  const atyp = buf[off];
  let host: string;
  let p: number;
  if (atyp === 1) {
    if (buf.length < off + 7) return undefined;
    host = Array.from(buf.subarray(off + 1, off + 5)).join(".");
    p = off + 5;
  } else if (atyp === 4) {
    if (buf.length < off + 19) return undefined;
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(((buf[off + 1 + 2 * i]! << 8) | buf[off + 2 + 2 * i]!).toString(16));
    // The URL parser prints the canonical (RFC 5952) form: zero runs compressed, lowercase.
    host = new URL(`http://[${words.join(":")}]/`).hostname.slice(1, -1);
    p = off + 17;
  } else if (atyp === 3) {
    const len = buf[off + 1];
    if (len === undefined || buf.length < off + 2 + len + 2) return undefined;
    host = new TextDecoder().decode(buf.subarray(off + 2, off + 2 + len));
    p = off + 2 + len;
  } else {
    return undefined;
  }
  return { host, port: (buf[p]! << 8) | buf[p + 1]!, end: p + 2 };
}

/** Greeting (no auth) and one request; returns the reply's REP code and bound address. */
export async function socks5Request(
  conn: Conn,
  cmd: 1 | 3,
  target: Socks5Addr,
  deadline: number,
): Promise<{ rep: number; bound: Socks5Addr }> {
  conn.write(new Uint8Array([5, 1, 0]));
  const g = await conn.take(2, deadline, "SOCKS5 greeting");
  if (g[0] !== 5 || g[1] !== 0) throw new Error(`SOCKS5 greeting refused: ${g[0]} ${g[1]}`);
  const addr = encodeSocksAddr(target.host, target.port);
  const req = new Uint8Array(3 + addr.length);
  req.set([5, cmd, 0]);
  req.set(addr, 3);
  conn.write(req);
  const head = await conn.take(4, deadline, "SOCKS5 reply");
  const atyp = head[3];
  const rest = atyp === 1 ? 6 : atyp === 4 ? 18 : atyp === 3 ? (await conn.take(1, deadline, "SOCKS5 reply"))[0]! + 2 : -1;
  if (rest < 0) throw new Error(`SOCKS5 reply with address type ${atyp}`);
  const tail = await conn.take(rest, deadline, "SOCKS5 reply");
  const full = new Uint8Array([atyp!, ...(atyp === 3 ? [rest - 2] : []), ...tail]);
  const bound = decodeSocksAddr(full, 0);
  return { rep: head[1]!, bound: bound ? { host: bound.host, port: bound.port } : { host: "", port: 0 } };
}

/** Opens a connection to `target`, through SOCKS5 when `socks` is given. */
export async function dial(socks: Socks5Addr | undefined, target: Socks5Addr, deadline: number): Promise<Conn> {
  const via = socks ?? target;
  const conn = await Conn.connect(via.host, via.port, Math.max(1, deadline - Date.now()));
  if (!socks) return conn;
  try {
    const r = await socks5Request(conn, 1, target, deadline);
    if (r.rep !== 0) throw new Error(`SOCKS5 CONNECT ${target.host}:${target.port} failed with reply ${r.rep}`);
    return conn;
  } catch (err) {
    conn.destroy();
    throw err;
  }
}

export interface GetResult {
  status: number;
  bytes: number;
  sha256: string | undefined;
}

/** One `GET path` on an open connection (keep-alive); hashes the body when `hash` is set. */
export async function httpGet(conn: Conn, hostHeader: string, path: string, deadline: number, hash: boolean): Promise<GetResult> {
  conn.write(`GET ${path} HTTP/1.1\r\nHost: ${hostHeader}\r\nUser-Agent: paqet-demo\r\nAccept: */*\r\n\r\n`);
  const head = await conn.until("\r\n\r\n", deadline, `GET ${path}: response head`);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (!len) throw new Error(`GET ${path}: no content-length in ${JSON.stringify(head.split("\r\n")[0])}`);
  const n = Number(len[1]);
  const hasher = hash ? new CryptoHasher("sha256") : undefined;
  await conn.stream(n, deadline, `GET ${path}: body`, (chunk) => hasher?.update(chunk));
  return { status, bytes: n, sha256: hasher?.digest("hex") };
}

/** A UDP ASSOCIATE session: the control connection plus a local UDP socket toward the relay. */
export class Socks5Udp {
  private pending: Uint8Array[] = [];
  private wake: (() => void) | undefined;

  private constructor(
    readonly control: Conn,
    private readonly udp: udp.Socket<"buffer">,
    readonly relay: Socks5Addr,
  ) {}

  static async open(socks: Socks5Addr, deadline: number): Promise<Socks5Udp> {
    const control = await Conn.connect(socks.host, socks.port, Math.max(1, deadline - Date.now()));
    let session: Socks5Udp | undefined;
    const early: Uint8Array[] = [];
    try {
      const udp = await Bun.udpSocket({
        hostname: socks.host,
        port: 0,
        socket: {
          data(_s, data) {
            const copy = new Uint8Array(data);
            if (session) session.deliver(copy);
            else early.push(copy);
          },
        },
      });
      const r = await socks5Request(control, 3, { host: "0.0.0.0", port: 0 }, deadline);
      if (r.rep !== 0) throw new Error(`SOCKS5 UDP ASSOCIATE failed with reply ${r.rep}`);
      // A relay bound to the unspecified address answers on the address we asked.
      const host = r.bound.host === "0.0.0.0" || r.bound.host === "::" ? socks.host : r.bound.host;
      session = new Socks5Udp(control, udp, { host, port: r.bound.port });
      for (const d of early) session.deliver(d);
      return session;
    } catch (err) {
      control.destroy();
      throw err;
    }
  }

  private deliver(d: Uint8Array): void {
    this.pending.push(d);
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Sends `payload` to `target` through the relay (RSV=0, FRAG=0). */
  send(target: Socks5Addr, payload: Uint8Array): void {
    const addr = encodeSocksAddr(target.host, target.port);
    const pkt = new Uint8Array(3 + addr.length + payload.length);
    pkt.set(addr, 3);
    pkt.set(payload, 3 + addr.length);
    this.udp.send(pkt, this.relay.port, this.relay.host);
  }

  /** The next datagram from the relay, split into source and payload. */
  async receive(deadline: number): Promise<{ from: Socks5Addr; payload: Uint8Array }> {
    while (this.pending.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("SOCKS5 UDP: no datagram before the deadline");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    const d = this.pending.shift()!;
    if (d.length < 4 || d[0] !== 0 || d[1] !== 0 || d[2] !== 0) throw new Error(`SOCKS5 UDP: bad header ${Array.from(d.subarray(0, 4)).join(",")}`);
    const a = decodeSocksAddr(d, 3);
    if (!a) throw new Error("SOCKS5 UDP: truncated address");
    return { from: { host: a.host, port: a.port }, payload: d.subarray(a.end) };
  }

  close(): void {
    this.udp.close();
    this.control.destroy();
  }
}
