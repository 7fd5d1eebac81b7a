/**
 * Is the node's image published? The transparency-log check of a verified bundle (DESIGN.md
 * "Verifiable transparency"; C2SP tlog-checkpoint, tlog-tiles; RFC 9162 §2.1.3–2.1.4), on
 * protocol/logclient.ts:
 *
 * 1. the proof: the bundle's `transparency` field, or — when it has none and the log's URL is
 *    known — the log's `GET /proof?measurement=<name>:<hex>` (404: not logged);
 * 2. its checkpoint must be signed by the pinned log key (`log-signature`) and consistent with
 *    the last checkpoint this client accepted (`inconsistent`; a larger tree is checked with a
 *    consistency proof computed from the log's tiles, which needs the log's URL);
 * 3. the entry must be included under it (`log-proof`) and list this report's measurement
 *    (`snp` for SEV-SNP, `tdx.mrtd` for TDX; else `unlogged`).
 *
 * The last checkpoint accepted is kept in the injected storage (`save()`), per pinned key, so a
 * log that forks between two runs is caught on the second. Checks run one at a time: two
 * checkpoints each consistent with the last seen may still be inconsistent with each other.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex, utf8 } from "../protocol/bytes.ts";
import { CheckpointError } from "../protocol/checkpoint.ts";
import type { Platform, TransparencyProof } from "../protocol/evidence.ts";
import {
  LogClient,
  LogClientError,
  type LogProof,
  logProofFromJson,
} from "../protocol/logclient.ts";
import { decodeReleaseEntry, hasMeasurement, MEASUREMENT_NAME } from "../protocol/logentry.ts";
import { MerkleError } from "../protocol/merkle.ts";
import { NoteError, parseVerifierKey } from "../protocol/note.ts";
import { ClientError, ClientInputError } from "./errors.ts";
import { exchange, expectOk, type Fetch } from "./http.ts";
import type { Storage } from "./storage.ts";
import { baseUrl } from "./fleet.ts";

export interface LogOptions {
  /** The log's verifier key (C2SP signed-note vkey), pinned. */
  vkey: string;
  /** The log's base URL: tiles for consistency proofs, and proofs a bundle lacks. */
  url?: string;
  fetch: Fetch;
  storage: Storage;
}

export interface Logged {
  index: number;
  /** Size of the checkpoint the entry was proved under. */
  size: number;
  origin: string;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

export class LogCheck {
  readonly #client: LogClient;
  readonly #url?: URL;
  readonly #fetch: Fetch;
  readonly #storage: Storage;
  readonly #name: string;
  #queue: Promise<unknown> = Promise.resolve();

  /** The checkpoint as stored when last read or written: what this run's checks extended. */
  #loaded: string | undefined;

  private constructor(o: LogOptions, name: string, lastSeen: string | undefined) {
    this.#loaded = lastSeen;
    this.#url = o.url === undefined ? undefined : baseUrl(o.url, "log URL");
    this.#fetch = o.fetch;
    this.#storage = o.storage;
    this.#name = name;
    try {
      this.#client = new LogClient({ vkey: o.vkey, get: (path) => this.#tile(path), lastSeen });
    } catch (e) {
      throw new ClientInputError(
        `the stored checkpoint "${name}" does not open under the pinned log key ` +
          `(${(e as Error).message}); remove it to start over`,
      );
    }
  }

  /** Pins `vkey` and loads the last checkpoint seen under it from storage. */
  static async open(o: LogOptions): Promise<LogCheck> {
    try {
      parseVerifierKey(o.vkey);
    } catch (e) {
      throw new ClientInputError(`log key: ${(e as Error).message}`);
    }
    const name = `checkpoint-${toHex(sha256(utf8(o.vkey))).slice(0, 16)}`;
    return new LogCheck(o, name, await o.storage.get(name));
  }

  get origin(): string {
    return this.#client.origin;
  }

  /** The size of the last checkpoint accepted, if any. */
  get lastSeenSize(): number | undefined {
    return this.#client.lastSeen?.size;
  }

  /** Checks that `measurement` is logged (see the module comment); one call at a time. */
  check(
    bundle: { platform: Platform; measurement: Uint8Array; transparency?: TransparencyProof },
    node?: string,
  ): Promise<Logged> {
    const run = this.#queue.then(() => this.#check(bundle, node));
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Persists the larger of the last checkpoint accepted and one another run stored meanwhile —
   * after checking the two against each other: both extended the checkpoint loaded at `open`,
   * but two forks of a log do too, and keeping either without comparing them would hide the fork.
   */
  async save(): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      if (this.#client.lastSeenNote === undefined) return;
      const stored = await this.#storage.get(this.#name);
      if (stored !== undefined && stored !== this.#loaded) {
        try {
          await this.#client.acceptCheckpoint(stored); // consistency with ours, either way
        } catch (e) {
          throw refusal(e);
        }
      }
      const next = this.#client.lastSeenNote; // now the larger of the two
      let raced = false;
      await this.#storage.update(this.#name, (current) => {
        if (current === stored) return next;
        raced = true; // a third run stored another meanwhile: compare with that one too
        return current;
      });
      if (!raced) {
        this.#loaded = next;
        return;
      }
    }
    throw new ClientError("log-unreachable", "the stored checkpoint kept changing; try again");
  }

  async #check(
    b: { platform: Platform; measurement: Uint8Array; transparency?: TransparencyProof },
    node?: string,
  ): Promise<Logged> {
    const name = MEASUREMENT_NAME[b.platform];
    const hex = toHex(b.measurement);
    const proof = b.transparency
      ? fromBundle(b.transparency, node)
      : await this.#lookup(name, hex, node);
    let size: number;
    try {
      size = (await this.#client.verifyLogProof(proof)).size;
    } catch (e) {
      throw refusal(e, node);
    }
    let listed: string | undefined;
    try {
      const entry = decodeReleaseEntry(proof.entry);
      if (hasMeasurement(entry, name, hex)) {
        return { index: proof.index, size, origin: this.origin };
      }
      listed = entry.measurements[name];
    } catch {
      throw new ClientError("unlogged", `log entry ${proof.index} is not a release entry`, node);
    }
    throw new ClientError(
      "unlogged",
      `the log proof is for another image: entry ${proof.index} lists ${name} ${
        listed ?? "(none)"
      }, the report measures ${hex}`,
      node,
    );
  }

  /** The log's proof for a measurement, when the bundle carried none. */
  async #lookup(name: string, hex: string, node?: string): Promise<LogProof> {
    if (!this.#url) {
      throw new ClientError(
        "unlogged",
        `the bundle carries no transparency-log proof for ${name} ${hex}`,
        node,
      );
    }
    const url = new URL(`proof?measurement=${name}:${hex}`, withSlash(this.#url));
    const blame = { code: "log-unreachable" as const, what: "asking the log for a proof", node };
    const answer = await exchange(this.#fetch, url, {}, blame, 1 << 20);
    if (answer.status === 404) {
      throw new ClientError(
        "unlogged",
        `the bundle carries no proof and the log ${this.origin} has no entry with ${name} ${hex}`,
        node,
      );
    }
    try {
      return logProofFromJson(
        JSON.parse(new TextDecoder().decode(expectOk(answer, "application/json", blame))),
      );
    } catch (e) {
      if (e instanceof ClientError) throw e;
      throw new ClientError("log-proof", `the log's proof is unreadable (${(e as Error).message})`);
    }
  }

  /** A tile for LogClient's consistency proofs: from the log's URL, if known. */
  async #tile(path: string): Promise<Uint8Array> {
    if (!this.#url) {
      throw new ClientError(
        "log-unreachable",
        "the log grew since the checkpoint last seen; its URL is needed to read the tiles " +
          "that prove the new checkpoint extends the old one",
      );
    }
    const blame = { code: "log-unreachable" as const, what: `reading the log's ${path}` };
    return expectOk(
      await exchange(this.#fetch, new URL(path, withSlash(this.#url)), {}, blame),
      undefined,
      blame,
    );
  }
}

function withSlash(url: URL): URL {
  return new URL(url.pathname.replace(/\/?$/, "/"), url);
}

function fromBundle(t: TransparencyProof, node?: string): LogProof {
  let checkpoint: string;
  try {
    checkpoint = decoder.decode(t.checkpoint);
  } catch {
    throw new ClientError("log-signature", "the bundle's checkpoint is not UTF-8 text", node);
  }
  return { checkpoint, index: t.leafIndex, entry: t.entry, proof: t.inclusionProof };
}

/** The refusal for a failure of `verifyLogProof`. */
function refusal(e: unknown, node?: string): unknown {
  if (e instanceof ClientError) return new ClientError(e.code, e.detail, node);
  if (e instanceof LogClientError && e.code === "inconsistent") {
    return new ClientError("inconsistent", e.message, node);
  }
  if (e instanceof CheckpointError || e instanceof NoteError) {
    return new ClientError("log-signature", e.message, node);
  }
  if (e instanceof MerkleError || e instanceof LogClientError) {
    return new ClientError("log-proof", e.message, node);
  }
  return e;
}
