/**
 * The libpcap binding without a network: library search and install hints, the missing-library
 * error, struct offsets, ring geometry, address text, and (when libpcap loads) version, device
 * list and handle errors. Opening handles needs root; those tests skip with the reason.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "bun";
import {
  DEFAULT_SLOT_SIZE,
  DEFAULT_SLOTS,
  findAllDevs,
  installHint,
  ipv6Text,
  libpcapCandidates,
  libpcapVersion,
  libpcapVersionNumbers,
  PcapError,
  PcapHandle,
  PKTHDR,
} from "../ffi/index.ts";
import { checkGeometry, ringBytes, SLOT_HEADER, SLOTS_OFFSET } from "../ffi/ring.ts";

function libpcapLoads(): boolean {
  try {
    libpcapVersion();
    return true;
  } catch {
    return false;
  }
}
const HAVE_LIBPCAP = libpcapLoads();
const IS_ROOT = process.getuid?.() === 0;
const NO_LIBPCAP = HAVE_LIBPCAP ? undefined : "libpcap does not load here";
const NO_HANDLE = NO_LIBPCAP ?? (IS_ROOT ? undefined : "opening pcap handles needs root");
const title = (name: string, skipReason: string | undefined) => (skipReason ? `${name} (skipped: ${skipReason})` : name);

describe("library search", () => {
  test("each OS has its names, most specific first", () => {
    const saved = process.env.PAQET_LIBPCAP;
    delete process.env.PAQET_LIBPCAP;
    try {
      expect(libpcapCandidates("linux").slice(0, 2)).toEqual(["libpcap.so.1", "libpcap.so.0.8"]);
      expect(libpcapCandidates("darwin")[0]).toBe("/usr/lib/libpcap.A.dylib");
      expect(libpcapCandidates("darwin")).toContain("/opt/homebrew/opt/libpcap/lib/libpcap.dylib");
      expect(libpcapCandidates("win32")[0]).toMatch(/System32\\Npcap\\wpcap\.dll$/);
    } finally {
      if (saved !== undefined) process.env.PAQET_LIBPCAP = saved;
    }
  });

  test("PAQET_LIBPCAP replaces the search", () => {
    const saved = process.env.PAQET_LIBPCAP;
    process.env.PAQET_LIBPCAP = "/opt/custom/libpcap.so";
    try {
      expect(libpcapCandidates("linux")).toEqual(["/opt/custom/libpcap.so"]);
      expect(libpcapCandidates("win32")).toEqual(["/opt/custom/libpcap.so"]);
    } finally {
      if (saved === undefined) delete process.env.PAQET_LIBPCAP;
      else process.env.PAQET_LIBPCAP = saved;
    }
  });

  test("install hints name the OS's tool", () => {
    expect(installHint("darwin")).toContain("brew install libpcap");
    expect(installHint("win32")).toContain("Npcap");
    expect(installHint("linux")).toMatch(/apt-get|dnf|apk|pacman|zypper/);
  });

  test("a library that does not load gives SOCK_NO_LIBPCAP with the hint, and only on first use", () => {
    // A child process: the loaded library is cached per process.
    const script = `
      const ffi = await import(${JSON.stringify(`${import.meta.dir}/../ffi/index.ts`)});
      console.log("imported");
      try { ffi.libpcapVersion(); console.log("loaded?!"); }
      catch (e) { console.log(e.name, e.code, e.message); }
      try { ffi.findAllDevs(); } catch (e) { console.log("again", e.code); }`;
    const r = spawnSync([process.execPath, "-e", script], {
      env: { ...process.env, PAQET_LIBPCAP: "/nonexistent/libpcap.so.9" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = r.stdout.toString();
    expect(out).toContain("imported");
    expect(out).toContain("PcapError SOCK_NO_LIBPCAP libpcap not found: PAQET_LIBPCAP points at a library that does not load");
    expect(out).toContain("/nonexistent/libpcap.so.9");
    expect(out).toContain("again SOCK_NO_LIBPCAP");
  });
});

describe("layouts", () => {
  test("struct pcap_pkthdr offsets: LP64 here, LLP64 on Windows", () => {
    if (process.platform === "win32") expect(PKTHDR).toEqual({ tsSec: 0, tsUsec: 4, caplen: 8, len: 12 });
    else expect(PKTHDR).toEqual({ tsSec: 0, tsUsec: 8, caplen: 16, len: 20 });
  });

  test("ring geometry: power-of-two slots, 16-byte aligned slots with room for a frame", () => {
    expect(() => checkGeometry(DEFAULT_SLOTS, DEFAULT_SLOT_SIZE)).not.toThrow();
    expect(() => checkGeometry(1000, 2048)).toThrow(RangeError);
    expect(() => checkGeometry(1, 2048)).toThrow(RangeError);
    expect(() => checkGeometry(1024, 2040)).toThrow(RangeError);
    expect(() => checkGeometry(1024, 64)).toThrow(RangeError);
    expect(ringBytes(4, 2048)).toBe(SLOTS_OFFSET + 4 * 2048);
    // A full Ethernet frame (1514, or 1518 with a VLAN tag) fits a default slot.
    expect(DEFAULT_SLOT_SIZE - SLOT_HEADER).toBeGreaterThanOrEqual(1518);
  });

  test("IPv6 text follows RFC 5952", () => {
    expect(ipv6Text([0xfd77, 5, 0, 0, 0, 0, 0, 1])).toBe("fd77:5::1");
    expect(ipv6Text([0, 0, 0, 0, 0, 0, 0, 1])).toBe("::1");
    expect(ipv6Text([0, 0, 0, 0, 0, 0, 0, 0])).toBe("::");
    expect(ipv6Text([0xfe80, 0, 0, 0, 0xfc, 0xff, 0xfe00, 1])).toBe("fe80::fc:ff:fe00:1");
    // A single zero word is not compressed; the first of two equal runs is.
    expect(ipv6Text([1, 0, 2, 3, 4, 5, 6, 7])).toBe("1:0:2:3:4:5:6:7");
    expect(ipv6Text([1, 0, 0, 2, 0, 0, 3, 4])).toBe("1::2:0:0:3:4");
  });

  test("version numbers come from libpcap's or Npcap's text", () => {
    expect(libpcapVersionNumbers("libpcap version 1.10.3 (with TPACKET_V3)")).toEqual([1, 10]);
    expect(libpcapVersionNumbers("Npcap version 1.79, based on libpcap version 1.10.4")).toEqual([1, 10]);
    expect(libpcapVersionNumbers("something else")).toEqual([0, 0]);
  });
});

describe.skipIf(NO_LIBPCAP !== undefined)(title("with libpcap", NO_LIBPCAP), () => {
  test("libpcapVersion names libpcap", () => {
    expect(libpcapVersion()).toMatch(/libpcap version \d+\.\d+/);
  });

  test("findAllDevs lists the loopback device with its addresses", () => {
    const devs = findAllDevs();
    const lo = devs.find((d) => d.loopback);
    expect(lo).toBeDefined();
    expect(lo!.name.length).toBeGreaterThan(0);
    if (process.platform === "linux") expect(lo!.addresses).toContain("127.0.0.1");
  });
});

describe.skipIf(NO_HANDLE !== undefined)(title("PcapHandle", NO_HANDLE), () => {
  test("an unknown device is SOCK_NO_INTERFACE or SOCK_PCAP with libpcap's text", () => {
    let err: unknown;
    try {
      PcapHandle.open({ device: "pqnosuchdev0" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PcapError);
    expect(["SOCK_NO_INTERFACE", "SOCK_PCAP"]).toContain((err as PcapError).code);
    expect((err as PcapError).message).toContain("pqnosuchdev0");
  });

  test("a bad BPF filter fails with pcap_geterr text and closes the handle", () => {
    let err: unknown;
    try {
      PcapHandle.open({ device: "lo", filter: "tcp and dst port banana" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PcapError);
    expect((err as PcapError).code).toBe("SOCK_PCAP");
    expect((err as PcapError).message).toMatch(/bad BPF filter "tcp and dst port banana": .+/);
  });

  test("close is idempotent and later calls fail cleanly", () => {
    const h = PcapHandle.open({ device: "lo", direction: "in", filter: "less 1" });
    expect(h.datalink()).toBeGreaterThanOrEqual(0);
    const s = h.stats();
    expect(s.dropped).toBe(0);
    h.close();
    h.close();
    expect(h.isClosed).toBe(true);
    expect(() => h.send(new Uint8Array(60))).toThrow(/closed/);
    expect(() => h.stats()).toThrow(PcapError);
  });
});

describe.skipIf(process.platform !== "linux")("execSelf (execve)", () => {
  const script = (body: string) => [
    process.execPath,
    "-e",
    `const { execSelf } = await import(${JSON.stringify(`${import.meta.dir}/../ffi/exec.ts`)}); ${body}`,
  ];

  test("replaces the process: same PID, the given argv and environment", () => {
    const r = spawnSync(
      script(`console.log(process.pid); console.log(execSelf("/bin/sh", ["sh", "-c", "echo $$ $PQ_T $0 $1", "zero", "one"], { PQ_T: "set" }));`),
      { stdout: "pipe", stderr: "pipe", timeout: 20_000 },
    );
    const [pid, shell] = r.stdout.toString().trim().split("\n");
    expect(r.exitCode).toBe(0);
    expect(shell).toBe(`${pid} set zero one`);
  });

  test("a program that cannot run returns its error and the process goes on", () => {
    const r = spawnSync(script(`console.log(execSelf("/nonexistent/paqet", ["x"], {})); console.log("still here");`), {
      stdout: "pipe",
      stderr: "pipe",
      timeout: 20_000,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toContain("execve /nonexistent/paqet: No such file or directory");
    expect(r.stdout.toString()).toContain("still here");
  });
});
