/**
 * SM4 (GB/T 32907-2016): 128-bit block and key, 32 rounds, big-endian words. The block function of
 * kcp-go's sm4 crypt (kcp-smux-wire.md §3.8); only encryption is needed (kcp-CFB).
 */
import type { BlockEncrypt } from "./cfb.ts";

const SBOX = new Uint8Array(
  Buffer.from(
    "d690e9fecce13db716b614c228fb2c052b679a762abe04c3aa44132649860699" +
      "9c4250f491ef987a33540b43edcfac62e4b31ca9c908e89580df94fa758f3fa6" +
      "4707a7fcf37317ba83593c19e6854fa8686b81b27164da8bf8eb0f4b70569d35" +
      "1e240e5e6358d1a225227c3b01217887d40046579fd327524c3602e7a0c4c89e" +
      "eabf8ad240c738b5a3f7f2cef96115a1e0ae5da49b341a55ad933230f58cb1e3" +
      "1df6e22e8266ca60c02923ab0d534e6fd5db3745defd8e2f03ff6a726d6c5b51" +
      "8d1baf92bbddbc7f11d95c411f105ad80ac13188a5cd7bbd2d74d012b8e5b4b0" +
      "8969974a0c96777e65b9f109c56ec68418f07dec3adc4d2079ee5f3ed7cb3948",
    "hex",
  ),
);
const FK = [0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc] as const;

/** CK_i byte j = (4i + j) * 7 mod 256. */
const CK = Uint32Array.from({ length: 32 }, (_, i) => {
  let w = 0;
  for (let j = 0; j < 4; j++) w = (w << 8) | (((4 * i + j) * 7) & 0xff);
  return w >>> 0;
});

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

/** The S-box applied to each byte of a word (τ). */
function tau(a: number): number {
  return (SBOX[a >>> 24]! << 24) | (SBOX[(a >>> 16) & 0xff]! << 16) | (SBOX[(a >>> 8) & 0xff]! << 8) | SBOX[a & 0xff]!;
}

/** τ then the round's linear map L, folded into four byte tables (one per byte position). */
const T = [0, 1, 2, 3].map((pos) =>
  Int32Array.from({ length: 256 }, (_, x) => {
    const b = SBOX[x]! << (24 - 8 * pos);
    return b ^ rotl(b, 2) ^ rotl(b, 10) ^ rotl(b, 18) ^ rotl(b, 24);
  }),
);
const T0 = T[0]!, T1 = T[1]!, T2 = T[2]!, T3 = T[3]!;

export function sm4Block(key: Uint8Array): BlockEncrypt {
  const rk = new Int32Array(32);
  let k0 = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) ^ FK[0];
  let k1 = ((key[4]! << 24) | (key[5]! << 16) | (key[6]! << 8) | key[7]!) ^ FK[1];
  let k2 = ((key[8]! << 24) | (key[9]! << 16) | (key[10]! << 8) | key[11]!) ^ FK[2];
  let k3 = ((key[12]! << 24) | (key[13]! << 16) | (key[14]! << 8) | key[15]!) ^ FK[3];
  for (let i = 0; i < 32; i++) {
    const b = tau(k1 ^ k2 ^ k3 ^ CK[i]!);
    const next = k0 ^ b ^ rotl(b, 13) ^ rotl(b, 23);
    rk[i] = next;
    k0 = k1; k1 = k2; k2 = k3; k3 = next;
  }
  return {
    blockSize: 16,
    encryptBlock(b) {
      let x0 = (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!;
      let x1 = (b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!;
      let x2 = (b[8]! << 24) | (b[9]! << 16) | (b[10]! << 8) | b[11]!;
      let x3 = (b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!;
      for (let i = 0; i < 32; i++) {
        const a = x1 ^ x2 ^ x3 ^ rk[i]!;
        const next = x0 ^ T0[a >>> 24]! ^ T1[(a >>> 16) & 0xff]! ^ T2[(a >>> 8) & 0xff]! ^ T3[a & 0xff]!;
        x0 = x1; x1 = x2; x2 = x3; x3 = next;
      }
      b[0] = x3 >>> 24; b[1] = x3 >>> 16; b[2] = x3 >>> 8; b[3] = x3;
      b[4] = x2 >>> 24; b[5] = x2 >>> 16; b[6] = x2 >>> 8; b[7] = x2;
      b[8] = x1 >>> 24; b[9] = x1 >>> 16; b[10] = x1 >>> 8; b[11] = x1;
      b[12] = x0 >>> 24; b[13] = x0 >>> 16; b[14] = x0 >>> 8; b[15] = x0;
    },
  };
}
