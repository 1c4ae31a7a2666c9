/**
 * The bytes the demo's HTTP target serves for `GET /bytes/N`: a fixed 1 MiB pseudo-random block
 * (xorshift32 with a fixed seed, as the shared netbed target) repeated and cut to N. It does not
 * compress, and anyone can recompute its sha256 without downloading it.
 */
import { CryptoHasher } from "bun";

export const BLOCK_SIZE = 1 << 20;

let cached: Uint8Array | undefined;

export function patternBlock(): Uint8Array {
  if (cached) return cached;
  const block = new Uint8Array(BLOCK_SIZE);
  const view = new DataView(block.buffer);
  let x = 0x9e3779b9;
  for (let i = 0; i < BLOCK_SIZE; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    view.setUint32(i, x, true);
  }
  cached = block;
  return block;
}

const digests = new Map<number, string>();

/** Hex sha256 of the first `n` bytes of the pattern (memoized). */
export function patternSha256(n: number): string {
  const known = digests.get(n);
  if (known) return known;
  const block = patternBlock();
  const h = new CryptoHasher("sha256");
  for (let left = n; left > 0; left -= BLOCK_SIZE) h.update(left >= BLOCK_SIZE ? block : block.subarray(0, left));
  const hex = h.digest("hex");
  digests.set(n, hex);
  return hex;
}
