/**
 * Random and mutated input through every parser: the only thing allowed to escape is PacketError,
 * and parseFrame never throws at all. Seeded, so a failure names its case.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  PacketError,
  parseEthernet,
  parseIpv4,
  parseIpv6,
  parsePcapHeader,
  parseTcp,
  parseTcpOptions,
  pcapRecords,
  readPcapFile,
  tryParseIp,
} from "../src/packet/index.ts";
import { newFrameStats, parseFrame } from "../src/socket/framing.ts";
import { VECTORS_DIR } from "./helpers/shared.ts";

const frames = ["go-aes", "go-gcm-udp", "go-null"].flatMap((n) =>
  readPcapFile(new Uint8Array(readFileSync(`${VECTORS_DIR}/${n}.pcap`))).records.map((r) => r.data),
);

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const PARSERS: [string, (b: Uint8Array) => unknown][] = [
  ["ethernet", (b) => parseEthernet(b)],
  ["ipv4", (b) => parseIpv4(b, 14, true)],
  ["ipv4@0", (b) => parseIpv4(b, 0, true)],
  ["ipv6", (b) => parseIpv6(b, 14)],
  ["tcp", (b) => parseTcp(b, 34)],
  ["tcp@0", (b) => parseTcp(b)],
  ["tcpOptions", (b) => parseTcpOptions(b, 0, b.length)],
  ["pcap", (b) => [...pcapRecords(b, parsePcapHeader(b))]],
];

/** Runs every parser on `b`; returns the number of failures that were not PacketError. */
function runAll(b: Uint8Array, stats: ReturnType<typeof newFrameStats>, label: string): string[] {
  const bad: string[] = [];
  for (const [name, fn] of PARSERS) {
    try {
      fn(b);
    } catch (e) {
      if (!(e instanceof PacketError)) bad.push(`${label} ${name}: ${String(e)}`);
    }
  }
  try {
    parseFrame(b, stats);
  } catch (e) {
    bad.push(`${label} parseFrame threw ${String(e)}`);
  }
  return bad;
}

describe("fuzz", () => {
  test("100,000 random buffers and mutated real frames: only PacketError, parseFrame never throws", () => {
    const next = rng(0x5eed);
    const stats = newFrameStats();
    const bad: string[] = [];
    const N = 100_000;
    // Most cases end in a throw; capturing 10 stack frames per throw would dominate the run time.
    const limit = (Error as { stackTraceLimit?: number }).stackTraceLimit;
    (Error as { stackTraceLimit?: number }).stackTraceLimit = 0;
    try {
    for (let i = 0; i < N && bad.length < 5; i++) {
      let b: Uint8Array;
      if (i % 2 === 0) {
        // Random bytes; a plausible Ethernet/IP prefix half of the time so deeper layers get reached.
        b = new Uint8Array(next() % 128);
        for (let j = 0; j < b.length; j++) b[j] = next() & 0xff;
        if (i % 4 === 0 && b.length > 34) {
          const v6 = next() & 1;
          b[12] = v6 ? 0x86 : 0x08;
          b[13] = v6 ? 0xdd : 0x00;
          b[14] = v6 ? 0x60 : 0x45;
          b[v6 ? 20 : 23] = 6;
        }
      } else {
        // A real frame with 1-4 random bytes changed and maybe cut short.
        const src = frames[next() % frames.length]!;
        const cut = next() % 3 === 0 ? next() % (src.length + 1) : src.length;
        b = src.slice(0, cut);
        for (let k = 1 + (next() % 4); k > 0 && b.length > 0; k--) b[next() % Math.min(b.length, 80)] = next() & 0xff;
      }
      bad.push(...runAll(b, stats, `case ${i}`));
    }
    } finally {
      (Error as { stackTraceLimit?: number }).stackTraceLimit = limit;
    }
    expect(bad).toEqual([]);
    expect(stats.frames).toBe(N);
    // Every reason is reached, so the mutations exercise each branch.
    for (const [k, v] of Object.entries(stats)) expect([k, v > 0]).toEqual([k, true]);
    // About 2 s of CPU on a quiet machine; the limit only guards against a shared, loaded one.
  }, 30_000);

  test("random IP text never throws from tryParseIp", () => {
    const next = rng(77);
    const alphabet = "0123456789abcdefABCDEF:.:::x ";
    for (let i = 0; i < 20_000; i++) {
      let s = "";
      for (let n = next() % 40; n > 0; n--) s += alphabet[next() % alphabet.length];
      const b = tryParseIp(s);
      if (b) expect([4, 16]).toContain(b.length);
    }
  });
});
