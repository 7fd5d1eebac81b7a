/**
 * The transparency log's state: entries, the Merkle tree as tlog-tiles, and the signed
 * checkpoint, persisted to a directory in the C2SP tlog-tiles layout (a static file server can
 * serve the directory as it is):
 *
 *   DIR/checkpoint                      the last signed checkpoint (signed note)
 *   DIR/tile/<L>/<N>[.p/<W>]            hash tiles
 *   DIR/tile/entries/<N>[.p/<W>]        entry bundles
 *   DIR/lock                            held (flock) by the one process that owns the log
 *
 * The log never signs two inconsistent checkpoints: every append extends the tree it last signed
 * (checked with a consistency proof before signing), tiles and bundles are written before the
 * checkpoint that covers them, and each file is replaced atomically (write, fsync, rename). On
 * open, the state is rebuilt from the entry bundles and must reproduce the root of the last
 * signed checkpoint, under this log's own key, or the log refuses to start; files beyond the
 * signed tree (left by an append that crashed before signing) are removed.
 */
import { equalBytes, toHex } from "../../protocol/bytes.ts";
import { type Checkpoint, openCheckpoint, signCheckpoint } from "../../protocol/checkpoint.ts";
import type { LogProof } from "../../protocol/logclient.ts";
import {
  consistencyProof,
  type HashReader,
  inclusionProof,
  leafHash,
  rootHash,
  verifyConsistency,
} from "../../protocol/merkle.ts";
import { type NoteSigner, parseVerifierKey } from "../../protocol/note.ts";
import {
  decodeBundle,
  encodeBundle,
  hashesAtLevel,
  parseTilePath,
  subtreeRoot,
  type Tile,
  TILE_HEIGHT,
  TILE_WIDTH,
  tilePath,
} from "../../protocol/tiles.ts";
import { concat } from "../../protocol/bytes.ts";
import { readIfExists, writeAtomic } from "../common/files.ts";

/** The log's directory cannot be used: in use, or its state disagrees with its checkpoint. */
export class LogStateError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "LogStateError";
  }
}

export class TransparencyLog {
  readonly #dir: string;
  readonly #signer: NoteSigner;
  readonly #lock: Deno.FsFile;
  #entries: Uint8Array[] = [];
  /** levels[L]: the stored hashes at tree level 8·L (the contents of the level-L tiles). */
  #levels: Uint8Array[][] = [[]];
  #byLeaf = new Map<string, number>();
  #note = "";
  #checkpoint!: Checkpoint;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, signer: NoteSigner, lock: Deno.FsFile) {
    this.#dir = dir;
    this.#signer = signer;
    this.#lock = lock;
  }

  /** Opens (or creates) the log in `dir`, signed by `signer` whose name is the origin. */
  static async open(dir: string, signer: NoteSigner & { vkey: string }): Promise<TransparencyLog> {
    await Deno.mkdir(dir, { recursive: true });
    const lock = await Deno.open(`${dir}/lock`, { create: true, write: true });
    if (!(await lock.tryLock(true))) {
      lock.close();
      throw new LogStateError("in-use", `log directory ${dir} is in use by another process`);
    }
    const log = new TransparencyLog(dir, signer, lock);
    try {
      await log.#load(signer.vkey);
    } catch (e) {
      log.close();
      throw e;
    }
    return log;
  }

  /** Releases the directory. */
  close(): void {
    try {
      this.#lock.close();
    } catch { /* already closed */ }
  }

  get size(): number {
    return this.#entries.length;
  }

  /** The current signed checkpoint note. */
  get checkpointNote(): string {
    return this.#note;
  }

  get checkpoint(): Checkpoint {
    return this.#checkpoint;
  }

  get origin(): string {
    return this.#signer.name;
  }

  async #load(vkey: string): Promise<void> {
    const note = await readIfExists(`${this.#dir}/checkpoint`);
    if (!note) {
      if (await exists(`${this.#dir}/tile`)) {
        throw new LogStateError("no-checkpoint", `${this.#dir} has tiles but no checkpoint`);
      }
      await this.#sign();
      return;
    }
    const text = new TextDecoder().decode(note);
    let signed: Checkpoint;
    try {
      signed = openCheckpoint(text, parseVerifierKey(vkey));
    } catch (e) {
      throw new LogStateError(
        "bad-checkpoint",
        `${this.#dir}/checkpoint does not verify under this log's key: ${(e as Error).message}`,
      );
    }
    for (let t = 0; t * TILE_WIDTH < signed.size; t++) {
      const width = Math.min(TILE_WIDTH, signed.size - t * TILE_WIDTH);
      const bundle = await this.#readBundle(t, width);
      for (const e of bundle) this.#push(e);
    }
    const root = rootHash(this.size, this.#reader());
    if (!equalBytes(root, signed.rootHash)) {
      throw new LogStateError(
        "state-mismatch",
        `the entries in ${this.#dir} do not reproduce the root of its last signed checkpoint ` +
          `(size ${signed.size}); refusing to start`,
      );
    }
    this.#note = text;
    this.#checkpoint = signed;
    await this.#removeUnsigned();
    for (let level = 0; level < this.#levels.length; level++) {
      const n = this.#levels[level].length;
      if (n % TILE_WIDTH !== 0) {
        await this.#writeTile({ level, index: Math.floor(n / TILE_WIDTH), width: n % TILE_WIDTH });
      }
    }
  }

  async #readBundle(index: number, width: number): Promise<Uint8Array[]> {
    for (const w of new Set([width, TILE_WIDTH])) {
      const body = await readIfExists(
        `${this.#dir}/${tilePath({ level: "entries", index, width: w })}`,
      );
      if (!body) continue;
      const entries = decodeBundle(body);
      if (entries.length < width) break;
      return entries.slice(0, width);
    }
    throw new LogStateError(
      "state-mismatch",
      `${this.#dir} lacks the entries of bundle ${index} that its checkpoint covers`,
    );
  }

  /** Deletes tiles and bundles that lie beyond the signed tree. */
  async #removeUnsigned(): Promise<void> {
    const walk = async (rel: string) => {
      for await (const e of Deno.readDir(`${this.#dir}/${rel}`)) {
        const path = `${rel}/${e.name}`;
        if (e.isDirectory) {
          await walk(path);
          continue;
        }
        if (e.name.includes(".tmp-")) {
          await Deno.remove(`${this.#dir}/${path}`);
          continue;
        }
        let tile: Tile;
        try {
          tile = parseTilePath(path);
        } catch {
          continue;
        }
        const count = tile.level === "entries" ? this.size : this.#levels[tile.level]?.length ?? 0;
        if (tile.index * TILE_WIDTH + tile.width > count) await Deno.remove(`${this.#dir}/${path}`);
      }
    };
    if (await exists(`${this.#dir}/tile`)) await walk("tile");
  }

  #push(entry: Uint8Array): void {
    const leaf = leafHash(entry);
    this.#byLeaf.set(toHex(leaf), this.#entries.length);
    this.#entries.push(entry);
    this.#levels[0].push(leaf);
    for (let level = 0; this.#levels[level].length % TILE_WIDTH === 0; level++) {
      const full = this.#levels[level].slice(-TILE_WIDTH);
      (this.#levels[level + 1] ??= []).push(subtreeRoot(full));
    }
  }

  /** Merkle-tree hashes from the tiles held in memory. */
  #reader(): HashReader {
    return (level, index) => {
      const count = 2 ** (level % TILE_HEIGHT);
      const hashes = this.#levels[Math.floor(level / TILE_HEIGHT)];
      return subtreeRoot(hashes.slice(index * count, (index + 1) * count));
    };
  }

  async #sign(): Promise<void> {
    const c: Checkpoint = {
      origin: this.#signer.name,
      size: this.size,
      rootHash: rootHash(this.size, this.#reader()),
      extensions: [],
    };
    const previous = this.#checkpoint;
    if (previous && previous.size > 0) {
      // Never sign a tree that does not extend the last signed one.
      const proof = previous.size === c.size
        ? []
        : consistencyProof(previous.size, c.size, this.#reader());
      verifyConsistency(previous.size, c.size, previous.rootHash, c.rootHash, proof);
    }
    const note = signCheckpoint(c, this.#signer);
    await writeAtomic(`${this.#dir}/checkpoint`, new TextEncoder().encode(note));
    this.#note = note;
    this.#checkpoint = c;
  }

  /** The body of a tile (hashes or entry bundle) of the signed tree, or undefined. */
  tile(tile: Tile): Uint8Array | undefined {
    const size = this.#checkpoint.size;
    const count = tile.level === "entries" ? size : hashesAtLevel(tile.level, size);
    const start = tile.index * TILE_WIDTH;
    if (start + tile.width > count) return undefined;
    if (tile.level === "entries") {
      return encodeBundle(this.#entries.slice(start, start + tile.width));
    }
    return concat(...this.#levels[tile.level].slice(start, start + tile.width));
  }

  async #writeTile(tile: Tile): Promise<void> {
    const count = tile.level === "entries" ? this.size : this.#levels[tile.level].length;
    const start = tile.index * TILE_WIDTH;
    const body = tile.level === "entries"
      ? encodeBundle(this.#entries.slice(start, start + tile.width))
      : concat(...this.#levels[tile.level].slice(start, start + tile.width));
    if (start + tile.width > count) throw new Error("tile outside the tree");
    await writeAtomic(`${this.#dir}/${tilePath(tile)}`, body);
  }

  /**
   * Appends entries (an entry already in the log is not added again: its index is returned) and
   * signs the new checkpoint. Appends are serialized. Returns each entry's index.
   */
  append(entries: Uint8Array[]): Promise<number[]> {
    const run = this.#queue.then(() => this.#append(entries));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #append(entries: Uint8Array[]): Promise<number[]> {
    const before = { size: this.size, levels: this.#levels.map((l) => l.length) };
    const indexes: number[] = [];
    try {
      for (const e of entries) {
        if (e.length > 0xffff) {
          throw new LogStateError("entry-too-large", "an entry is over 65535 bytes");
        }
        const known = this.#byLeaf.get(toHex(leafHash(e)));
        if (known !== undefined) {
          indexes.push(known);
          continue;
        }
        indexes.push(this.size);
        this.#push(e);
      }
      if (this.size === before.size) return indexes;
      // Tiles and bundles first, then the checkpoint that covers them.
      const edges: [Tile["level"], number, number][] = [["entries", before.size, this.size]];
      this.#levels.forEach((l, level) => edges.push([level, before.levels[level] ?? 0, l.length]));
      for (const [level, from, to] of edges) {
        for (let t = Math.floor(from / TILE_WIDTH); t * TILE_WIDTH < to; t++) {
          const width = Math.min(TILE_WIDTH, to - t * TILE_WIDTH);
          if (t * TILE_WIDTH + width > from) await this.#writeTile({ level, index: t, width });
        }
      }
      await this.#sign();
      return indexes;
    } catch (e) {
      // Roll memory back to the last signed state; files beyond it are ignored and cleaned later.
      for (const e of this.#entries.splice(before.size)) this.#byLeaf.delete(toHex(leafHash(e)));
      this.#levels = this.#levels.slice(0, Math.max(1, before.levels.length));
      this.#levels.forEach((l, i) => (l.length = before.levels[i] ?? 0));
      throw e;
    }
  }

  /** The index of the entry with these bytes, if logged. */
  indexOf(entry: Uint8Array): number | undefined {
    const i = this.#byLeaf.get(toHex(leafHash(entry)));
    return i !== undefined && i < this.#checkpoint.size ? i : undefined;
  }

  /** Entries of the signed tree, newest first, for lookups. */
  *entriesNewestFirst(): Iterable<[number, Uint8Array]> {
    for (let i = this.#checkpoint.size - 1; i >= 0; i--) yield [i, this.#entries[i]];
  }

  /** The inclusion proof of entry `index` under the current checkpoint. */
  proof(index: number): LogProof {
    const size = this.#checkpoint.size;
    return {
      checkpoint: this.#note,
      index,
      entry: this.#entries[index],
      proof: inclusionProof(index, size, this.#reader()),
    };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
