/**
 * kcp-go's salsa20 (kcp-smux-wire.md §3.4): Salsa20/20, 32-byte key, the datagram's first 8 bytes
 * are the nonce and stay in clear, bytes 8.. are XORed with the keystream from block counter 0.
 */
import type { DatagramCipher } from "./cfb.ts";

const NONCE_BYTES = 8;
/** "expand 32-byte k" as four little-endian words. */
const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] as const;

export function salsa20Cipher(key: Uint8Array): DatagramCipher {
  const kv = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const k = new Uint32Array(8);
  for (let i = 0; i < 8; i++) k[i] = kv.getUint32(i * 4, true);
  const input = new Uint32Array(16);
  const x = new Uint32Array(16);
  const ks = new Uint8Array(64);
  const ksWords = new Uint32Array(ks.buffer);
  const littleEndianHost = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

  /** One 64-byte keystream block for `input` into `ks`. */
  function core(): void {
    x.set(input);
    for (let r = 0; r < 20; r += 2) {
      let t: number;
      // column round
      t = (x[0]! + x[12]!) | 0; x[4]! ^= (t << 7) | (t >>> 25);
      t = (x[4]! + x[0]!) | 0; x[8]! ^= (t << 9) | (t >>> 23);
      t = (x[8]! + x[4]!) | 0; x[12]! ^= (t << 13) | (t >>> 19);
      t = (x[12]! + x[8]!) | 0; x[0]! ^= (t << 18) | (t >>> 14);
      t = (x[5]! + x[1]!) | 0; x[9]! ^= (t << 7) | (t >>> 25);
      t = (x[9]! + x[5]!) | 0; x[13]! ^= (t << 9) | (t >>> 23);
      t = (x[13]! + x[9]!) | 0; x[1]! ^= (t << 13) | (t >>> 19);
      t = (x[1]! + x[13]!) | 0; x[5]! ^= (t << 18) | (t >>> 14);
      t = (x[10]! + x[6]!) | 0; x[14]! ^= (t << 7) | (t >>> 25);
      t = (x[14]! + x[10]!) | 0; x[2]! ^= (t << 9) | (t >>> 23);
      t = (x[2]! + x[14]!) | 0; x[6]! ^= (t << 13) | (t >>> 19);
      t = (x[6]! + x[2]!) | 0; x[10]! ^= (t << 18) | (t >>> 14);
      t = (x[15]! + x[11]!) | 0; x[3]! ^= (t << 7) | (t >>> 25);
      t = (x[3]! + x[15]!) | 0; x[7]! ^= (t << 9) | (t >>> 23);
      t = (x[7]! + x[3]!) | 0; x[11]! ^= (t << 13) | (t >>> 19);
      t = (x[11]! + x[7]!) | 0; x[15]! ^= (t << 18) | (t >>> 14);
      // row round
      t = (x[0]! + x[3]!) | 0; x[1]! ^= (t << 7) | (t >>> 25);
      t = (x[1]! + x[0]!) | 0; x[2]! ^= (t << 9) | (t >>> 23);
      t = (x[2]! + x[1]!) | 0; x[3]! ^= (t << 13) | (t >>> 19);
      t = (x[3]! + x[2]!) | 0; x[0]! ^= (t << 18) | (t >>> 14);
      t = (x[5]! + x[4]!) | 0; x[6]! ^= (t << 7) | (t >>> 25);
      t = (x[6]! + x[5]!) | 0; x[7]! ^= (t << 9) | (t >>> 23);
      t = (x[7]! + x[6]!) | 0; x[4]! ^= (t << 13) | (t >>> 19);
      t = (x[4]! + x[7]!) | 0; x[5]! ^= (t << 18) | (t >>> 14);
      t = (x[10]! + x[9]!) | 0; x[11]! ^= (t << 7) | (t >>> 25);
      t = (x[11]! + x[10]!) | 0; x[8]! ^= (t << 9) | (t >>> 23);
      t = (x[8]! + x[11]!) | 0; x[9]! ^= (t << 13) | (t >>> 19);
      t = (x[9]! + x[8]!) | 0; x[10]! ^= (t << 18) | (t >>> 14);
      t = (x[15]! + x[14]!) | 0; x[12]! ^= (t << 7) | (t >>> 25);
      t = (x[12]! + x[15]!) | 0; x[13]! ^= (t << 9) | (t >>> 23);
      t = (x[13]! + x[12]!) | 0; x[14]! ^= (t << 13) | (t >>> 19);
      t = (x[14]! + x[13]!) | 0; x[15]! ^= (t << 18) | (t >>> 14);
    }
    if (littleEndianHost) {
      for (let i = 0; i < 16; i++) ksWords[i] = x[i]! + input[i]!;
    } else {
      for (let i = 0; i < 16; i++) {
        const w = (x[i]! + input[i]!) >>> 0;
        ks[i * 4] = w;
        ks[i * 4 + 1] = w >>> 8;
        ks[i * 4 + 2] = w >>> 16;
        ks[i * 4 + 3] = w >>> 24;
      }
    }
  }

  /** XORs src[8..) into dst[8..) with the keystream for nonce src[0..8); copies the clear nonce. */
  function xor(src: Uint8Array, dst: Uint8Array): void {
    const n = src.length;
    if (n < NONCE_BYTES) {
      if (dst !== src) dst.set(src);
      return;
    }
    for (let i = 0; i < NONCE_BYTES; i++) dst[i] = src[i]!;
    input[0] = SIGMA[0];
    input[1] = k[0]!; input[2] = k[1]!; input[3] = k[2]!; input[4] = k[3]!;
    input[5] = SIGMA[1];
    input[6] = src[0]! | (src[1]! << 8) | (src[2]! << 16) | (src[3]! << 24);
    input[7] = src[4]! | (src[5]! << 8) | (src[6]! << 16) | (src[7]! << 24);
    input[8] = 0; input[9] = 0;
    input[10] = SIGMA[2];
    input[11] = k[4]!; input[12] = k[5]!; input[13] = k[6]!; input[14] = k[7]!;
    input[15] = SIGMA[3];
    for (let off = NONCE_BYTES; off < n; off += 64) {
      core();
      const end = Math.min(64, n - off);
      for (let j = 0; j < end; j++) dst[off + j] = src[off + j]! ^ ks[j]!;
      input[8] = (input[8]! + 1) >>> 0;
      if (input[8] === 0) input[9] = (input[9]! + 1) >>> 0;
    }
  }

  return {
    encrypt(buf) {
      xor(buf, buf);
      return buf;
    },
    decrypt: xor,
  };
}
