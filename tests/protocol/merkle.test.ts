import assert from "node:assert/strict";
import {
  consistencyProof,
  EMPTY_ROOT,
  hashesNeeded,
  type HashReader,
  inclusionProof,
  leafHash,
  MerkleError,
  nodeHash,
  rootHash,
  verifyConsistency,
  verifyInclusion,
} from "../../protocol/merkle.ts";
import { i2osp } from "../../protocol/bytes.ts";

function reader(n: number): HashReader {
  const leaves = Array.from({ length: n }, (_, i) => leafHash(i2osp(i, 4)));
  const read: HashReader = (level, index) =>
    level === 0
      ? leaves[index]
      : nodeHash(read(level - 1, 2 * index), read(level - 1, 2 * index + 1));
  return read;
}

Deno.test("every generated inclusion proof verifies, and fails for a neighbour", () => {
  const read = reader(40);
  for (let size = 1; size <= 40; size++) {
    const root = rootHash(size, read);
    for (let i = 0; i < size; i++) {
      const proof = inclusionProof(i, size, read);
      verifyInclusion(i, size, read(0, i), proof, root);
      if (size > 1) {
        const j = (i + 1) % size;
        assert.throws(() => verifyInclusion(j, size, read(0, i), proof, root), MerkleError);
      }
    }
  }
});

Deno.test("every generated consistency proof verifies, and fails against another root", () => {
  const read = reader(40);
  for (let n = 1; n <= 40; n++) {
    for (let m = 1; m < n; m++) {
      const proof = consistencyProof(m, n, read);
      verifyConsistency(m, n, rootHash(m, read), rootHash(n, read), proof);
      assert.throws(
        () => verifyConsistency(m, n, rootHash(m, read), rootHash(n - 1, read), proof),
        (e: MerkleError) => e.code === "root-mismatch" || e.code === "bad-proof-length",
      );
    }
  }
});

Deno.test("the empty tree and bad arguments", () => {
  assert.deepEqual(rootHash(0, reader(0)), EMPTY_ROOT);
  verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, []);
  assert.throws(() => verifyConsistency(0, 3, EMPTY_ROOT, EMPTY_ROOT, []), { code: "empty-tree" });
  assert.throws(() => inclusionProof(3, 3, reader(3)), { code: "index-out-of-range" });
  assert.throws(() => consistencyProof(4, 3, reader(4)), { code: "bad-sizes" });
  assert.throws(
    () => verifyInclusion(0, 2, new Uint8Array(31), [], EMPTY_ROOT),
    { code: "bad-hash-length" },
  );
});

Deno.test("hashesNeeded lists exactly the reads of a proof", () => {
  const needed = hashesNeeded((read) => inclusionProof(5, 13, read));
  // 13 = 8 + 4 + 1; leaf 5 sits in the first 8: siblings 4, (6,7) and (0..3), then 8..12.
  assert.deepEqual(needed, [[0, 4], [1, 3], [2, 0], [2, 2], [0, 12]]);
});
