/**
 * ECDSA verification on P-384 with SHA-384 (FIPS 186-5 §6.4.2; curve: NIST SP 800-186 §3.2.1.4),
 * built for a verifier that sees the same few keys many times: the VCEK of each chip signs every
 * report that chip produces.
 *
 * `P384Key.fromPoint` validates a public key once (on the curve, coordinates in range; the
 * cofactor is 1). `verify(digest, r, s)` computes u1·G + u2·Q: u1·G always reads a fixed-base table
 * of G (signed 8-bit windows, built once per process on first use); u2·Q uses a left-to-right
 * sliding window over odd multiples of Q until `precompute()` gives the key its own fixed-base
 * table (signed 6-bit windows, 2,080 affine points, a few milliseconds to build), after which a
 * verification is about 130 mixed additions and no doublings. The result is compared in Jacobian
 * coordinates (x ≡ r·Z²), so no field inversion is needed; one inversion mod n gives s⁻¹.
 *
 * Variable time: for public keys, signatures and messages only. Never use it with secrets.
 * Field elements are bigints reduced mod p; points are Jacobian (X, Y, Z) with x = X/Z², y = Y/Z³.
 */

const P =
  0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn;
/** The group order n. */
export const N =
  0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n;
const B =
  0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn;
const GX =
  0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n;
const GY =
  0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn;

const mod = (a: bigint) => {
  const r = a % P;
  return r < 0n ? r + P : r;
};
const add = (a: bigint, b: bigint) => {
  const r = a + b;
  return r >= P ? r - P : r;
};
const sub = (a: bigint, b: bigint) => {
  const r = a - b;
  return r < 0n ? r + P : r;
};
const mul = (a: bigint, b: bigint) => (a * b) % P;

/** a⁻¹ mod m by the extended Euclidean algorithm (public values only). */
export function invert(a: bigint, m: bigint): bigint {
  let r0 = m, r1 = a % m;
  let t0 = 0n, t1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  if (r0 !== 1n) throw new RangeError("not invertible");
  return t0 < 0n ? t0 + m : t0;
}

/** A Jacobian point; Z = 0 is the point at infinity. */
interface Jacobian {
  x: bigint;
  y: bigint;
  z: bigint;
}
const INFINITY: Jacobian = { x: 1n, y: 1n, z: 0n };

/** dbl-2001-b (a = −3): 3M + 5S. */
function double(p: Jacobian): Jacobian {
  if (p.z === 0n || p.y === 0n) return INFINITY;
  const delta = mul(p.z, p.z);
  const gamma = mul(p.y, p.y);
  const beta = mul(p.x, gamma);
  const t = mul(sub(p.x, delta), add(p.x, delta));
  const alpha = add(add(t, t), t);
  const beta4 = mod(beta << 2n);
  const x = sub(mul(alpha, alpha), add(beta4, beta4));
  const yz = add(p.y, p.z);
  const z = sub(sub(mul(yz, yz), gamma), delta);
  const gamma2 = mul(gamma, gamma);
  const y = sub(mul(alpha, sub(beta4, x)), mod(gamma2 << 3n));
  return { x, y, z };
}

/** madd-2007-bl: Jacobian + affine (x2, y2) in 7M + 4S. */
function addAffine(p: Jacobian, x2: bigint, y2: bigint): Jacobian {
  if (p.z === 0n) return { x: x2, y: y2, z: 1n };
  const z1z1 = mul(p.z, p.z);
  const u2 = mul(x2, z1z1);
  const s2 = mul(y2, mul(p.z, z1z1));
  const h = sub(u2, p.x);
  const r = sub(s2, p.y);
  if (h === 0n) return r === 0n ? double(p) : INFINITY;
  const hh = mul(h, h);
  const i = mod(hh << 2n);
  const j = mul(h, i);
  const rr = add(r, r);
  const v = mul(p.x, i);
  const x = sub(sub(mul(rr, rr), j), add(v, v));
  const yj = mul(p.y, j);
  const y = sub(mul(rr, sub(v, x)), add(yj, yj));
  const zh = add(p.z, h);
  const z = sub(sub(mul(zh, zh), z1z1), hh);
  return { x, y, z };
}

/** add-2007-bl: Jacobian + Jacobian in 11M + 5S. */
function addJacobian(p: Jacobian, q: Jacobian): Jacobian {
  if (p.z === 0n) return q;
  if (q.z === 0n) return p;
  const z1z1 = mul(p.z, p.z);
  const z2z2 = mul(q.z, q.z);
  const u1 = mul(p.x, z2z2);
  const u2 = mul(q.x, z1z1);
  const s1 = mul(p.y, mul(q.z, z2z2));
  const s2 = mul(q.y, mul(p.z, z1z1));
  const h = sub(u2, u1);
  const r0 = sub(s2, s1);
  if (h === 0n) return r0 === 0n ? double(p) : INFINITY;
  const h2 = add(h, h);
  const i = mul(h2, h2);
  const j = mul(h, i);
  const r = add(r0, r0);
  const v = mul(u1, i);
  const x = sub(sub(mul(r, r), j), add(v, v));
  const s1j = mul(s1, j);
  const y = sub(mul(r, sub(v, x)), add(s1j, s1j));
  const zz = add(p.z, q.z);
  const z = mul(sub(sub(mul(zz, zz), z1z1), z2z2), h);
  return { x, y, z };
}

/** Jacobian points → affine [x, y] pairs with one inversion (Montgomery's trick). */
function toAffine(points: Jacobian[]): bigint[] {
  const prefix: bigint[] = [];
  let acc = 1n;
  for (const p of points) {
    prefix.push(acc);
    acc = mul(acc, p.z);
  }
  let inv = invert(acc, P);
  const out = new Array<bigint>(2 * points.length);
  for (let i = points.length - 1; i >= 0; i--) {
    const zi = mul(inv, prefix[i]);
    inv = mul(inv, points[i].z);
    const zi2 = mul(zi, zi);
    out[2 * i] = mul(points[i].x, zi2);
    out[2 * i + 1] = mul(points[i].y, mul(zi2, zi));
  }
  return out;
}

/**
 * Fixed-base table: for window i, the multiples j·2^(w·i)·P for j = 1..2^(w−1), affine, flat
 * [x, y, …]. With signed digits in [−2^(w−1), 2^(w−1)], k·P is one mixed addition per window.
 */
interface FixedTable {
  w: number;
  windows: number;
  xy: bigint[];
}

function buildTable(x: bigint, y: bigint, w: number): FixedTable {
  const half = 1 << (w - 1);
  const windows = Math.ceil(384 / w) + 1;
  const points: Jacobian[] = [];
  let base: Jacobian = { x, y, z: 1n };
  for (let i = 0; i < windows; i++) {
    let acc = base;
    points.push(acc);
    for (let j = 2; j <= half; j++) {
      acc = addJacobian(acc, base);
      points.push(acc);
    }
    for (let d = 0; d < w; d++) base = double(base);
  }
  return { w, windows, xy: toAffine(points) };
}

function scalarBytes(k: bigint): Uint8Array {
  const hex = k.toString(16).padStart(96, "0");
  const out = new Uint8Array(48);
  for (let i = 0; i < 48; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Bit `i` (0 = least significant) of a 48-byte big-endian scalar. */
const bit = (k: Uint8Array, i: number) => (k[47 - (i >> 3)] >> (i & 7)) & 1;

function fixedMultiply(t: FixedTable, k: bigint): Jacobian {
  const bytes = scalarBytes(k);
  const half = 1 << (t.w - 1);
  const full = 1 << t.w;
  let acc = INFINITY;
  let carry = 0;
  for (let i = 0; i < t.windows; i++) {
    let digit = carry;
    for (let b = 0; b < t.w; b++) {
      const at = i * t.w + b;
      if (at < 384) digit += bit(bytes, at) << b;
    }
    carry = 0;
    if (digit > half) {
      digit -= full;
      carry = 1;
    }
    if (digit === 0) continue;
    const at = 2 * (i * half + Math.abs(digit) - 1);
    const y = t.xy[at + 1];
    acc = addAffine(acc, t.xy[at], digit < 0 ? P - y : y);
  }
  return acc;
}

/** Left-to-right sliding window (width 5, odd multiples 1..31 of the point). */
function slidingMultiply(odd: bigint[], k: bigint): Jacobian {
  const bytes = scalarBytes(k);
  let acc = INFINITY;
  let i = 383;
  while (i >= 0 && !bit(bytes, i)) i--;
  while (i >= 0) {
    if (!bit(bytes, i)) {
      acc = double(acc);
      i--;
      continue;
    }
    let j = Math.max(i - 4, 0);
    while (!bit(bytes, j)) j++;
    let value = 0;
    for (let b = i; b >= j; b--) {
      acc = double(acc);
      value = (value << 1) | bit(bytes, b);
    }
    const at = 2 * ((value - 1) >> 1);
    acc = addAffine(acc, odd[at], odd[at + 1]);
    i = j - 1;
  }
  return acc;
}

let gTable: FixedTable | undefined;

function bytesToBigint(b: Uint8Array): bigint {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

/** A validated P-384 public key. */
export class P384Key {
  #table?: FixedTable;
  #odd?: bigint[];

  private constructor(readonly x: bigint, readonly y: bigint) {}

  /** From the uncompressed SEC 1 encoding `04 ‖ X ‖ Y`; throws RangeError if not on the curve. */
  static fromPoint(point: Uint8Array): P384Key {
    if (point.length !== 97 || point[0] !== 0x04) {
      throw new RangeError("P-384 public key must be 97 bytes, uncompressed (0x04 ‖ X ‖ Y)");
    }
    const x = bytesToBigint(point.subarray(1, 49));
    const y = bytesToBigint(point.subarray(49));
    if (x >= P || y >= P) throw new RangeError("P-384 public key coordinate out of range");
    const rhs = add(sub(mul(mul(x, x), x), mod(3n * x)), B);
    if (mul(y, y) !== rhs) throw new RangeError("P-384 public key is not on the curve");
    return new P384Key(x, y);
  }

  get precomputed(): boolean {
    return this.#table !== undefined;
  }

  /** Builds this key's fixed-base table so later verifications skip every doubling. */
  precompute(): void {
    this.#table ??= buildTable(this.x, this.y, 6);
    this.#odd = undefined;
  }

  #multiply(k: bigint): Jacobian {
    if (this.#table) return fixedMultiply(this.#table, k);
    if (!this.#odd) {
      const q: Jacobian = { x: this.x, y: this.y, z: 1n };
      const q2 = double(q);
      const odd = [q];
      for (let i = 1; i < 16; i++) odd.push(addJacobian(odd[i - 1], q2));
      this.#odd = toAffine(odd);
    }
    return slidingMultiply(this.#odd, k);
  }

  /**
   * FIPS 186-5 §6.4.2 with the 48-byte SHA-384 `digest` of the message; `r` and `s` as integers.
   * Returns false for any out-of-range input rather than throwing.
   */
  verify(digest: Uint8Array, r: bigint, s: bigint): boolean {
    if (digest.length !== 48 || r <= 0n || r >= N || s <= 0n || s >= N) return false;
    const e = bytesToBigint(digest) % N;
    const w = invert(s, N);
    const u1 = (e * w) % N;
    const u2 = (r * w) % N;
    gTable ??= buildTable(GX, GY, 8);
    const sum = addJacobian(
      u1 === 0n ? INFINITY : fixedMultiply(gTable, u1),
      u2 === 0n ? INFINITY : this.#multiply(u2),
    );
    if (sum.z === 0n) return false;
    // x(R) mod n = r  ⇔  X = r'·Z² for r' ∈ {r, r + n} with r' < p (no inversion).
    const z2 = mul(sum.z, sum.z);
    if (mul(r, z2) === sum.x) return true;
    return r + N < P && mul(r + N, z2) === sum.x;
  }
}
