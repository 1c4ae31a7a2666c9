/**
 * kcp-go's crypto layer (kcp-smux-wire.md §2, §3): `createPacketCrypt(block, key)` for every paqet
 * `transport.kcp.block` value.
 *
 *   non-AEAD (CFB family, salsa20, xor, none):  E( nonce(16) ‖ crc32 LE(4) ‖ inner )
 *   aes-128-gcm:                               nonce(12) ‖ AES-GCM(inner) ‖ tag(16), no AAD, no CRC
 *   null:                                      inner, untouched
 *
 * The nonce is random per datagram and never read back by receivers; it only makes the CFB chain
 * (which starts at a fixed IV) differ between datagrams.
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import type { CryptStats, PacketCrypt } from "../codec-types.ts";
import { KcpError } from "../errors.ts";
import { cipherKey, xorTable } from "../kdf.ts";
import { cfbCipher, type DatagramCipher } from "./cfb.ts";
import { libcryptoCfbCipher, nativeCfbCipher } from "./native.ts";
import { blowfishBlock } from "./blowfish.ts";
import { cast5Block } from "./cast5.ts";
import { salsa20Cipher } from "./salsa20.ts";
import { sm4Block } from "./sm4.ts";
import { teaBlock, xteaBlock } from "./tea.ts";
import { twofishBlock } from "./twofish.ts";

/** Every `transport.kcp.block` value paqet accepts. */
export const BLOCKS = [
  "aes",
  "aes-128",
  "aes-128-gcm",
  "aes-192",
  "salsa20",
  "blowfish",
  "twofish",
  "cast5",
  "3des",
  "tea",
  "xtea",
  "xor",
  "sm4",
  "none",
  "null",
] as const;
export type Block = (typeof BLOCKS)[number];

export function isBlock(name: string): name is Block {
  return (BLOCKS as readonly string[]).includes(name);
}

/** Fills `nonce` with fresh bytes; the counterpart of kcp-go's `SetEntropy` for reproducible tests. */
export type Entropy = (nonce: Uint8Array) => void;

export interface PacketCryptOptions {
  /** Nonce source; crypto.getRandomValues unless a test injects a deterministic stream. */
  readonly entropy?: Entropy;
}

const NONCE_BYTES = 16;
const CRC_BYTES = 4;
/** Offset of the CRC32 (LE) and of the inner packet in a non-AEAD datagram. */
const CRC_OFFSET = NONCE_BYTES;
const HEADER_BYTES = NONCE_BYTES + CRC_BYTES;

const GCM_NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;

/** Receivers read into 1500 bytes; the buffers start a little larger and grow only for odd callers. */
const INITIAL_BUFFER = 2048;

/**
 * Random bytes drawn from the CSPRNG 4 KiB at a time and handed out in nonce-sized pieces: one
 * getRandomValues call per ~256 datagrams instead of one per datagram (a native call each).
 */
const ENTROPY_POOL = 4096;
const entropyPool = new Uint8Array(ENTROPY_POOL);
let entropyUsed = ENTROPY_POOL;

/** Copies `n` (≤ ENTROPY_POOL) fresh random bytes to `buf[at..)`. */
function poolEntropyAt(buf: Uint8Array, at: number, n: number): void {
  if (entropyUsed + n > ENTROPY_POOL) {
    crypto.getRandomValues(entropyPool);
    entropyUsed = 0;
  }
  for (let i = 0; i < n; i++) buf[at + i] = entropyPool[entropyUsed + i]!;
  entropyUsed += n;
}

const defaultEntropy: Entropy = (nonce) => {
  if (nonce.length > ENTROPY_POOL) crypto.getRandomValues(nonce);
  else poolEntropyAt(nonce, 0, nonce.length);
};

function newStats(): CryptStats {
  return { checksumFailures: 0, malformed: 0 };
}

/** The datagram cipher kcp-go's constructor for `block` builds; `key` is already truncated. */
function datagramCipher(block: Block, key: Uint8Array): DatagramCipher {
  if (block === "aes" || block === "aes-128" || block === "aes-192") {
    const inPlace = libcryptoCfbCipher(key);
    if (inPlace !== null) return inPlace;
  }
  switch (block) {
    case "aes":
      return nativeCfbCipher({ ecb: "aes-256-ecb", cfb: "aes-256-cfb", blockSize: 16, ecbIvLength: 0 }, key);
    case "aes-128":
      return nativeCfbCipher({ ecb: "aes-128-ecb", cfb: "aes-128-cfb", blockSize: 16, ecbIvLength: 0 }, key);
    case "aes-192":
      return nativeCfbCipher({ ecb: "aes-192-ecb", blockSize: 16, ecbIvLength: 0 }, key);
    case "blowfish":
      return nativeCfbCipher({ ecb: "bf-ecb", blockSize: 8, ecbIvLength: 8 }, key, blowfishBlock(key));
    case "3des":
      return nativeCfbCipher({ ecb: "des-ede3", blockSize: 8, ecbIvLength: 0 }, key);
    case "twofish":
      return cfbCipher(twofishBlock(key));
    case "cast5":
      return cfbCipher(cast5Block(key));
    case "sm4":
      return cfbCipher(sm4Block(key));
    case "tea":
      return cfbCipher(teaBlock(key));
    case "xtea":
      return cfbCipher(xteaBlock(key));
    case "salsa20":
      return salsa20Cipher(key);
    case "xor":
      return xorCipher(xorTable(key));
    case "none":
      return {
        encrypt: (buf) => buf,
        decrypt: (src, dst) => {
          if (dst !== src) dst.set(src);
        },
      };
    default:
      throw new KcpError("KCP_BAD_OPTION", `block "${block}" has no datagram cipher`);
  }
}

/** kcp-go's simple XOR: byte i ^= table[i] for the first min(len, 1500) bytes. */
function xorCipher(table: Uint8Array): DatagramCipher {
  function xor(src: Uint8Array, dst: Uint8Array): void {
    const n = Math.min(src.length, table.length);
    for (let i = 0; i < n; i++) dst[i] = src[i]! ^ table[i]!;
    for (let i = n; i < src.length; i++) dst[i] = src[i]!;
  }
  return {
    encrypt(buf) {
      xor(buf, buf);
      return buf;
    },
    decrypt: xor,
  };
}

/**
 * Builds the crypto layer for `block`. `key` is paqet's derived key (kdf.ts `deriveKey`) or already
 * the cipher's key; it is truncated to the cipher's size here. Unknown blocks and short keys throw
 * KcpError KCP_BAD_OPTION (config validation rejects them first).
 */
export function createPacketCrypt(block: string, key: Uint8Array, opts: PacketCryptOptions = {}): PacketCrypt {
  if (!isBlock(block)) throw new KcpError("KCP_BAD_OPTION", `unknown block "${block}"`);
  const entropy = opts.entropy ?? defaultEntropy;
  if (block === "null") return nullCrypt();
  if (block === "aes-128-gcm") return gcmCrypt(cipherKey(block, key), entropy);
  return headerCrypt(datagramCipher(block, cipherKey(block, key)), entropy);
}

function nullCrypt(): PacketCrypt {
  const stats = newStats();
  return {
    overhead: 0,
    stats,
    seal: (inner) => inner,
    open: (datagram) => datagram,
  };
}

/** Writes nonce ‖ crc32 LE ‖ inner at `buf[at..)`; returns the datagram's length. */
function frameHeader(buf: Uint8Array, at: number, inner: Uint8Array, entropy: Entropy): number {
  // The default source writes in place; an injected one (tests) gets a view.
  if (entropy === defaultEntropy) poolEntropyAt(buf, at, NONCE_BYTES);
  else entropy(buf.subarray(at, at + NONCE_BYTES));
  const crc = Bun.hash.crc32(inner);
  buf[at + CRC_OFFSET] = crc;
  buf[at + CRC_OFFSET + 1] = crc >>> 8;
  buf[at + CRC_OFFSET + 2] = crc >>> 16;
  buf[at + CRC_OFFSET + 3] = crc >>> 24;
  buf.set(inner, at + HEADER_BYTES);
  return HEADER_BYTES + inner.length;
}

/** Staging slots for batch sealing: room for a 1500-byte datagram, a multiple of 16. */
const STAGE_SLOT = 1536;
/** Datagrams sealed together at most; a KCP flush of a full window stages more in several batches. */
const STAGE_MAX = 64;

/** nonce(16) ‖ crc32 LE(4) ‖ inner, then the whole buffer through the cipher. */
function headerCrypt(cipher: DatagramCipher, entropy: Entropy): PacketCrypt {
  const stats = newStats();
  let sealBuf = new Uint8Array(INITIAL_BUFFER);
  let openBuf = new Uint8Array(INITIAL_BUFFER);

  const seal = (inner: Uint8Array): Uint8Array => {
    const n = HEADER_BYTES + inner.length;
    if (sealBuf.length < n) sealBuf = new Uint8Array(n);
    frameHeader(sealBuf, 0, inner, entropy);
    return cipher.encrypt(sealBuf.subarray(0, n));
  };

  const crypt: PacketCrypt = {
    overhead: HEADER_BYTES,
    stats,
    seal,
    open(datagram) {
      const n = datagram.length;
      if (n < HEADER_BYTES) {
        stats.malformed++;
        return undefined;
      }
      if (openBuf.length < n) openBuf = new Uint8Array(n);
      cipher.decrypt(datagram, openBuf);
      const inner = openBuf.subarray(HEADER_BYTES, n);
      const want =
        (openBuf[CRC_OFFSET]! |
          (openBuf[CRC_OFFSET + 1]! << 8) |
          (openBuf[CRC_OFFSET + 2]! << 16) |
          (openBuf[CRC_OFFSET + 3]! << 24)) >>>
        0;
      if (Bun.hash.crc32(inner) !== want) {
        stats.checksumFailures++;
        return undefined;
      }
      return inner;
    },
  };
  const encryptMany = cipher.encryptMany;
  if (encryptMany === undefined) return crypt;

  // Allocated at the first stage call: a listener's crypt that never sends a batch costs nothing.
  let slots: Uint8Array | undefined;
  const lens = new Int32Array(STAGE_MAX);
  let count = 0;
  let batchEmit: ((datagram: Uint8Array) => void) | undefined;
  let flushQueued = false;
  let emitting = false;

  const flushStaged = (): void => {
    if (count === 0 || slots === undefined) return;
    const n = count;
    const emit = batchEmit!;
    count = 0;
    batchEmit = undefined;
    encryptMany(slots, STAGE_SLOT, lens, n);
    emitting = true;
    try {
      for (let k = 0; k < n; k++) emit(slots.subarray(k * STAGE_SLOT, k * STAGE_SLOT + lens[k]!));
    } finally {
      emitting = false;
    }
  };
  const endOfTurn = (): void => {
    flushQueued = false;
    flushStaged();
  };

  crypt.flushStaged = flushStaged;
  crypt.stage = (inner, emit) => {
    if (count > 0 && emit !== batchEmit) flushStaged();
    // Larger than a slot (an MTU above 1500), or staged from inside an emit (a conn that delivers
    // synchronously into a session sharing this crypt) while the slots are still being read: sealed
    // on its own, after what is staged.
    if (emitting || HEADER_BYTES + inner.length > STAGE_SLOT) {
      flushStaged();
      emit(seal(inner));
      return;
    }
    slots ??= new Uint8Array(STAGE_SLOT * STAGE_MAX);
    batchEmit = emit;
    lens[count] = frameHeader(slots, count * STAGE_SLOT, inner, entropy);
    count++;
    if (count === STAGE_MAX) flushStaged();
    else if (!flushQueued) {
      flushQueued = true;
      queueMicrotask(endOfTurn);
    }
  };
  return crypt;
}

/** nonce(12) ‖ AES-128-GCM ciphertext ‖ tag(16); no AAD, no CRC (kcp-smux-wire.md §2.3). */
function gcmCrypt(key: Uint8Array, entropy: Entropy): PacketCrypt {
  const stats = newStats();
  let sealBuf = new Uint8Array(INITIAL_BUFFER);
  let nonce = sealBuf.subarray(0, GCM_NONCE_BYTES);

  return {
    overhead: GCM_NONCE_BYTES + GCM_TAG_BYTES,
    stats,
    seal(inner) {
      const n = GCM_NONCE_BYTES + inner.length + GCM_TAG_BYTES;
      if (sealBuf.length < n) {
        sealBuf = new Uint8Array(n);
        nonce = sealBuf.subarray(0, GCM_NONCE_BYTES);
      }
      entropy(nonce);
      const c = createCipheriv("aes-128-gcm", key, nonce);
      sealBuf.set(c.update(inner), GCM_NONCE_BYTES);
      c.final();
      sealBuf.set(c.getAuthTag(), GCM_NONCE_BYTES + inner.length);
      return sealBuf.subarray(0, n);
    },
    open(datagram) {
      const n = datagram.length;
      if (n < GCM_NONCE_BYTES + GCM_TAG_BYTES) {
        stats.malformed++;
        return undefined;
      }
      try {
        const d = createDecipheriv("aes-128-gcm", key, datagram.subarray(0, GCM_NONCE_BYTES));
        d.setAuthTag(datagram.subarray(n - GCM_TAG_BYTES));
        const plain = d.update(datagram.subarray(GCM_NONCE_BYTES, n - GCM_TAG_BYTES));
        d.final();
        return plain;
      } catch {
        // BoringSSL reports a failed tag check by throwing from final(); that is the only way to see it.
        stats.checksumFailures++;
        return undefined;
      }
    },
  };
}
