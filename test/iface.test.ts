/**
 * `paqet iface` and src/lib/netinfo.ts: the /proc parsers on fixed text, the report, the
 * `network:` block (accepted by the config loader), and, in a namespace bed with a default route,
 * the whole command end to end. The bed part needs root and skips with the reason otherwise.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ifaceReport, networkBlock } from "../src/cli/iface.ts";
import { parseConfig } from "../src/conf/index.ts";
import {
  type InterfaceInfo,
  listInterfaces,
  macFromEui64,
  normaliseMac,
  parseProcArp,
  parseProcIpv6Route,
  parseProcRoute,
} from "../src/lib/netinfo.ts";
import { type Bed, createBed, netnsSkipReason, runIn } from "./helpers/netns.ts";

const ROOT = join(import.meta.dir, "..");

const PROC_ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wg0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0
`;
const PROC_IPV6_ROUTE = `fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
`;
const PROC_ARP = `IP address       HW type     Flags       HW address            Mask     Device
192.0.2.1        0x1         0x2         02:FC:00:00:00:05     *        eth0
192.0.2.9        0x1         0x0         00:00:00:00:00:00     *        eth0
`;

const REST_OF_CLIENT = `role: "client"
socks5:
  - listen: "127.0.0.1:1080"
server:
  addr: "192.0.2.77:9999"
transport:
  protocol: "kcp"
  kcp:
    key: "k"
`;

describe("netinfo parsers", () => {
  test("/proc/net/route: only UP|GATEWAY default routes, gateway in host order", () => {
    expect(parseProcRoute(PROC_ROUTE)).toEqual([{ interface: "eth0", gateway: "192.0.2.1" }]);
  });

  test("/proc/net/ipv6_route: ::/0 with a next hop, not lo", () => {
    expect(parseProcIpv6Route(PROC_IPV6_ROUTE)).toEqual([{ interface: "eth0", gateway: "fd00::1" }]);
  });

  test("/proc/net/arp: complete entries only, lowercase", () => {
    expect([...parseProcArp(PROC_ARP)]).toEqual([["192.0.2.1", "02:fc:00:00:00:05"]]);
  });

  test("a link-local EUI-64 next hop carries its MAC", () => {
    const text = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000020c29fffe3a4b5c 00000400 00000001 00000000 00000003     eth0\n";
    expect(parseProcIpv6Route(text)).toEqual([{ interface: "eth0", gateway: "fe80::20c:29ff:fe3a:4b5c", eui64Mac: "00:0c:29:3a:4b:5c" }]);
    expect(macFromEui64("fd000000000000000000000000000001")).toBeUndefined();
  });

  test("macOS arp MACs get their leading zeros back", () => {
    expect(normaliseMac("0:1c:42:a:B:ff")).toBe("00:1c:42:0a:0b:ff");
  });

  test("this host's list has a loopback interface", () => {
    const lo = listInterfaces().find((i) => i.loopback);
    expect(lo).toBeDefined();
    expect(lo!.addresses.some((a) => a.address === "127.0.0.1")).toBe(true);
  });
});

describe("network block", () => {
  const eth0: InterfaceInfo = {
    name: "eth0",
    mac: "02:fc:00:00:00:01",
    state: "up",
    loopback: false,
    addresses: [
      { family: 4, address: "192.0.2.2", prefix: 24 },
      { family: 6, address: "fe80::1", prefix: 64 },
      { family: 6, address: "2001:db8::2", prefix: 64 },
    ],
  };

  test("both families when both gateways' MACs are known; the config loader accepts it", () => {
    const block = networkBlock(eth0, [
      { family: 4, interface: "eth0", gateway: "192.0.2.1", mac: "02:fc:00:00:00:05" },
      { family: 6, interface: "eth0", gateway: "fe80::5", mac: "02:fc:00:00:00:06" },
    ]);
    expect(block).toContain('  ipv4:\n    addr: "192.0.2.2:0"\n    router_mac: "02:fc:00:00:00:05"');
    expect(block).toContain('  ipv6:\n    addr: "[2001:db8::2]:0"\n    router_mac: "02:fc:00:00:00:06"');
    const { config } = parseConfig(REST_OF_CLIENT + block, "iface.yaml", { platform: "linux" });
    expect(config.network.interface).toBe("eth0");
    expect(config.network.ipv4?.ip).toBe("192.0.2.2");
    expect(config.network.ipv4?.router_mac).toBe("02:fc:00:00:00:05");
    expect(config.network.ipv6?.ip).toBe("2001:db8::2");
    expect(config.network.port).toBe(0);
  });

  test("a family whose router MAC is unknown becomes a comment, never a broken key", () => {
    const block = networkBlock(eth0, [
      { family: 4, interface: "eth0", gateway: "192.0.2.1", mac: "02:fc:00:00:00:05" },
      { family: 6, interface: "eth0", gateway: "fe80::5", mac: undefined },
    ]);
    expect(block).not.toContain("ipv6:\n");
    expect(block).toMatch(/# ipv6: 2001:db8::2 has no known router MAC \(gateway fe80::5 is not in the neighbour table/);
    expect(() => parseConfig(REST_OF_CLIENT + block, "iface.yaml", { platform: "linux" })).not.toThrow();
  });

  test("no gateway at all: a comment instead of a block", () => {
    const block = networkBlock(eth0, []);
    expect(block).toStartWith("# no complete network block for eth0:");
    expect(block).not.toContain("network:");
  });
});

describe("iface command", () => {
  test("the report lists every interface, then gateways", () => {
    const report = ifaceReport();
    expect(report).toStartWith("Available network interfaces:\n");
    for (const i of listInterfaces()) expect(report).toContain(`  ${i.name}: `);
    expect(report).toContain("\nDefault gateways:\n");
  });

  test("an unknown --interface is one line and exit 1", () => {
    const r = spawnSync([process.execPath, join(ROOT, "src/main.ts"), "iface", "--interface", "pqnosuch0"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(r.exitCode).toBe(1);
    const err = r.stderr.toString();
    expect(err.trim().split("\n")).toHaveLength(1);
    expect(err).toContain("no network interface named 'pqnosuch0'");
    expect(r.stdout.toString()).toBe("");
  });
});

const SKIP = netnsSkipReason();
describe.skipIf(SKIP !== undefined)(`iface in a namespace with default routes${SKIP ? ` (skipped: ${SKIP})` : ""}`, () => {
  let bed: Bed | undefined;
  const dir = mkdtempSync(join(tmpdir(), "paqet-iface-"));
  beforeAll(() => {
    bed = createBed({ prefix: "pqi" });
    const b = bed;
    const ok = (argv: string[]) => expect(spawnSync(argv, { stderr: "pipe" }).exitCode).toBe(0);
    ok(["ip", "-n", b.a.ns, "route", "add", "default", "via", b.b.ipv4, "dev", b.a.ifname]);
    ok(["ip", "-n", b.a.ns, "-6", "route", "add", "default", "via", b.b.ipv6, "dev", b.a.ifname]);
  });
  afterAll(() => {
    bed?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the network block names the veth, its addresses and the peer's MAC; paqet check accepts it", async () => {
    const b = bed!;
    const r = await runIn(b.a.ns, [process.execPath, join(ROOT, "src/main.ts"), "iface"], { timeoutMs: 20_000 });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`  ${b.a.ifname}: ${b.a.mac}, up\n    ${b.a.ipv4}/24\n`);
    expect(r.stdout).toContain(`  IPv4: ${b.b.ipv4} via ${b.a.ifname}, MAC ${b.b.mac}\n`);
    const block = r.stdout.slice(r.stdout.indexOf("\n\n", r.stdout.indexOf("Default gateways:")) + 2);
    expect(block).toContain(`  interface: "${b.a.ifname}"\n  ipv4:\n    addr: "${b.a.ipv4}:0"\n    router_mac: "${b.b.mac}"`);
    const hasIp = spawnSync(["ip", "-V"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
    if (hasIp) expect(block).toContain(`  ipv6:\n    addr: "[${b.a.ipv6}]:0"\n    router_mac: "${b.b.mac}"`);

    writeFileSync(join(dir, "client.yaml"), REST_OF_CLIENT.replace("192.0.2.77", b.b.ipv4) + block);
    const check = await runIn(b.a.ns, [process.execPath, join(ROOT, "src/main.ts"), "check", "-c", join(dir, "client.yaml")], {
      timeoutMs: 20_000,
    });
    expect(check.stderr).toBe("");
    expect(check.exitCode).toBe(0);
    expect(check.stdout).toStartWith("ok\n");
  });
});
