import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BLOCKS, createPacketCrypt, type Entropy } from "../src/kcp/crypt/index.ts";
import { VECTORS_DIR } from "./helpers/shared.ts";

const VECTORS = VECTORS_DIR;

interface CryptCase {
  case: string;
  payload_hex: string;
  datagram_hex: string;
  nonce_hex?: string;
  plain_datagram_hex?: string;
}
interface CryptEntry {
  cipher: string;
  key_hex: string;
  vectors: CryptCase[];
  session_capture: { datagram_hex: string; inner_hex: string };
}
interface StreamFile {
  key_hex?: string;
  cipher: string;
  datagrams: { seq: number; dir: string; datagram_hex: string; decoded: { inner_hex?: string } }[];
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const load = <T>(name: string): T => JSON.parse(readFileSync(`${VECTORS}/${name}`, "utf8")) as T;

const crypt = load<{ ciphers: CryptEntry[] }>("crypt.json");

/** kcp.SetEntropy with the counting stream 00 01 02 … the generator used. */
function countingEntropy(): Entropy {
  let next = 0;
  return (nonce) => {
    for (let i = 0; i < nonce.length; i++) nonce[i] = next++ & 0xff;
  };
}

function fixedEntropy(bytes: Uint8Array): Entropy {
  return (nonce) => nonce.set(bytes.subarray(0, nonce.length));
}

describe("crypt.json", () => {
  test("covers every block paqet offers", () => {
    expect(crypt.ciphers.map((c) => c.cipher).sort()).toEqual([...BLOCKS].sort());
  });

  for (const entry of crypt.ciphers) {
    describe(entry.cipher, () => {
      const key = hex(entry.key_hex);
      for (const v of entry.vectors) {
        test(`${v.case}: seal reproduces kcp-go's datagram`, () => {
          const nonce = v.nonce_hex === undefined ? new Uint8Array(0) : hex(v.nonce_hex);
          const pc = createPacketCrypt(entry.cipher, key, { entropy: fixedEntropy(nonce) });
          expect(toHex(pc.seal(hex(v.payload_hex)))).toBe(v.datagram_hex);
        });
        test(`${v.case}: open recovers the payload`, () => {
          const pc = createPacketCrypt(entry.cipher, key);
          const inner = pc.open(hex(v.datagram_hex));
          expect(inner).toBeDefined();
          expect(toHex(inner!)).toBe(v.payload_hex);
          expect(pc.stats).toEqual({ checksumFailures: 0, malformed: 0 });
        });
      }
      test("session_capture: first datagram of a real session, counting entropy", () => {
        const sc = entry.session_capture;
        const pc = createPacketCrypt(entry.cipher, key, { entropy: countingEntropy() });
        expect(toHex(pc.seal(hex(sc.inner_hex)))).toBe(sc.datagram_hex);
        expect(toHex(createPacketCrypt(entry.cipher, key).open(hex(sc.datagram_hex))!)).toBe(sc.inner_hex);
      });
      test("round trip of every length 0..300 with random nonces", () => {
        const a = createPacketCrypt(entry.cipher, key);
        const b = createPacketCrypt(entry.cipher, key);
        for (let n = 0; n <= 300; n++) {
          const inner = crypto.getRandomValues(new Uint8Array(n));
          const d = a.seal(inner);
          expect(d.length).toBe(n + a.overhead);
          expect(toHex(b.open(d)!)).toBe(toHex(inner));
        }
      });
    });
  }
});

/**
 * Ciphertext bits whose flip only changes the 16 nonce bytes, which no CRC covers: all of them for
 * none/xor (no diffusion), salsa20's encrypted nonce half, and the first block of an 8-byte CFB
 * (its flip garbles plaintext blocks 0 and 1, both nonce). 16-byte CFB and GCM catch every bit.
 */
function uncheckedBits(block: string): number {
  if (block === "none" || block === "xor") return 128;
  if (["salsa20", "blowfish", "cast5", "3des", "tea", "xtea"].includes(block)) return 64;
  return 0;
}

describe("integrity", () => {
  for (const block of BLOCKS.filter((b) => b !== "null")) {
    test(`${block}: every flipped bit fails the check and is counted`, () => {
      const key = hex(crypt.ciphers.find((c) => c.cipher === block)!.key_hex);
      const pc = createPacketCrypt(block, key);
      const d = pc.seal(new TextEncoder().encode("a KCP segment that must not be altered")).slice();
      let failures = 0;
      for (let bit = 0; bit < d.length * 8; bit++) {
        const bad = d.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        if (pc.open(bad) === undefined) failures++;
      }
      expect(failures).toBe(d.length * 8 - uncheckedBits(block));
      expect(pc.stats.checksumFailures).toBe(failures);
    });
  }

  test("short datagrams are malformed, never thrown", () => {
    for (const block of BLOCKS.filter((b) => b !== "null")) {
      const pc = createPacketCrypt(block, new Uint8Array(32).fill(1));
      for (let n = 0; n < pc.overhead; n++) expect(pc.open(new Uint8Array(n))).toBeUndefined();
      expect(pc.stats.malformed).toBe(pc.overhead);
    }
  });

  test("random and truncated datagrams never throw (100k)", () => {
    const pcs = BLOCKS.map((b) => createPacketCrypt(b, new Uint8Array(32).fill(9)));
    const buf = crypto.getRandomValues(new Uint8Array(1600));
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) {
      const pc = pcs[i % pcs.length]!;
      if (i % 1000 === 0) crypto.getRandomValues(buf);
      // Mostly short and truncated datagrams (around the headers' sizes), every 10th up to full size.
      const len = i % 10 === 0 ? (buf[i % 1600]! * 7 + i) % 1585 : (buf[i % 1600]! + i) % 100;
      if (pc.open(buf.subarray(i % 16, (i % 16) + len)) !== undefined) accepted++;
    }
    // Only null accepts arbitrary bytes; a random CRC32 match elsewhere is a 1 in 4 billion event.
    expect(accepted).toBeLessThanOrEqual(Math.ceil(100_000 / pcs.length) + 1);
  });

  test("unknown block names are refused at construction", () => {
    expect(() => createPacketCrypt("rot13", new Uint8Array(32))).toThrow(expect.objectContaining({ code: "KCP_BAD_OPTION" }));
    expect(() => createPacketCrypt("aes", new Uint8Array(16))).toThrow(expect.objectContaining({ code: "KCP_BAD_OPTION" }));
  });
});

describe("session captures decrypt to the listed inner bytes", () => {
  for (const file of ["kcp_stream_aes_fec.json", "kcp_stream_gcm.json", "paqet_stack_aes.json"]) {
    test(file, () => {
      const f = load<StreamFile>(file);
      const pc = createPacketCrypt(f.cipher, hex(f.key_hex!));
      for (const d of f.datagrams) {
        const inner = pc.open(hex(d.datagram_hex));
        expect(inner === undefined ? undefined : toHex(inner)).toBe(d.decoded.inner_hex!);
      }
      expect(pc.stats.checksumFailures).toBe(0);
    });
    test(`${file}: sealing the inner bytes with the shared counting entropy gives the wire bytes`, () => {
      const f = load<StreamFile>(file);
      const pc = createPacketCrypt(f.cipher, hex(f.key_hex!), { entropy: countingEntropy() });
      for (const d of f.datagrams) expect(toHex(pc.seal(hex(d.decoded.inner_hex!)))).toBe(d.datagram_hex);
    });
  }
});
