/**
 * Fixture for the privileged end-to-end tests: one NetBed per test file, the targets (HTTP +
 * UDP echo) beside the server, and a real `paqet run` server and client from this checkout,
 * restartable with another configuration. Everything is bounded and torn down in `destroy()`.
 *
 *   const e2e = new E2E("pqe");            // in beforeAll
 *   await e2e.start({ block: "aes" });     // (re)starts server + client, waits until a request gets through
 *   const r = await e2e.get(1 << 20, 4);   // 4 downloads of 1 MiB through SOCKS5, sha256-checked
 *   await e2e.destroy();                   // in afterAll
 */
import { spawn } from "bun";
import {
  clientYaml,
  DEFAULT_SERVER_PORT,
  DEFAULT_SOCKS_PORT,
  NsProcess,
  probeIn,
  serverYaml,
  startPaqet,
  startTargets,
  type TunnelSpec,
  waitListening,
  WorkDir,
} from "../../src/cli/demo/harness.ts";
import { createNetBed, inNs, netbedUnavailable, type NetBed } from "../../src/cli/demo/netbed.ts";
import type { GetOutcome, LatOutcome, RawOutcome, UdpOutcome } from "../../src/cli/demo/probe.ts";
import type { Socks5Addr } from "../../src/cli/demo/socks5-client.ts";
import type { StatusSnapshot } from "../../src/lib/metrics.ts";

export const HTTP_PORT = 8080;
export const UDP_PORT = 7070;
export const TCP_FWD_PORT = 18080;
export const UDP_FWD_PORT = 17070;
export const STATUS_ADDR = "127.0.0.1:6061";
export const SOCKS: Socks5Addr = { host: "127.0.0.1", port: DEFAULT_SOCKS_PORT };

/** Why these tests cannot run here (not root, no `ip netns`, no curl), or undefined. */
export function e2eSkipReason(): string | undefined {
  const why = netbedUnavailable();
  if (why) return why;
  if (!Bun.which("curl")) return "curl is not installed";
  if (!Bun.which("ss")) return "ss (iproute2) is not installed";
  return undefined;
}

export type Variant = Omit<TunnelSpec, "key" | "socksPort" | "forwards" | "statusAddr"> & { key?: string };

export class E2E {
  readonly bed: NetBed;
  readonly work = new WorkDir();
  targets: NsProcess | undefined;
  server: NsProcess | undefined;
  client: NsProcess | undefined;
  spec: TunnelSpec | undefined;
  private extra: NsProcess[] = [];

  constructor(prefix: string) {
    this.bed = createNetBed({ prefix });
  }

  /** The HTTP target as the server dials it (its own loopback). */
  get httpTarget(): Socks5Addr {
    return { host: "127.0.0.1", port: HTTP_PORT };
  }

  get udpTarget(): Socks5Addr {
    return { host: "127.0.0.1", port: UDP_PORT };
  }

  async startTargets(): Promise<void> {
    this.targets ??= await startTargets(this.bed.b.ns, HTTP_PORT, UDP_PORT);
  }

  specFor(v: Variant): TunnelSpec {
    return {
      key: v.key ?? "e2e-test-key",
      ...v,
      socksPort: SOCKS.port,
      forwards: [
        { listen: `127.0.0.1:${TCP_FWD_PORT}`, target: `127.0.0.1:${HTTP_PORT}`, protocol: "tcp" },
        { listen: `127.0.0.1:${UDP_FWD_PORT}`, target: `127.0.0.1:${UDP_PORT}`, protocol: "udp" },
      ],
      statusAddr: STATUS_ADDR,
      logLevel: v.logLevel ?? "info",
    };
  }

  startServer(): NsProcess {
    if (!this.spec) throw new Error("start() first");
    const path = this.work.write("server.yaml", serverYaml(this.bed, this.spec));
    this.server = startPaqet("server", this.bed.b.ns, path);
    return this.server;
  }

  /** Stops what runs, then starts server and client for `v` and waits until a request gets through. */
  async start(v: Variant): Promise<void> {
    await this.stopTunnel();
    await this.startTargets();
    this.spec = this.specFor(v);
    this.startServer();
    const path = this.work.write("client.yaml", clientYaml(this.bed, this.spec));
    this.client = startPaqet("client", this.bed.a.ns, path);
    await waitListening(this.bed.a.ns, SOCKS.port, 20_000, this.client);
    await this.waitServing(20_000);
  }

  /**
   * Opens a new SOCKS5 stream with one small request, again and again (each try bounded by
   * 1.5 s, so a stream lost on a dead session does not use up the budget), until one succeeds;
   * returns the ms that took. Throws with both logs after `timeoutMs`.
   */
  async waitServing(timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    const deadline = t0 + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const left = Math.max(300, Math.min(1500, deadline - Date.now()));
      const r = await probeIn<LatOutcome>(this.bed.a.ns, { kind: "lat", socks: SOCKS, target: this.httpTarget, mode: "new", n: 1, gapMs: 0, timeoutMs: left }, left + 5000);
      if (r.samplesMs.length === 1) return Date.now() - t0;
      last = r.errors.join("; ");
      for (const p of [this.server, this.client]) {
        if (p?.exited) throw new Error(`${p.name} exited (code ${p.code}); output:\n${p.tail()}`);
      }
    }
    throw new Error(`no request through the tunnel within ${timeoutMs} ms (${last})\n${this.logs()}`);
  }

  logs(): string {
    return `--- server ---\n${this.server?.tail() ?? ""}\n--- client ---\n${this.client?.tail() ?? ""}`;
  }

  async stopTunnel(): Promise<void> {
    await Promise.all([this.client?.stop(), this.server?.stop(), ...this.extra.map((p) => p.stop())]);
    this.client = undefined;
    this.server = undefined;
    this.extra = [];
  }

  /** Another process inside a namespace, stopped with the tunnel. */
  track(p: NsProcess): NsProcess {
    this.extra.push(p);
    return p;
  }

  /** Downloads through SOCKS5 `via` (default the client's), or straight to `target` when `via` is null. */
  get(bytes: number, count: number, concurrency = count, timeoutMs = 60_000, via: Socks5Addr | null = SOCKS, target = this.httpTarget): Promise<GetOutcome> {
    return probeIn<GetOutcome>(this.bed.a.ns, { kind: "get", socks: via ?? undefined, target, bytes, count, concurrency, timeoutMs }, timeoutMs + 10_000);
  }

  /** Datagrams through SOCKS5 UDP ASSOCIATE on `via`, or straight to `target` when `via` is null. */
  udp(sizes: number[], via: Socks5Addr | null = SOCKS, target = this.udpTarget, timeoutMs = 15_000): Promise<UdpOutcome> {
    return probeIn<UdpOutcome>(this.bed.a.ns, { kind: "udp", socks: via ?? undefined, target, sizes, timeoutMs }, timeoutMs + 10_000);
  }

  raw(chunksHex: string[], waitMs = 3000, addr: Socks5Addr = SOCKS): Promise<RawOutcome> {
    return probeIn<RawOutcome>(this.bed.a.ns, { kind: "raw", addr, chunksHex, waitMs }, waitMs + 10_000);
  }

  /** `curl --socks5-hostname` inside the client namespace, body piped through sha256sum. */
  async curlSha256(bytes: number, timeoutS = 60): Promise<{ sha256: string; code: number | null; stderr: string }> {
    const url = `http://${this.httpTarget.host}:${HTTP_PORT}/bytes/${bytes}`;
    const script = `set -o pipefail; curl -sS --max-time ${timeoutS} --socks5-hostname ${SOCKS.host}:${SOCKS.port} '${url}' | sha256sum`;
    const p = spawn(inNs(this.bed.a.ns, ["bash", "-c", script]), { stdout: "pipe", stderr: "pipe" });
    const kill = setTimeout(() => p.kill("SIGKILL"), (timeoutS + 10) * 1000);
    try {
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { sha256: out.split(/\s+/)[0] ?? "", code, stderr: err.trim() };
    } finally {
      clearTimeout(kill);
    }
  }

  /** The status endpoint's JSON snapshot of one side (`paqet status --json` inside its namespace). */
  async status(side: "client" | "server"): Promise<StatusSnapshot> {
    const ns = side === "client" ? this.bed.a.ns : this.bed.b.ns;
    const p = new NsProcess("status", ns, [process.execPath, "-e", `const r = await fetch("http://${STATUS_ADDR}/debug/paqet/status", { signal: AbortSignal.timeout(3000) }); process.stdout.write(await r.text());`]);
    const t = setTimeout(() => p.kill(), 10_000);
    try {
      await p.done;
    } finally {
      clearTimeout(t);
    }
    const start = p.output.indexOf("{");
    if (start < 0) throw new Error(`no status from the ${side}: ${p.output.trim()}`);
    return JSON.parse(p.output.slice(start)) as StatusSnapshot;
  }

  /** Established TCP sockets in a namespace whose local or remote port is `port` (`ss`). */
  async establishedOn(side: "client" | "server", port: number): Promise<number> {
    const ns = side === "client" ? this.bed.a.ns : this.bed.b.ns;
    const p = spawn(inNs(ns, ["ss", "-Htn", "state", "established", `( sport = :${port} or dport = :${port} )`]), { stdout: "pipe", stderr: "ignore" });
    const out = await new Response(p.stdout).text();
    await p.exited;
    return out.split("\n").filter((l) => l.trim() !== "").length;
  }

  async destroy(): Promise<void> {
    try {
      await this.stopTunnel();
      await this.targets?.stop();
    } finally {
      this.bed.destroy();
      this.work.cleanup();
    }
  }
}

export { DEFAULT_SERVER_PORT, NsProcess };
