/**
 * The entries of Cloister's transparency log: one per released image, binding its launch
 * measurement(s) to the image digest, the source commit and the build recipe digest
 * (DESIGN.md "Verifiable transparency").
 *
 * Encoding: canonical JSON, UTF-8, no whitespace, keys in this fixed order:
 *
 *   {"measurements":{"<name>":"<hex>",...},"imageDigest":"<hex>","sourceCommit":"<hex>",
 *    "recipeDigest":"<hex>"}
 *
 * - `measurements`: at least one, keys sorted by UTF-16 code unit, names `[a-z0-9][a-z0-9.-]*`
 *   (e.g. `snp` for the SEV-SNP launch digest, `tdx.mrtd`, `tdx.rtmr0`…), values lowercase hex;
 * - digests: lowercase hex of SHA-256 or SHA-384 (32 or 48 bytes); `sourceCommit`: a git object
 *   id (20 or 32 bytes).
 *
 * JSON keeps entries readable with any tlog-tiles tool (`tile/entries` bundles are opaque bytes);
 * decoding re-encodes and compares bytes, so one release has exactly one entry spelling and one
 * leaf hash.
 */
import { ProtocolError } from "./errors.ts";
import { utf8 } from "./bytes.ts";

/** An entry that is not the canonical encoding of a release. */
export class LogEntryError extends ProtocolError {}

export interface ReleaseEntry {
  /** Measurement name → lowercase hex value. */
  measurements: Record<string, string>;
  imageDigest: string;
  sourceCommit: string;
  recipeDigest: string;
}

/**
 * The entry's name for each platform's launch measurement: what a release publishes, what a
 * runtime asks the log for and what a client looks up — one table, so they cannot disagree.
 */
export const MEASUREMENT_NAME = { "sev-snp": "snp", tdx: "tdx.mrtd" } as const;

const FIELDS = ["measurements", "imageDigest", "sourceCommit", "recipeDigest"];
const NAME = /^[a-z0-9][a-z0-9.-]{0,63}$/;
const HEX = /^(?:[0-9a-f]{2})+$/;

function checkHex(value: unknown, field: string, sizes: number[]): string {
  if (typeof value !== "string" || !HEX.test(value) || !sizes.includes(value.length / 2)) {
    throw new LogEntryError(
      "bad-entry",
      `${field} must be lowercase hex of ${sizes.join(" or ")} bytes`,
    );
  }
  return value;
}

function check(e: ReleaseEntry): void {
  if (typeof e !== "object" || e === null || Array.isArray(e)) {
    throw new LogEntryError("bad-entry", "not an object");
  }
  // The entry is what gets logged: a field it would drop must not look accepted.
  const unknown = Object.keys(e).find((k) => !FIELDS.includes(k));
  if (unknown !== undefined) throw new LogEntryError("bad-entry", `unknown field "${unknown}"`);
  const m = e.measurements;
  if (typeof m !== "object" || m === null || Array.isArray(m) || Object.keys(m).length === 0) {
    throw new LogEntryError("bad-entry", "measurements must be a non-empty object");
  }
  for (const [name, value] of Object.entries(m)) {
    if (!NAME.test(name)) throw new LogEntryError("bad-entry", `bad measurement name "${name}"`);
    if (typeof value !== "string" || !HEX.test(value) || value.length > 256) {
      throw new LogEntryError("bad-entry", `measurement ${name} must be lowercase hex`);
    }
  }
  checkHex(e.imageDigest, "imageDigest", [32, 48]);
  checkHex(e.sourceCommit, "sourceCommit", [20, 32]);
  checkHex(e.recipeDigest, "recipeDigest", [32, 48]);
}

/** The canonical entry bytes of a release. */
export function encodeReleaseEntry(e: ReleaseEntry): Uint8Array {
  check(e);
  const names = Object.keys(e.measurements).sort();
  const measurements = names.map((n) => `${JSON.stringify(n)}:"${e.measurements[n]}"`).join(",");
  return utf8(
    `{"measurements":{${measurements}},"imageDigest":"${e.imageDigest}",` +
      `"sourceCommit":"${e.sourceCommit}","recipeDigest":"${e.recipeDigest}"}`,
  );
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Decodes entry bytes, refusing anything but the canonical encoding. */
export function decodeReleaseEntry(bytes: Uint8Array): ReleaseEntry {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new LogEntryError("bad-entry", "entry is not UTF-8 JSON");
  }
  const p = parsed as Record<string, unknown>;
  const keys = typeof p === "object" && p !== null ? Object.keys(p) : [];
  if (keys.join() !== "measurements,imageDigest,sourceCommit,recipeDigest") {
    throw new LogEntryError("bad-entry", "entry must have exactly the four release fields");
  }
  const entry = p as unknown as ReleaseEntry;
  const again = encodeReleaseEntry(entry);
  if (again.length !== bytes.length || again.some((b, i) => b !== bytes[i])) {
    throw new LogEntryError("non-canonical", "entry is not in canonical encoding");
  }
  return entry;
}

/** True when the entry lists `value` (lowercase hex) as measurement `name`. */
export function hasMeasurement(e: ReleaseEntry, name: string, value: string): boolean {
  return Object.hasOwn(e.measurements, name) && e.measurements[name] === value.toLowerCase();
}
