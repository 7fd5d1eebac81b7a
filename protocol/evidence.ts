/**
 * Key binding and the evidence bundle (DESIGN.md "Key binding and evidence"): pure data and
 * codecs. Verification (signatures, chains, TCB, policy, the transparency proof) lives in
 * attestation/; it decodes bundles here and recomputes REPORT_DATA with `reportData`.
 *
 * REPORT_DATA, the 64 bytes the runtime asks the hardware to sign into its report:
 *
 *   reportData = SHA-512( "cloister/key-binding/v1" ‖ 0x00 ‖ claims )
 *
 * where the domain string is 23 ASCII bytes, 0x00 ends it, and `claims` is the deterministic CBOR
 * (RFC 8949 §4.2.1, protocol/cbor.ts) of a map with unsigned-integer keys:
 *
 * | key | claim      | CBOR | meaning                                                          |
 * | --- | ---------- | ---- | ---------------------------------------------------------------- |
 * | 1   | keyConfig  | bstr | one OHTTP KeyConfig, RFC 9458 §3.1 encoding (not a list)         |
 * | 2   | epochStart | uint | unix seconds: the key serves from this second...                 |
 * | 3   | epochEnd   | uint | ...until just before this one (epochStart < epochEnd)            |
 * | 4   | nonce      | bstr | 1..64 bytes from the client; the key is absent when there is none |
 *
 * For example claims {keyConfig: a 41-byte X25519 KeyConfig with key id 1, epochStart: 1700000000,
 * epochEnd: 1700000600} encode as `a3 01 5829 01… 02 1a6553f100 03 1a6553f358`. Integer keys keep the encoding small and leave
 * no room for spelling or Unicode questions between implementations.
 *
 * The evidence bundle (`application/cbor` at /.well-known/cloister/evidence) is one deterministic
 * CBOR map:
 *
 * | key | field        | CBOR              | content                                             |
 * | --- | ------------ | ----------------- | --------------------------------------------------- |
 * | 0   | version      | uint              | 1                                                   |
 * | 1   | platform     | tstr              | "sev-snp" or "tdx"                                  |
 * | 2   | evidence     | bstr              | the SNP attestation report or the TDX quote, as the hardware returned it |
 * | 3   | certificates | [* bstr]          | DER certificates, leaf first (SNP: VCEK or VLEK, ASK or ASVK, ARK); may be empty (TDX quotes carry their PCK chain) |
 * | 4   | collateral   | {* tstr => bstr}  | named byte strings, names lowercase `a-z0-9` words joined by `-`; e.g. TDX "tcb-info", "qe-identity", "pck-crl", "root-ca-crl", "tcb-info-issuer-chain"; SNP "vcek-crl" |
 * | 5   | claims       | map               | the binding claims above, as a nested map           |
 * | 6   | transparency | map               | optional: the log proof for the image measurement   |
 *
 * transparency: {1: checkpoint (bstr, the C2SP signed-note text), 2: leafIndex (uint), 3:
 * inclusionProof ([* bstr], each 32 bytes, at most 64), 4: entry (bstr, the logged entry)}.
 * Whether a proof must be present is the client's policy, not the format's.
 *
 * Decoding is strict: non-deterministic CBOR, unknown keys, missing or mistyped fields and values
 * out of range are refused with an `EvidenceError` whose `field` names the path
 * (`bundle.transparency.inclusionProof[3]`) and whose `code` is stable. Byte strings in decoded
 * bundles are views into the input.
 */
import { sha512 } from "@noble/hashes/sha2.js";
import { ProtocolError } from "./errors.ts";
import { concat, utf8 } from "./bytes.ts";
import { CborError, type CborKey, type CborValue, decodeCbor, encodeCbor } from "./cbor.ts";

/** A bundle or claims that cannot be decoded or encoded; `field` is the path of the culprit. */
export class EvidenceError extends ProtocolError {
  constructor(code: string, message: string, readonly field: string, offset?: number) {
    super(code, message, offset);
  }
}

export const KEY_BINDING_DOMAIN = "cloister/key-binding/v1";
export const EVIDENCE_BUNDLE_VERSION = 1;
export const PLATFORMS = ["sev-snp", "tdx"] as const;
export type Platform = typeof PLATFORMS[number];

export interface BindingClaims {
  /** One OHTTP KeyConfig (RFC 9458 §3.1). */
  keyConfig: Uint8Array;
  /** Unix seconds, inclusive. */
  epochStart: number;
  /** Unix seconds, exclusive; greater than epochStart. */
  epochEnd: number;
  /** The client's nonce, 1..64 bytes, when the report was made for one client. */
  nonce?: Uint8Array;
}

export interface TransparencyProof {
  /** The C2SP signed-note checkpoint text, as served by the log. */
  checkpoint: Uint8Array;
  leafIndex: number;
  /** RFC 9162 §2.1.3 inclusion proof: sibling hashes from the leaf up, 32 bytes each. */
  inclusionProof: Uint8Array[];
  /** The log entry for the image measurement (its leaf hash is SHA-256(0x00 ‖ entry)). */
  entry: Uint8Array;
}

export interface EvidenceBundle {
  platform: Platform;
  /** The raw SNP attestation report or TDX quote. */
  evidence: Uint8Array;
  /** DER certificates, leaf first. */
  certificates: Uint8Array[];
  collateral: Map<string, Uint8Array>;
  claims: BindingClaims;
  transparency?: TransparencyProof;
}

const MAX_NONCE = 64;
const MAX_CERTIFICATES = 16;
const MAX_COLLATERAL = 64;
const MAX_PROOF_HASHES = 64;
const COLLATERAL_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

// The CBOR map keys, in one place (see the tables above).
const CLAIM = { keyConfig: 1, epochStart: 2, epochEnd: 3, nonce: 4 } as const;
const BUNDLE = {
  version: 0,
  platform: 1,
  evidence: 2,
  certificates: 3,
  collateral: 4,
  claims: 5,
  transparency: 6,
} as const;
const PROOF = { checkpoint: 1, leafIndex: 2, inclusionProof: 3, entry: 4 } as const;

// ---------------------------------------------------------------------------------------------
// Typed reading of decoded CBOR, every failure named by its path

type CborMap = ReadonlyMap<CborKey, CborValue>;

function kindOf(v: CborValue | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (v instanceof Uint8Array) return "a byte string";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Map) return "a map";
  if (typeof v === "string") return "a text string";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number" && !Number.isInteger(v)) return `${v}`;
  return "an integer";
}

function wrongType(path: string, want: string, got: CborValue | undefined): never {
  throw new EvidenceError("wrong-type", `${path} must be ${want}, not ${kindOf(got)}`, path);
}

function invalid(path: string, why: string): never {
  throw new EvidenceError("invalid-value", `${path} ${why}`, path);
}

/** A map whose keys are exactly some of `fields` (all of them but `optional`). */
function fieldsOf<K extends string>(
  v: CborValue | undefined,
  path: string,
  fields: Record<K, number>,
  optional: readonly NoInfer<K>[] = [],
): Partial<Record<K, CborValue>> {
  if (!(v instanceof Map)) wrongType(path, "a map", v);
  const names = new Map<CborKey, K>();
  for (const name of Object.keys(fields) as K[]) names.set(fields[name], name);
  const out: Partial<Record<K, CborValue>> = {};
  for (const [key, value] of v as CborMap) {
    const name = names.get(key);
    if (name === undefined) {
      throw new EvidenceError("unknown-field", `${path} has unknown key ${String(key)}`, path);
    }
    out[name] = value;
  }
  for (const name of Object.keys(fields) as K[]) {
    if (out[name] === undefined && !optional.includes(name)) {
      throw new EvidenceError(
        "missing-field",
        `${path}.${name} (key ${fields[name]}) is missing`,
        `${path}.${name}`,
      );
    }
  }
  return out;
}

function bytes(v: CborValue | undefined, path: string, min = 1, max = Infinity): Uint8Array {
  if (!(v instanceof Uint8Array)) return wrongType(path, "a byte string", v);
  if (v.length < min || v.length > max) {
    invalid(
      path,
      max === Infinity
        ? `is empty`
        : min === max
        ? `has ${v.length} bytes, not ${min}`
        : `has ${v.length} bytes, not ${min}..${max}`,
    );
  }
  return v;
}

function uint(v: CborValue | undefined, path: string): number {
  if (typeof v === "bigint" && v > 0n) invalid(path, `${v} is above 2^53 - 1`);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    return wrongType(path, "an unsigned integer", v);
  }
  return v;
}

/** The last second a JavaScript Date holds (ECMA-262 §21.4.1.1: 8.64e15 ms after 1970). */
const LAST_EPOCH_SECOND = 8_640_000_000_000;

/** Unix seconds a verifier can compare and print as a date. */
function epoch(v: CborValue | undefined, path: string): number {
  const seconds = uint(v, path);
  if (seconds > LAST_EPOCH_SECOND) invalid(path, `${seconds} is past the year 275760`);
  return seconds;
}

function list(v: CborValue | undefined, path: string, max: number): readonly CborValue[] {
  if (!Array.isArray(v)) return wrongType(path, "an array", v);
  if (v.length > max) invalid(path, `has ${v.length} entries, more than ${max}`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Claims

function claimsFrom(v: CborValue | undefined, path: string): BindingClaims {
  const f = fieldsOf(v, path, CLAIM, ["nonce"]);
  const claims: BindingClaims = {
    keyConfig: bytes(f.keyConfig, `${path}.keyConfig`),
    epochStart: epoch(f.epochStart, `${path}.epochStart`),
    epochEnd: epoch(f.epochEnd, `${path}.epochEnd`),
  };
  if (claims.epochEnd <= claims.epochStart) {
    invalid(
      `${path}.epochEnd`,
      `(${claims.epochEnd}) is not after epochStart (${claims.epochStart})`,
    );
  }
  if (f.nonce !== undefined) claims.nonce = bytes(f.nonce, `${path}.nonce`, 1, MAX_NONCE);
  return claims;
}

function claimsTo(c: BindingClaims): Map<CborKey, CborValue> {
  const m = new Map<CborKey, CborValue>([
    [CLAIM.keyConfig, c.keyConfig],
    [CLAIM.epochStart, c.epochStart],
    [CLAIM.epochEnd, c.epochEnd],
  ]);
  if (c.nonce !== undefined) m.set(CLAIM.nonce, c.nonce);
  return m;
}

/** The deterministic CBOR of the claims, after checking them as a decoder would. */
export function encodeBindingClaims(claims: BindingClaims): Uint8Array {
  const value = claimsTo(claims);
  claimsFrom(value, "claims");
  return encodeCbor(value);
}

/** REPORT_DATA for these claims: SHA-512(domain ‖ 0x00 ‖ CBOR(claims)), 64 bytes. */
export function reportData(claims: BindingClaims): Uint8Array {
  return sha512(concat(utf8(KEY_BINDING_DOMAIN), Uint8Array.of(0), encodeBindingClaims(claims)));
}

// ---------------------------------------------------------------------------------------------
// Bundle

function bundleFrom(v: CborValue): EvidenceBundle {
  const path = "bundle";
  const f = fieldsOf(v, path, BUNDLE, ["transparency"]);
  const version = uint(f.version, `${path}.version`);
  if (version !== EVIDENCE_BUNDLE_VERSION) {
    throw new EvidenceError(
      "unsupported-version",
      `bundle version ${version} is not supported (this decoder reads version ${EVIDENCE_BUNDLE_VERSION})`,
      `${path}.version`,
    );
  }
  if (typeof f.platform !== "string") wrongType(`${path}.platform`, "a text string", f.platform);
  const platform = f.platform as string;
  if (!(PLATFORMS as readonly string[]).includes(platform)) {
    invalid(`${path}.platform`, `"${platform}" is not one of ${PLATFORMS.join(", ")}`);
  }
  const certificates = list(f.certificates, `${path}.certificates`, MAX_CERTIFICATES).map(
    (c, i) => {
      const der = bytes(c, `${path}.certificates[${i}]`);
      // A DER certificate is a SEQUENCE (X.690 §8.9): catches PEM or raw keys early.
      if (der[0] !== 0x30) invalid(`${path}.certificates[${i}]`, "is not DER (no SEQUENCE tag)");
      return der;
    },
  );
  const collateralMap = f.collateral;
  if (!(collateralMap instanceof Map)) {
    return wrongType(`${path}.collateral`, "a map", collateralMap);
  }
  if (collateralMap.size > MAX_COLLATERAL) {
    invalid(`${path}.collateral`, `has ${collateralMap.size} entries, more than ${MAX_COLLATERAL}`);
  }
  const collateral = new Map<string, Uint8Array>();
  for (const [name, value] of collateralMap as CborMap) {
    if (typeof name !== "string" || !COLLATERAL_NAME.test(name) || name.length > 64) {
      invalid(
        `${path}.collateral`,
        `has key ${JSON.stringify(String(name))}: names are lowercase words joined by "-"`,
      );
    }
    collateral.set(name, bytes(value, `${path}.collateral["${name}"]`));
  }
  const bundle: EvidenceBundle = {
    platform: platform as Platform,
    evidence: bytes(f.evidence, `${path}.evidence`),
    certificates,
    collateral,
    claims: claimsFrom(f.claims, `${path}.claims`),
  };
  if (f.transparency !== undefined) {
    bundle.transparency = proofFrom(f.transparency, `${path}.transparency`);
  }
  return bundle;
}

function proofFrom(v: CborValue, path: string): TransparencyProof {
  const f = fieldsOf(v, path, PROOF);
  return {
    checkpoint: bytes(f.checkpoint, `${path}.checkpoint`),
    leafIndex: uint(f.leafIndex, `${path}.leafIndex`),
    inclusionProof: list(f.inclusionProof, `${path}.inclusionProof`, MAX_PROOF_HASHES).map(
      (h, i) => bytes(h, `${path}.inclusionProof[${i}]`, 32, 32),
    ),
    entry: bytes(f.entry, `${path}.entry`),
  };
}

function bundleTo(b: EvidenceBundle): Map<CborKey, CborValue> {
  const m = new Map<CborKey, CborValue>([
    [BUNDLE.version, EVIDENCE_BUNDLE_VERSION],
    [BUNDLE.platform, b.platform],
    [BUNDLE.evidence, b.evidence],
    [BUNDLE.certificates, b.certificates],
    [BUNDLE.collateral, b.collateral],
    [BUNDLE.claims, b.claims && claimsTo(b.claims)],
  ]);
  const t = b.transparency;
  if (t !== undefined) {
    m.set(
      BUNDLE.transparency,
      new Map<CborKey, CborValue>([
        [PROOF.checkpoint, t.checkpoint],
        [PROOF.leafIndex, t.leafIndex],
        [PROOF.inclusionProof, t.inclusionProof],
        [PROOF.entry, t.entry],
      ]),
    );
  }
  return m;
}

/** The deterministic CBOR of a bundle, after checking it exactly as `decodeEvidenceBundle` would. */
export function encodeEvidenceBundle(bundle: EvidenceBundle): Uint8Array {
  const value = bundleTo(bundle);
  bundleFrom(value);
  return encodeCbor(value);
}

/** Decodes and checks a bundle. Its byte strings are views into `bytes`. */
export function decodeEvidenceBundle(bytes: Uint8Array): EvidenceBundle {
  let value: CborValue;
  try {
    value = decodeCbor(bytes);
  } catch (e) {
    if (!(e instanceof CborError)) throw e;
    throw new EvidenceError(
      "malformed",
      `bundle is not deterministic CBOR: ${e.detail} [${e.code}]`,
      "bundle",
      e.offset,
    );
  }
  return bundleFrom(value);
}
