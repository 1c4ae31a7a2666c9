/**
 * One passing and one failing case per validation rule. Each case starts from a valid config,
 * changes one thing, and checks the problem's key path and message (and that it has a position).
 */
import { describe, expect, test } from "bun:test";
import { stringify } from "yaml";
import { ConfigError, parseConfig, type ParseOptions, type PaqetConfig } from "../src/conf/index.ts";

type Obj = Record<string, any>;

const CLIENT: Obj = {
  role: "client",
  socks5: [{ listen: "127.0.0.1:1080" }],
  network: { interface: "eth0", ipv4: { addr: "192.0.2.10:0", router_mac: "02:00:5e:10:00:01" } },
  server: { addr: "203.0.113.5:47000" },
  transport: { protocol: "kcp", kcp: { key: "k" } },
};

const SERVER: Obj = {
  role: "server",
  listen: { addr: ":47000" },
  network: { interface: "eth0", ipv4: { addr: "203.0.113.5:47000", router_mac: "02:00:5e:10:00:fe" } },
  transport: { protocol: "kcp", kcp: { key: "k" } },
};

function parseObj(obj: Obj, options?: ParseOptions): PaqetConfig {
  return parseConfig(stringify(obj), "t.yaml", options).config;
}

function problems(obj: Obj, options?: ParseOptions) {
  try {
    parseConfig(stringify(obj), "t.yaml", options);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

interface Rule {
  name: string;
  base?: Obj;
  options?: ParseOptions;
  good: (c: Obj) => void;
  bad: (c: Obj) => void;
  path: string;
  message: RegExp;
}

const kcp = (c: Obj) => c.transport.kcp as Obj;

const RULES: Rule[] = [
  { name: "role is client or server", good: (c) => (c.role = "client"), bad: (c) => (c.role = "Client"), path: "role", message: /^role must be 'client' or 'server'/ },
  { name: "role is required", good: () => {}, bad: (c) => delete c.role, path: "role", message: /role must be/ },
  { name: "log.level is a known level", good: (c) => (c.log = { level: "debug" }), bad: (c) => (c.log = { level: "verbose" }), path: "log.level", message: /invalid logging level 'verbose'/ },
  { name: "listen.addr is required (server)", base: SERVER, good: () => {}, bad: (c) => delete c.listen, path: "listen.addr", message: /^address is required$/ },
  { name: "listen.addr parses", base: SERVER, good: (c) => (c.listen.addr = "0.0.0.0:47000"), bad: (c) => (c.listen.addr = "47000"), path: "listen.addr", message: /missing port in address/ },
  { name: "listen.addr port 1-65535", base: SERVER, good: (c) => (c.listen.addr = ":1"), bad: (c) => (c.listen.addr = ":0"), path: "listen.addr", message: /port must be between 1-65535/ },
  { name: "server.addr is required (client)", good: () => {}, bad: (c) => delete c.server, path: "server.addr", message: /^address is required$/ },
  { name: "server.addr parses", good: (c) => (c.server.addr = "example.net:47000"), bad: (c) => (c.server.addr = "1.2.3.4:5:6"), path: "server.addr", message: /too many colons/ },
  { name: "server.addr port in range", good: (c) => (c.server.addr = "203.0.113.5:65535"), bad: (c) => (c.server.addr = "203.0.113.5:65536"), path: "server.addr", message: /invalid port/ },
  { name: "server.addr IPv6 needs network.ipv6", good: (c) => { c.server.addr = "[2001:db8::5]:47000"; c.network.ipv6 = { addr: "[2001:db8::10]:0", router_mac: "02:00:5e:10:00:01" }; }, bad: (c) => (c.server.addr = "[2001:db8::5]:47000"), path: "server.addr", message: /server address is IPv6, but the IPv6 interface is not configured/ },
  { name: "server.addr IPv4 needs network.ipv4", good: () => {}, bad: (c) => (c.network = { interface: "eth0", ipv6: { addr: "[2001:db8::10]:0", router_mac: "02:00:5e:10:00:01" } }), path: "server.addr", message: /server address is IPv4, but the IPv4 interface is not configured/ },
  { name: "socks5[].listen valid", good: (c) => (c.socks5[0].listen = "[::1]:1080"), bad: (c) => (c.socks5[0].listen = "127.0.0.1:0"), path: "socks5[0].listen", message: /port must be between 1-65535/ },
  { name: "socks5 entries validated on a server too", base: SERVER, good: (c) => (c.socks5 = [{ listen: "127.0.0.1:1080" }]), bad: (c) => (c.socks5 = [{ username: "u" }]), path: "socks5[0].listen", message: /address is required/ },
  { name: "forward[].listen valid", good: (c) => (c.forward = [{ listen: "127.0.0.1:8080", target: "10.0.0.1:80", protocol: "tcp" }]), bad: (c) => (c.forward = [{ listen: "127.0.0.1", target: "10.0.0.1:80", protocol: "tcp" }]), path: "forward[0].listen", message: /missing port/ },
  { name: "forward[].target is host:port", good: (c) => (c.forward = [{ listen: "127.0.0.1:8080", target: "db.internal:5432", protocol: "tcp" }]), bad: (c) => (c.forward = [{ listen: "127.0.0.1:8080", target: "db.internal", protocol: "tcp" }]), path: "forward[0].target", message: /missing port in address/ },
  { name: "forward[].target port 1-65535", good: (c) => (c.forward = [{ listen: "127.0.0.1:53", target: "1.1.1.1:53", protocol: "udp" }]), bad: (c) => (c.forward = [{ listen: "127.0.0.1:53", target: "1.1.1.1:99999", protocol: "udp" }]), path: "forward[0].target", message: /port must be between 1-65535/ },
  { name: "forward[].protocol tcp or udp", good: (c) => (c.forward = [{ listen: "127.0.0.1:53", target: "1.1.1.1:53", protocol: "udp" }]), bad: (c) => (c.forward = [{ listen: "127.0.0.1:53", target: "1.1.1.1:53", protocol: "sctp" }]), path: "forward[0].protocol", message: /unsupported protocol: sctp/ },
  { name: "network.interface may be omitted (discovered), not too long", good: (c) => delete c.network.interface, bad: (c) => (c.network.interface = "x".repeat(16)), path: "network.interface", message: /network interface name too long/ },
  { name: "network.interface at most 15 bytes", good: (c) => (c.network.interface = "a23456789012345"), bad: (c) => (c.network.interface = "a234567890123456"), path: "network.interface", message: /too long \(max 15 characters\)/ },
  { name: "network.guid required on windows", options: { platform: "win32" }, good: (c) => (c.network.guid = "\\Device\\NPF_{01234567-89AB-CDEF-0123-456789ABCDEF}"), bad: () => {}, path: "network.guid", message: /guid is required on windows/ },
  { name: "one address family at least", good: () => {}, bad: (c) => delete c.network.ipv4, path: "network.ipv4", message: /at least one address family/ },
  { name: "network.ipv4.addr is an IP:port", good: (c) => (c.network.ipv4.addr = "192.0.2.10:40000"), bad: (c) => (c.network.ipv4.addr = "192.0.2.10"), path: "network.ipv4.addr", message: /invalid address '192.0.2.10'/ },
  { name: "network.ipv4.addr host is an IP, not a name", good: () => {}, bad: (c) => (c.network.ipv4.addr = "myhost:0"), path: "network.ipv4.addr", message: /not a name/ },
  { name: "network.ipv4.addr port <= 65535", good: (c) => (c.network.ipv4.addr = "192.0.2.10:65535"), bad: (c) => (c.network.ipv4.addr = "192.0.2.10:65536"), path: "network.ipv4.addr", message: /invalid port/ },
  { name: "router_mac may be omitted (discovered), not malformed", good: (c) => delete c.network.ipv4.router_mac, bad: (c) => (c.network.ipv4.router_mac = "gateway"), path: "network.ipv4.router_mac", message: /invalid Router MAC address 'gateway'/ },
  { name: "router_mac parses (Go forms)", good: (c) => (c.network.ipv4.router_mac = "0200.5e10.0001"), bad: (c) => (c.network.ipv4.router_mac = "02:00:5e:10:00"), path: "network.ipv4.router_mac", message: /invalid Router MAC address '02:00:5e:10:00'/ },
  { name: "router_mac is 6 bytes", good: (c) => (c.network.ipv4.router_mac = "02-00-5E-10-00-01"), bad: (c) => (c.network.ipv4.router_mac = "02:00:5e:10:00:01:02:03"), path: "network.ipv4.router_mac", message: /6-byte/ },
  { name: "ipv4 and ipv6 ports match", good: (c) => { c.network.ipv4.addr = "192.0.2.10:0"; c.network.ipv6 = { addr: "[2001:db8::10]:0", router_mac: "02:00:5e:10:00:01" }; }, bad: (c) => { c.network.ipv4.addr = "192.0.2.10:1000"; c.network.ipv6 = { addr: "[2001:db8::10]:2000", router_mac: "02:00:5e:10:00:01" }; }, path: "network.ipv6.addr", message: /IPv4 port \(1000\) and IPv6 port \(2000\) must match/ },
  { name: "pcap.sockbuf >= 1024", good: (c) => (c.network.pcap = { sockbuf: 1024 }), bad: (c) => (c.network.pcap = { sockbuf: 1023 }), path: "network.pcap.sockbuf", message: /PCAP sockbuf must be >= 1024 bytes/ },
  { name: "pcap.sockbuf <= 100 MiB", good: (c) => (c.network.pcap = { sockbuf: 104857600 }), bad: (c) => (c.network.pcap = { sockbuf: 104857601 }), path: "network.pcap.sockbuf", message: /too large \(max 100MB\)/ },
  { name: "local_flag characters", good: (c) => (c.network.tcp = { local_flag: ["S", "PA", "FSRPAUECN"] }), bad: (c) => (c.network.tcp = { local_flag: ["PA", "SX"] }), path: "network.tcp.local_flag[1]", message: /invalid TCP flag 'X'/ },
  { name: "local_flag at most 64", good: (c) => (c.network.tcp = { local_flag: Array(64).fill("PA") }), bad: (c) => (c.network.tcp = { local_flag: Array(65).fill("PA") }), path: "network.tcp.local_flag", message: /local_flag exceeds max 64/ },
  { name: "remote_flag characters", good: (c) => (c.network.tcp = { remote_flag: ["A"] }), bad: (c) => (c.network.tcp = { remote_flag: ["a"] }), path: "network.tcp.remote_flag[0]", message: /invalid TCP flag 'a'/ },
  { name: "remote_flag at most 64", good: (c) => (c.network.tcp = { remote_flag: Array(64).fill("A") }), bad: (c) => (c.network.tcp = { remote_flag: Array(65).fill("A") }), path: "network.tcp.remote_flag", message: /remote_flag exceeds max 64/ },
  { name: "transport.protocol is kcp", good: () => {}, bad: (c) => (c.transport.protocol = "quic"), path: "transport.protocol", message: /transport protocol must be one of: \[kcp\]/ },
  { name: "transport.protocol required", good: () => {}, bad: (c) => delete c.transport.protocol, path: "transport.protocol", message: /must be one of: \[kcp\]/ },
  { name: "transport.conn 1-256", good: (c) => (c.transport.conn = 256), bad: (c) => (c.transport.conn = 257), path: "transport.conn", message: /KCP conn must be between 1-256/ },
  { name: "conn > 1 needs a random client port", good: (c) => (c.transport.conn = 4), bad: (c) => { c.transport.conn = 4; c.network.ipv4.addr = "192.0.2.10:40000"; }, path: "transport.conn", message: /only one connection is allowed/ },
  { name: "transport.kcp required", good: (c) => (c.transport.kcp = { block: "null" }), bad: (c) => delete c.transport.kcp, path: "transport.kcp", message: /transport.kcp configuration is required/ },
  { name: "kcp.mode known", good: (c) => (kcp(c).mode = "manual"), bad: (c) => (kcp(c).mode = "turbo"), path: "transport.kcp.mode", message: /KCP mode must be one of/ },
  { name: "kcp.mtu 50-1500", good: (c) => (kcp(c).mtu = 50), bad: (c) => (kcp(c).mtu = 1501), path: "transport.kcp.mtu", message: /KCP MTU must be between 50-1500 bytes/ },
  { name: "kcp.rcvwnd 1-32768", good: (c) => (kcp(c).rcvwnd = 32768), bad: (c) => (kcp(c).rcvwnd = -1), path: "transport.kcp.rcvwnd", message: /KCP rcvwnd must be between 1-32768/ },
  { name: "kcp.sndwnd 1-32768", good: (c) => (kcp(c).sndwnd = 1), bad: (c) => (kcp(c).sndwnd = 32769), path: "transport.kcp.sndwnd", message: /KCP sndwnd must be between 1-32768/ },
  { name: "kcp.block known", good: (c) => (kcp(c).block = "sm4"), bad: (c) => (kcp(c).block = "aes-256"), path: "transport.kcp.block", message: /KCP encryption block must be one of/ },
  { name: "kcp.key required unless none/null", good: (c) => { delete kcp(c).key; kcp(c).block = "none"; }, bad: (c) => delete kcp(c).key, path: "transport.kcp.key", message: /KCP encryption key is required/ },
  { name: "kcp.smuxbuf >= 1024", good: (c) => { kcp(c).smuxbuf = 1024; kcp(c).streambuf = 1024; }, bad: (c) => (kcp(c).smuxbuf = 1000), path: "transport.kcp.smuxbuf", message: /KCP smuxbuf must be >= 1024 bytes/ },
  { name: "kcp.streambuf >= 1024", good: (c) => (kcp(c).streambuf = 1024), bad: (c) => (kcp(c).streambuf = -5), path: "transport.kcp.streambuf", message: /KCP streambuf must be >= 1024 bytes/ },
  { name: "kcp.streambuf <= smuxbuf", good: (c) => (kcp(c).streambuf = 4194304), bad: (c) => (kcp(c).streambuf = 4194305), path: "transport.kcp.streambuf", message: /must not exceed smuxbuf/ },
  { name: "kcp.smuxbuf <= 2^31-1", good: (c) => (kcp(c).smuxbuf = 2147483647), bad: (c) => (kcp(c).smuxbuf = 2147483648), path: "transport.kcp.smuxbuf", message: /must be <= 2147483647/ },
  { name: "kcp.smuxkalive >= 1", good: (c) => (kcp(c).smuxkalive = 8), bad: (c) => (kcp(c).smuxkalive = -2), path: "transport.kcp.smuxkalive", message: /smuxkalive must be >= 1/ },
  { name: "kcp.smuxktimeout >= smuxkalive", good: (c) => { kcp(c).smuxkalive = 5; kcp(c).smuxktimeout = 5; }, bad: (c) => (kcp(c).smuxkalive = 10), path: "transport.kcp.smuxktimeout", message: /smuxktimeout \(8\) must be >= smuxkalive \(10\)/ },
  { name: "FEC shards 0-255", good: (c) => { kcp(c).dshard = 10; kcp(c).pshard = 3; }, bad: (c) => (kcp(c).dshard = -1), path: "transport.kcp.dshard", message: /FEC dshard must be between 0-255/ },
  { name: "FEC shards sum <= 256", good: (c) => { kcp(c).dshard = 200; kcp(c).pshard = 56; }, bad: (c) => { kcp(c).dshard = 200; kcp(c).pshard = 57; }, path: "transport.kcp.pshard", message: /dshard \+ pshard must be <= 256/ },
  { name: "guard needs a key even with block null", good: (c) => { kcp(c).guard = true; kcp(c).block = "null"; }, bad: (c) => { kcp(c).guard = true; kcp(c).block = "null"; delete kcp(c).key; }, path: "transport.kcp.key", message: /guard requires a non-empty key/ },
  { name: "guard_magic is 4 bytes", good: (c) => { kcp(c).guard = true; kcp(c).guard_magic = "ÅB1"; }, bad: (c) => { kcp(c).guard = true; kcp(c).guard_magic = "PQT"; }, path: "transport.kcp.guard_magic", message: /exactly 4 bytes, got 3/ },
  { name: "guard_window 1-3600", good: (c) => { kcp(c).guard = true; kcp(c).guard_window = 3600; }, bad: (c) => { kcp(c).guard = true; kcp(c).guard_window = 3601; }, path: "transport.kcp.guard_window", message: /guard_window must be between 1-3600/ },
  { name: "guard_skew 0-10", good: (c) => { kcp(c).guard = true; kcp(c).guard_skew = 10; }, bad: (c) => { kcp(c).guard = true; kcp(c).guard_skew = 11; }, path: "transport.kcp.guard_skew", message: /guard_skew must be between 0-10/ },
  { name: "max_sessions -1..1e6", base: SERVER, good: (c) => (kcp(c).max_sessions = -1), bad: (c) => (kcp(c).max_sessions = -2), path: "transport.kcp.max_sessions", message: /max_sessions must be -1/ },
  { name: "max_streams_total -1..1e7", base: SERVER, good: (c) => (kcp(c).max_streams_total = 10_000_000), bad: (c) => (kcp(c).max_streams_total = 10_000_001), path: "transport.kcp.max_streams_total", message: /max_streams_total must be -1/ },
  { name: "max_streams_per_session -1..1e7", base: SERVER, good: (c) => (kcp(c).max_streams_per_session = -1), bad: (c) => (kcp(c).max_streams_per_session = -3), path: "transport.kcp.max_streams_per_session", message: /max_streams_per_session must be -1/ },
  { name: "header_timeout 1-3600", good: (c) => (kcp(c).header_timeout = 3600), bad: (c) => (kcp(c).header_timeout = -1), path: "transport.kcp.header_timeout", message: /header_timeout must be between 1-3600/ },
  { name: "debug.pprof is loopback", good: (c) => (c.debug = { pprof: "127.0.0.1:6060" }), bad: (c) => (c.debug = { pprof: "0.0.0.0:6060" }), path: "debug.pprof", message: /must be a loopback address/ },
  { name: "debug.pprof parses", good: (c) => (c.debug = { pprof: "[::1]:6060" }), bad: (c) => (c.debug = { pprof: "127.0.0.1" }), path: "debug.pprof", message: /missing port/ },
  { name: "debug.diag requires pprof", good: (c) => (c.debug = { pprof: "localhost:6060", diag: true }), bad: (c) => (c.debug = { diag: true }), path: "debug.diag", message: /debug.diag requires debug.pprof/ },
  { name: "integers are integers", good: (c) => (kcp(c).mtu = "1400"), bad: (c) => (kcp(c).mtu = "big"), path: "transport.kcp.mtu", message: /must be an integer, got "big"/ },
  { name: "booleans are booleans", good: (c) => (kcp(c).wdelay = "yes"), bad: (c) => (kcp(c).wdelay = "maybe"), path: "transport.kcp.wdelay", message: /must be true or false/ },
  { name: "lists are lists", good: (c) => (c.network.tcp = { local_flag: ["PA"] }), bad: (c) => (c.network.tcp = { local_flag: "PA" }), path: "network.tcp.local_flag", message: /must be a list/ },
  { name: "sections are mappings", good: () => {}, bad: (c) => (c.transport = "kcp"), path: "transport", message: /must be a mapping of keys/ },
  { name: "scalars are scalars", good: () => {}, bad: (c) => (c.server.addr = ["a", "b"]), path: "server.addr", message: /must be a text value, not a list/ },
];

describe("every validation rule passes its good case and fails its bad case", () => {
  for (const rule of RULES) {
    test(rule.name, () => {
      const good = structuredClone(rule.base ?? CLIENT);
      rule.good(good);
      expect(problems(good, rule.options)).toEqual([]);

      const bad = structuredClone(rule.base ?? CLIENT);
      rule.bad(bad);
      const found = problems(bad, rule.options);
      const match = found.find((p) => p.path === rule.path && rule.message.test(p.message));
      if (!match) throw new Error(`expected ${rule.path}: ${rule.message} among:\n${found.map((p) => `${p.path}: ${p.message}`).join("\n")}`);
      expect(match.line).toBeGreaterThan(0);
      expect(match.col).toBeGreaterThan(0);
    });
  }
});

describe("warnings (accepted, but reported)", () => {
  const warnings = (obj: Obj) => parseConfig(stringify(obj), "t.yaml").warnings;

  test("sockbuf that is not a power of two", () => {
    expect(warnings({ ...CLIENT, network: { ...CLIENT.network, pcap: { sockbuf: 4194304 } } })).toEqual([]);
    const w = warnings({ ...CLIENT, network: { ...CLIENT.network, pcap: { sockbuf: 3000000 } } });
    expect(w.map((x) => x.path)).toEqual(["network.pcap.sockbuf"]);
    expect(w[0]!.message).toContain("not a power of two");
  });

  test("client without socks5 or forward", () => {
    expect(warnings(CLIENT)).toEqual([]);
    const { socks5: _, ...bare } = CLIENT;
    expect(warnings(bare).map((x) => x.message)).toEqual(["client mode enabled but no SOCKS5 or forward configurations found"]);
  });

  test("an IPv6 address under network.ipv4", () => {
    const c = structuredClone(CLIENT);
    c.network.ipv4.addr = "[2001:db8::10]:0";
    expect(warnings(c).map((x) => x.path)).toEqual(["network.ipv4.addr"]);
  });

  test("server listen port differing from the network port", () => {
    expect(warnings(SERVER)).toEqual([]);
    const s = structuredClone(SERVER);
    s.listen.addr = ":48000";
    expect(warnings(s).map((x) => x.path)).toEqual(["listen.addr"]);
  });
});
