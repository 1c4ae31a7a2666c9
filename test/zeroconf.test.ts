/**
 * Zero-config networking: conf accepts omitted interface / IP / router MAC (and still rejects bad
 * values), resolveNetwork fills them (against a fake host for every branch, and for real inside a
 * namespace bed with a default route via the peer), and `paqet check` says what will be discovered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DiscoveryError,
  parseNeighbour,
  parseRouteGet,
  resolveNetwork,
  type HostNetwork,
  type RouteInfo,
} from "../src/cli/_network.ts";
import { ConfigError, parseConfig, pendingDiscovery, type PaqetConfig } from "../src/conf/index.ts";
import type { InterfaceAddress } from "../src/lib/netinfo.ts";
import { createBed, netnsSkipReason, runIn, type Bed } from "./helpers/netns.ts";

const ROOT = join(import.meta.dir, "..");
const FIX = join(ROOT, "test", "fixtures", "conf");

const KCP = "transport: {protocol: kcp, kcp: {key: k}}\n";
const serverYaml = (network: string) => `role: server\nlisten: {addr: ":47000"}\nnetwork: ${network}\n${KCP}`;
const clientYaml = (network: string, server = "203.0.113.5:47000") =>
  `role: client\nsocks5: [{listen: "127.0.0.1:1080"}]\nnetwork: ${network}\nserver: {addr: "${server}"}\n${KCP}`;
const parse = (yaml: string) => parseConfig(yaml, "z.yaml").config;

function problemsOf(yaml: string): { path: string; message: string }[] {
  try {
    parseConfig(yaml, "z.yaml");
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => ({ path: p.path, message: p.message }));
  }
}

describe("conf: omitted network fields", () => {
  test("a server with only the port: interface, IP and MAC left empty and listed for discovery", () => {
    const c = parse(serverYaml(`{ipv4: {addr: ":47000"}}`));
    expect(c.network.interface).toBe("");
    expect(c.network.ipv4).toEqual({ addr: ":47000", ip: "", port: 47000, router_mac: "" });
    expect(c.network.port).toBe(47000);
    expect(pendingDiscovery(c.network).map((p) => p.path)).toEqual(["network.interface", "network.ipv4.addr", "network.ipv4.router_mac"]);
  });

  test("IPv6 as `[]:port`, and each field on its own", () => {
    const c = parse(clientYaml(`{interface: eth0, ipv4: {addr: "192.0.2.10:0"}, ipv6: {addr: "[]:0", router_mac: "02:00:5e:10:00:01"}}`));
    expect(c.network.ipv6).toEqual({ addr: "[]:0", ip: "", port: 0, router_mac: "02:00:5e:10:00:01" });
    expect(pendingDiscovery(c.network).map((p) => p.path)).toEqual(["network.ipv4.router_mac", "network.ipv6.addr"]);
  });

  test("every Go-style fixture parses as before: nothing to discover", () => {
    const files = readdirSync(FIX).filter((f) => f.startsWith("go-") || f.startsWith("netbed-"));
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      const c = parseConfig(readFileSync(join(FIX, f), "utf8"), f).config;
      expect({ f, pending: pendingDiscovery(c.network) }).toEqual({ f, pending: [] });
      expect(c.network.interface).not.toBe("");
    }
  });

  test("still rejected: no family at all, a missing or bad port, a bad MAC, a name as IP, a long interface", () => {
    const cases: [string, string, RegExp][] = [
      [serverYaml(`{interface: eth0}`), "network.ipv4", /at least one address family/],
      [serverYaml(`{ipv4: {router_mac: "02:00:5e:10:00:01"}}`), "network.ipv4", /at least one address family/],
      [serverYaml(`{ipv4: {addr: ":"}}`), "network.ipv4.addr", /missing port/],
      [serverYaml(`{ipv4: {addr: "47000"}}`), "network.ipv4.addr", /missing port in address/],
      [serverYaml(`{ipv4: {addr: ":70000"}}`), "network.ipv4.addr", /invalid port/],
      [serverYaml(`{ipv4: {addr: ":47000", router_mac: "gw"}}`), "network.ipv4.router_mac", /invalid Router MAC address 'gw'/],
      [serverYaml(`{ipv4: {addr: "myhost:47000"}}`), "network.ipv4.addr", /not a name/],
      [serverYaml(`{interface: averyveryverylongname, ipv4: {addr: ":1"}}`), "network.interface", /too long/],
      [clientYaml(`{ipv4: {addr: ":1"}}`).replace("kcp: {key: k}", "conn: 2, kcp: {key: k}"), "transport.conn", /only one connection/],
    ];
    for (const [yaml, path, message] of cases) {
      const found = problemsOf(yaml);
      expect({ yaml, ok: found.some((p) => p.path === path && message.test(p.message)) }).toEqual({ yaml, ok: true });
    }
  });
});

interface FakeRoute extends RouteInfo {
  readonly family: 4 | 6;
  /** undefined: a default route. */
  readonly dest?: string;
}

function fakeHost(opts: {
  routes: FakeRoute[];
  addresses: Record<string, InterfaceAddress[]>;
  neighbours?: Record<string, string>;
  /** Neighbours that appear only after a nudge (after this many polls). */
  afterNudge?: Record<string, string>;
}) {
  const calls = { route: 0, neighbour: 0, nudge: [] as string[], sleep: 0 };
  const neighbours = { ...opts.neighbours };
  const host: HostNetwork = {
    route(family, dest, dev) {
      calls.route++;
      const match = (r: FakeRoute) => r.family === family && (dev === undefined || r.dev === dev);
      const exact = opts.routes.find((r) => match(r) && r.dest !== undefined && r.dest === dest);
      // An IP without a route of its own goes the default way, as in the kernel.
      const r = exact ?? opts.routes.find((x) => match(x) && x.dest === undefined);
      return r ? { dev: r.dev, via: r.via, src: r.src } : undefined;
    },
    addresses: (dev) => opts.addresses[dev],
    neighbour(_family, ip, dev) {
      calls.neighbour++;
      return neighbours[`${ip}%${dev}`];
    },
    async nudge(_family, ip, dev) {
      calls.nudge.push(`${ip}%${dev}`);
      const later = opts.afterNudge?.[`${ip}%${dev}`];
      if (later) neighbours[`${ip}%${dev}`] = later;
    },
    async sleep() {
      calls.sleep++;
    },
  };
  return { host, calls };
}

const ETH0: InterfaceAddress[] = [
  { family: 4, address: "127.0.0.9", prefix: 8 },
  { family: 4, address: "192.0.2.10", prefix: 24 },
  { family: 6, address: "fe80::10", prefix: 64 },
  { family: 6, address: "2001:db8::10", prefix: 64 },
];

async function discoveryError(config: PaqetConfig, host: HostNetwork): Promise<DiscoveryError> {
  try {
    await resolveNetwork(config, { host, log: () => {}, neighbourPolls: 3 });
  } catch (err) {
    if (err instanceof DiscoveryError) return err;
    throw err;
  }
  throw new Error("expected a DiscoveryError");
}

describe("resolveNetwork (fake host)", () => {
  test("server: the default route's interface, its source IP and the gateway's MAC, in one log line", async () => {
    const { host } = fakeHost({
      routes: [{ family: 4, dev: "eth0", via: "192.0.2.1", src: "192.0.2.10" }],
      addresses: { eth0: ETH0 },
      neighbours: { "192.0.2.1%eth0": "02:00:5e:00:00:01" },
    });
    const logs: string[] = [];
    const config = parse(serverYaml(`{ipv4: {addr: ":47000"}}`));
    const r = await resolveNetwork(config, { host, log: (l) => logs.push(l) });
    expect(r.network.interface).toBe("eth0");
    expect(r.network.ipv4).toEqual({ addr: "192.0.2.10:47000", ip: "192.0.2.10", port: 47000, router_mac: "02:00:5e:00:00:01" });
    expect(r.config.network).toBe(r.network);
    expect(r.config.transport).toBe(config.transport);
    expect(Object.isFrozen(r.config) && Object.isFrozen(r.network.ipv4)).toBe(true);
    expect(r.discovered.map((d) => d.path)).toEqual(["network.interface", "network.ipv4.addr", "network.ipv4.router_mac"]);
    expect(logs).toEqual([
      "network: discovered interface=eth0 (default route), ipv4.addr=192.0.2.10 (source address of the default route), ipv4.router_mac=02:00:5e:00:00:01 (neighbour table, gateway 192.0.2.1)",
    ]);
  });

  test("client: the route to the server; an on-link server is its own next hop", async () => {
    const { host } = fakeHost({
      routes: [
        { family: 4, dest: "192.0.2.77", dev: "eth1", via: undefined, src: "192.0.2.20" },
        { family: 4, dev: "eth0", via: "192.0.2.1", src: "192.0.2.10" },
      ],
      addresses: { eth0: ETH0, eth1: [{ family: 4, address: "192.0.2.20", prefix: 24 }] },
      neighbours: { "192.0.2.77%eth1": "02:00:00:00:00:77" },
    });
    const r = await resolveNetwork(parse(clientYaml(`{ipv4: {addr: ":0"}}`, "192.0.2.77:47000")), { host, log: () => {} });
    expect(r.network.interface).toBe("eth1");
    expect(r.network.ipv4).toEqual({ addr: "192.0.2.20:0", ip: "192.0.2.20", port: 0, router_mac: "02:00:00:00:00:77" });
    expect(r.discovered[2]!.source).toBe("neighbour table, on-link peer 192.0.2.77");
  });

  test("written values are kept; only the gaps are filled, through the written interface", async () => {
    const { host } = fakeHost({
      routes: [
        { family: 4, dev: "eth0", via: "192.0.2.1", src: "192.0.2.10" },
        { family: 4, dev: "eth9", via: "198.51.100.1", src: "198.51.100.9" },
      ],
      addresses: { eth0: ETH0, eth9: [{ family: 4, address: "198.51.100.9", prefix: 24 }] },
      neighbours: { "198.51.100.1%eth9": "02:00:00:00:09:01" },
    });
    const r = await resolveNetwork(parse(serverYaml(`{interface: eth9, ipv4: {addr: "198.51.100.200:47000"}}`)), { host, log: () => {} });
    expect(r.network.interface).toBe("eth9");
    expect(r.network.ipv4).toEqual({ addr: "198.51.100.200:47000", ip: "198.51.100.200", port: 47000, router_mac: "02:00:00:00:09:01" });
    expect(r.discovered.map((d) => d.path)).toEqual(["network.ipv4.router_mac"]);
  });

  test("nothing to discover: the same config object, the host never asked", async () => {
    const { host, calls } = fakeHost({ routes: [], addresses: {} });
    const config = parse(readFileSync(join(FIX, "go-aes-server.yaml"), "utf8"));
    const r = await resolveNetwork(config, { host, log: () => { throw new Error("no log expected"); } });
    expect(r.config).toBe(config);
    expect(r.discovered).toEqual([]);
    expect(calls.route).toBe(0);
  });

  test("IPv4 and IPv6: one interface, a global IPv6 source (never link-local), the IPv6 gateway's MAC", async () => {
    const { host } = fakeHost({
      routes: [
        { family: 4, dev: "eth0", via: "192.0.2.1", src: undefined },
        { family: 6, dev: "eth0", via: "fe80::1", src: undefined },
      ],
      addresses: { eth0: ETH0 },
      neighbours: { "192.0.2.1%eth0": "02:00:5e:00:00:01", "fe80::1%eth0": "02:00:5e:00:00:06" },
    });
    const r = await resolveNetwork(parse(serverYaml(`{ipv4: {addr: ":47000"}, ipv6: {addr: "[]:47000"}}`)), { host, log: () => {} });
    expect(r.network.ipv4?.ip).toBe("192.0.2.10");
    expect(r.network.ipv6).toEqual({ addr: "[2001:db8::10]:47000", ip: "2001:db8::10", port: 47000, router_mac: "02:00:5e:00:00:06" });
    expect(r.discovered.find((d) => d.path === "network.ipv6.addr")?.source).toBe("address of eth0");
  });

  test("a missing neighbour entry: the kernel is nudged and the table read again", async () => {
    const { host, calls } = fakeHost({
      routes: [{ family: 4, dev: "eth0", via: "192.0.2.1", src: "192.0.2.10" }],
      addresses: { eth0: ETH0 },
      afterNudge: { "192.0.2.1%eth0": "02:00:5e:00:00:01" },
    });
    const r = await resolveNetwork(parse(serverYaml(`{ipv4: {addr: ":47000"}}`)), { host, log: () => {} });
    expect(r.network.ipv4?.router_mac).toBe("02:00:5e:00:00:01");
    expect(calls.nudge).toEqual(["192.0.2.1%eth0"]);
  });

  test("failures are one line with what to do", async () => {
    const server = parse(serverYaml(`{ipv4: {addr: ":47000"}}`));
    const noRoute = await discoveryError(server, fakeHost({ routes: [], addresses: { eth0: ETH0 } }).host);
    expect(noRoute.code).toBe("NET_NO_ROUTE");
    expect(noRoute.message).toBe("no IPv4 default route: cannot discover network.interface; set it in the config (see `paqet iface`)");

    const silent = fakeHost({ routes: [{ family: 4, dev: "eth0", via: "192.0.2.1", src: "192.0.2.10" }], addresses: { eth0: ETH0 } });
    const noMac = await discoveryError(server, silent.host);
    expect(noMac.code).toBe("NET_NO_MAC");
    expect(noMac.message).toBe(
      "the MAC of 192.0.2.1 (next hop on eth0) is not in the neighbour table: run `ping -c1 192.0.2.1` once to fill it, or set network.ipv4.router_mac",
    );
    expect(silent.calls.sleep).toBe(3);

    const v6 = parse(serverYaml(`{interface: eth0, ipv6: {addr: "[]:47000"}}`));
    const noMac6 = await discoveryError(v6, fakeHost({ routes: [{ family: 6, dev: "eth0", via: "fe80::1", src: undefined }], addresses: { eth0: ETH0 } }).host);
    expect(noMac6.message).toContain("run `ping -6 -c1 fe80::1%eth0` once");

    const p2p = await discoveryError(server, fakeHost({ routes: [{ family: 4, dev: "ppp0", via: undefined, src: "100.64.0.2" }], addresses: { ppp0: [{ family: 4, address: "100.64.0.2", prefix: 32 }] } }).host);
    expect(p2p.code).toBe("NET_NO_MAC");
    expect(p2p.message).toContain("has no gateway");

    const noAddr = await discoveryError(server, fakeHost({ routes: [{ family: 4, dev: "eth0", via: "192.0.2.1", src: undefined }], addresses: { eth0: [{ family: 4, address: "169.254.1.1", prefix: 16 }] } }).host);
    expect(noAddr.code).toBe("NET_NO_ADDRESS");
    expect(noAddr.message).toBe("eth0 has no usable IPv4 address: set network.ipv4.addr to this host's address and port");

    const split = await discoveryError(
      parse(serverYaml(`{ipv4: {addr: ":47000"}, ipv6: {addr: "[]:47000"}}`)),
      fakeHost({ routes: [{ family: 4, dev: "eth0", via: "192.0.2.1", src: undefined }, { family: 6, dev: "eth1", via: "fe80::1", src: undefined }], addresses: { eth0: ETH0, eth1: ETH0 } }).host,
    );
    expect(split.code).toBe("NET_NO_ROUTE");
    expect(split.message).toBe("no IPv6 default route through eth0: cannot discover network.ipv6; set it in the config (see `paqet iface`)");

    const unknown = await discoveryError(parse(serverYaml(`{interface: nosuch0, ipv4: {addr: ":1"}}`)), fakeHost({ routes: [], addresses: {} }).host);
    expect(unknown.message).toBe("network interface nosuch0 not found (see `paqet iface`)");
  });
});

describe("parsers", () => {
  test("ip route get / ip route show default lines", () => {
    expect(parseRouteGet("203.0.113.5 via 192.0.2.1 dev eth0 src 192.0.2.10 uid 0")).toEqual({ dev: "eth0", via: "192.0.2.1", src: "192.0.2.10" });
    expect(parseRouteGet("10.77.5.2 dev veth0 src 10.77.5.1 uid 0")).toEqual({ dev: "veth0", via: undefined, src: "10.77.5.1" });
    expect(parseRouteGet("default via fe80::1 dev eth0 proto ra metric 1024 expires 1790sec hoplimit 64 pref medium")).toEqual({ dev: "eth0", via: "fe80::1", src: undefined });
    expect(parseRouteGet("2001:db8::5 from :: via fe80::1 dev eth0 proto ra src 2001:db8::10 metric 1024 pref medium")).toEqual({ dev: "eth0", via: "fe80::1", src: "2001:db8::10" });
    expect(parseRouteGet("default dev ppp0 scope link")).toEqual({ dev: "ppp0", via: undefined, src: undefined });
    expect(parseRouteGet("unreachable 2001:db8::5 dev lo table unspec proto kernel src ::1 metric 4294967295 error -101")).toBeUndefined();
    expect(parseRouteGet("")).toBeUndefined();
  });

  test("ip neigh: usable states only", () => {
    expect(parseNeighbour("192.0.2.1 dev eth0 lladdr 02:FC:00:00:00:05 STALE\n")).toBe("02:fc:00:00:00:05");
    expect(parseNeighbour("10.77.5.2 dev v0 lladdr 02:77:00:00:05:02 PERMANENT")).toBe("02:77:00:00:05:02");
    expect(parseNeighbour("fd00::1 dev eth0 FAILED")).toBeUndefined();
    expect(parseNeighbour("192.0.2.1 dev eth0  INCOMPLETE")).toBeUndefined();
    expect(parseNeighbour("")).toBeUndefined();
  });
});

const skip = netnsSkipReason();

describe.skipIf(skip !== undefined)(`resolveNetwork in a namespace bed ${skip ? `(skipped: ${skip})` : ""}`, () => {
  let bed: Bed;
  let dir = "";
  const probe = async (yaml: string) => {
    const path = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(path, yaml);
    const r = await runIn(bed.a.ns, [process.execPath, join(ROOT, "test", "zeroconf-probe.ts"), path], { timeoutMs: 20_000 });
    if (r.exitCode !== 0) throw new Error(`probe exited ${r.exitCode}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").pop()!);
  };
  const inA = (...argv: string[]) => runIn(bed.a.ns, argv);

  beforeAll(async () => {
    bed = createBed({ prefix: "pqzc", rules: false });
    dir = mkdtempSync(join(tmpdir(), "pqzc-"));
    // Side a's default routes go through side b, as through a home router.
    expect((await inA("ip", "route", "add", "default", "via", bed.b.ipv4)).exitCode).toBe(0);
    expect((await inA("ip", "-6", "route", "add", "default", "via", bed.b.ipv6)).exitCode).toBe(0);
  });

  afterAll(() => {
    bed?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("server, IPv4 and IPv6: interface, addresses and the gateway's MAC", async () => {
    const r = await probe(serverYaml(`{ipv4: {addr: ":47000"}, ipv6: {addr: "[]:47000"}}`));
    expect(r.error).toBeUndefined();
    expect(r.network.interface).toBe(bed.a.ifname);
    expect(r.network.ipv4).toEqual({ addr: `${bed.a.ipv4}:47000`, ip: bed.a.ipv4, port: 47000, router_mac: bed.b.mac });
    expect(r.network.ipv6).toEqual({ addr: `[${bed.a.ipv6}]:47000`, ip: bed.a.ipv6, port: 47000, router_mac: bed.b.mac });
    expect(r.log).toHaveLength(1);
    expect(r.log[0]).toContain(`interface=${bed.a.ifname} (default route)`);
  });

  test("client towards a server beyond the gateway", async () => {
    const r = await probe(clientYaml(`{ipv4: {addr: ":0"}}`, "198.51.100.7:47000"));
    expect(r.network.interface).toBe(bed.a.ifname);
    expect(r.network.ipv4.router_mac).toBe(bed.b.mac);
    expect(r.discovered[2].source).toBe(`neighbour table, gateway ${bed.b.ipv4}`);
  });

  test("an empty neighbour table is filled by the nudge (the peer answers ARP)", async () => {
    expect((await inA("ip", "neigh", "flush", "dev", bed.a.ifname, "nud", "permanent")).exitCode).toBe(0);
    expect((await inA("ip", "neigh", "del", bed.b.ipv4, "dev", bed.a.ifname)).stdout).toBe("");
    const before = await inA("ip", "-4", "neigh", "show", bed.b.ipv4, "dev", bed.a.ifname);
    expect(before.stdout).not.toContain("lladdr");
    const r = await probe(serverYaml(`{ipv4: {addr: ":47000"}}`));
    expect(r.error).toBeUndefined();
    expect(r.network.ipv4.router_mac).toBe(bed.b.mac);
  });

  test("a gateway nobody answers for: one line saying how to fill the table", async () => {
    expect((await inA("ip", "route", "replace", "default", "via", `10.77.${bed.subnet}.3`)).exitCode).toBe(0);
    try {
      const r = await probe(serverYaml(`{ipv4: {addr: ":47000"}}`));
      expect(r.error.code).toBe("NET_NO_MAC");
      expect(r.error.message).toContain(`run \`ping -c1 10.77.${bed.subnet}.3\` once to fill it, or set network.ipv4.router_mac`);
    } finally {
      await inA("ip", "route", "replace", "default", "via", bed.b.ipv4);
    }
  });

  test("paqet check names the fields run will discover and what it finds here", async () => {
    const path = join(dir, "check.yaml");
    writeFileSync(path, serverYaml(`{ipv4: {addr: ":47000"}}`));
    const r = await runIn(bed.a.ns, [process.execPath, join(ROOT, "src", "main.ts"), "check", "-c", path]);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain(`${path}: note: network.interface: run discovers`);
    expect(r.stderr).toContain(`${path}: note: network.ipv4.router_mac: run discovers`);
    expect(r.stderr).toContain(`${path}: note: on this host: interface=${bed.a.ifname}, ipv4.addr=${bed.a.ipv4}, ipv4.router_mac=${bed.b.mac}`);
  });
});
