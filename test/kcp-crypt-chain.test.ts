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

describe.skipIf(!libcryptoAvailable())("batch sealing (stage/flushStaged) equals sealing one by one", () => {
  const key = new Uint8Array(32).map((_, i) => i * 11 + 5);

  for (const block of ["aes", "aes-128", "aes-192"] as const) {
    test(`${block}: batches of 1..70 datagrams of random lengths, two destinations interleaved`, () => {
      const batched = createPacketCrypt(block, key, { entropy: counting() });
      const single = createPacketCrypt(block, key, { entropy: counting() });
      expect(batched.stage).toBeDefined();
      let seed = 99;
      const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
      const got: { dest: string; bytes: Buffer }[] = [];
      const toA = (d: Uint8Array): void => void got.push({ dest: "a", bytes: Buffer.from(d) });
      const toB = (d: Uint8Array): void => void got.push({ dest: "b", bytes: Buffer.from(d) });
      const want: { dest: string; bytes: Buffer }[] = [];
      for (let round = 0; round < 40; round++) {
        const n = 1 + (rnd() % 70);
        for (let k = 0; k < n; k++) {
          // Mostly MTU-sized, some short (ACK-only packets), now and then one above a staging slot.
          const r = rnd() % 20;
          const len = r === 0 ? 1600 : r < 5 ? rnd() % 40 : 1300 + (rnd() % 60);
          const inner = new Uint8Array(len).map(() => rnd() & 0xff);
          const dest = rnd() % 4 === 0 ? "b" : "a";
          batched.stage!(inner, dest === "a" ? toA : toB);
          want.push({ dest, bytes: Buffer.from(single.seal(inner)) });
        }
        batched.flushStaged!();
        expect(got.length).toBe(want.length);
      }
      for (let i = 0; i < want.length; i++) {
        expect(got[i]!.dest).toBe(want[i]!.dest);
        expect(got[i]!.bytes.equals(want[i]!.bytes)).toBe(true);
      }
    });
  }

  test("what is staged and never flushed leaves at the end of the turn", async () => {
    const crypt = createPacketCrypt("aes", key);
    const opener = createPacketCrypt("aes", key);
    const out: Uint8Array[] = [];
    const emit = (d: Uint8Array): void => void out.push(Uint8Array.from(d));
    for (let k = 0; k < 10; k++) crypt.stage!(new Uint8Array(500).fill(k), emit);
    expect(out.length).toBe(0);
    await Promise.resolve();
    expect(out.length).toBe(10);
    out.forEach((d, k) => expect(Buffer.from(opener.open(d)!).equals(Buffer.alloc(500, k))).toBe(true));
  });
});

describe.skipIf(!libcryptoAvailable())("batch sealing re-entered from an emit", () => {
  test("datagrams staged while a batch is being emitted are sealed on their own; nothing is overwritten", () => {
    const key = new Uint8Array(32).fill(3);
    const crypt = createPacketCrypt("aes", key);
    const opener = createPacketCrypt("aes", key);
    const got: Buffer[] = [];
    const inner = (k: number) => new Uint8Array(700).fill(k);
    const toB = (d: Uint8Array): void => void got.push(Buffer.from(opener.open(d)!));
    let reentered = false;
    const toA = (d: Uint8Array): void => {
      got.push(Buffer.from(opener.open(d)!));
      // Like a conn that hands the datagram synchronously to another session on the same crypt.
      if (!reentered) {
        reentered = true;
        for (let j = 97; j < 100; j++) crypt.stage!(inner(j), toB);
      }
    };
    for (let k = 0; k < 8; k++) crypt.stage!(inner(k), toA);
    crypt.flushStaged!();
    expect(got.map((b) => b[0])).toEqual([0, 97, 98, 99, 1, 2, 3, 4, 5, 6, 7]);
    got.forEach((b) => expect(b.every((x) => x === b[0])).toBe(true));
  });
});
