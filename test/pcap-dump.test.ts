/**
 * `paqet dump` output without a network: the hex dump format, `dump --read` on the three Go
 * captures (every frame printed, known bytes), and the one-line fatal errors of dump and ping that
 * happen before any handle is opened.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hexDump, packetBlock } from "../src/cli/_raw.ts";
import { dumpFile } from "../src/cli/dump.ts";
import { runPaqetSync } from "./helpers/cli.ts";

const FIXTURES = join(import.meta.dir, "fixtures", "pcap");
const tmp = mkdtempSync(join(tmpdir(), "paqet-dump-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const paqet = (args: string[]) => runPaqetSync(args, { cwd: tmp });

const GO_LOG_LINE = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /;

describe("hex dump (Go hex.Dump / hexdump -C lines)", () => {
  test("full and partial lines", () => {
    const data = new TextEncoder().encode("abcdefghijklmnopqrstuvw\x01");
    expect(hexDump(data)).toBe(
      "00000000  61 62 63 64 65 66 67 68  69 6a 6b 6c 6d 6e 6f 70  |abcdefghijklmnop|\n" +
        "00000010  71 72 73 74 75 76 77 01                           |qrstuvw.|\n",
    );
  });

  test("a line of fewer than 8 bytes keeps the ascii column in place", () => {
    const line = hexDump(new TextEncoder().encode("abc"));
    expect(line).toBe("00000000  61 62 63                                          |abc|\n");
    expect(line.indexOf("|")).toBe(60);
  });

  test("matches hexdump -C on random bytes (when hexdump exists)", () => {
    const data = crypto.getRandomValues(new Uint8Array(1000));
    const file = join(tmp, "rand.bin");
    writeFileSync(file, data);
    const r = spawnSync(["hexdump", "-C", file], { stdout: "pipe", stderr: "ignore" });
    if (r.exitCode !== 0) return; // no hexdump binary: the literal cases above still hold
    // hexdump -C collapses repeated lines into "*"; random data has none. It ends with the length.
    const expected = r.stdout.toString().replace(/^[0-9a-f]{8}\n$/m, "");
    expect(hexDump(data)).toBe(expected);
  });

  test("empty payload prints no hex lines", () => {
    expect(hexDump(new Uint8Array(0))).toBe("");
  });

  test("packet block layout", () => {
    const when = new Date(2026, 10, 27, 9, 5, 7, 42);
    expect(packetBlock(when, "10.77.0.1:40000", ":9999", Uint8Array.of(0x50, 0x49, 0x4e, 0x47))).toBe(
      "[09:05:07.042] Packet: 10.77.0.1:40000 -> :9999 | Length: 4 bytes\n" +
        "--- PAYLOAD (HEX DUMP) ---\n" +
        "00000000  50 49 4e 47                                       |PING|\n" +
        "--------------------------\n",
    );
  });
});

describe("dump --read", () => {
  test.each([
    ["go-aes.pcap", 190],
    ["go-gcm-udp.pcap", 146],
    ["go-null.pcap", 71],
  ])("%s: every frame is printed", (name, frames) => {
    let out = "";
    const r = dumpFile(join(FIXTURES, name), (s) => {
      out += s;
    });
    expect(r).toEqual({ printed: frames, skipped: 0 });
    expect(out.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] Packet: /gm)).toHaveLength(frames);
    expect(out.match(/^-{26}$/gm)).toHaveLength(frames);
  });

  test("go-null packet 1: addresses, length and payload bytes", () => {
    let out = "";
    dumpFile(join(FIXTURES, "go-null.pcap"), (s) => {
      out += s;
    });
    const first = out.split("--------------------------\n")[0]!;
    expect(first).toMatch(/^\[\d\d:\d\d:\d\d\.556\] Packet: 10\.77\.0\.1:55013 -> 10\.77\.0\.2:9999 \| Length: 32 bytes\n/);
    expect(first).toContain(
      "00000000  ed c2 c3 bc 51 00 00 02  38 00 00 00 00 00 00 00  |....Q...8.......|\n" +
        "00000010  00 00 00 00 08 00 00 00  02 00 00 00 03 00 00 00  |................|\n",
    );
  });

  test("CLI: go-aes.pcap prints 190 blocks and exits 0", () => {
    const r = paqet(["dump", "--read", join(FIXTURES, "go-aes.pcap")]);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/ Packet: 10\.77\.0\.1:63346 -> 10\.77\.0\.2:9999 \| /g)).toHaveLength(18);
    expect(r.stdout.match(/ Packet: 10\.77\.0\.2:9999 -> 10\.77\.0\.1:63346 \| /g)).toHaveLength(172);
    expect(r.stderr).toMatch(/190 packets printed/);
  });

  test("CLI: a missing or bad file is one line and exit 1", () => {
    const missing = paqet(["dump", "--read", join(tmp, "nope.pcap")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toMatch(GO_LOG_LINE);
    expect(missing.stderr).toContain("nope.pcap");

    writeFileSync(join(tmp, "bad.pcap"), "not a pcap file at all, really");
    const bad = paqet(["dump", "--read", join(tmp, "bad.pcap")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("role checks (before any handle is opened)", () => {
  const client = `role: "client"
socks5:
  - listen: "127.0.0.1:1080"
network:
  interface: "lo"
  ipv4:
    addr: "127.0.0.1:0"
    router_mac: "02:77:00:00:00:02"
server:
  addr: "127.0.0.1:9999"
transport:
  protocol: "kcp"
  kcp:
    key: "k"
`;
  const server = `role: "server"
listen:
  addr: ":9999"
network:
  interface: "lo"
  ipv4:
    addr: "127.0.0.1:9999"
    router_mac: "02:77:00:00:00:01"
transport:
  protocol: "kcp"
  kcp:
    key: "k"
`;
  test("dump needs a server config, ping a client config", () => {
    writeFileSync(join(tmp, "client.yaml"), client);
    writeFileSync(join(tmp, "server.yaml"), server);
    const d = paqet(["dump", "-c", "client.yaml"]);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d dump command requires server configuration\n$/);
    const p = paqet(["ping", "-c", "server.yaml"]);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d ping command requires client configuration\n$/);
  });

  test("a missing config is `failed to parse configuration`", () => {
    const r = paqet(["ping", "-c", "missing.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(GO_LOG_LINE);
    expect(r.stderr).toContain("failed to parse configuration: ");
    expect(r.stderr).toContain("missing.yaml");
  });
});
