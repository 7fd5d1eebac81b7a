/**
 * C2SP tlog-tiles: the static layout of a Merkle-tree log (paths, tile contents, partial tiles,
 * entry bundles) and the hashes a client derives from tiles to compute inclusion and consistency
 * proofs itself (https://c2sp.org/tlog-tiles).
 *
 * Layout, with tile height 8 (256 hashes per full tile):
 * - `tile/<L>/<N>[.p/<W>]`: hashes at tree level 8·L, indexes 256·N … 256·N+W−1, each 32 bytes.
 *   Level 0 holds leaf hashes; a level L ≥ 1 hash is the root of one full tile at level L−1.
 * - `tile/entries/<N>[.p/<W>]`: entries 256·N … 256·N+W−1, each a big-endian uint16 length and
 *   the entry bytes.
 * - `<N>` is written in 3-digit groups, every group but the last prefixed with `x`
 *   (1234067 → `x001/x234/067`); a partial tile's width W is 1…255.
 * - For tree size s the partial tile at level L has width floor(s / 256^L) mod 256; partial tiles
 *   are never hashed into the level above.
 *
 * Limits: an entry is at most 65535 bytes (the bundle's length prefix).
 */
import { ProtocolError } from "./errors.ts";
import { concat } from "./bytes.ts";
import { HASH_SIZE, type HashReader, nodeHash } from "./merkle.ts";

/** A tile path, tile body or entry bundle that does not follow tlog-tiles. */
export class TileError extends ProtocolError {}

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;

/** One tile: `level` is "entries" for an entry bundle; `width` 256 means a full tile. */
export interface Tile {
  level: number | "entries";
  index: number;
  width: number;
}

/** `<N>` of a tile path: 3-digit groups, all but the last prefixed with `x`. */
export function formatTileIndex(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new TileError("bad-tile", `tile index ${index} is not a non-negative integer`);
  }
  let s = String(index % 1000).padStart(3, "0");
  for (let n = Math.floor(index / 1000); n > 0; n = Math.floor(n / 1000)) {
    s = `x${String(n % 1000).padStart(3, "0")}/${s}`;
  }
  return s;
}

/** The path of a tile relative to the log's prefix, e.g. `tile/0/x001/x234/067.p/12`. */
export function tilePath(tile: Tile): string {
  if (!Number.isInteger(tile.width) || tile.width < 1 || tile.width > TILE_WIDTH) {
    throw new TileError("bad-tile", `tile width ${tile.width} is not within 1..256`);
  }
  const level = tile.level === "entries" ? "entries" : String(checkLevel(tile.level));
  const partial = tile.width < TILE_WIDTH ? `.p/${tile.width}` : "";
  return `tile/${level}/${formatTileIndex(tile.index)}${partial}`;
}

function checkLevel(level: number): number {
  if (!Number.isInteger(level) || level < 0 || level > 63) {
    throw new TileError("bad-tile", `tile level ${level} is not within 0..63`);
  }
  return level;
}

const PATH =
  /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*)([0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/** Parses a tile path (relative to the prefix); refuses every non-canonical spelling. */
export function parseTilePath(path: string): Tile {
  const m = PATH.exec(path);
  if (!m) throw new TileError("bad-tile-path", `not a tile path: "${path.slice(0, 80)}"`);
  const groups = m[2] ? m[2].split("/").filter((g) => g).map((g) => g.slice(1)) : [];
  groups.push(m[3]);
  if (groups.length > 1 && groups[0] === "000") {
    throw new TileError("bad-tile-path", `tile index has a leading zero group: "${path}"`);
  }
  let index = 0;
  for (const g of groups) index = index * 1000 + Number(g);
  if (!Number.isSafeInteger(index)) throw new TileError("bad-tile-path", "tile index too large");
  const width = m[4] === undefined ? TILE_WIDTH : Number(m[4]);
  if (m[4] !== undefined && width >= TILE_WIDTH) {
    throw new TileError("bad-tile-path", `partial tile width ${width} is not within 1..255`);
  }
  const level = m[1] === "entries" ? "entries" : Number(m[1]);
  if (level !== "entries" && level > 63) {
    throw new TileError("bad-tile-path", `tile level ${level} is not within 0..63`);
  }
  return { level, index, width };
}

/** Number of hashes stored at tile level `level` (tree level 8·level) for a tree of `size`. */
export function hashesAtLevel(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/** Width of the partial tile at `level` for tree `size` (0: there is none). */
export function partialWidth(level: number, size: number): number {
  return hashesAtLevel(level, size) % TILE_WIDTH;
}

/** Per level, how many full tiles a tree of `size` has and the width of its partial tile. */
export function tileLayout(size: number): { level: number; full: number; partial: number }[] {
  const out = [];
  for (let level = 0; hashesAtLevel(level, size) > 0; level++) {
    const n = hashesAtLevel(level, size);
    out.push({ level, full: Math.floor(n / TILE_WIDTH), partial: n % TILE_WIDTH });
  }
  return out;
}

/** The tile (as it exists at tree `size`) that holds the tile-level hash at `level`/`index`. */
export function tileOf(level: number, index: number, size: number): Tile {
  const tileIndex = Math.floor(index / TILE_WIDTH);
  const width = Math.min(TILE_WIDTH, hashesAtLevel(level, size) - tileIndex * TILE_WIDTH);
  if (width <= index - tileIndex * TILE_WIDTH) {
    throw new TileError("outside-tree", `hash ${level}/${index} is not in a tree of size ${size}`);
  }
  return { level, index: tileIndex, width };
}

/**
 * The tile a Merkle-tree hash (tree level `level`, index `index`) is derived from, and the range
 * of tile hashes it covers: tree level l lives in tile level floor(l/8), as the root of
 * 2^(l mod 8) consecutive hashes of one tile.
 */
export function tileForHash(
  level: number,
  index: number,
  size: number,
): { tile: Tile; start: number; count: number } {
  const tileLevel = Math.floor(level / TILE_HEIGHT);
  const count = 2 ** (level % TILE_HEIGHT);
  const first = index * count;
  const tile = tileOf(tileLevel, first + count - 1, size);
  return { tile, start: first - tile.index * TILE_WIDTH, count };
}

/** Checks a tile body's length and splits it into its hashes. */
export function tileHashes(tile: Tile, body: Uint8Array): Uint8Array[] {
  if (body.length !== tile.width * HASH_SIZE) {
    throw new TileError(
      "bad-tile-body",
      `tile ${tilePath(tile)} is ${body.length} bytes, not ${tile.width * HASH_SIZE}`,
    );
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < tile.width; i++) out.push(body.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}

/** Root of a power-of-two run of hashes (a complete subtree inside one tile). */
export function subtreeRoot(hashes: Uint8Array[]): Uint8Array {
  let level = hashes;
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i], level[i + 1]));
    level = next;
  }
  return level[0];
}

/** The tiles (at tree `size`) that the given Merkle-tree hashes are derived from, deduplicated. */
export function tilesFor(hashes: [number, number][], size: number): Tile[] {
  const seen = new Map<string, Tile>();
  for (const [level, index] of hashes) {
    const { tile } = tileForHash(level, index, size);
    seen.set(tilePath(tile), tile);
  }
  return [...seen.values()];
}

/**
 * A `HashReader` over tile bodies (keyed by `tilePath`) of a tree of `size`; a hash whose tile is
 * missing throws, so a client that fetched too little learns it at once.
 */
export function tileHashReader(size: number, bodies: Map<string, Uint8Array>): HashReader {
  return (level, index) => {
    const { tile, start, count } = tileForHash(level, index, size);
    const path = tilePath(tile);
    const body = bodies.get(path);
    if (!body) throw new TileError("missing-tile", `tile ${path} was not fetched`);
    return subtreeRoot(tileHashes(tile, body).slice(start, start + count));
  };
}

/** Encodes an entry bundle: each entry as a big-endian uint16 length and its bytes. */
export function encodeBundle(entries: Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [i, e] of entries.entries()) {
    if (e.length > 0xffff) {
      throw new TileError("entry-too-large", `entry ${i} is ${e.length} bytes, over 65535`);
    }
    parts.push(Uint8Array.of(e.length >> 8, e.length & 0xff), e);
  }
  return concat(...parts);
}

/** Decodes an entry bundle, refusing truncation and trailing bytes. */
export function decodeBundle(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + 2 > body.length) throw new TileError("truncated", "entry length is cut short", at);
    const n = (body[at] << 8) | body[at + 1];
    if (at + 2 + n > body.length) throw new TileError("truncated", "entry is cut short", at);
    out.push(body.subarray(at + 2, at + 2 + n));
    at += 2 + n;
  }
  return out;
}
