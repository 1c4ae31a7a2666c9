import { expect, test } from "bun:test";
import { PI_FRACTION_HEX } from "../src/kcp/crypt/pi-hex.ts";
import { blowfishBlock } from "../src/kcp/crypt/blowfish.ts";
import { cast5Block } from "../src/kcp/crypt/cast5.ts";
import { sm4Block } from "../src/kcp/crypt/sm4.ts";
import { twofishBlock } from "../src/kcp/crypt/twofish.ts";
import { teaBlock, xteaBlock } from "../src/kcp/crypt/tea.ts";
import type { BlockEncrypt } from "../src/kcp/crypt/cfb.ts";

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
const enc = (b: BlockEncrypt, pt: string): string => {
  const x = hex(pt);
  b.encryptBlock(x);
  return Buffer.from(x).toString("hex");
};

test("Blowfish's tables are the hex digits of π (Machin's formula on BigInt)", () => {
  const words = PI_FRACTION_HEX.length / 8;
  expect(words).toBe(18 + 1024);
  const guard = 64n;
  const bits = BigInt(words * 32) + guard;
  const one = 1n << bits;
  const arctanInv = (x: bigint): bigint => {
    let sum = 0n;
    let term = one / x;
    for (let k = 1n, sign = 1n; term !== 0n; k += 2n, sign = -sign) {
      sum += (sign * term) / k;
      term /= x * x;
    }
    return sum;
  };
  const pi = 16n * arctanInv(5n) - 4n * arctanInv(239n);
  expect(((pi - (3n << bits)) >> guard).toString(16).padStart(words * 8, "0")).toBe(PI_FRACTION_HEX);
});

// Published single-block test vectors, independent of kcp-go.
test("Blowfish: Schneier's all-zero vector and a 32-byte key against BoringSSL bf-ecb", async () => {
  expect(enc(blowfishBlock(new Uint8Array(8)), "0000000000000000")).toBe("4ef997456198dd78");
  const { createCipheriv } = await import("node:crypto");
  for (let i = 0; i < 20; i++) {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const pt = crypto.getRandomValues(new Uint8Array(8));
    const e = createCipheriv("bf-ecb", key, new Uint8Array(8));
    e.setAutoPadding(false);
    expect(enc(blowfishBlock(key), Buffer.from(pt).toString("hex"))).toBe(Buffer.from(e.update(pt)).toString("hex"));
  }
});

test("CAST-128: RFC 2144 appendix B.1", () => {
  expect(enc(cast5Block(hex("0123456712345678234567893456789a")), "0123456789abcdef")).toBe("238b4fe5847e44b2");
});

test("SM4: GB/T 32907 example 1", () => {
  expect(enc(sm4Block(hex("0123456789abcdeffedcba9876543210")), "0123456789abcdeffedcba9876543210")).toBe(
    "681edf34d206965e86b3e94f536e4246",
  );
});

test("Twofish: 256-bit all-zero key vector", () => {
  const zero = "00000000000000000000000000000000";
  expect(enc(twofishBlock(new Uint8Array(32)), zero)).toBe("57ff739d4dc92c1bd7fc01700cc8216f");
});

test("XTEA: 32 cycles, big-endian (standard vector)", () => {
  expect(enc(xteaBlock(hex("000102030405060708090a0b0c0d0e0f")), "4142434445464748")).toBe("497df3d072612cb5");
});

/** Textbook TEA with a chosen cycle count, written plainly as the reference. */
function referenceTea(key: Uint8Array, block: Uint8Array, cycles: number): string {
  const kv = new DataView(key.buffer, key.byteOffset, 16);
  const k = [0, 4, 8, 12].map((o) => kv.getUint32(o));
  const bv = new DataView(block.buffer, block.byteOffset, 8);
  let v0 = bv.getUint32(0);
  let v1 = bv.getUint32(4);
  let sum = 0;
  for (let i = 0; i < cycles; i++) {
    sum = (sum + 0x9e3779b9) >>> 0;
    v0 = (v0 + ((((v1 << 4) + k[0]!) ^ (v1 + sum) ^ ((v1 >>> 5) + k[1]!)) >>> 0)) >>> 0;
    v1 = (v1 + ((((v0 << 4) + k[2]!) ^ (v0 + sum) ^ ((v0 >>> 5) + k[3]!)) >>> 0)) >>> 0;
  }
  const out = new DataView(new ArrayBuffer(8));
  out.setUint32(0, v0);
  out.setUint32(4, v1);
  return Buffer.from(out.buffer).toString("hex");
}

test("TEA as kcp-go runs it is textbook TEA with 8 cycles, not 32", () => {
  for (let i = 0; i < 20; i++) {
    const key = crypto.getRandomValues(new Uint8Array(16));
    const pt = crypto.getRandomValues(new Uint8Array(8));
    const got = enc(teaBlock(key), Buffer.from(pt).toString("hex"));
    expect(got).toBe(referenceTea(key, pt, 8));
    expect(got).not.toBe(referenceTea(key, pt, 32));
  }
});
