/**
 * TEA and XTEA block functions with big-endian words, as x/crypto has them.
 *
 * kcp-go asks x/crypto's TEA for "16 rounds", which x/crypto counts in Feistel half-rounds: kcp-go's
 * TEA is therefore 8 cycles, not the standard 32, and no standard TEA library interoperates
 * (kcp-smux-wire.md §3.5). XTEA is the standard 32 cycles (§3.6).
 */
import type { BlockEncrypt } from "./cfb.ts";

const DELTA = 0x9e3779b9;
const KCP_TEA_CYCLES = 8;
const XTEA_CYCLES = 32;

/** Int32 storage keeps the JIT on integer arithmetic (Uint32 values above 2^31 read back as doubles). */
function keyWords(key: Uint8Array): Int32Array {
  const v = new DataView(key.buffer, key.byteOffset, 16);
  return new Int32Array([v.getInt32(0), v.getInt32(4), v.getInt32(8), v.getInt32(12)]);
}

function readBE(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

function writeBE(b: Uint8Array, o: number, w: number): void {
  b[o] = w >>> 24;
  b[o + 1] = w >>> 16;
  b[o + 2] = w >>> 8;
  b[o + 3] = w;
}

export function teaBlock(key: Uint8Array): BlockEncrypt {
  const k = keyWords(key);
  const k0 = k[0]!, k1 = k[1]!, k2 = k[2]!, k3 = k[3]!;
  return {
    blockSize: 8,
    encryptBlock(b) {
      let v0 = readBE(b, 0);
      let v1 = readBE(b, 4);
      let sum = 0;
      for (let i = 0; i < KCP_TEA_CYCLES; i++) {
        sum = (sum + DELTA) | 0;
        v0 = (v0 + ((((v1 << 4) + k0) | 0) ^ ((v1 + sum) | 0) ^ (((v1 >>> 5) + k1) | 0))) | 0;
        v1 = (v1 + ((((v0 << 4) + k2) | 0) ^ ((v0 + sum) | 0) ^ (((v0 >>> 5) + k3) | 0))) | 0;
      }
      writeBE(b, 0, v0);
      writeBE(b, 4, v1);
    },
  };
}

export function xteaBlock(key: Uint8Array): BlockEncrypt {
  const k = keyWords(key);
  // The per-cycle round keys depend only on the key, so precompute them as x/crypto does.
  const rk = new Int32Array(XTEA_CYCLES * 2);
  let sum = 0;
  for (let i = 0; i < XTEA_CYCLES; i++) {
    rk[2 * i] = (sum + k[sum & 3]!) | 0;
    sum = (sum + DELTA) >>> 0;
    rk[2 * i + 1] = (sum + k[(sum >>> 11) & 3]!) | 0;
  }
  return {
    blockSize: 8,
    encryptBlock(b) {
      let v0 = readBE(b, 0);
      let v1 = readBE(b, 4);
      for (let i = 0; i < XTEA_CYCLES * 2; i += 2) {
        v0 = (v0 + ((((v1 << 4) ^ (v1 >>> 5)) + v1) ^ rk[i]!)) | 0;
        v1 = (v1 + ((((v0 << 4) ^ (v0 >>> 5)) + v0) ^ rk[i + 1]!)) | 0;
      }
      writeBE(b, 0, v0);
      writeBE(b, 4, v1);
    },
  };
}
