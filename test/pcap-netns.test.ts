/**
 * Real libpcap on real links (root only; skipped with the reason otherwise).
 *
 * - The shared PacketConn contract on both veth ends in one namespace (pcap-contract-inner.test.ts
 *   run as a child inside a "single" bed), for IPv4 and IPv6.
 * - Two processes in two namespaces: datagrams both ways, bytes, source addresses, and the TCP
 *   flags on the wire (a tcpdump capture decoded with our own pcap reader): the client cycles its
 *   local_flag list, the server switches that peer to its own list (the TCPF behaviour).
 * - `paqet ping` from one namespace seen by `paqet dump` in the other, and the one-line errors for
 *   a bad interface, missing privileges and a missing libpcap.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync, type Subprocess } from "bun";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readPcapFile } from "../src/packet/pcapfile.ts";
import { TCP_ACK_FLAG, TCP_PSH, TCP_SYN } from "../src/packet/tcp.ts";
import { parseFrame } from "../src/socket/framing.ts";
import { type Bed, type BedSide, createBed, netnsSkipReason, runIn, spawnIn } from "./helpers/netns.ts";
import type { PeerConfig } from "./helpers/pcap-peer.ts";

const ROOT = join(import.meta.dir, "..");
const MAIN = join(ROOT, "src/main.ts");
const PEER = join(import.meta.dir, "helpers/pcap-peer.ts");
const SKIP = netnsSkipReason();
const title = (name: string) => (SKIP ? `${name} (skipped: ${SKIP})` : name);

/** Accumulates a child's output and waits (bounded) for a line matching a pattern. */
class Lines {
  text = "";
  private waiters: (() => void)[] = [];
  readonly closed: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.closed = (async () => {
      const dec = new TextDecoder();
      for await (const chunk of stream) {
        this.text += dec.decode(chunk, { stream: true });
        for (const w of this.waiters.splice(0)) w();
      }
      for (const w of this.waiters.splice(0)) w();
    })();
  }

  async waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    void this.closed.then(() => (ended = true));
    for (;;) {
      const m = this.text.match(re);
      if (m) return m;
      if (ended || Date.now() >= deadline) throw new Error(`no ${re} within ${timeoutMs} ms; output so far:\n${this.text}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}

interface Child {
  proc: Subprocess<"pipe" | "ignore", "pipe", "pipe">;
  out: Lines;
  err: Lines;
}

function start(ns: string, argv: string[], env: Record<string, string> = {}): Child {
  const proc = spawnIn(ns, argv, { env });
  return { proc, out: new Lines(proc.stdout), err: new Lines(proc.stderr) };
}

async function stop(child: Child | undefined, signal: "SIGINT" | "SIGKILL" = "SIGKILL", graceMs = 3000): Promise<number | null> {
  if (!child) return null;
  child.proc.kill(signal);
  const timer = setTimeout(() => child.proc.kill("SIGKILL"), graceMs);
  const code = await child.proc.exited;
  clearTimeout(timer);
  return code;
}

function peer(side: BedSide, config: Omit<PeerConfig, "ifname" | "ip" | "routerMac">): Child {
  const full: PeerConfig = {
    ...config,
    ifname: side.ifname,
    ip: config.family === "ipv4" ? side.ipv4 : side.ipv6,
    routerMac: side.routerMac,
  };
  return start(side.ns, [process.execPath, PEER], { PAQET_PEER: JSON.stringify(full) });
}

describe.skipIf(SKIP !== undefined)(title("pcap PacketConn contract on a veth pair"), () => {
  let bed: Bed | undefined;
  beforeAll(() => {
    bed = createBed({ prefix: "pqc", layout: "single" });
  });
  afterAll(() => bed?.destroy());

  test(
    "every contract test passes for IPv4 and IPv6; ring backpressure, close under load, vanished interface, no leaks",
    async () => {
      const r = await runIn(bed!.a.ns, [process.execPath, "test", "test/pcap-contract-inner.test.ts"], {
        env: { PAQET_PCAP_CONTRACT_BED: JSON.stringify({ a: bed!.a, b: bed!.b }) },
        timeoutMs: 90_000,
      });
      const report = `${r.stdout}\n${r.stderr}`;
      if (r.exitCode !== 0) console.error(report);
      expect(r.exitCode).toBe(0);
      expect(report).toMatch(/\b16 pass\b/);
      expect(report).toMatch(/\b0 fail\b/);
    },
    { timeout: 100_000 },
  );
});

describe.skipIf(SKIP !== undefined)(title("two processes in two namespaces"), () => {
  let bed: Bed | undefined;
  const dir = mkdtempSync(join(tmpdir(), "paqet-pcap-"));
  beforeAll(() => {
    bed = createBed({ prefix: "pqn" });
  });
  afterAll(() => {
    bed?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const family of ["ipv4", "ipv6"] as const) {
    test(
      `${family}: bytes and addresses both ways; client and per-peer flag cycles on the wire`,
      async () => {
        const b = bed!;
        const count = 300;
        const capFile = join(dir, `${family}.pcap`);
        const tcpdump = start(b.b.ns, ["tcpdump", "-i", b.b.ifname, "-U", "--immediate-mode", "-s", "0", "-w", capFile, "tcp"]);
        let server: Child | undefined;
        let client: Child | undefined;
        try {
          await tcpdump.err.waitFor(/listening on/, 10_000);
          server = peer(b.b, { mode: "echo", family, port: 9999, peerFlags: ["A", "PA"], count, deadlineMs: 30_000 });
          await server.out.waitFor(/"event":"ready"/, 15_000);
          client = peer(b.a, {
            mode: "send",
            family,
            port: 0,
            localFlags: ["S", "PA"],
            target: { ip: family === "ipv4" ? b.b.ipv4 : b.b.ipv6, port: 9999 },
            count,
            deadlineMs: 30_000,
          });
          const c = JSON.parse((await client.out.waitFor(/\{"event":"done".*\}/, 40_000))[0]);
          const s = JSON.parse((await server.out.waitFor(/\{"event":"done".*\}/, 40_000))[0]);
          const serverIp = family === "ipv4" ? b.b.ipv4 : b.b.ipv6;
          const clientIp = family === "ipv4" ? b.a.ipv4 : b.a.ipv6;
          const bracket = (ip: string, port: number) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);

          expect(c.port).toBeGreaterThanOrEqual(32768);
          expect(s.received).toBe(count);
          expect(s.froms).toEqual([bracket(clientIp, c.port)]);
          expect(c.received).toBe(count);
          expect(c.mismatched).toBe(0);
          expect(c.froms).toEqual([bracket(serverIp, 9999)]);
          expect(c.capture.kernelDrops + s.capture.kernelDrops).toBe(0);
        } finally {
          await stop(client);
          await stop(server);
          await stop(tcpdump, "SIGINT");
        }

        // The wire, decoded with our own reader: client frames cycle S, PA, S, PA ...; server
        // frames use the per-peer list A, PA, A, PA ... from the first reply on.
        const frames = readPcapFile(readFileSync(capFile)).records.map((r) => parseFrame(r.data)).filter((f) => f !== undefined);
        const up = frames.filter((f) => f.dst.port === 9999);
        const down = frames.filter((f) => f.src.port === 9999);
        expect(up).toHaveLength(count);
        expect(down).toHaveLength(count);
        up.forEach((f, i) => expect(f.flags).toBe(i % 2 === 0 ? TCP_SYN : TCP_PSH | TCP_ACK_FLAG));
        down.forEach((f, i) => expect(f.flags).toBe(i % 2 === 0 ? TCP_ACK_FLAG : TCP_PSH | TCP_ACK_FLAG));
      },
      { timeout: 90_000 },
    );
  }

  function configs(b: Bed, iface = b.a.ifname) {
    const client = `role: "client"
socks5:
  - listen: "127.0.0.1:1080"
network:
  interface: "${iface}"
  ipv4:
    addr: "${b.a.ipv4}:0"
    router_mac: "${b.a.routerMac}"
server:
  addr: "${b.b.ipv4}:9999"
transport:
  protocol: "kcp"
  kcp:
    key: "k"
`;
    const server = `role: "server"
listen:
  addr: ":9999"
network:
  interface: "${b.b.ifname}"
  ipv4:
    addr: "${b.b.ipv4}:9999"
    router_mac: "${b.b.routerMac}"
transport:
  protocol: "kcp"
  kcp:
    key: "k"
`;
    return { client, server };
  }

  test(
    "paqet ping is seen by paqet dump; dump exits 0 on SIGINT",
    async () => {
      const b = bed!;
      const { client, server } = configs(b);
      writeFileSync(join(dir, "client.yaml"), client);
      writeFileSync(join(dir, "server.yaml"), server);
      const dump = start(b.b.ns, [process.execPath, MAIN, "dump", "-c", join(dir, "server.yaml")]);
      try {
        await dump.out.waitFor(/\[INFO\] listening for packets on :9999, \(Press Ctrl\+C to exit\)/, 15_000);
        // The capture worker may still be starting; frames wait in the kernel buffer meanwhile.
        const ping = await runIn(b.a.ns, [process.execPath, MAIN, "ping", "-c", join(dir, "client.yaml"), "--payload", "hello paqet"], {
          timeoutMs: 20_000,
        });
        expect(ping.stderr).toBe("");
        expect(ping.exitCode).toBe(0);
        expect(ping.stdout).toContain(`[INFO] sending packet from IPv4:${b.a.ipv4}:0 IPv6:<nil> to ${b.b.ipv4}:9999 via ${b.a.ifname}\n`);
        expect(ping.stdout).toContain('[INFO] payload: "hello paqet" (11 bytes)\n');
        expect(ping.stdout).toContain("[INFO] packet sent successfully\n");

        const m = await dump.out.waitFor(
          /\[\d\d:\d\d:\d\d\.\d{3}\] Packet: ([\d.]+):(\d+) -> :9999 \| Length: 11 bytes\n--- PAYLOAD \(HEX DUMP\) ---\n(.*)\n-{26}\n/,
          15_000,
        );
        expect(m[1]).toBe(b.a.ipv4);
        expect(Number(m[2])).toBeGreaterThanOrEqual(32768);
        expect(m[3]).toBe("00000000  68 65 6c 6c 6f 20 70 61  71 65 74                 |hello paqet|");
      } finally {
        const code = await stop(dump, "SIGINT");
        expect(code).toBe(0);
        expect(dump.err.text).toContain("shutdown signal received, exiting");
      }
    },
    { timeout: 60_000 },
  );

  const oneLine = (r: { exitCode: number | null; stdout: string; stderr: string }) => {
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    return r.stderr;
  };

  test("a bad interface name is one line: failed to create raw socket", async () => {
    const b = bed!;
    writeFileSync(join(dir, "bad-iface.yaml"), configs(b, "pqnosuch0").client);
    const r = await runIn(b.a.ns, [process.execPath, MAIN, "ping", "-c", join(dir, "bad-iface.yaml")], { timeoutMs: 20_000 });
    const line = oneLine(r);
    expect(line).toMatch(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /);
    expect(line).toContain("failed to create raw socket: network interface pqnosuch0 not found");
  });

  test("a missing libpcap is one line with the install hint", async () => {
    const b = bed!;
    const r = await runIn(b.a.ns, [process.execPath, MAIN, "ping", "-c", join(dir, "client.yaml")], {
      env: { PAQET_LIBPCAP: "/nonexistent/libpcap.so.1" },
      timeoutMs: 20_000,
    });
    expect(oneLine(r)).toContain("failed to create raw socket: libpcap not found:");
  });

  test("missing privileges are one line that says how to grant them", async () => {
    const b = bed!;
    if (spawnSync(["setpriv", "--version"], { stdout: "ignore", stderr: "ignore" }).exitCode !== 0) {
      console.warn("setpriv missing: privilege test not run");
      return;
    }
    chmodSync(dir, 0o755);
    chmodSync(join(dir, "client.yaml"), 0o644);
    const r = await runIn(
      b.a.ns,
      ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", process.execPath, MAIN, "ping", "-c", join(dir, "client.yaml")],
      { env: { HOME: "/tmp", BUN_INSTALL_CACHE_DIR: "/tmp/paqet-nobody-bun-cache" }, timeoutMs: 20_000 },
    );
    const line = oneLine(r);
    expect(line).toContain("failed to create raw socket: ");
    expect(line).toMatch(/Operation not permitted|permission/i);
    expect(line).toContain("setcap cap_net_raw,cap_net_admin+ep");
  });
});
