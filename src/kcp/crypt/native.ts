/**
 * kcp-CFB on BoringSSL primitives (Bun's node:crypto; bun-probe.md §4).
 *
 * Decryption never needs a cipher object per datagram: every CFB keystream block is E(previous
 * ciphertext block), all known up front, so one reused ECB object encrypts C[0..n−bs) in a
 * single call (E(IV), the first block's keystream, is computed once), and the XOR runs in place.
 * Encryption is sequential; where Bun has the CFB mode itself (aes-128/256-cfb) one long-lived CFB
 * object is re-pointed at the IV before each datagram (chainedCfbEncrypt), then a TypeScript block
 * function when there is one (blowfish), otherwise the reused ECB object runs block by block (one
 * native call per block).
 */
import { createCipheriv, type Cipheriv } from "node:crypto";
import { libcryptoAes } from "../../../ffi/libcrypto.ts";
import { cfbCipher, KCP_IV, type BlockEncrypt, type DatagramCipher } from "./cfb.ts";

/**
 * kcp-CFB for AES keys (16, 24 or 32 bytes) on the system libcrypto, in place and without a buffer
 * per datagram; null when libcrypto is not there (callers use nativeCfbCipher).
 *
 * `encryptMany` runs several chains side by side. CFB encryption is sequential within a datagram
 * (each AES input is the previous ciphertext block), so one datagram at a time waits on AES latency
 * block after block (~2 µs for 1370 bytes). Across datagrams the chains are independent: step i
 * encrypts block i−1 of every datagram in ONE ECB call, which AES-NI pipelines, then XORs the
 * results into block i. Measured on the bench VM: 0.9 µs a datagram in batches of 4, 0.4–0.6 µs from
 * 8 up; below MANY_MIN the per-datagram path is cheaper.
 */
export function libcryptoCfbCipher(key: Uint8Array): DatagramCipher | null {
  const aes = libcryptoAes(key, KCP_IV);
  if (aes === null) return null;
  const bs = 16;
  const ivKeystream = new Uint8Array(bs);
  aes.ecb(KCP_IV, ivKeystream);
  let keystream = new Uint8Array(INITIAL_INPUT);
  let ksWords = new Uint32Array(keystream.buffer);
  let wordsOf: Uint8Array | undefined;
  let dstWords: Uint32Array | undefined;
  let slotsOf: Uint8Array | undefined;
  let slotWordsView: Uint32Array = new Uint32Array(0);
  const ivWords = new Uint32Array(ivKeystream.buffer, 0, 4);
  // Block i−1 of every chain, then (after the ECB call) its keystream for block i.
  const regs = new Uint32Array(aes.scratch.buffer, aes.scratch.byteOffset, aes.scratch.byteLength >>> 2);
  const maxChains = aes.scratch.byteLength >>> 4;
  const encryptOne = (buf: Uint8Array): Uint8Array => {
    if (buf.length > 0) aes.cfbEncrypt(buf);
    return buf;
  };
  return {
    encrypt: encryptOne,
    encryptMany(slots, slotBytes, lens, count) {
      if (count < MANY_MIN || count > maxChains) {
        for (let k = 0; k < count; k++) encryptOne(slots.subarray(k * slotBytes, k * slotBytes + lens[k]!));
        return;
      }
      // The caller stages into the same slots every time (headerCrypt): their word view is kept.
      if (slots !== slotsOf) {
        slotsOf = slots;
        slotWordsView = new Uint32Array(slots.buffer, slots.byteOffset, slots.byteLength >>> 2);
      }
      const words = slotWordsView;
      const slotWords = slotBytes >>> 2;
      // Every chain runs to the longest datagram's block count; shorter ones encrypt scratch bytes
      // past their end, which nobody reads. Block 0's keystream is E(IV) for all.
      let blocks = 0;
      for (let k = 0; k < count; k++) blocks = Math.max(blocks, (lens[k]! + 15) >>> 4);
      for (let k = 0; k < count; k++) {
        const s = k * slotWords;
        const r = k << 2;
        for (let w = 0; w < 4; w++) regs[r + w] = words[s + w]! ^= ivWords[w]!;
      }
      for (let i = 1; i < blocks; i++) {
        aes.ecbScratch(count << 4);
        const at = i << 2;
        for (let k = 0; k < count; k++) {
          const s = k * slotWords + at;
          const r = k << 2;
          const c0 = (words[s] = words[s]! ^ regs[r]!);
          const c1 = (words[s + 1] = words[s + 1]! ^ regs[r + 1]!);
          const c2 = (words[s + 2] = words[s + 2]! ^ regs[r + 2]!);
          const c3 = (words[s + 3] = words[s + 3]! ^ regs[r + 3]!);
          regs[r] = c0;
          regs[r + 1] = c1;
          regs[r + 2] = c2;
          regs[r + 3] = c3;
        }
      }
    },
    decrypt(src, dst) {
      const n = src.length;
      if (n === 0) return;
      if (dst !== src) dst.set(src);
      if (n > bs) {
        // Keystream block i (i ≥ 1) is E(C[i−1]): all of them in one ECB call over the ciphertext
        // (now in dst), into a scratch buffer, before dst is written.
        const len = (Math.ceil(n / bs) - 1) * bs;
        if (keystream.length < len) {
          keystream = new Uint8Array(len);
          ksWords = new Uint32Array(keystream.buffer);
        }
        aes.ecb(dst, keystream, len);
        // Callers decrypt into the same buffer every time (headerCrypt's open buffer): its word view
        // is kept rather than made per datagram.
        if (dst !== wordsOf) {
          wordsOf = dst;
          dstWords = (dst.byteOffset & 3) === 0 ? new Uint32Array(dst.buffer, dst.byteOffset, dst.byteLength >>> 2) : undefined;
        }
        const tail = n - bs;
        let i = 0;
        if (dstWords !== undefined) {
          const words = tail >>> 2;
          for (let w = 0; w < words; w++) dstWords[w + 4]! ^= ksWords[w]!;
          i = words << 2;
        }
        for (; i < tail; i++) dst[bs + i]! ^= keystream[i]!;
      }
      const first = Math.min(n, bs);
      for (let i = 0; i < first; i++) dst[i]! ^= ivKeystream[i]!;
    },
  };
}

export interface NativeSpec {
  /** An ECB-mode name in Bun's getCiphers(): aes-128-ecb, aes-192-ecb, aes-256-ecb, bf-ecb, des-ede3. */
  readonly ecb: string;
  /** A CFB-mode name with feedback = block size, when Bun has it. */
  readonly cfb?: string;
  readonly blockSize: 8 | 16;
  /** IV length BoringSSL insists on for the ECB object (bf-ecb wants a dummy 8 bytes). */
  readonly ecbIvLength: number;
}

export function nativeCfbCipher(spec: NativeSpec, key: Uint8Array, tsEncrypt?: BlockEncrypt): DatagramCipher {
  const bs = spec.blockSize;
  const iv = KCP_IV.slice(0, bs);
  const ecb: Cipheriv = createCipheriv(spec.ecb, key, new Uint8Array(spec.ecbIvLength));
  ecb.setAutoPadding(false);
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
  if (cfb !== undefined) encrypt = chainedCfbEncrypt(createCipheriv(cfb, key, iv), ecb, iv);
  else if (tsEncrypt !== undefined) encrypt = cfbCipher(tsEncrypt).encrypt;
  // The first keystream block is always E(IV): computed once.
  const ivKeystream = Uint8Array.from(ecb.update(iv));
  return {
    encrypt,
    decrypt(src, dst) {
      const n = src.length;
      if (n === 0) return;
      if (dst !== src) dst.set(src);
      if (n > bs) {
        // Keystream blocks 1.. are E(C[0..blocks−1)): one call over the ciphertext, read before
        // anything is written over it (dst may alias src).
        const ks = ecb.update(dst.subarray(0, (Math.ceil(n / bs) - 1) * bs));
        xorInto(dst, bs, ks, n - bs);
      }
      const first = Math.min(n, bs);
      for (let i = 0; i < first; i++) dst[i]! ^= ivKeystream[i]!;
    },
  };
}

/**
 * kcp-CFB encryption on ONE long-lived native CFB object instead of a new one per datagram (a
 * node:crypto Cipheriv is a stream object; creating one per packet costs allocation and GC).
 *
 * Each datagram is fed padded to whole blocks, so afterwards the CFB register holds the last
 * ciphertext block L (the padding's ciphertext is discarded). To restart the chain at the fixed IV,
 * the next call is prefixed with the block R = IV xor E(L): its ciphertext is R xor E(L) = IV, which
 * leaves IV in the register, and the datagram that follows is encrypted exactly as from a fresh
 * object. E(L) costs one 16-byte call on the shared ECB object.
 */
function chainedCfbEncrypt(cfb: Cipheriv, ecb: Cipheriv, iv: Uint8Array): (buf: Uint8Array) => Uint8Array {
  const bs = iv.length;
  let input = new Uint8Array(INITIAL_INPUT);
  const last = new Uint8Array(bs);
  let atIv = true;
  return (buf) => {
    const n = buf.length;
    if (n === 0) return buf;
    const padded = Math.ceil(n / bs) * bs;
    if (input.length < bs + padded) input = new Uint8Array(bs + padded);
    input.set(buf, bs);
    let out: Uint8Array;
    let start: number;
    if (atIv) {
      atIv = false;
      out = cfb.update(input.subarray(bs, bs + padded));
      start = 0;
    } else {
      const e = ecb.update(last);
      for (let j = 0; j < bs; j++) input[j] = iv[j]! ^ e[j]!;
      out = cfb.update(input.subarray(0, bs + padded));
      start = bs;
    }
    const tail = start + padded - bs;
    for (let j = 0; j < bs; j++) last[j] = out[tail + j]!;
    return out.subarray(start, start + n);
  };
}

/** Fewest datagrams for which libcryptoCfbCipher's encryptMany beats one chain after another. */
const MANY_MIN = 4;

/** The chained encryptor's input buffer; grows once for larger datagrams. */
const INITIAL_INPUT = 2048;

/** buf[at + i] ^= ks[i] for i < len; 32 bits at a time when both sides are 4-byte aligned. */
function xorInto(buf: Uint8Array, at: number, ks: Uint8Array, len: number): void {
  let i = 0;
  const words = len >>> 2;
  if (words >= 16 && ((buf.byteOffset + at) & 3) === 0 && (ks.byteOffset & 3) === 0) {
    const b32 = new Uint32Array(buf.buffer, buf.byteOffset + at, words);
    const k32 = new Uint32Array(ks.buffer, ks.byteOffset, words);
    for (let w = 0; w < words; w++) b32[w]! ^= k32[w]!;
    i = words << 2;
  }
  for (; i < len; i++) buf[at + i]! ^= ks[i]!;
}
