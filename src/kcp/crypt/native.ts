/**
 * kcp-CFB on BoringSSL primitives (Bun's node:crypto; bun-probe.md §4).
 *
 * Decryption never needs a cipher object per datagram: every CFB keystream block is E(previous
 * ciphertext block), all known up front, so one reused ECB object encrypts IV ‖ C[0..n−bs) in a
 * single call. Encryption is sequential; where Bun has the CFB mode itself (aes-128/256-cfb) a
 * fresh CFB object per datagram is fastest, then a TypeScript block function when there is one
 * (blowfish), otherwise the reused ECB object runs block by block (one native call per block).
 */
import { createCipheriv, type Cipheriv } from "node:crypto";
import { cfbCipher, KCP_IV, type BlockEncrypt, type DatagramCipher } from "./cfb.ts";

export interface NativeSpec {
  /** An ECB-mode name in Bun's getCiphers(): aes-128-ecb, aes-192-ecb, aes-256-ecb, bf-ecb, des-ede3. */
  readonly ecb: string;
  /** A CFB-mode name with feedback = block size, when Bun has it. */
  readonly cfb?: string;
  readonly blockSize: 8 | 16;
  /** IV length BoringSSL insists on for the ECB object (bf-ecb wants a dummy 8 bytes). */
  readonly ecbIvLength: number;
}

/** Datagrams longer than this still work; the scratch buffer just grows once. */
const INITIAL_SCRATCH = 2048;

export function nativeCfbCipher(spec: NativeSpec, key: Uint8Array, tsEncrypt?: BlockEncrypt): DatagramCipher {
  const bs = spec.blockSize;
  const iv = KCP_IV.slice(0, bs);
  const ecb: Cipheriv = createCipheriv(spec.ecb, key, new Uint8Array(spec.ecbIvLength));
  ecb.setAutoPadding(false);
  let scratch = new Uint8Array(INITIAL_SCRATCH);
  const reg = new Uint8Array(bs);

  function encryptByBlocks(buf: Uint8Array): Uint8Array {
    reg.set(iv);
    let ks = ecb.update(reg);
    const n = buf.length;
    let i = 0;
    for (; i + bs <= n; i += bs) {
      for (let j = 0; j < bs; j++) reg[j] = buf[i + j]! ^= ks[j]!;
      ks = ecb.update(reg);
    }
    for (let j = 0; i < n; i++, j++) buf[i]! ^= ks[j]!;
    return buf;
  }

  const cfb = spec.cfb;
  let encrypt: (buf: Uint8Array) => Uint8Array = encryptByBlocks;
  if (cfb !== undefined) encrypt = (buf) => createCipheriv(cfb, key, iv).update(buf);
  else if (tsEncrypt !== undefined) encrypt = cfbCipher(tsEncrypt).encrypt;
  return {
    encrypt,
    decrypt(src, dst) {
      const n = src.length;
      if (n === 0) return;
      const blocks = Math.ceil(n / bs);
      const len = blocks * bs;
      if (scratch.length < len) scratch = new Uint8Array(len);
      scratch.set(iv);
      scratch.set(src.subarray(0, len - bs), bs);
      const ks = ecb.update(scratch.subarray(0, len));
      for (let i = 0; i < n; i++) dst[i] = src[i]! ^ ks[i]!;
    },
  };
}
