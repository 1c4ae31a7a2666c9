/**
 * Twofish (Schneier et al., 1998) with a 256-bit key: the block function of kcp-go's twofish crypt
 * (kcp-smux-wire.md §3.8). Words are little-endian. The key-dependent S-boxes and the MDS matrix are
 * folded into four 256-entry tables at key setup ("full keying"), so g() is four lookups.
 * Only encryption is needed (kcp-CFB).
 */
import type { BlockEncrypt } from "./cfb.ts";

/** The 4-bit permutations t0..t3 that build q0 and q1 (paper §4.3.5). */
const Q_TABLES = [
  [
    [0x8, 0x1, 0x7, 0xd, 0x6, 0xf, 0x3, 0x2, 0x0, 0xb, 0x5, 0x9, 0xe, 0xc, 0xa, 0x4],
    [0xe, 0xc, 0xb, 0x8, 0x1, 0x2, 0x3, 0x5, 0xf, 0x4, 0xa, 0x6, 0x7, 0x0, 0x9, 0xd],
    [0xb, 0xa, 0x5, 0xe, 0x6, 0xd, 0x9, 0x0, 0xc, 0x8, 0xf, 0x3, 0x2, 0x4, 0x7, 0x1],
    [0xd, 0x7, 0xf, 0x4, 0x1, 0x2, 0x6, 0xe, 0x9, 0xb, 0x3, 0x0, 0x8, 0x5, 0xc, 0xa],
  ],
  [
    [0x2, 0x8, 0xb, 0xd, 0xf, 0x7, 0x6, 0xe, 0x3, 0x1, 0x9, 0x4, 0x0, 0xa, 0xc, 0x5],
    [0x1, 0xe, 0x2, 0xb, 0x4, 0xc, 0x3, 0x7, 0x6, 0xd, 0xa, 0x5, 0xf, 0x9, 0x0, 0x8],
    [0x4, 0xc, 0x7, 0x5, 0x1, 0x6, 0x9, 0xa, 0x0, 0xe, 0xd, 0x8, 0x2, 0xb, 0x3, 0xf],
    [0xb, 0x9, 0x5, 0x1, 0xc, 0x3, 0xd, 0xe, 0x6, 0x4, 0x7, 0xf, 0x2, 0x0, 0x8, 0xa],
  ],
] as const;

const ror4 = (x: number): number => ((x >>> 1) | (x << 3)) & 0xf;

function buildQ(t: readonly (readonly number[])[]): Uint8Array {
  const q = new Uint8Array(256);
  for (let x = 0; x < 256; x++) {
    let a = x >>> 4, b = x & 0xf;
    for (let stage = 0; stage < 2; stage++) {
      const a1 = a ^ b;
      const b1 = a ^ ror4(b) ^ ((a << 3) & 0xf);
      a = t[2 * stage]![a1]!;
      b = t[2 * stage + 1]![b1]!;
    }
    q[x] = (b << 4) | a;
  }
  return q;
}
const Q0 = buildQ(Q_TABLES[0]);
const Q1 = buildQ(Q_TABLES[1]);

/** Multiplication in GF(2^8) modulo `poly`. */
function gfMul(a: number, b: number, poly: number): number {
  let r = 0;
  while (b > 0) {
    if (b & 1) r ^= a;
    a <<= 1;
    if (a & 0x100) a ^= poly;
    b >>>= 1;
  }
  return r;
}

const MDS_POLY = 0x169;
const RS_POLY = 0x14d;
const MDS = [
  [0x01, 0xef, 0x5b, 0x5b],
  [0x5b, 0xef, 0xef, 0x01],
  [0xef, 0x5b, 0x01, 0xef],
  [0xef, 0x01, 0xef, 0x5b],
] as const;
const RS = [
  [0x01, 0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e],
  [0xa4, 0x56, 0x82, 0xf3, 0x1e, 0xc6, 0x68, 0xe5],
  [0x02, 0xa1, 0xfc, 0xc1, 0x47, 0xae, 0x3d, 0x19],
  [0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e, 0x03],
] as const;

/** MDS column `col` times byte y, as a word (row i in byte i). */
function mdsColumn(col: number, y: number): number {
  let w = 0;
  for (let row = 0; row < 4; row++) w |= gfMul(MDS[row]![col]!, y, MDS_POLY) << (8 * row);
  return w >>> 0;
}

/** The q-permutation chains for each byte position, outermost first, for a 256-bit key (k = 4). */
const CHAINS: readonly (readonly Uint8Array[])[] = [
  [Q1, Q1, Q0, Q0, Q1],
  [Q0, Q1, Q1, Q0, Q0],
  [Q0, Q0, Q0, Q1, Q1],
  [Q1, Q0, Q1, Q1, Q0],
];

/**
 * h(): byte position j of X runs through CHAINS[j] (innermost = first entry) with byte j of the key
 * words l[3], l[2], l[1], l[0] XORed in between, then through MDS column j.
 */
function hByte(j: number, x: number, l: readonly number[]): number {
  const c = CHAINS[j]!;
  const kb = (w: number): number => (w >>> (8 * j)) & 0xff;
  let y = c[0]![x]! ^ kb(l[3]!);
  y = c[1]![y]! ^ kb(l[2]!);
  y = c[2]![y]! ^ kb(l[1]!);
  y = c[3]![y]! ^ kb(l[0]!);
  return c[4]![y]!;
}

function h(x: number, l: readonly number[]): number {
  let w = 0;
  for (let j = 0; j < 4; j++) w ^= mdsColumn(j, hByte(j, (x >>> (8 * j)) & 0xff, l));
  return w >>> 0;
}

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));
const ROUNDS = 16;
const RHO = 0x01010101;

export function twofishBlock(key: Uint8Array): BlockEncrypt {
  const m: number[] = [];
  for (let i = 0; i < 8; i++) {
    m.push((key[4 * i]! | (key[4 * i + 1]! << 8) | (key[4 * i + 2]! << 16) | (key[4 * i + 3]! << 24)) >>> 0);
  }
  const me = [m[0]!, m[2]!, m[4]!, m[6]!];
  const mo = [m[1]!, m[3]!, m[5]!, m[7]!];
  // S-box key words: RS times each 8-byte key chunk, used in reverse order (S3 innermost).
  const s: number[] = [];
  for (let i = 0; i < 4; i++) {
    let w = 0;
    for (let row = 0; row < 4; row++) {
      let acc = 0;
      for (let col = 0; col < 8; col++) acc ^= gfMul(RS[row]![col]!, key[8 * i + col]!, RS_POLY);
      w |= acc << (8 * row);
    }
    s.push(w >>> 0);
  }
  const sKey = [s[3]!, s[2]!, s[1]!, s[0]!];

  const k = new Int32Array(40);
  for (let i = 0; i < 20; i++) {
    const a = h(Math.imul(2 * i, RHO) >>> 0, me);
    const b = rotl(h(Math.imul(2 * i + 1, RHO) >>> 0, mo), 8);
    k[2 * i] = (a + b) | 0;
    k[2 * i + 1] = rotl((a + 2 * b) | 0, 9);
  }

  // Int32 storage keeps g() on integer arithmetic (Uint32 entries above 2^31 read back as doubles).
  const sb = [0, 1, 2, 3].map((j) => Int32Array.from({ length: 256 }, (_, x) => mdsColumn(j, hByte(j, x, sKey))));
  const s0 = sb[0]!, s1 = sb[1]!, s2 = sb[2]!, s3 = sb[3]!;
  const g = (x: number): number => s0[x & 0xff]! ^ s1[(x >>> 8) & 0xff]! ^ s2[(x >>> 16) & 0xff]! ^ s3[x >>> 24]!;

  return {
    blockSize: 16,
    encryptBlock(b) {
      let r0 = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) ^ k[0]!;
      let r1 = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) ^ k[1]!;
      let r2 = (b[8]! | (b[9]! << 8) | (b[10]! << 16) | (b[11]! << 24)) ^ k[2]!;
      let r3 = (b[12]! | (b[13]! << 8) | (b[14]! << 16) | (b[15]! << 24)) ^ k[3]!;
      for (let r = 0; r < ROUNDS; r++) {
        const t0 = g(r0);
        const t1 = g(rotl(r1, 8));
        const f0 = (t0 + t1 + k[2 * r + 8]!) | 0;
        const f1 = (t0 + 2 * t1 + k[2 * r + 9]!) | 0;
        const n2 = r2 ^ f0;
        const n3 = rotl(r3, 1) ^ f1;
        r2 = r0;
        r3 = r1;
        r0 = (n2 >>> 1) | (n2 << 31);
        r1 = n3;
      }
      const c0 = r2 ^ k[4]!, c1 = r3 ^ k[5]!, c2 = r0 ^ k[6]!, c3 = r1 ^ k[7]!;
      b[0] = c0; b[1] = c0 >>> 8; b[2] = c0 >>> 16; b[3] = c0 >>> 24;
      b[4] = c1; b[5] = c1 >>> 8; b[6] = c1 >>> 16; b[7] = c1 >>> 24;
      b[8] = c2; b[9] = c2 >>> 8; b[10] = c2 >>> 16; b[11] = c2 >>> 24;
      b[12] = c3; b[13] = c3 >>> 8; b[14] = c3 >>> 16; b[15] = c3 >>> 24;
    },
  };
}
