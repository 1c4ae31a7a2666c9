/**
 * kcp-go's salsa20 (kcp-smux-wire.md §3.4): Salsa20/20, 32-byte key, the datagram's first 8 bytes
 * are the nonce and stay in clear, bytes 8.. are XORed with the keystream from block counter 0.
 */
import type { DatagramCipher } from "./cfb.ts";

const NONCE_BYTES = 8;
/** "expand 32-byte k" as four little-endian words. */
const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] as const;

const rotl = (v: number, n: number): number => (v << n) | (v >>> (32 - n));

function littleEndianHostCheck(): boolean {
  return new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
}

export function salsa20Cipher(key: Uint8Array): DatagramCipher {
  const kv = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const k = new Int32Array(8);
  for (let i = 0; i < 8; i++) k[i] = kv.getInt32(i * 4, true);
  const input = new Int32Array(16);
  const ks = new Uint8Array(64);
  const littleEndianHost = littleEndianHostCheck();
  // On little-endian hosts the words land in `ks` directly; otherwise core() spells the bytes out.
  const out = littleEndianHost ? new Int32Array(ks.buffer) : new Int32Array(16);

  /** One 64-byte keystream block for `input` into `ks`; locals keep the rounds in int32 registers. */
  function core(): void {
    let x0 = input[0]!, x1 = input[1]!, x2 = input[2]!, x3 = input[3]!,
      x4 = input[4]!, x5 = input[5]!, x6 = input[6]!, x7 = input[7]!;
    let x8 = input[8]!, x9 = input[9]!, x10 = input[10]!, x11 = input[11]!,
      x12 = input[12]!, x13 = input[13]!, x14 = input[14]!, x15 = input[15]!;
    for (let r = 0; r < 20; r += 2) {
      // column round
      x4 ^= rotl(x0 + x12, 7);
      x8 ^= rotl(x4 + x0, 9);
      x12 ^= rotl(x8 + x4, 13);
      x0 ^= rotl(x12 + x8, 18);
      x9 ^= rotl(x5 + x1, 7);
      x13 ^= rotl(x9 + x5, 9);
      x1 ^= rotl(x13 + x9, 13);
      x5 ^= rotl(x1 + x13, 18);
      x14 ^= rotl(x10 + x6, 7);
      x2 ^= rotl(x14 + x10, 9);
      x6 ^= rotl(x2 + x14, 13);
      x10 ^= rotl(x6 + x2, 18);
      x3 ^= rotl(x15 + x11, 7);
      x7 ^= rotl(x3 + x15, 9);
      x11 ^= rotl(x7 + x3, 13);
      x15 ^= rotl(x11 + x7, 18);
      // row round
      x1 ^= rotl(x0 + x3, 7);
      x2 ^= rotl(x1 + x0, 9);
      x3 ^= rotl(x2 + x1, 13);
      x0 ^= rotl(x3 + x2, 18);
      x6 ^= rotl(x5 + x4, 7);
      x7 ^= rotl(x6 + x5, 9);
      x4 ^= rotl(x7 + x6, 13);
      x5 ^= rotl(x4 + x7, 18);
      x11 ^= rotl(x10 + x9, 7);
      x8 ^= rotl(x11 + x10, 9);
      x9 ^= rotl(x8 + x11, 13);
      x10 ^= rotl(x9 + x8, 18);
      x12 ^= rotl(x15 + x14, 7);
      x13 ^= rotl(x12 + x15, 9);
      x14 ^= rotl(x13 + x12, 13);
      x15 ^= rotl(x14 + x13, 18);
    }
    out[0] = x0 + input[0]!; out[1] = x1 + input[1]!; out[2] = x2 + input[2]!; out[3] = x3 + input[3]!;
    out[4] = x4 + input[4]!; out[5] = x5 + input[5]!; out[6] = x6 + input[6]!; out[7] = x7 + input[7]!;
    out[8] = x8 + input[8]!; out[9] = x9 + input[9]!; out[10] = x10 + input[10]!; out[11] = x11 + input[11]!;
    out[12] = x12 + input[12]!; out[13] = x13 + input[13]!; out[14] = x14 + input[14]!; out[15] = x15 + input[15]!;
    if (!littleEndianHost) {
      for (let i = 0; i < 16; i++) {
        const w = out[i]!;
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
      input[8] = input[8]! + 1;
      if (input[8] === 0) input[9] = input[9]! + 1;
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
