/**
 * AES from the system's libcrypto (OpenSSL 3 or 1.1), when one loads: an optional accelerator for
 * kcp-go's AES blocks, never a requirement (callers fall back to node:crypto on null).
 *
 * Why: node:crypto's `update()` returns a fresh Buffer per call, so every datagram cost a native
 * allocation plus garbage, and a 16-byte ECB call costs ~170 ns of wrapper. Through EVP the same
 * primitives run in place on our own buffers: measured on the bench VM, CFB over 1376 bytes with the
 * chain reset 1.9 µs (BoringSSL via node:crypto: 1.85 µs plus the output Buffer and the re-chaining
 * call), ECB over 1376 bytes 144 ns (275 ns), ECB over 16 bytes 21 ns (169 ns).
 *
 * Linux only: macOS aborts a process that dlopens its system libcrypto directly, and Windows has
 * none by default. `PAQET_LIBCRYPTO=0` turns it off (tests compare both paths with it).
 *
 * Contexts are shared per (cipher, key): every session of a process uses the same key, and each call
 * here is synchronous and resets what it depends on, so sharing is safe on one thread.
 */
import { dlopen, FFIType, ptr as pointerOf, type Library, type Pointer } from "bun:ffi";

const { ptr, i32, void: voidT } = FFIType;

const SYMBOLS = {
  EVP_CIPHER_CTX_new: { args: [], returns: ptr },
  EVP_CIPHER_CTX_free: { args: [ptr], returns: voidT },
  EVP_CIPHER_CTX_set_padding: { args: [ptr, i32], returns: i32 },
  EVP_EncryptInit_ex: { args: [ptr, ptr, ptr, ptr, ptr], returns: i32 },
  EVP_EncryptUpdate: { args: [ptr, ptr, ptr, ptr, i32], returns: i32 },
  EVP_aes_128_cfb128: { args: [], returns: ptr },
  EVP_aes_192_cfb128: { args: [], returns: ptr },
  EVP_aes_256_cfb128: { args: [], returns: ptr },
  EVP_aes_128_ecb: { args: [], returns: ptr },
  EVP_aes_192_ecb: { args: [], returns: ptr },
  EVP_aes_256_ecb: { args: [], returns: ptr },
} as const;

type Evp = Library<typeof SYMBOLS>["symbols"];

const CANDIDATES = ["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"];

let evp: Evp | null | undefined;

function load(): Evp | null {
  if (evp !== undefined) return evp;
  evp = null;
  if (process.platform !== "linux" || process.env.PAQET_LIBCRYPTO === "0") return evp;
  for (const name of CANDIDATES) {
    try {
      evp = dlopen(name, SYMBOLS).symbols;
      break;
    } catch {
      // try the next name
    }
  }
  return evp;
}

/** Whether AES runs through the system libcrypto in this process. */
export function libcryptoAvailable(): boolean {
  return load() !== null;
}

/** AES with one key: CFB-128 chains that restart at a fixed IV, and raw ECB, all in place. */
export interface AesEngine {
  /** Encrypts `buf` in place as one CFB-128 chain starting at the engine's IV. */
  cfbEncrypt(buf: Uint8Array): void;
  /**
   * `dst[0..len) = AES-ECB(src[0..len))`, `len` (default `src.length`) a multiple of 16; dst may
   * equal src. The length argument spares callers a subarray (~100 ns each in JSC) per call.
   */
  ecb(src: Uint8Array, dst: Uint8Array, len?: number): void;
  /**
   * The engine's own buffer for many small ECB calls (SCRATCH_BYTES): `ecbScratch(len)` encrypts
   * its first `len` bytes in place through a pointer taken once, about 20 ns a call where passing
   * typed arrays costs ~100 ns.
   */
  readonly scratch: Uint8Array;
  ecbScratch(len: number): void;
}

/** Size of an engine's scratch buffer: 256 AES blocks. */
export const SCRATCH_BYTES = 4096;

type Ctx = NonNullable<ReturnType<Evp["EVP_CIPHER_CTX_new"]>>;

const engines = new Map<string, AesEngine>();
/** Distinct keys kept; a process uses one, tests a few. Beyond this, engines are freed by the GC. */
const MAX_CACHED = 16;
const freeCtx = new FinalizationRegistry<Ctx[]>((ctxs) => {
  const lib = load();
  if (lib !== null) for (const c of ctxs) lib.EVP_CIPHER_CTX_free(c);
});

/**
 * One key's two EVP contexts. The buffers behind the pointers taken once (IV, output length,
 * scratch) are fields, so they live exactly as long as the engine that uses the pointers
 * (bun-probe.md, pitfall 1: a bare pointer number does not keep its buffer alive).
 */
class LibcryptoAes implements AesEngine {
  readonly scratch = new Uint8Array(SCRATCH_BYTES);
  // EVP writes the output length here; nobody reads it (input and output lengths are equal).
  private readonly outLen = new Int32Array(1);
  private readonly scratchAt = pointerOf(this.scratch);
  private readonly outLenAt = pointerOf(this.outLen);
  private readonly ivAt: Pointer;

  constructor(
    private readonly lib: Evp,
    private readonly cfbCtx: Ctx,
    private readonly ecbCtx: Ctx,
    private readonly iv: Uint8Array,
  ) {
    this.ivAt = pointerOf(iv);
  }

  cfbEncrypt(buf: Uint8Array): void {
    // Re-initialising with only an IV keeps the key schedule and resets the chain position.
    this.lib.EVP_EncryptInit_ex(this.cfbCtx, null, null, null, this.ivAt);
    this.lib.EVP_EncryptUpdate(this.cfbCtx, buf, this.outLenAt, buf, buf.length);
  }

  ecb(src: Uint8Array, dst: Uint8Array, len = src.length): void {
    if (len > src.length || len > dst.length) throw new RangeError("ECB length beyond its buffers");
    this.lib.EVP_EncryptUpdate(this.ecbCtx, dst, this.outLenAt, src, len);
  }

  ecbScratch(len: number): void {
    if (len > this.scratch.length) throw new RangeError("ECB length beyond the scratch buffer");
    this.lib.EVP_EncryptUpdate(this.ecbCtx, this.scratchAt, this.outLenAt, this.scratchAt, len);
  }
}

/** An AES engine for a 16/24/32-byte key and a 16-byte IV, or null without libcrypto. */
export function libcryptoAes(key: Uint8Array, iv: Uint8Array): AesEngine | null {
  const lib = load();
  if (lib === null) return null;
  if (iv.length !== 16) throw new RangeError(`AES IV must be 16 bytes, got ${iv.length}`);
  const id = `${Buffer.from(key).toString("hex")}/${Buffer.from(iv).toString("hex")}`;
  const cached = engines.get(id);
  if (cached !== undefined) return cached;

  type CipherFn = Evp["EVP_aes_128_ecb"];
  const kinds: Record<number, [CipherFn, CipherFn]> = {
    16: [lib.EVP_aes_128_cfb128, lib.EVP_aes_128_ecb],
    24: [lib.EVP_aes_192_cfb128, lib.EVP_aes_192_ecb],
    32: [lib.EVP_aes_256_cfb128, lib.EVP_aes_256_ecb],
  };
  const kind = kinds[key.length];
  if (kind === undefined) throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  const cfbCtx = lib.EVP_CIPHER_CTX_new();
  const ecbCtx = lib.EVP_CIPHER_CTX_new();
  const ivCopy = Uint8Array.from(iv);
  const ok =
    cfbCtx !== null &&
    ecbCtx !== null &&
    lib.EVP_EncryptInit_ex(cfbCtx, kind[0](), null, key, ivCopy) === 1 &&
    lib.EVP_EncryptInit_ex(ecbCtx, kind[1](), null, key, null) === 1 &&
    lib.EVP_CIPHER_CTX_set_padding(ecbCtx, 0) === 1;
  if (!ok) {
    if (cfbCtx !== null) lib.EVP_CIPHER_CTX_free(cfbCtx);
    if (ecbCtx !== null) lib.EVP_CIPHER_CTX_free(ecbCtx);
    return null;
  }
  const engine = new LibcryptoAes(lib, cfbCtx, ecbCtx, ivCopy);
  freeCtx.register(engine, [cfbCtx, ecbCtx]);
  if (engines.size < MAX_CACHED) engines.set(id, engine);
  return engine;
}
