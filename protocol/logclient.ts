/**
 * The client side of the transparency log: verify a checkpoint under a pinned log key, verify an
 * entry's inclusion, and refuse a checkpoint that is not consistent with the last one seen
 * (C2SP tlog-checkpoint, tlog-tiles; RFC 9162 §2.1.3–2.1.4).
 *
 * Proofs are computed by the client from tiles (tlog-tiles "Clients"), fetched through an
 * injected `get(path)` — directly, through the relay, or from memory in tests. Tiles need no
 * trust: a proof built from wrong tiles fails against the signed roots.
 *
 * Typical use:
 *   const log = new LogClient({ vkey, get, lastSeen });      // lastSeen: the note saved last time
 *   await log.verifyLogProof(bundle.logProof);                 // from an evidence bundle
 *   save(log.lastSeenNote);
 */
import { ProtocolError } from "./errors.ts";
import { fromBase64, toBase64 } from "./base64.ts";
import { type Checkpoint, openCheckpoint } from "./checkpoint.ts";
import {
  consistencyProof,
  EMPTY_ROOT,
  hashesNeeded,
  type HashReader,
  inclusionProof,
  leafHash,
  MerkleError,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.ts";
import { type NoteVerifier, parseVerifierKey } from "./note.ts";
import { type Tile, TILE_WIDTH, TileError, tileHashReader, tilePath, tilesFor } from "./tiles.ts";

/** The log could not be read, or what it served did not verify. */
export class LogClientError extends ProtocolError {}

/**
 * An entry with the proof of its inclusion under a signed checkpoint: what a runtime puts in its
 * evidence bundle and what `GET /proof` of services/transparency returns (hashes in base64 there).
 */
export interface LogProof {
  /** The signed checkpoint note. */
  checkpoint: string;
  index: number;
  entry: Uint8Array;
  /** RFC 9162 inclusion path of `entry` in the checkpoint's tree. */
  proof: Uint8Array[];
}

/** JSON form of a `LogProof` (entry and hashes in standard base64). */
export interface LogProofJson {
  checkpoint: string;
  index: number;
  entry: string;
  proof: string[];
}

export function logProofToJson(p: LogProof): LogProofJson {
  return {
    checkpoint: p.checkpoint,
    index: p.index,
    entry: toBase64(p.entry),
    proof: p.proof.map(toBase64),
  };
}

export function logProofFromJson(j: unknown): LogProof {
  const o = j as Partial<LogProofJson>;
  if (
    typeof o !== "object" || o === null || typeof o.checkpoint !== "string" ||
    !Number.isSafeInteger(o.index) || typeof o.entry !== "string" || !Array.isArray(o.proof) ||
    o.proof.some((h) => typeof h !== "string")
  ) {
    throw new LogClientError("bad-proof", "log proof must be {checkpoint, index, entry, proof[]}");
  }
  return {
    checkpoint: o.checkpoint,
    index: o.index as number,
    entry: fromBase64(o.entry),
    proof: o.proof.map(fromBase64),
  };
}

/** Reads a path under the log's prefix (e.g. `checkpoint`, `tile/0/000.p/3`); rejects on 404. */
export type LogGet = (path: string) => Promise<Uint8Array>;

/** Verifies inclusion of `entry` at `index` under an already opened checkpoint. */
export function verifyEntryInclusion(
  checkpoint: Checkpoint,
  index: number,
  entry: Uint8Array,
  proof: Uint8Array[],
): void {
  verifyInclusion(index, checkpoint.size, leafHash(entry), proof, checkpoint.rootHash);
}

/**
 * Fetches the tiles `compute` needs at tree `size` and runs it. A partial tile that the log no
 * longer serves is read from the full tile it grew into (its first `width` hashes are the same).
 */
export async function withTiles<T>(
  get: LogGet,
  size: number,
  compute: (read: HashReader) => T,
): Promise<T> {
  const bodies = new Map<string, Uint8Array>();
  for (const tile of tilesFor(hashesNeeded(compute), size)) {
    bodies.set(tilePath(tile), await fetchTile(get, tile));
  }
  return compute(tileHashReader(size, bodies));
}

async function fetchTile(get: LogGet, tile: Tile): Promise<Uint8Array> {
  try {
    return await get(tilePath(tile));
  } catch (e) {
    if (tile.width === TILE_WIDTH) throw e;
    const full = await get(tilePath({ ...tile, width: TILE_WIDTH }));
    return full.subarray(0, tile.width * 32);
  }
}

/**
 * A log client with memory: it pins the log's verifier key and keeps the last checkpoint it
 * accepted; every later checkpoint must be consistent with it (larger trees extend it, smaller
 * ones are extended by it, equal sizes have equal roots), else `inconsistent` is thrown and the
 * remembered checkpoint stays.
 */
export class LogClient {
  readonly #log: NoteVerifier;
  readonly #get: LogGet;
  #last?: { note: string; checkpoint: Checkpoint };

  constructor(opts: { vkey: string; get: LogGet; lastSeen?: string }) {
    this.#log = parseVerifierKey(opts.vkey);
    this.#get = opts.get;
    if (opts.lastSeen !== undefined) {
      this.#last = { note: opts.lastSeen, checkpoint: openCheckpoint(opts.lastSeen, this.#log) };
    }
  }

  /** The log's origin (its key name). */
  get origin(): string {
    return this.#log.name;
  }

  /** The last accepted checkpoint, if any. */
  get lastSeen(): Checkpoint | undefined {
    return this.#last?.checkpoint;
  }

  /** The signed note of the last accepted checkpoint: persist it and pass it back next time. */
  get lastSeenNote(): string | undefined {
    return this.#last?.note;
  }

  /** Opens a checkpoint under the pinned key and checks it against the last one seen. */
  async acceptCheckpoint(note: string): Promise<Checkpoint> {
    const next = openCheckpoint(note, this.#log);
    const last = this.#last?.checkpoint;
    if (last) await this.#checkConsistent(last, next);
    if (!last || next.size > last.size) this.#last = { note, checkpoint: next };
    return next;
  }

  /** Fetches the log's current checkpoint and accepts it. */
  async update(): Promise<Checkpoint> {
    const body = await this.#get("checkpoint");
    let note: string;
    try {
      note = new TextDecoder("utf-8", { fatal: true }).decode(body);
    } catch {
      throw new LogClientError("malformed-checkpoint", "the log's checkpoint is not UTF-8 text");
    }
    return await this.acceptCheckpoint(note);
  }

  /**
   * Verifies a proof from an evidence bundle: the checkpoint under the pinned key and consistent
   * with the last seen, and the entry's inclusion under it. Returns the checkpoint.
   */
  async verifyLogProof(p: LogProof): Promise<Checkpoint> {
    const checkpoint = await this.acceptCheckpoint(p.checkpoint);
    verifyEntryInclusion(checkpoint, p.index, p.entry, p.proof);
    return checkpoint;
  }

  /** Computes (from tiles) and verifies inclusion of `entry` at `index` in the last seen tree. */
  async verifyIncluded(index: number, entry: Uint8Array): Promise<Checkpoint> {
    const c = this.#last?.checkpoint ?? await this.update();
    if (index >= c.size) {
      throw new LogClientError("not-in-log", `entry ${index} is not in the log of size ${c.size}`);
    }
    const proof = await withTiles(this.#get, c.size, (read) => inclusionProof(index, c.size, read));
    verifyEntryInclusion(c, index, entry, proof);
    return c;
  }

  async #checkConsistent(a: Checkpoint, b: Checkpoint): Promise<void> {
    const [small, large] = a.size <= b.size ? [a, b] : [b, a];
    try {
      if (small.size === 0) {
        // Every tree extends the empty one; its root can only be SHA-256("").
        verifyConsistency(0, 0, small.rootHash, EMPTY_ROOT, []);
      } else if (small.size === large.size) {
        verifyConsistency(small.size, large.size, small.rootHash, large.rootHash, []);
      } else {
        const proof = await withTiles(
          this.#get,
          large.size,
          (read) => consistencyProof(small.size, large.size, read),
        );
        verifyConsistency(small.size, large.size, small.rootHash, large.rootHash, proof);
      }
    } catch (e) {
      // Only roots that disagree show a fork; a tile that is malformed or missing only means
      // the log could not show consistency this time.
      if (e instanceof MerkleError && e.code === "root-mismatch") {
        throw new LogClientError(
          "inconsistent",
          `checkpoint of size ${b.size} is not consistent with the last seen (size ${a.size}): ` +
            e.message,
        );
      }
      if (!(e instanceof MerkleError || e instanceof TileError)) throw e;
      throw new LogClientError(
        "unproven",
        `cannot check checkpoint of size ${b.size} against the last seen (size ${a.size}): ` +
          e.message,
      );
    }
  }
}
