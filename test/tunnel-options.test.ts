import { describe, expect, test } from "bun:test";
import { parseConfig } from "../src/conf/index.ts";
import { derivedKey, tunnelOptionsFromConfig } from "../src/tunnel/index.ts";

function config(kcp: string, tcp = ""): ReturnType<typeof parseConfig>["config"] {
  return parseConfig(
    `role: server\nlisten:\n  addr: ":9999"\nnetwork:\n  interface: "lo"\n  ipv4:\n    addr: "10.77.0.2:9999"\n    router_mac: "02:00:00:00:00:01"\n${tcp}transport:\n  protocol: kcp\n  conn: 3\n  kcp:\n    key: "options-test"\n${kcp}`,
  ).config;
}

describe("tunnelOptionsFromConfig", () => {
  test("maps the KCP preset, windows, MTU and stream mode", () => {
    const o = tunnelOptionsFromConfig(config(`    mode: fast3\n    mtu: 1200\n    sndwnd: 64\n    rcvwnd: 256\n`));
    expect(o.kcp).toEqual({ nodelay: 1, interval: 10, resend: 2, nocongestion: 1, writeDelay: false, ackNoDelay: true, mtu: 1200, sndWnd: 64, rcvWnd: 256, stream: true, deadLink: 20 });
    expect(o.conns).toBe(3);
  });

  test("smux v2 with paqet's frame size, keepalive seconds as ms, buffers as given", () => {
    const o = tunnelOptionsFromConfig(config(`    smuxkalive: 3\n    smuxktimeout: 12\n    smuxbuf: 8388608\n    streambuf: 262144\n`));
    expect(o.smux).toEqual({ version: 2, keepAliveDisabled: false, keepAliveInterval: 3000, keepAliveTimeout: 12000, maxFrameSize: 65535, maxReceiveBuffer: 8388608, maxStreamBuffer: 262144 });
  });

  test("limits: the per-session cap is lowered to the total; header timeout in ms", () => {
    const o = tunnelOptionsFromConfig(config(`    max_streams_total: 100\n    max_streams_per_session: 500\n    max_sessions: -1\n    header_timeout: 7\n`));
    expect(o.limits).toEqual({ maxSessions: -1, maxStreamsTotal: 100, maxStreamsPerSession: 100 });
    expect(o.headerTimeoutMs).toBe(7000);
    const unlimited = tunnelOptionsFromConfig(config(`    max_streams_total: -1\n    max_streams_per_session: -1\n`));
    expect(unlimited.limits.maxStreamsPerSession).toBe(-1);
  });

  test("remote_flag becomes TCPF words; guard options only when guard is on", () => {
    const o = tunnelOptionsFromConfig(config("", `  tcp:\n    remote_flag: ["S", "PA", ""]\n`));
    expect(o.remoteFlags).toEqual([0x02, 0x18, 0]);
    expect(o.guard).toBeUndefined();
    const g = tunnelOptionsFromConfig(config(`    guard: true\n    guard_window: 60\n`));
    expect(g.guard).toEqual({ key: "options-test", magic: "PQT1", windowSeconds: 60, skew: 1 });
  });

  test("the key is derived once per passphrase and the crypt matches the block", () => {
    expect(derivedKey("options-test")).toBe(derivedKey("options-test"));
    expect(tunnelOptionsFromConfig(config(`    block: aes-128-gcm\n`)).crypt.overhead).toBe(28);
    expect(tunnelOptionsFromConfig(config(`    block: "null"\n`)).crypt.overhead).toBe(0);
    expect(tunnelOptionsFromConfig(config(`    block: aes\n    dshard: 10\n    pshard: 3\n`))).toMatchObject({ dataShards: 10, parityShards: 3 });
  });
});
