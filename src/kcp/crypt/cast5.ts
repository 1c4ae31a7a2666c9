/**
 * CAST-128 (RFC 2144) with a 128-bit key, 16 rounds, big-endian halves: the block function of
 * kcp-go's cast5 crypt (kcp-smux-wire.md §3.8). Only encryption is needed (kcp-CFB).
 */
import type { BlockEncrypt } from "./cfb.ts";
import { CAST5_SBOX_HEX } from "./cast5-sbox.ts";

const SBOX: readonly Int32Array[] = CAST5_SBOX_HEX.map((hex) => {
  // Int32 storage keeps the round arithmetic on integers (Uint32 entries above 2^31 read as doubles).
  const box = new Int32Array(256);
  for (let i = 0; i < 256; i++) box[i] = Number.parseInt(hex.slice(i * 8, i * 8 + 8), 16) | 0;
  return box;
});
const S1 = SBOX[0]!, S2 = SBOX[1]!, S3 = SBOX[2]!, S4 = SBOX[3]!;
const S5 = SBOX[4]!, S6 = SBOX[5]!, S7 = SBOX[6]!, S8 = SBOX[7]!;

/*
 * RFC 2144 §2.4 key schedule, as data. The 32 bytes x0..xF ‖ z0..zF are addressed 0..31 (z = 16+).
 * Each quarter of the schedule first rewrites four words, each line `dstWord, srcWord, a, b, c, d, e`
 *   word[dst] = word[src] ^ S5[a] ^ S6[b] ^ S7[c] ^ S8[d] ^ S(extra)[e]
 * with the extra box S7, S8, S5, S6 for lines 0..3; then derives four subkeys, each `a, b, c, d, e`
 *   K = S5[a] ^ S6[b] ^ S7[c] ^ S8[d] ^ S(5+line)[e].
 * The four quarters run twice: K1..K16 are the masking keys, K17..K32 the rotations.
 */
const Z = 16;
const QUARTERS: readonly { words: readonly number[][]; keys: readonly number[][] }[] = [
  {
    words: [
      [4, 0, 0xd, 0xf, 0xc, 0xe, 0x8],
      [5, 2, Z + 0x0, Z + 0x2, Z + 0x1, Z + 0x3, 0xa],
      [6, 3, Z + 0x7, Z + 0x6, Z + 0x5, Z + 0x4, 0x9],
      [7, 1, Z + 0xa, Z + 0x9, Z + 0xb, Z + 0x8, 0xb],
    ],
    keys: [
      [Z + 0x8, Z + 0x9, Z + 0x7, Z + 0x6, Z + 0x2],
      [Z + 0xa, Z + 0xb, Z + 0x5, Z + 0x4, Z + 0x6],
      [Z + 0xc, Z + 0xd, Z + 0x3, Z + 0x2, Z + 0x9],
      [Z + 0xe, Z + 0xf, Z + 0x1, Z + 0x0, Z + 0xc],
    ],
  },
  {
    words: [
      [0, 6, Z + 0x5, Z + 0x7, Z + 0x4, Z + 0x6, Z + 0x0],
      [1, 4, 0x0, 0x2, 0x1, 0x3, Z + 0x2],
      [2, 5, 0x7, 0x6, 0x5, 0x4, Z + 0x1],
      [3, 7, 0xa, 0x9, 0xb, 0x8, Z + 0x3],
    ],
    keys: [
      [0x3, 0x2, 0xc, 0xd, 0x8],
      [0x1, 0x0, 0xe, 0xf, 0xd],
      [0x7, 0x6, 0x8, 0x9, 0x3],
      [0x5, 0x4, 0xa, 0xb, 0x7],
    ],
  },
  {
    words: [
      [4, 0, 0xd, 0xf, 0xc, 0xe, 0x8],
      [5, 2, Z + 0x0, Z + 0x2, Z + 0x1, Z + 0x3, 0xa],
      [6, 3, Z + 0x7, Z + 0x6, Z + 0x5, Z + 0x4, 0x9],
      [7, 1, Z + 0xa, Z + 0x9, Z + 0xb, Z + 0x8, 0xb],
    ],
    keys: [
      [Z + 0x3, Z + 0x2, Z + 0xc, Z + 0xd, Z + 0x9],
      [Z + 0x1, Z + 0x0, Z + 0xe, Z + 0xf, Z + 0xc],
      [Z + 0x7, Z + 0x6, Z + 0x8, Z + 0x9, Z + 0x2],
      [Z + 0x5, Z + 0x4, Z + 0xa, Z + 0xb, Z + 0x6],
    ],
  },
  {
    words: [
      [0, 6, Z + 0x5, Z + 0x7, Z + 0x4, Z + 0x6, Z + 0x0],
      [1, 4, 0x0, 0x2, 0x1, 0x3, Z + 0x2],
      [2, 5, 0x7, 0x6, 0x5, 0x4, Z + 0x1],
      [3, 7, 0xa, 0x9, 0xb, 0x8, Z + 0x3],
    ],
    keys: [
      [0x8, 0x9, 0x7, 0x6, 0x3],
      [0xa, 0xb, 0x5, 0x4, 0x7],
      [0xc, 0xd, 0x3, 0x2, 0x8],
      [0xe, 0xf, 0x1, 0x0, 0xd],
    ],
  },
];
const WORD_EXTRA_BOX = [S7, S8, S5, S6] as const;
const KEY_EXTRA_BOX = [S5, S6, S7, S8] as const;

function keySchedule(key: Uint8Array): { km: Int32Array; kr: Uint8Array } {
  const t = new Int32Array(8);
  for (let i = 0; i < 4; i++) {
    t[i] = (key[4 * i]! << 24) | (key[4 * i + 1]! << 16) | (key[4 * i + 2]! << 8) | key[4 * i + 3]!;
  }
  const byte = (i: number): number => (t[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff;
  const k = new Int32Array(32);
  let n = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (const q of QUARTERS) {
      for (let j = 0; j < 4; j++) {
        const [dst, src, a, b, c, d, e] = q.words[j]!;
        t[dst!] =
          t[src!]! ^ S5[byte(a!)]! ^ S6[byte(b!)]! ^ S7[byte(c!)]! ^ S8[byte(d!)]! ^ WORD_EXTRA_BOX[j]![byte(e!)]!;
      }
      for (let j = 0; j < 4; j++) {
        const [a, b, c, d, e] = q.keys[j]!;
        k[n++] = S5[byte(a!)]! ^ S6[byte(b!)]! ^ S7[byte(c!)]! ^ S8[byte(d!)]! ^ KEY_EXTRA_BOX[j]![byte(e!)]!;
      }
    }
  }
  const kr = new Uint8Array(16);
  for (let i = 0; i < 16; i++) kr[i] = k[16 + i]! & 31;
  return { km: k.slice(0, 16), kr };
}

/** Round i (0-based) uses f1, f2, f3 in turn (RFC 2144 §2.2). */
function f(type: number, d: number, m: number, r: number): number {
  let t: number;
  if (type === 0) t = (m + d) | 0;
  else if (type === 1) t = m ^ d;
  else t = (m - d) | 0;
  const x = (t << r) | (t >>> (32 - r));
  const a = S1[x >>> 24]!, b = S2[(x >>> 16) & 0xff]!, c = S3[(x >>> 8) & 0xff]!, e = S4[x & 0xff]!;
  if (type === 0) return (((a ^ b) - c) | 0) + e;
  if (type === 1) return (((a - b) | 0) + c) ^ e;
  return (((a + b) | 0) ^ c) - e;
}

export function cast5Block(key: Uint8Array): BlockEncrypt {
  const { km, kr } = keySchedule(key);
  return {
    blockSize: 8,
    encryptBlock(b) {
      let l = (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!;
      let r = (b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!;
      for (let i = 0; i < 16; i++) {
        const next = l ^ f(i % 3, r, km[i]!, kr[i]!);
        l = r;
        r = next;
      }
      b[0] = r >>> 24; b[1] = r >>> 16; b[2] = r >>> 8; b[3] = r;
      b[4] = l >>> 24; b[5] = l >>> 16; b[6] = l >>> 8; b[7] = l;
    },
  };
}
