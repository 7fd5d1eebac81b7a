import assert from "node:assert/strict";
import { concat, i2osp } from "../../protocol/bytes.ts";
import {
  consistencyProof,
  type HashReader,
  inclusionProof,
  leafHash,
  nodeHash,
  rootHash,
} from "../../protocol/merkle.ts";
import {
  decodeBundle,
  encodeBundle,
  parseTilePath,
  subtreeRoot,
  TILE_WIDTH,
  tileHashReader,
  tileLayout,
  tilePath,
} from "../../protocol/tiles.ts";

/** Builds every tile body of a tree of `size` the way a log does. */
function buildTiles(size: number): Map<string, Uint8Array> {
  const bodies = new Map<string, Uint8Array>();
  let hashes = Array.from({ length: size }, (_, i) => leafHash(i2osp(i, 4)));
  for (let level = 0; hashes.length > 0; level++) {
    const next: Uint8Array[] = [];
    for (let t = 0; t * TILE_WIDTH < hashes.length; t++) {
      const slice = hashes.slice(t * TILE_WIDTH, (t + 1) * TILE_WIDTH);
      bodies.set(tilePath({ level, index: t, width: slice.length }), concat(...slice));
      if (slice.length === TILE_WIDTH) next.push(subtreeRoot(slice));
    }
    hashes = next;
  }
  return bodies;
}

/** The whole tree's subtree hashes, computed from the leaves (memoized). */
function direct(): HashReader {
  const memo = new Map<string, Uint8Array>();
  const read: HashReader = (level, index) => {
    const key = `${level}/${index}`;
    let h = memo.get(key);
    if (!h) {
      h = level === 0
        ? leafHash(i2osp(index, 4))
        : nodeHash(read(level - 1, 2 * index), read(level - 1, 2 * index + 1));
      memo.set(key, h);
    }
    return h;
  };
  return read;
}

Deno.test("proofs from tiles equal proofs from the whole tree (sizes across tile boundaries)", () => {
  const size = 70_000;
  const tiles = tileHashReader(size, buildTiles(size));
  const whole = direct();
  assert.deepEqual(rootHash(size, tiles), rootHash(size, whole));
  for (const i of [0, 255, 256, 65_535, 65_536, 69_999]) {
    assert.deepEqual(inclusionProof(i, size, tiles), inclusionProof(i, size, whole));
  }
  for (const m of [1, 256, 257, 65_536, 69_000]) {
    assert.deepEqual(consistencyProof(m, size, tiles), consistencyProof(m, size, whole));
  }
});

Deno.test("tile layout of C2SP's example and a reader that lacks a tile", () => {
  assert.deepEqual(tileLayout(70_000), [
    { level: 0, full: 273, partial: 112 },
    { level: 1, full: 1, partial: 17 },
    { level: 2, full: 0, partial: 1 },
  ]);
  const read = tileHashReader(300, new Map());
  assert.throws(() => read(0, 5), { code: "missing-tile" });
});

Deno.test("tile paths parse back and non-canonical spellings are refused", () => {
  for (
    const t of [
      { level: 0, index: 0, width: 256 },
      { level: 3, index: 1_234_067, width: 17 },
      { level: "entries" as const, index: 1000, width: 1 },
    ]
  ) assert.deepEqual(parseTilePath(tilePath(t)), t);
  for (
    const bad of [
      "tile/0/1234067",
      "tile/0/x000/001",
      "tile/0/001.p/256",
      "tile/0/001.p/0",
      "tile/64/000",
      "tile/00/000",
      "tile/0/01",
      "tile/0/000/",
    ]
  ) assert.throws(() => parseTilePath(bad), { code: "bad-tile-path" }, bad);
});

Deno.test("entry bundles round-trip and refuse truncation", () => {
  const entries = [new Uint8Array(0), Uint8Array.of(1, 2, 3), new Uint8Array(300).fill(7)];
  const bundle = encodeBundle(entries);
  assert.deepEqual(decodeBundle(bundle), entries);
  assert.throws(() => decodeBundle(bundle.subarray(0, bundle.length - 1)), { code: "truncated" });
  assert.throws(() => encodeBundle([new Uint8Array(65_536)]), { code: "entry-too-large" });
});
