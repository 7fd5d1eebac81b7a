/**
 * C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the signed statement of a log's tree
 * size and root hash, carried as the text of a signed note (`note.ts`).
 *
 * Body: `<origin>\n<tree size, decimal, no leading zeros>\n<base64 RFC 6962 root hash>\n`, then
 * optional non-empty extension lines. The log's key name is its origin; a checkpoint whose signer
 * is not the pinned log key is not the log's.
 */
import { ProtocolError } from "./errors.ts";
import { fromBase64, toBase64 } from "./base64.ts";
import { HASH_SIZE } from "./merkle.ts";
import { type NoteSigner, type NoteVerifier, openNote, signNote } from "./note.ts";

/** A checkpoint body that does not follow tlog-checkpoint, or one from another log. */
export class CheckpointError extends ProtocolError {}

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** Extension lines, each non-empty (not recommended by the spec; kept to round-trip). */
  extensions: string[];
}

/** Formats a checkpoint body (the note text). */
export function formatCheckpoint(c: Checkpoint): string {
  if (c.origin === "" || c.origin.includes("\n")) {
    throw new CheckpointError("bad-checkpoint", "checkpoint origin must be one non-empty line");
  }
  if (!Number.isSafeInteger(c.size) || c.size < 0) {
    throw new CheckpointError(
      "bad-checkpoint",
      `tree size ${c.size} is not a non-negative integer`,
    );
  }
  if (c.rootHash.length !== HASH_SIZE) {
    throw new CheckpointError("bad-checkpoint", `root hash is ${c.rootHash.length} bytes, not 32`);
  }
  for (const e of c.extensions) {
    if (e === "" || e.includes("\n")) {
      throw new CheckpointError("bad-checkpoint", "extension lines must be non-empty single lines");
    }
  }
  return [c.origin, String(c.size), toBase64(c.rootHash), ...c.extensions].join("\n") + "\n";
}

/** Parses a checkpoint body (note text), refusing any non-canonical size or hash. */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith("\n")) {
    throw new CheckpointError("bad-checkpoint", "checkpoint must end in newline", text.length);
  }
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) {
    throw new CheckpointError(
      "bad-checkpoint",
      "checkpoint needs origin, size and root hash lines",
    );
  }
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (origin === "") throw new CheckpointError("bad-checkpoint", "checkpoint origin is empty", 0);
  const sizeAt = origin.length + 1;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) {
    throw new CheckpointError("bad-checkpoint", "tree size is not a decimal number", sizeAt);
  }
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) {
    throw new CheckpointError("bad-checkpoint", "tree size is too large", sizeAt);
  }
  const rootAt = sizeAt + sizeLine.length + 1;
  let rootHash: Uint8Array;
  try {
    rootHash = fromBase64(rootLine);
  } catch {
    throw new CheckpointError("bad-checkpoint", "root hash is not base64", rootAt);
  }
  if (rootHash.length !== HASH_SIZE) {
    throw new CheckpointError("bad-checkpoint", `root hash is ${rootHash.length} bytes`, rootAt);
  }
  if (extensions.some((e) => e === "")) {
    throw new CheckpointError("bad-checkpoint", "checkpoint has an empty extension line");
  }
  return { origin, size, rootHash, extensions };
}

/** Signs a checkpoint as a note; the signer's key name must be the origin. */
export function signCheckpoint(c: Checkpoint, signer: NoteSigner): string {
  if (signer.name !== c.origin) {
    throw new CheckpointError(
      "wrong-origin",
      `log key "${signer.name}" does not match origin "${c.origin}"`,
    );
  }
  return signNote(formatCheckpoint(c), signer);
}

/**
 * Opens a signed checkpoint under the log's key: the note must carry a valid signature by `log`
 * (other known or unknown cosignatures are checked or ignored by the note rules), and the origin
 * must be the log key's name.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  log: NoteVerifier,
  cosigners: NoteVerifier[] = [],
): Checkpoint {
  const opened = openNote(note, [log, ...cosigners]);
  if (!opened.verified.some((s) => s.name === log.name && s.keyId === log.keyId)) {
    throw new CheckpointError("not-signed-by-log", `checkpoint is not signed by ${log.name}`);
  }
  const c = parseCheckpoint(opened.text);
  if (c.origin !== log.name) {
    throw new CheckpointError(
      "wrong-origin",
      `checkpoint origin "${c.origin}" is not the log "${log.name}"`,
    );
  }
  return c;
}
