/**
 * paqet's key derivation (paqet-app.md §2.5, kcp-smux-wire.md §3.1, §3.7).
 *
 * Both peers must derive the same bytes: the cipher key is PBKDF2-HMAC-SHA256 over the passphrase
 * with salt "paqet", truncated per cipher; kcp-go's xor cipher then stretches that key once more into
 * a fixed 1500-byte table with PBKDF2-HMAC-SHA1.
 */
import { pbkdf2Sync } from "node:crypto";
import { KcpError } from "./errors.ts";

export const KDF_SALT = "paqet";
export const KDF_ITERATIONS = 100_000;
export const KDF_KEY_BYTES = 32;

const XOR_SALT = "sH3CIVoF#rWLtJo6";
const XOR_ITERATIONS = 32;
/** kcp-go's xor table covers the largest datagram its sessions ever read. */
export const XOR_TABLE_BYTES = 1500;

/** Bytes of the derived key each `block` passes to kcp-go; absent means "all 32". */
const KEY_BYTES: Readonly<Record<string, number>> = {
  "aes-128": 16,
  "aes-128-gcm": 16,
  "aes-192": 24,
  cast5: 16,
  "3des": 24,
  tea: 16,
  xtea: 16,
  sm4: 16,
};

/** PBKDF2-HMAC-SHA256(passphrase UTF-8, "paqet", 100000, 32): about 13 ms, so derive once and keep it. */
export function deriveKey(passphrase: string): Uint8Array {
  return new Uint8Array(pbkdf2Sync(passphrase, KDF_SALT, KDF_ITERATIONS, KDF_KEY_BYTES, "sha256"));
}

/** The number of key bytes `block` uses (32 for the full-key ciphers and the unkeyed none/null). */
export function cipherKeyLength(block: string): number {
  return KEY_BYTES[block] ?? KDF_KEY_BYTES;
}

/**
 * The key paqet hands to kcp-go's constructor for `block`: the derived key truncated to the cipher's
 * size. A key that is already that length is returned as is (a copy either way).
 */
export function cipherKey(block: string, derived: Uint8Array): Uint8Array {
  const n = cipherKeyLength(block);
  if (derived.length < n) {
    throw new KcpError("KCP_BAD_OPTION", `cipher ${block} needs a ${n}-byte key, got ${derived.length}`);
  }
  return derived.slice(0, n);
}

/** kcp-go's xor keystream: PBKDF2-HMAC-SHA1(key, "sH3CIVoF#rWLtJo6", 32, 1500). */
export function xorTable(key: Uint8Array): Uint8Array {
  return new Uint8Array(pbkdf2Sync(key, XOR_SALT, XOR_ITERATIONS, XOR_TABLE_BYTES, "sha1"));
}
