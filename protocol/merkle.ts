/**
 * Merkle trees of RFC 6962 §2.1 / RFC 9162 §2.1 (SHA-256): leaf and node hashing, tree heads,
 * inclusion and consistency proofs (generation and verification).
 *
 * Generation reads the hashes of complete, aligned subtrees through a `HashReader` — a log keeps
 * them in tiles (`tiles.ts`), a test in an array — so one algorithm serves a server holding every
 * hash and a client that fetched only a few tiles. Because the access pattern of the algorithms
 * depends on sizes and indexes only, `hashesNeeded` can list the hashes a proof will read before
 * anything is fetched.
 *
 * Sizes and indexes are JavaScript numbers: exact up to 2^53, which no log here approaches.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { ProtocolError } from "./errors.ts";
import { concat, equalBytes } from "./bytes.ts";

/** A proof that does not verify, or arguments no proof can satisfy. */
export class MerkleError extends ProtocolError {}

export const HASH_SIZE = 32;

/**
 * Hash of the complete subtree of 2^level leaves starting at leaf `index * 2^level`. Callers only
 * ask for subtrees that lie wholly inside the tree they are working on.
 */
export type HashReader = (level: number, index: number) => Uint8Array;

/** RFC 9162 §2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0)). */
export function leafHash(entry: Uint8Array): Uint8Array {
  return sha256(concat(Uint8Array.of(0x00), entry));
}

/** RFC 9162 §2.1.1: SHA-256(0x01 || MTH(left) || MTH(right)). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concat(Uint8Array.of(0x01), left, right));
}

/** The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** Largest power of two strictly less than n (n ≥ 2): RFC 9162's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** log2(n) when n is a power of two, else -1 (numbers past 2^31: no 32-bit bit tricks). */
function exactLog2(n: number): number {
  let level = 0;
  for (let k = 1; k <= n; k *= 2, level++) if (k === n) return level;
  return -1;
}

function isPowerOfTwo(n: number): boolean {
  return exactLog2(n) >= 0;
}

/** MTH of leaves [lo, hi), read as complete aligned subtrees where possible. */
function rangeHash(lo: number, hi: number, read: HashReader): Uint8Array {
  const n = hi - lo;
  const level = exactLog2(n);
  if (level >= 0 && lo % n === 0) return read(level, lo / n);
  const k = splitPoint(n);
  return nodeHash(rangeHash(lo, lo + k, read), rangeHash(lo + k, hi, read));
}

/** The tree head MTH(D[size]) (RFC 9162 §2.1.1). */
export function rootHash(size: number, read: HashReader): Uint8Array {
  checkSize(size, "tree size");
  return size === 0 ? EMPTY_ROOT : rangeHash(0, size, read);
}

/** RFC 9162 §2.1.3.1 PATH(m, D[n]): the inclusion proof of leaf `index` in a tree of `size`. */
export function inclusionProof(index: number, size: number, read: HashReader): Uint8Array[] {
  checkLeafIndex(index, size);
  const path: Uint8Array[] = [];
  const walk = (m: number, lo: number, hi: number) => {
    const n = hi - lo;
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      walk(m, lo, lo + k);
      path.push(rangeHash(lo + k, hi, read));
    } else {
      walk(m - k, lo + k, hi);
      path.push(rangeHash(lo, lo + k, read));
    }
  };
  walk(index, 0, size);
  return path;
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]): the consistency proof from size `m` to size `n`. */
export function consistencyProof(m: number, n: number, read: HashReader): Uint8Array[] {
  checkSize(m, "old size");
  checkSize(n, "new size");
  if (m === 0 || m > n) {
    throw new MerkleError("bad-sizes", `no consistency proof from size ${m} to size ${n}`);
  }
  const proof: Uint8Array[] = [];
  // SUBPROOF(m, D[lo:hi], b)
  const sub = (m: number, lo: number, hi: number, b: boolean) => {
    const n = hi - lo;
    if (m === n) {
      if (!b) proof.push(rangeHash(lo, hi, read));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      sub(m, lo, lo + k, b);
      proof.push(rangeHash(lo + k, hi, read));
    } else {
      sub(m - k, lo + k, hi, false);
      proof.push(rangeHash(lo, lo + k, read));
    }
  };
  if (m < n) sub(m, 0, n, true);
  return proof;
}

/**
 * The (level, index) pairs that `compute` reads, in order, deduplicated. Valid for this module's
 * algorithms, whose reads depend on sizes and indexes only, never on hash values.
 */
export function hashesNeeded(compute: (read: HashReader) => unknown): [number, number][] {
  const seen = new Set<string>();
  const out: [number, number][] = [];
  compute((level, index) => {
    const key = `${level}/${index}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push([level, index]);
    }
    return new Uint8Array(HASH_SIZE);
  });
  return out;
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new MerkleError("bad-sizes", `${what} ${n} is not a non-negative integer`);
  }
}

function checkLeafIndex(index: number, size: number): void {
  checkSize(size, "tree size");
  checkSize(index, "leaf index");
  if (index >= size) {
    throw new MerkleError("index-out-of-range", `leaf index ${index} is not below size ${size}`);
  }
}

function checkProofHashes(proof: Uint8Array[]): void {
  proof.forEach((p, i) => {
    if (p.length !== HASH_SIZE) {
      throw new MerkleError(
        "bad-hash-length",
        `proof hash ${i} is ${p.length} bytes, not ${HASH_SIZE}`,
      );
    }
  });
}

/**
 * The walk shared by RFC 9162 §2.1.3.2 (step 3) and §2.1.4.2 (step 6): each proof hash is a left
 * sibling when fn is odd or fn = sn (then fn and sn shift until fn is odd or 0), else a right one;
 * the path must end exactly when sn reaches 0.
 */
function walkPath(
  fn: number,
  sn: number,
  path: Uint8Array[],
  what: string,
  left: (p: Uint8Array) => void,
  right: (p: Uint8Array) => void,
): void {
  for (const p of path) {
    if (sn === 0) throw new MerkleError("bad-proof-length", `${what} proof is too long`);
    if (fn % 2 === 1 || fn === sn) {
      left(p);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      right(p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new MerkleError("bad-proof-length", `${what} proof is too short`);
}

/**
 * RFC 9162 §2.1.3.2: verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` whose
 * root is `root`. Throws `MerkleError` naming the reason; returns nothing on success.
 */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: Uint8Array[],
  root: Uint8Array,
): void {
  checkLeafIndex(index, size);
  if (leaf.length !== HASH_SIZE) {
    throw new MerkleError("bad-hash-length", `leaf hash is ${leaf.length} bytes, not 32`);
  }
  checkProofHashes(proof);
  let r = leaf;
  walkPath(index, size - 1, proof, "inclusion", (p) => (r = nodeHash(p, r)), (p) => {
    r = nodeHash(r, p);
  });
  if (!equalBytes(r, root)) {
    throw new MerkleError("root-mismatch", "inclusion proof does not lead to the root");
  }
}

/**
 * RFC 9162 §2.1.4.2: verifies that the tree of `size2` with `root2` extends the tree of `size1`
 * with `root1`. Equal sizes need equal roots and an empty proof. A proof from the empty tree
 * proves nothing and is refused (`empty-tree`): a client with no previous checkpoint has nothing
 * to check consistency against.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: Uint8Array[],
): void {
  checkSize(size1, "old size");
  checkSize(size2, "new size");
  if (size2 < size1) {
    throw new MerkleError("bad-sizes", `new size ${size2} is below old size ${size1}`);
  }
  if (size1 === size2) {
    if (proof.length > 0) {
      throw new MerkleError("bad-proof-length", "equal sizes need an empty consistency proof");
    }
    if (size1 === 0 && !equalBytes(root1, EMPTY_ROOT)) {
      throw new MerkleError("root-mismatch", 'the empty tree has the root SHA-256("")');
    }
    if (!equalBytes(root1, root2)) {
      throw new MerkleError("root-mismatch", "equal sizes but different roots");
    }
    return;
  }
  if (size1 === 0) {
    throw new MerkleError("empty-tree", "a consistency proof from the empty tree proves nothing");
  }
  if (proof.length === 0) throw new MerkleError("bad-proof-length", "consistency proof is empty");
  checkProofHashes(proof);
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  // Step 4: skip the levels where the old tree is a complete left subtree.
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0];
  let sr = path[0];
  walkPath(fn, sn, path.slice(1), "consistency", (c) => {
    fr = nodeHash(c, fr);
    sr = nodeHash(c, sr);
  }, (c) => (sr = nodeHash(sr, c)));
  if (!equalBytes(fr, root1)) {
    throw new MerkleError("root-mismatch", "consistency proof does not lead to the old root");
  }
  if (!equalBytes(sr, root2)) {
    throw new MerkleError("root-mismatch", "consistency proof does not lead to the new root");
  }
}
