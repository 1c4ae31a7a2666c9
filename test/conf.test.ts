import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseHostPort, parseMac, splitHostPort } from "../src/conf/addr.ts";
import {
  ConfigError,
  MASK,
  MODE_PRESETS,
  formatEffectiveConfig,
  formatProblem,
  loadConfig,
  maskSecrets,
  parseConfig,
  type PaqetConfig,
} from "../src/conf/index.ts";

const FIX = join(import.meta.dir, "fixtures", "conf");
const EXAMPLES = join(import.meta.dir, "..", "examples");

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

const MiB = 1048576;

describe("real Go paqet configs (the ones that made the captures and the netbed)", () => {
  const load = (name: string) => loadConfig(join(FIX, name)).config;

  function expectPreset(c: PaqetConfig, mode: keyof typeof MODE_PRESETS) {
    const [nodelay, interval, resend, nocongestion, wdelay, acknodelay] = MODE_PRESETS[mode];
    expect(c.transport.kcp).toMatchObject({ mode, nodelay, interval, resend, nocongestion, wdelay, acknodelay });
  }

  function expectClientDefaults(c: PaqetConfig) {
    expect(c.network.pcap.sockbuf).toBe(4 * MiB);
    expect(c.transport.kcp).toMatchObject({ rcvwnd: 512, sndwnd: 128, mtu: 1350, smuxbuf: 4 * MiB, streambuf: 2 * MiB, smuxkalive: 2, smuxktimeout: 8, dshard: 0, pshard: 0 });
  }

  function expectServerDefaults(c: PaqetConfig) {
    expect(c.network.pcap.sockbuf).toBe(8 * MiB);
    expect(c.transport.kcp).toMatchObject({ rcvwnd: 1024, sndwnd: 1024, mtu: 1350, smuxbuf: 4 * MiB, streambuf: 2 * MiB });
    expect(c.server).toBeNull();
    expect(c.listen).toEqual({ addr: ":9999", host: "", port: 9999 });
    expect(c.network.port).toBe(9999);
  }

  test("go-aes client: aes, fast, one connection, random port", () => {
    const c = load("go-aes-client.yaml");
    expect(c.role).toBe("client");
    expect(c.log.level).toBe("info");
    expect(c.socks5).toEqual([{ listen: "127.0.0.1:1080", listen_host: "127.0.0.1", listen_port: 1080, username: "", password: "" }]);
    expect(c.network.interface).toBe("pqc0");
    expect(c.network.ipv4).toEqual({ addr: "10.77.0.1:0", ip: "10.77.0.1", port: 0, router_mac: "02:77:00:00:00:02" });
    expect(c.network.ipv6).toBeNull();
    expect(c.network.port).toBe(0);
    expect(c.network.tcp).toEqual({ local_flag: ["PA"], remote_flag: ["PA"] });
    expect(c.server).toEqual({ addr: "10.77.0.2:9999", host: "10.77.0.2", port: 9999, family: 4 });
    expect(c.listen).toBeNull();
    expect(c.transport.protocol).toBe("kcp");
    expect(c.transport.conn).toBe(1);
    expect(c.transport.kcp.block).toBe("aes");
    expect(c.transport.kcp.key).toBe("vector-key-1");
    expectPreset(c, "fast");
    expectClientDefaults(c);
  });

  test("go-aes server", () => {
    const c = load("go-aes-server.yaml");
    expect(c.role).toBe("server");
    expect(c.network.ipv4).toEqual({ addr: "10.77.0.2:9999", ip: "10.77.0.2", port: 9999, router_mac: "02:77:00:00:00:01" });
    expect(c.transport.kcp.key).toBe("vector-key-1");
    expectPreset(c, "fast");
    expectServerDefaults(c);
  });

  test("go-gcm-udp client: aes-128-gcm, fast2, conn 2, a TCP forward", () => {
    const c = load("go-gcm-udp-client.yaml");
    expect(c.transport.conn).toBe(2);
    expect(c.transport.kcp.block).toBe("aes-128-gcm");
    expect(c.transport.kcp.key).toBe("vector-key-2");
    expect(c.forward).toEqual([
      { listen: "127.0.0.1:18080", listen_host: "127.0.0.1", listen_port: 18080, target: "127.0.0.1:8080", target_host: "127.0.0.1", target_port: 8080, protocol: "tcp" },
    ]);
    expectPreset(c, "fast2");
    expectClientDefaults(c);
  });

  test("go-gcm-udp server", () => {
    const c = load("go-gcm-udp-server.yaml");
    expectPreset(c, "fast2");
    expectServerDefaults(c);
  });

  test("go-null client: block null with no key, fast3, flag cycles", () => {
    const c = load("go-null-client.yaml");
    expect(c.transport.kcp.block).toBe("null");
    expect(c.transport.kcp.key).toBe("");
    expect(c.network.tcp).toEqual({ local_flag: ["S", "PA"], remote_flag: ["A", "PA"] });
    expectPreset(c, "fast3");
    expectClientDefaults(c);
  });

  test("go-null server: local_flag stays at its default", () => {
    const c = load("go-null-server.yaml");
    expect(c.network.tcp.local_flag).toEqual(["PA"]);
    expectPreset(c, "fast3");
    expectServerDefaults(c);
  });

  test("netbed client and server: level warn, defaults otherwise", () => {
    const c = load("netbed-client.yaml");
    expect(c.log.level).toBe("warn");
    expect(c.forward[0]).toMatchObject({ listen_port: 15201, target: "127.0.0.1:5201", protocol: "tcp" });
    expect(c.transport.kcp.key).toBe("bench-key");
    expectPreset(c, "fast");
    expectClientDefaults(c);
    const s = load("netbed-server.yaml");
    expect(s.log.level).toBe("warn");
    expectServerDefaults(s);
  });

  test("none of them warns", () => {
    for (const name of ["go-aes", "go-gcm-udp", "go-null", "netbed"]) {
      for (const side of ["client", "server"]) expect(loadConfig(join(FIX, `${name}-${side}.yaml`)).warnings).toEqual([]);
    }
  });

  test("the examples in examples/ are valid", () => {
    expect(loadConfig(join(EXAMPLES, "client.yaml")).config.role).toBe("client");
    expect(loadConfig(join(EXAMPLES, "server.yaml")).config.role).toBe("server");
  });
});

describe("a file with ten distinct mistakes", () => {
  const file = join(FIX, "ten-mistakes.yaml");
  const expected = readFileSync(file, "utf8")
    .split("\n")
    .flatMap((line, i) => {
      const m = /^[^#]+# expect: (\S+)/.exec(line);
      return m ? [{ path: m[1]!, line: i + 1 }] : [];
    });

  test("reports all ten, each on its own line", () => {
    expect(expected.length).toBe(10);
    const err = errorOf(() => loadConfig(file));
    expect(err.code).toBe("CONF_INVALID");
    expect(err.problems.map((p) => ({ path: p.path, line: p.line }))).toEqual(expected);
    for (const p of err.problems) expect(formatProblem(file, p)).toStartWith(`${file}:${p.line}:${p.col}: ${p.path}: `);
    expect(err.message.split("\n").length).toBe(11);
  });
});

describe("defaults and effective values", () => {
  const base = `role: client
socks5: [{listen: "127.0.0.1:1080"}]
network: {interface: eth0, ipv4: {addr: "10.0.0.2:0", router_mac: "02:00:00:00:00:01"}}
server: {addr: "10.0.0.1:9999"}
transport:
  protocol: kcp
  kcp:
`;
  const kcpWith = (lines: string) => parseConfig(`${base}${lines.replace(/^/gm, "    ")}\n`, "t.yaml").config.transport.kcp;

  test("zero means the default, as in Go (explicit 0 cannot be set)", () => {
    const k = kcpWith("key: k\nmtu: 0\nrcvwnd: 0\nsndwnd: 0\nsmuxbuf: 0\nstreambuf: 0\nsmuxkalive: 0\nsmuxktimeout: 0\nmode: ''\nblock: ''");
    expect(k).toMatchObject({ mtu: 1350, rcvwnd: 512, sndwnd: 128, smuxbuf: 4 * MiB, streambuf: 2 * MiB, smuxkalive: 2, smuxktimeout: 8, mode: "fast", block: "aes" });
  });

  test("an empty kcp mapping counts as present", () => {
    const err = errorOf(() => parseConfig(`${base}    {}\n`, "t.yaml"));
    expect(err.problems.map((p) => p.path)).toEqual(["transport.kcp.key"]);
  });

  test("manual mode takes the six tuning keys; presets ignore them", () => {
    const manual = kcpWith("key: k\nmode: manual\nnodelay: 1\ninterval: 15\nresend: 3\nnocongestion: 0\nwdelay: true\nacknodelay: on");
    expect(manual).toMatchObject({ nodelay: 1, interval: 15, resend: 3, nocongestion: 0, wdelay: true, acknodelay: true });
    const preset = kcpWith("key: k\nmode: normal\nnodelay: 1\ninterval: 15");
    expect(preset).toMatchObject({ nodelay: 0, interval: 40, resend: 2, nocongestion: 1, wdelay: true, acknodelay: false });
  });

  test("unquoted block: null is YAML null (default aes, as in Go) and warns; quoted is the null cipher", () => {
    const r = parseConfig(`${base}    key: k\n    block: null\n`, "t.yaml");
    expect(r.config.transport.kcp.block).toBe("aes");
    expect(r.warnings.map((w) => w.path)).toEqual(["transport.kcp.block"]);
    expect(kcpWith(`block: "null"`).block).toBe("null");
  });

  test("string fields keep the literal text of numbers", () => {
    expect(kcpWith("key: 1234").key).toBe("1234");
    expect(kcpWith("key: 0x10").key).toBe("0x10");
    expect(kcpWith("key: 1.50").key).toBe("1.50");
  });

  test("integer forms", () => {
    expect(kcpWith("key: k\nmtu: '1400'").mtu).toBe(1400);
    expect(kcpWith("key: k\nmtu: 1_400").mtu).toBe(1400);
    expect(kcpWith("key: k\nmtu: 0x578").mtu).toBe(1400);
    expect(kcpWith("key: k\nmtu: 1.4e3").mtu).toBe(1400);
  });

  test("fork keys: guard off, limits at the fork's server values", () => {
    const k = kcpWith("key: k");
    expect(k).toMatchObject({ guard: false, guard_magic: "PQT1", guard_window: 30, guard_skew: 1, max_sessions: 512, max_streams_total: 16384, max_streams_per_session: 256, header_timeout: 10 });
    expect(kcpWith("key: k\nguard: true\nguard_skew: 0\nguard_window: 0")).toMatchObject({ guard: true, guard_skew: 1, guard_window: 30 });
    expect(kcpWith("key: k\nmax_streams_total: 100\nmax_streams_per_session: 500").max_streams_per_session).toBe(100);
  });

  test("server role defaults", () => {
    const c = parseConfig(`role: server
listen: {addr: ":9999"}
network: {interface: eth0, ipv6: {addr: "[fd77::2]:9999", router_mac: "02:00:00:00:00:01"}}
transport: {protocol: kcp, kcp: {key: k}}
`, "s.yaml").config;
    expect(c.network).toMatchObject({ port: 9999, ipv4: null, pcap: { sockbuf: 8 * MiB } });
    expect(c.network.ipv6).toEqual({ addr: "[fd77::2]:9999", ip: "fd77::2", port: 9999, router_mac: "02:00:00:00:00:01" });
    expect(c.transport.kcp).toMatchObject({ rcvwnd: 1024, sndwnd: 1024 });
  });

  test("the result is deep-frozen", () => {
    const c = loadConfig(join(FIX, "go-gcm-udp-client.yaml")).config;
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.transport.kcp)).toBe(true);
    expect(Object.isFrozen(c.forward[0])).toBe(true);
    expect(Object.isFrozen(c.network.tcp.local_flag)).toBe(true);
    expect(() => {
      (c.transport.kcp as { mtu: number }).mtu = 1;
    }).toThrow();
  });
});

describe("masked effective config", () => {
  const c = parseConfig(`role: client
socks5: [{listen: "127.0.0.1:1080", username: alice, password: s3cret-pw}, {listen: "127.0.0.1:1081"}]
network: {interface: eth0, ipv4: {addr: "10.0.0.2:0", router_mac: "02:00:00:00:00:01"}}
server: {addr: "10.0.0.1:9999"}
transport: {protocol: kcp, kcp: {key: the-secret-key}}
`, "t.yaml").config;

  test("key and passwords are masked; empty ones stay empty; the original is untouched", () => {
    const m = maskSecrets(c);
    expect(m.transport.kcp.key).toBe(MASK);
    expect(m.socks5.map((s) => [s.username, s.password])).toEqual([["alice", MASK], ["", ""]]);
    expect(c.transport.kcp.key).toBe("the-secret-key");
    const text = formatEffectiveConfig(c);
    expect(text).not.toContain("the-secret-key");
    expect(text).not.toContain("s3cret-pw");
    expect(text).toContain("rcvwnd: 512");
    expect(text).toContain("username: alice");
  });
});

describe("unknown keys warn and name the likely key", () => {
  const text = `role: client
socks5: [{listen: "127.0.0.1:1080", pasword: x}]
network: {interface: eth0, ipv4: {addr: "10.0.0.2:0", router_mac: "02:00:00:00:00:01"}}
server: {addr: "10.0.0.1:9999"}
transport:
  protocol: kcp
  key: misplaced
  tcpbuf: 4096
  kcp:
    kye: k
    key: k
    rcvwindow: 10
`;
  const { warnings } = parseConfig(text, "t.yaml");
  const byPath = Object.fromEntries(warnings.map((w) => [w.path, w]));

  test("a typo gets the nearest sibling", () => {
    expect(byPath["transport.kcp.kye"]!.message).toBe('unknown key, ignored (did you mean "key"?)');
    expect(byPath["transport.kcp.kye"]).toMatchObject({ line: 10, col: 5 });
    expect(byPath["socks5[0].pasword"]!.message).toContain('did you mean "password"?');
    expect(byPath["transport.kcp.rcvwindow"]!.message).toContain('did you mean "rcvwnd"?');
  });

  test("a key at the wrong level names where it belongs", () => {
    expect(byPath["transport.key"]!.message).toContain('did you mean "transport.kcp.key"?');
  });

  test("obsolete keys get a note instead", () => {
    expect(byPath["transport.tcpbuf"]!.message).toContain("obsolete");
  });

  test("nothing else warns", () => {
    expect(warnings.length).toBe(5);
  });
});

describe("YAML-level errors", () => {
  test("syntax errors carry their position", () => {
    const err = errorOf(() => parseConfig("role: client\nnetwork: [eth0\n", "bad.yaml"));
    expect(err.code).toBe("CONF_INVALID");
    expect(err.problems.length).toBeGreaterThan(0);
    expect(err.problems[0]!.line).toBeGreaterThanOrEqual(2);
    expect(err.problems[0]!.message).toStartWith("YAML: ");
  });

  test("duplicate keys are an error, as in Go", () => {
    const err = errorOf(() => parseConfig("role: client\nrole: server\n", "dup.yaml"));
    expect(err.problems[0]).toMatchObject({ line: 2, message: expect.stringContaining("unique") });
  });

  test("an empty file reports the missing role and sections", () => {
    const err = errorOf(() => parseConfig("", "empty.yaml"));
    const paths = err.problems.map((p) => p.path);
    expect(paths).toContain("role");
    expect(paths).toContain("network.ipv4");
    expect(paths).toContain("transport.kcp");
  });

  test("anchors and aliases resolve", () => {
    const c = parseConfig(`role: client
x-mac: &mac "02:00:00:00:00:01"
socks5: [{listen: "127.0.0.1:1080"}]
network: {interface: eth0, ipv4: {addr: "10.0.0.2:0", router_mac: *mac}}
server: {addr: "10.0.0.1:9999"}
transport: {protocol: kcp, kcp: {key: k}}
`, "a.yaml");
    expect(c.config.network.ipv4!.router_mac).toBe("02:00:00:00:00:01");
    expect(c.warnings.map((w) => w.path)).toEqual(["x-mac"]);
  });

  test("a missing file is CONF_READ with Go's wording", () => {
    const err = errorOf(() => loadConfig("/nonexistent/paqet.yaml"));
    expect(err.code).toBe("CONF_READ");
    expect(err.problems[0]!.message).toBe("open /nonexistent/paqet.yaml: no such file or directory");
    expect(err.message).toBe("open /nonexistent/paqet.yaml: no such file or directory");
  });
});

describe("address and MAC parsing (Go's rules and words)", () => {
  test("SplitHostPort", () => {
    expect(splitHostPort(":9999")).toEqual({ ok: true, host: "", port: "9999" });
    expect(splitHostPort("[::1]:80")).toEqual({ ok: true, host: "::1", port: "80" });
    expect(splitHostPort("1.2.3.4")).toEqual({ ok: false, error: "address 1.2.3.4: missing port in address" });
    expect(splitHostPort("::1:80")).toEqual({ ok: false, error: "address ::1:80: too many colons in address" });
    expect(splitHostPort("[::1:80")).toEqual({ ok: false, error: "address [::1:80: missing ']' in address" });
    expect(splitHostPort("[::1]80")).toEqual({ ok: false, error: "address [::1]80: missing port in address" });
    expect(splitHostPort("a]:80")).toEqual({ ok: false, error: "address a]:80: unexpected ']' in address" });
  });

  test("host and port", () => {
    expect(parseHostPort("localhost:1080")).toEqual({ ok: true, host: "localhost", port: 1080, family: 0 });
    expect(parseHostPort("[fe80::1%eth0]:1")).toEqual({ ok: true, host: "fe80::1%eth0", port: 1, family: 6 });
    expect(parseHostPort("[::ffff:10.0.0.1]:1")).toMatchObject({ ok: true, family: 4 });
    expect(parseHostPort("h:http")).toEqual({ ok: false, error: "address h:http: unknown port" });
    expect(parseHostPort("bad host:1")).toMatchObject({ ok: false });
  });

  test("MAC forms", () => {
    expect(parseMac("02:00:5E:10:00:01")).toEqual({ ok: true, bytes: [2, 0, 0x5e, 0x10, 0, 1] });
    expect(parseMac("02-00-5e-10-00-01")).toEqual({ ok: true, bytes: [2, 0, 0x5e, 0x10, 0, 1] });
    expect(parseMac("0200.5e10.0001")).toEqual({ ok: true, bytes: [2, 0, 0x5e, 0x10, 0, 1] });
    expect(parseMac("02:00:5e:10:00:01:02:03")).toMatchObject({ ok: true });
    expect(parseMac("02:00:5e:10:00:0g").ok).toBe(false);
    expect(parseMac("02:00:5e:10:00-01").ok).toBe(false);
    expect(parseMac("020:0:5e:10:00:01").ok).toBe(false);
  });
});

describe("robustness", () => {
  test("mangled configs either parse or fail with ConfigError, never anything else", () => {
    const sources = ["go-aes-client.yaml", "go-gcm-udp-client.yaml", "go-null-server.yaml", "ten-mistakes.yaml"].map((n) => readFileSync(join(FIX, n), "utf8"));
    const alphabet = ":-[]{}&*!|>'\"#%@`,?\n \t0aZ~";
    let seed = 0x2545f491;
    const rand = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let parsed = 0;
    let rejected = 0;
    for (let i = 0; i < 600; i++) {
      let text = sources[rand(sources.length)]!;
      for (let edits = 1 + rand(4); edits > 0; edits--) {
        const at = rand(text.length);
        const op = rand(3);
        if (op === 0) text = text.slice(0, at) + text.slice(at + 1 + rand(8));
        else if (op === 1) text = text.slice(0, at) + alphabet[rand(alphabet.length)] + text.slice(at);
        else text = text.slice(0, at) + text.slice(rand(text.length));
      }
      try {
        parseConfig(text, "m.yaml");
        parsed++;
      } catch (err) {
        if (!(err instanceof ConfigError)) throw new Error(`non-ConfigError for:\n${text}\n${String(err)}`);
        for (const p of err.problems) expect(p.line).toBeGreaterThan(0);
        rejected++;
      }
    }
    expect(parsed + rejected).toBe(600);
    expect(rejected).toBeGreaterThan(0);
  }, 60_000);
});
