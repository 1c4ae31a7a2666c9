/**
 * kcp-go's block mode (kcp-smux-wire.md §3.2): standard full-block CFB (CFB-128 for 16-byte
 * ciphers, CFB-64 for 8-byte ones) over the whole datagram, with a fixed IV and a fresh chain per
 * datagram. Only the forward block function is ever used, so each cipher below supplies just that.
 */

/** The fixed IV; 8-byte-block ciphers use its first 8 bytes. */
export const KCP_IV: Uint8Array = new Uint8Array([
  0xa7, 0x73, 0x4f, 0x9c, 0x12, 0xac, 0x1b, 0x01, 0xa4, 0x15, 0xf2, 0xc1, 0xfc, 0x78, 0xe6, 0x6b,
]);

/** Encrypts one block in place: `block` is exactly `blockSize` bytes. */
export interface BlockEncrypt {
  readonly blockSize: 8 | 16;
  encryptBlock(block: Uint8Array): void;
}

/** Encrypts and decrypts whole datagrams the way kcp-go's `Encrypt`/`Decrypt` do. */
export interface DatagramCipher {
  /** Encrypts `buf` in place or into a fresh buffer; returns the ciphertext (same length). */
  encrypt(buf: Uint8Array): Uint8Array;
  /** Writes the plaintext of `src` into `dst[0..src.length)`; `dst` may alias `src`. */
  decrypt(src: Uint8Array, dst: Uint8Array): void;
  /**
   * Optional: encrypts `count` datagrams in place together, datagram k in
   * `slots[k·slotBytes, k·slotBytes + lens[k])`. `slots` starts 4-byte aligned, `slotBytes` is a
   * multiple of 16 and every datagram fits its slot; bytes after a datagram in its slot are scratch.
   * Offered where many chains at once are cheaper than one after another (see native.ts).
   */
  encryptMany?(slots: Uint8Array, slotBytes: number, lens: Int32Array, count: number): void;
}

/** kcp-CFB over a block function written in TypeScript. Not reentrant (one shared register). */
export function cfbCipher(block: BlockEncrypt): DatagramCipher {
  const bs = block.blockSize;
  const reg = new Uint8Array(bs);
  return {
    encrypt(buf) {
      reg.set(KCP_IV.subarray(0, bs));
      block.encryptBlock(reg);
      const n = buf.length;
      let i = 0;
      for (; i + bs <= n; i += bs) {
        for (let j = 0; j < bs; j++) reg[j] = buf[i + j]! ^= reg[j]!;
        block.encryptBlock(reg);
      }
      for (let j = 0; i < n; i++, j++) buf[i]! ^= reg[j]!;
      return buf;
    },
    decrypt(src, dst) {
      reg.set(KCP_IV.subarray(0, bs));
      block.encryptBlock(reg);
      const n = src.length;
      let i = 0;
      for (; i + bs <= n; i += bs) {
        for (let j = 0; j < bs; j++) {
          const c = src[i + j]!;
          dst[i + j] = c ^ reg[j]!;
          reg[j] = c;
        }
        block.encryptBlock(reg);
      }
      for (let j = 0; i < n; i++, j++) dst[i] = src[i]! ^ reg[j]!;
    },
  };
}
