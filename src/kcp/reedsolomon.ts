/**
 * Reed-Solomon erasure coding over GF(2^8) as klauspost/reedsolomon (and Backblaze's Java port)
 * defines it, which is what kcp-go's FEC uses (kcp-smux-wire.md §4.3):
 *
 *   field:  polynomial x^8+x^4+x^3+x^2+1 (0x11D), generator 2
 *   matrix: Vandermonde V (n×d, V[r][c] = r^c, 0^0 = 1) times the inverse of its top d×d square,
 *           so the top d rows are the identity and the bottom p rows make parity.
 */

const FIELD_POLY = 0x11d;

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= FIELD_POLY;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

export function gfMul(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : EXP[LOG[a]! + LOG[b]!]!;
}

function gfInv(a: number): number {
  return EXP[255 - LOG[a]!]!;
}

function gfPow(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[(LOG[a]! * n) % 255]!;
}

/** MUL[c << 8 | x] = c·x: one 256-byte row per coefficient keeps the inner loops to one lookup. */
const MUL = new Uint8Array(65536);
for (let c = 0; c < 256; c++) for (let x = 0; x < 256; x++) MUL[(c << 8) | x] = gfMul(c, x);

type Matrix = Uint8Array[];

function matMul(a: Matrix, b: Matrix): Matrix {
  const cols = b[0]!.length;
  return a.map((row) => {
    const out = new Uint8Array(cols);
    for (let c = 0; c < cols; c++) {
      let acc = 0;
      for (let k = 0; k < row.length; k++) acc ^= gfMul(row[k]!, b[k]![c]!);
      out[c] = acc;
    }
    return out;
  });
}

/** Gauss-Jordan inversion; undefined when singular (never for the rows RS picks). */
function matInvert(m: Matrix): Matrix | undefined {
  const n = m.length;
  const a = m.map((row, i) => {
    const r = new Uint8Array(2 * n);
    r.set(row);
    r[n + i] = 1;
    return r;
  });
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && a[pivot]![col] === 0) pivot++;
    if (pivot === n) return undefined;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const row = a[col]!;
    const inv = gfInv(row[col]!);
    for (let k = 0; k < 2 * n; k++) row[k] = gfMul(row[k]!, inv);
    for (let r = 0; r < n; r++) {
      const other = a[r]!;
      const f = other[col]!;
      if (r === col || f === 0) continue;
      for (let k = 0; k < 2 * n; k++) other[k]! ^= gfMul(f, row[k]!);
    }
  }
  return a.map((row) => row.slice(n));
}

/** out[0..len) = Σ coef[i]·src[i][0..len) */
function combine(coef: Uint8Array, src: readonly Uint8Array[], out: Uint8Array, len: number): void {
  out.fill(0, 0, len);
  for (let i = 0; i < coef.length; i++) {
    const c = coef[i]!;
    if (c === 0) continue;
    const s = src[i]!;
    if (c === 1) {
      for (let j = 0; j < len; j++) out[j]! ^= s[j]!;
    } else {
      const base = c << 8;
      for (let j = 0; j < len; j++) out[j]! ^= MUL[base | s[j]!]!;
    }
  }
}

/** Decode matrices are cached per loss pattern, as klauspost does; patterns repeat under steady loss. */
const MAX_CACHED_INVERSIONS = 64;

export class ReedSolomon {
  readonly dataShards: number;
  readonly parityShards: number;
  /** The full (d+p)×d systematic encoding matrix. */
  readonly matrix: readonly Uint8Array[];
  private readonly inversions = new Map<string, Matrix>();

  constructor(dataShards: number, parityShards: number) {
    if (!Number.isInteger(dataShards) || !Number.isInteger(parityShards) || dataShards <= 0 || parityShards <= 0) {
      throw new RangeError(`reed-solomon: shards must be positive integers (${dataShards}, ${parityShards})`);
    }
    if (dataShards + parityShards > 256) throw new RangeError("reed-solomon: at most 256 shards in total");
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    const n = dataShards + parityShards;
    const vandermonde: Matrix = [];
    for (let r = 0; r < n; r++) vandermonde.push(Uint8Array.from({ length: dataShards }, (_, c) => gfPow(r, c)));
    const topInverse = matInvert(vandermonde.slice(0, dataShards))!;
    this.matrix = matMul(vandermonde, topInverse);
  }

  /** parity[k][0..len) from data[i][0..len) (every data shard at least `len` bytes). */
  encode(data: readonly Uint8Array[], parity: readonly Uint8Array[], len: number): void {
    for (let k = 0; k < this.parityShards; k++) combine(this.matrix[this.dataShards + k]!, data, parity[k]!, len);
  }

  /**
   * Rebuilds the missing data shards in place. `shards` has d+p entries, present ones `len` bytes
   * long (zero-padded) and missing ones undefined; `out[i]` receives missing data shard i.
   * Returns false when fewer than d shards are present.
   */
  reconstructData(shards: readonly (Uint8Array | undefined)[], out: readonly Uint8Array[], len: number): boolean {
    const d = this.dataShards;
    const rows: number[] = [];
    for (let i = 0; i < shards.length && rows.length < d; i++) if (shards[i] !== undefined) rows.push(i);
    if (rows.length < d) return false;
    const key = rows.join(",");
    let inv = this.inversions.get(key);
    if (inv === undefined) {
      inv = matInvert(rows.map((r) => this.matrix[r]!));
      if (inv === undefined) return false;
      if (this.inversions.size >= MAX_CACHED_INVERSIONS) this.inversions.clear();
      this.inversions.set(key, inv);
    }
    const src = rows.map((r) => shards[r]!);
    for (let i = 0; i < d; i++) if (shards[i] === undefined) combine(inv[i]!, src, out[i]!, len);
    return true;
  }
}
