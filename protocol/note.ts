/**
 * C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 keys (signature type 0x01), the
 * envelope of tlog checkpoints.
 *
 * A note is UTF-8 text ending in a newline, a blank line, and one or more signature lines
 * `— <name> <base64(key ID[4] || signature)>\n` (U+2014, space). For Ed25519:
 * - key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4];
 * - verifier key (vkey) = `<name>+<hex key ID>+<base64(0x01 || public key)>`;
 * - signer key (skey, golang.org/x/mod/sumdb/note's format) =
 *   `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || 32-byte seed)>`.
 *
 * Verification rules (signed-note "Verifying"): signatures by unknown keys are ignored; a note is
 * refused if any signature by a known key fails, if a key is known twice (ambiguous), or if no
 * known key signed it. Limits: at most 100 signature lines, as golang.org/x/mod's reader.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { ProtocolError } from "./errors.ts";
import { concat, utf8 } from "./bytes.ts";
import { fromBase64, toBase64 } from "./base64.ts";

/** A malformed note or key, a failed or ambiguous signature, or a note no known key signed. */
export class NoteError extends ProtocolError {}

const ALG_ED25519 = 0x01;
const MAX_SIGNATURES = 100;
const DASH = "\u2014 ";

/** A key that can check one signer's signatures. */
export interface NoteVerifier {
  name: string;
  /** The 4-byte key ID as an unsigned 32-bit integer. */
  keyId: number;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/** A key that signs notes: name, key ID and the Ed25519 seed (a secret: never log it). */
export interface NoteSigner {
  name: string;
  keyId: number;
  sign(message: Uint8Array): Uint8Array;
}

/** One signature line of a note. */
export interface NoteSignature {
  name: string;
  keyId: number;
  signature: Uint8Array;
}

export interface OpenedNote {
  /** The signed text, ending in a newline. */
  text: string;
  /** Signatures by known keys, all verified. */
  verified: NoteSignature[];
  /** Signatures by keys the caller does not know (ignored, kept for cosignature-aware callers). */
  unverified: NoteSignature[];
}

/** Key names are non-empty, without whitespace or "+" (signed-note "Signatures"). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name);
}

/** The Ed25519 key ID: SHA-256(name || "\n" || 0x01 || public key)[:4] as a uint32. */
export function ed25519KeyId(name: string, publicKey: Uint8Array): number {
  const h = sha256(concat(utf8(name), Uint8Array.of(0x0a, ALG_ED25519), publicKey));
  return new DataView(h.buffer, h.byteOffset).getUint32(0);
}

function hex8(keyId: number): string {
  return keyId.toString(16).padStart(8, "0");
}

/** Splits `name+hex8+base64` into its parts, checking the name and the key ID's spelling. */
function splitKey(key: string, what: string): { name: string; keyId: number; body: Uint8Array } {
  // The base64 key may itself contain "+": split at the first two only.
  const first = key.indexOf("+");
  const second = key.indexOf("+", first + 1);
  const parts = [key.slice(0, first), key.slice(first + 1, second), key.slice(second + 1)];
  if (first < 0 || second < 0 || !isValidKeyName(parts[0]) || !/^[0-9a-f]{8}$/.test(parts[1])) {
    throw new NoteError("malformed-key", `malformed ${what}: "${key.slice(0, 60)}"`);
  }
  let body: Uint8Array;
  try {
    body = fromBase64(parts[2]);
  } catch {
    throw new NoteError("malformed-key", `malformed ${what}: key is not base64`);
  }
  return { name: parts[0], keyId: parseInt(parts[1], 16), body };
}

function ed25519Body(body: Uint8Array, what: string): Uint8Array {
  if (body.length === 0 || body[0] !== ALG_ED25519) {
    throw new NoteError(
      "unknown-algorithm",
      `${what} has signature type ${body[0] ?? "none"}, not 1 (Ed25519)`,
    );
  }
  if (body.length !== 33) {
    throw new NoteError("malformed-key", `${what} is ${body.length - 1} bytes, not 32`);
  }
  return body.subarray(1);
}

/** Parses a verifier key (`name+hex+base64(0x01||pub)`), checking that its key ID matches. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const { name, keyId, body } = splitKey(vkey, "verifier key");
  const publicKey = ed25519Body(body, "verifier key");
  if (ed25519KeyId(name, publicKey) !== keyId) {
    throw new NoteError("malformed-key", `verifier key ${name}+${hex8(keyId)} has a wrong key ID`);
  }
  return {
    name,
    keyId,
    verify: (message, signature) =>
      signature.length === 64 && ed25519.verify(signature, message, publicKey, { zip215: false }),
  };
}

/** The verifier key of an Ed25519 public key. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  if (!isValidKeyName(name)) throw new NoteError("malformed-key", `invalid key name "${name}"`);
  const keyId = ed25519KeyId(name, publicKey);
  return `${name}+${hex8(keyId)}+${toBase64(concat(Uint8Array.of(ALG_ED25519), publicKey))}`;
}

/** Parses a signer key (`PRIVATE+KEY+name+hex+base64(0x01||seed)`). */
export function parseSignerKey(skey: string): NoteSigner & { vkey: string } {
  const prefix = "PRIVATE+KEY+";
  if (!skey.startsWith(prefix)) {
    throw new NoteError("malformed-key", "signer key does not start with PRIVATE+KEY+");
  }
  const { name, keyId, body } = splitKey(skey.slice(prefix.length), "signer key");
  const seed = ed25519Body(body, "signer key");
  const publicKey = ed25519.getPublicKey(seed);
  if (ed25519KeyId(name, publicKey) !== keyId) {
    throw new NoteError("malformed-key", `signer key ${name}+${hex8(keyId)} has a wrong key ID`);
  }
  return {
    name,
    keyId,
    vkey: formatVerifierKey(name, publicKey),
    sign: (message) => ed25519.sign(message, seed),
  };
}

/** A fresh signer key for `name`, in the skey format (keep it secret). */
export function generateSignerKey(name: string): string {
  const seed = ed25519.utils.randomSecretKey();
  const keyId = ed25519KeyId(name, ed25519.getPublicKey(seed));
  if (!isValidKeyName(name)) throw new NoteError("malformed-key", `invalid key name "${name}"`);
  return `PRIVATE+KEY+${name}+${hex8(keyId)}+${toBase64(concat(Uint8Array.of(1), seed))}`;
}

/** Text must be non-empty UTF-8 with no control characters but newline, ending in a newline. */
function checkText(text: string): void {
  if (!text.endsWith("\n")) throw new NoteError("malformed-note", "note text must end in newline");
  // deno-lint-ignore no-control-regex
  const bad = /[\x00-\x09\x0b-\x1f\x7f]/.exec(text);
  if (bad) {
    throw new NoteError("malformed-note", "note text has a control character", bad.index);
  }
}

/** Signs `text` with each signer and returns the note. */
export function signNote(text: string, ...signers: NoteSigner[]): string {
  checkText(text);
  if (signers.length === 0) throw new NoteError("malformed-note", "a note needs a signer");
  const message = utf8(text);
  let out = `${text}\n`;
  for (const s of signers) {
    const id = new Uint8Array(4);
    new DataView(id.buffer).setUint32(0, s.keyId);
    out += `${DASH}${s.name} ${toBase64(concat(id, s.sign(message)))}\n`;
  }
  return out;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Splits a note into its text and signature lines without checking any signature. */
export function parseNote(
  note: string | Uint8Array,
): { text: string; signatures: NoteSignature[] } {
  let s: string;
  try {
    s = typeof note === "string" ? note : decoder.decode(note);
  } catch {
    throw new NoteError("malformed-note", "note is not valid UTF-8");
  }
  // A string with a lone surrogate has no UTF-8 form: its signature would be checked over
  // U+FFFD, one more spelling of the same signed note.
  if (!s.isWellFormed()) throw new NoteError("malformed-note", "note is not valid UTF-8");
  const split = s.lastIndexOf("\n\n");
  if (split < 0) throw new NoteError("malformed-note", "note has no signature block");
  const text = s.slice(0, split + 1);
  checkText(text);
  const block = s.slice(split + 2);
  if (!block.endsWith("\n")) {
    throw new NoteError("malformed-note", "signature block must end in newline", s.length);
  }
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) {
    throw new NoteError("malformed-note", `note has over ${MAX_SIGNATURES} signatures`);
  }
  let at = split + 2;
  const signatures = lines.map((line) => {
    const m = /^\u2014 ([^ ]+) ([A-Za-z0-9+/=]+)$/u.exec(line);
    let raw: Uint8Array | undefined;
    try {
      raw = m ? fromBase64(m[2]) : undefined;
    } catch { /* reported below */ }
    if (!m || !raw || !isValidKeyName(m[1]) || raw.length < 5) {
      throw new NoteError(
        "malformed-note",
        "malformed signature line",
        utf8(s.slice(0, at)).length,
      );
    }
    at += line.length + 1;
    const keyId = new DataView(raw.buffer, raw.byteOffset).getUint32(0);
    return { name: m[1], keyId, signature: raw.subarray(4) };
  });
  return { text, signatures };
}

/**
 * Opens a note: verifies every signature by a known key and returns the text. Throws `NoteError`
 * with code `invalid-signature`, `ambiguous-key` or `no-verified-signature` (signed-note rules).
 */
export function openNote(note: string | Uint8Array, verifiers: NoteVerifier[]): OpenedNote {
  const { text, signatures } = parseNote(note);
  const message = utf8(text);
  const verified: NoteSignature[] = [];
  const unverified: NoteSignature[] = [];
  for (const sig of signatures) {
    const known = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId);
    const label = `${sig.name}+${hex8(sig.keyId)}`;
    if (known.length === 0) {
      unverified.push(sig);
      continue;
    }
    if (known.length > 1) throw new NoteError("ambiguous-key", `ambiguous key ${label}`);
    if (!known[0].verify(message, sig.signature)) {
      throw new NoteError("invalid-signature", `invalid signature for key ${label}`);
    }
    if (!verified.some((v) => v.name === sig.name && v.keyId === sig.keyId)) verified.push(sig);
  }
  if (verified.length === 0) {
    throw new NoteError("no-verified-signature", "note has no verifiable signatures");
  }
  return { text, verified, unverified };
}
