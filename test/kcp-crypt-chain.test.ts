/**
 * The chained CFB encryptor (one long-lived native CFB object re-pointed at the IV before each
 * datagram) must give, for every datagram of a long sequence of mixed lengths, exactly what a fresh
 * CFB object per datagram gives. The in-place libcrypto path must agree with it byte for byte.
 */
import { describe, expect, test } from "bun:test";
import { createCipheriv } from "node:crypto";
import { KCP_IV } from "../src/kcp/crypt/cfb.ts";
import { createPacketCrypt } from "../src/kcp/crypt/index.ts";
import { libcryptoCfbCipher, nativeCfbCipher } from "../src/kcp/crypt/native.ts";
import { libcryptoAvailable } from "../ffi/libcrypto.ts";

function counting(): (nonce: Uint8Array) => void {
  let n = 0;
  return (nonce) => {
    for (let i = 0; i < nonce.length; i++) nonce[i] = (n + i) & 0xff;
    n++;
  };
}

describe("chained CFB encryption equals a fresh cipher per datagram", () => {
  for (const [block, mode, keyLen] of [["aes", "aes-256-cfb", 32], ["aes-128", "aes-128-cfb", 16]] as const) {
    test(`${block}: 2000 datagrams of random lengths 0..1500`, () => {
      const key = new Uint8Array(32).map((_, i) => i * 13 + 1);
      const sealer = createPacketCrypt(block, key, { entropy: counting() });
      const reference = counting();
      const opener = createPacketCrypt(block, key);
      let seed = 12345;
      const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
      for (let k = 0; k < 2000; k++) {
        const inner = new Uint8Array(rnd() % 1501).map(() => rnd() & 0xff);
        const sealed = Uint8Array.from(sealer.seal(inner));
        const plain = new Uint8Array(20 + inner.length);
        reference(plain.subarray(0, 16));
        const crc = Bun.hash.crc32(inner);
        plain[16] = crc;
        plain[17] = crc >>> 8;
        plain[18] = crc >>> 16;
        plain[19] = crc >>> 24;
        plain.set(inner, 20);
        const want = createCipheriv(mode, key.subarray(0, keyLen), KCP_IV).update(plain);
        expect(Buffer.from(sealed).equals(want)).toBe(true);
        expect(Buffer.from(opener.open(sealed)!).equals(Buffer.from(inner))).toBe(true);
      }
    });
  }
});

describe.skipIf(!libcryptoAvailable())("libcrypto's in-place AES equals the node:crypto path", () => {
  const specs = [
    { keyLen: 32, ecb: "aes-256-ecb", cfb: "aes-256-cfb" },
    { keyLen: 24, ecb: "aes-192-ecb" },
    { keyLen: 16, ecb: "aes-128-ecb", cfb: "aes-128-cfb" },
  ] as const;
  for (const spec of specs) {
    test(`${spec.keyLen * 8}-bit key: 2000 datagrams of random lengths 0..1500, both directions`, () => {
      const key = new Uint8Array(spec.keyLen).map((_, i) => i * 29 + 7);
      const fast = libcryptoCfbCipher(key)!;
      const reference = nativeCfbCipher({ ...spec, blockSize: 16, ecbIvLength: 0 }, key);
      let seed = 777;
      const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
      for (let k = 0; k < 2000; k++) {
        const plain = new Uint8Array(rnd() % 1501).map(() => rnd() & 0xff);
        const sealed = Uint8Array.from(fast.encrypt(Uint8Array.from(plain)));
        const want = reference.encrypt(Uint8Array.from(plain));
        expect(Buffer.from(sealed).equals(Buffer.from(want))).toBe(true);
        // Decrypt into another buffer and in place (dst aliasing src).
        const out = new Uint8Array(sealed.length);
        fast.decrypt(sealed, out);
        expect(Buffer.from(out).equals(Buffer.from(plain))).toBe(true);
        const inPlace = Uint8Array.from(sealed);
        fast.decrypt(inPlace, inPlace);
        expect(Buffer.from(inPlace).equals(Buffer.from(plain))).toBe(true);
      }
    });
  }
});
