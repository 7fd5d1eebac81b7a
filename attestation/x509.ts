/**
 * X.509 certificates and CRLs (RFC 5280) for attestation chains: AMD ARK → ASK/ASVK → VCEK/VLEK
 * and Intel SGX Root CA → Platform/Processor CA → PCK.
 *
 * Gives: parsing of DER, PEM (several blocks, any order) and URL-encoded PEM (Intel PCS issuer
 * chains) into immutable `Certificate`/`Crl` values; names, extensions, basicConstraints and
 * keyUsage; signature verification for RSASSA-PSS (RFC 4055 §3.1 parameters checked: SHA-256/384/
 * 512, MGF1 with the same hash, salt = hash length, trailer 1) and RSASSA-PKCS1-v1_5 (`rsa.ts`),
 * and ECDSA P-256/P-384 through WebCrypto; and `buildChain`, which walks from a leaf through given intermediates to
 * one of the given roots, choosing each issuer by name and signature (RFC 5280 §6.1, simplified
 * to what attestation needs: no policies, no name constraints).
 *
 * A root is trusted only if it is byte-equal to one of `roots`; its self-signature is not needed
 * and not checked. Refusals are `AttestationError`s: `chain` (cannot decode, no issuer, bad
 * signature, not a CA), `expired` (reference time outside a certificate's or CRL's window),
 * `revoked` (on a CRL of its issuer, matched by issuer name and serial).
 *
 * Speed: parsed certificates are cached by the SHA-256 of their DER, their imported WebCrypto keys
 * (ECDSA) with them, and a verified issuer signature is remembered per (subject, issuer) pair, so the
 * chain of a chip seen before costs no public-key operation. Caches are bounded (LRU);
 * `clearCaches()` empties them (cold benchmarks).
 */
import { createHash } from "node:crypto";
import { AttestationError } from "./errors.ts";
import {
  bitFlags,
  bitStringBytes,
  boolean,
  DerError,
  expectTag,
  fields,
  integerBytes,
  oid,
  readOne,
  readTlv,
  sequence,
  smallInt,
  string,
  TAG,
  time,
  type Tlv,
  unsignedBytes,
} from "./der.ts";
import { type RsaPublicKey, rsaPublicKey, verifyPkcs1, verifyPss } from "./rsa.ts";
import { equalBytes, toHex } from "../protocol/bytes.ts";

export const OID = {
  rsaEncryption: "1.2.840.113549.1.1.1",
  rsassaPss: "1.2.840.113549.1.1.10",
  mgf1: "1.2.840.113549.1.1.8",
  sha256WithRSA: "1.2.840.113549.1.1.11",
  sha384WithRSA: "1.2.840.113549.1.1.12",
  sha512WithRSA: "1.2.840.113549.1.1.13",
  ecPublicKey: "1.2.840.10045.2.1",
  ecdsaWithSHA256: "1.2.840.10045.4.3.2",
  ecdsaWithSHA384: "1.2.840.10045.4.3.3",
  p256: "1.2.840.10045.3.1.7",
  p384: "1.3.132.0.34",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
  commonName: "2.5.4.3",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  crlNumber: "2.5.29.20",
  authorityKeyIdentifier: "2.5.29.35",
  issuingDistributionPoint: "2.5.29.28",
  crlReason: "2.5.29.21",
} as const;

const ATTRIBUTE_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
};

/** Extensions this module understands, so they may be critical (RFC 5280 §4.2). */
const KNOWN_CRITICAL = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  "2.5.29.37", // extendedKeyUsage: informational here
  "2.5.29.17", // subjectAltName: informational here
  "2.5.29.32", // certificatePolicies: attestation chains carry no policy constraints we enforce
]);
const KNOWN_CRITICAL_CRL = new Set<string>([OID.issuingDistributionPoint]);

export type Hash = "SHA-256" | "SHA-384" | "SHA-512";
const HASH_OIDS: Record<string, Hash> = {
  [OID.sha256]: "SHA-256",
  [OID.sha384]: "SHA-384",
  [OID.sha512]: "SHA-512",
};
const HASH_LENGTH: Record<Hash, number> = { "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 };

export type SignatureAlgorithm =
  | { kind: "rsa-pss"; hash: Hash; saltLength: number }
  | { kind: "rsa-pkcs1"; hash: Hash }
  | { kind: "ecdsa"; hash: Hash };

export type PublicKey =
  | { kind: "rsa"; spki: Uint8Array; bits: number; rsa: RsaPublicKey }
  | { kind: "ec"; curve: "P-256" | "P-384"; spki: Uint8Array; point: Uint8Array };

export interface NameAttribute {
  oid: string;
  value: string;
}

/** A distinguished name: its DER (compared first) and its attributes in encoded order. */
export interface Name {
  der: Uint8Array;
  attributes: NameAttribute[];
  /** `OU=Engineering, C=US, …, CN=SEV-Milan`, in encoded order (as OpenSSL prints it). */
  text: string;
}

export interface Extension {
  critical: boolean;
  /** Contents of extnValue (the DER of the extension's own value). */
  value: Uint8Array;
}

/** What `Certificate` and `Crl` share: the signed bytes and the signature over them. */
export interface Signed {
  tbs: Uint8Array;
  signatureAlgorithm: SignatureAlgorithm;
  signature: Uint8Array;
  /** Short human name used in messages, e.g. `SEV-VCEK` or `CRL of SEV-Milan`. */
  label: string;
}

export class Certificate implements Signed {
  /** Lowercase hex SHA-256 of `der`: the cache key and a stable identifier. */
  readonly id: string;
  readonly label: string;
  /** Imported WebCrypto ECDSA keys of this certificate's public key, by curve. */
  readonly keys = new Map<string, Promise<CryptoKey>>();

  constructor(
    readonly der: Uint8Array,
    readonly tbs: Uint8Array,
    readonly version: number,
    /** The serial INTEGER's content bytes (two's complement, as encoded). */
    readonly serial: Uint8Array,
    readonly issuer: Name,
    readonly subject: Name,
    readonly notBefore: Date,
    readonly notAfter: Date,
    readonly publicKey: PublicKey,
    readonly signatureAlgorithm: SignatureAlgorithm,
    readonly signature: Uint8Array,
    readonly extensions: ReadonlyMap<string, Extension>,
    readonly basicConstraints: { ca: boolean; pathLen?: number } | undefined,
    /** KeyUsage bits (RFC 5280 §4.2.1.3): 5 keyCertSign, 6 cRLSign; undefined if absent. */
    readonly keyUsage: readonly boolean[] | undefined,
    id: string,
  ) {
    this.id = id;
    this.label = commonName(subject) ?? subject.text;
  }

  get serialHex(): string {
    return toHex(this.serial);
  }

  get selfIssued(): boolean {
    return nameEquals(this.subject, this.issuer);
  }

  /** For messages: `SEV-VCEK (serial 00, valid 2022-09-24T00:55:28Z..2029-09-24T00:55:28Z)`. */
  describe(): string {
    return `${this.label} (serial ${this.serialHex}, valid ${iso(this.notBefore)}..${
      iso(this.notAfter)
    })`;
  }
}

export interface RevokedEntry {
  serial: Uint8Array;
  date: Date;
}

export class Crl implements Signed {
  readonly label: string;
  constructor(
    readonly der: Uint8Array,
    readonly tbs: Uint8Array,
    readonly issuer: Name,
    readonly thisUpdate: Date,
    readonly nextUpdate: Date | undefined,
    readonly revoked: readonly RevokedEntry[],
    readonly signatureAlgorithm: SignatureAlgorithm,
    readonly signature: Uint8Array,
    /** Lowercase hex SHA-256 of `der`. */
    readonly id: string,
  ) {
    this.label = `CRL of ${commonName(issuer) ?? issuer.text}`;
  }

  isRevoked(cert: Certificate): RevokedEntry | undefined {
    return this.revoked.find((e) => equalBytes(e.serial, cert.serial));
  }
}

// ---------------------------------------------------------------------------------------------
// Caches

const CACHE_LIMIT = 1024;

/** A bounded map that forgets the least recently used entry. */
class Lru<V> {
  #map = new Map<string, V>();
  constructor(readonly limit: number) {}
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.limit) this.#map.delete(this.#map.keys().next().value!);
  }
}

interface Caches {
  certs: Lru<Certificate>;
  crls: Lru<Crl>;
  /** `${signed.id}<${issuer.id}` for every signature that verified. */
  verified: Lru<true>;
}

function newCaches(): Caches {
  return {
    certs: new Lru<Certificate>(CACHE_LIMIT),
    crls: new Lru<Crl>(CACHE_LIMIT),
    verified: new Lru<true>(4 * CACHE_LIMIT),
  };
}

let caches = newCaches();

/** Empties every cache of this module (for cold-path measurements and tests). */
export function clearCaches(): void {
  caches = newCaches();
}

/**
 * Runs `fn` as a verifier that has seen nothing: with empty caches, restoring the previous ones
 * afterwards, so a cold measurement does not make the next warm one cold too. For measurements
 * only: verifications running concurrently would share the temporary caches.
 */
export async function withColdCaches<T>(fn: () => Promise<T>): Promise<T> {
  const saved = caches;
  caches = newCaches();
  try {
    return await fn();
  } finally {
    caches = saved;
  }
}

function sha256Hex(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

// ---------------------------------------------------------------------------------------------
// Decoding

function chainError(message: string, field?: string): AttestationError {
  return new AttestationError("chain", message, field);
}

/** Decodes through a content-keyed cache; a DER fault becomes a `chain` refusal naming `what`. */
function cached<T>(
  cache: Lru<T>,
  der: Uint8Array,
  what: string,
  decode: (der: Uint8Array, id: string) => T,
): T {
  const id = sha256Hex(der);
  const hit = cache.get(id);
  if (hit) return hit;
  let value: T;
  try {
    value = decode(der.slice(), id);
  } catch (e) {
    if (e instanceof DerError) throw chainError(`cannot decode ${what}: ${e.message}`, what);
    throw e;
  }
  cache.set(id, value);
  return value;
}

/** Parses one DER certificate (cached by content). Throws `chain` if it cannot be decoded. */
export function parseCertificate(der: Uint8Array, what = "certificate"): Certificate {
  return cached(caches.certs, der, what, decodeCertificate);
}

/** SIGNED{ToBeSigned} (RFC 5280 §4.1 and §5.1): the to-be-signed fields, algorithm, signature. */
function readSigned(
  der: Uint8Array,
  what: string,
): { tbsTlv: Tlv; fields: Tlv[]; algTlv: Tlv; sigTlv: Tlv } {
  const parts = sequence(readOne(der, TAG.SEQUENCE, what), what);
  if (parts.length !== 3) throw new DerError(`${what}: ${parts.length} fields, expected 3`, 0);
  const [tbsTlv, algTlv, sigTlv] = parts;
  return { tbsTlv, fields: sequence(tbsTlv, `${what} to-be-signed part`), algTlv, sigTlv };
}

function decodeCertificate(der: Uint8Array, id: string): Certificate {
  const { tbsTlv, fields: tbsFields, algTlv, sigTlv } = readSigned(der, "Certificate");
  let i = 0;
  let version = 1;
  if (tbsFields[0]?.tag === 0xa0) {
    version =
      smallInt(readOne(tbsFields[0].value, TAG.INTEGER, "version", tbsFields[0].offset + 2)) + 1;
    i++;
  }
  const [serialTlv, innerAlg, issuerTlv, validityTlv, subjectTlv, spkiTlv] = tbsFields.slice(
    i,
    i + 6,
  );
  if (!spkiTlv) throw new DerError("TBSCertificate: missing fields", tbsTlv.offset);
  if (!equalBytes(innerAlg.bytes, algTlv.bytes)) {
    throw new DerError(
      "signatureAlgorithm differs from TBSCertificate.signature (RFC 5280 §4.1.1.2)",
      algTlv.offset,
    );
  }
  const [nb, na] = fields(validityTlv, "Validity", 2);
  const extensions = new Map<string, Extension>();
  for (const extra of tbsFields.slice(i + 6)) {
    if (extra.tag === 0xa1 || extra.tag === 0xa2) continue; // issuer/subject unique IDs (v2)
    if (extra.tag !== 0xa3 || version !== 3) {
      throw new DerError(
        `unexpected field tag 0x${extra.tag.toString(16)} in TBSCertificate`,
        extra.offset,
      );
    }
    readExtensions(
      readOne(extra.value, TAG.SEQUENCE, "Extensions", extra.offset + headerLength(extra)),
      extensions,
    );
  }
  for (const [extId, ext] of extensions) {
    if (ext.critical && !KNOWN_CRITICAL.has(extId)) {
      throw new DerError(`unsupported critical extension ${extId} (RFC 5280 §4.2)`, tbsTlv.offset);
    }
  }
  const bc = extensions.get(OID.basicConstraints);
  const ku = extensions.get(OID.keyUsage);
  return new Certificate(
    der,
    tbsTlv.bytes,
    version,
    integerBytes(serialTlv, "serialNumber"),
    readName(issuerTlv),
    readName(subjectTlv),
    time(nb, "notBefore"),
    time(na, "notAfter"),
    readPublicKey(spkiTlv),
    readSignatureAlgorithm(algTlv),
    bitStringBytes(sigTlv, "signatureValue"),
    extensions,
    bc ? readBasicConstraints(bc.value) : undefined,
    ku ? bitFlags(readOne(ku.value, TAG.BIT_STRING, "keyUsage")) : undefined,
    id,
  );
}

function headerLength(tlv: Tlv): number {
  return tlv.bytes.length - tlv.value.length;
}

function readExtensions(seq: Tlv, into: Map<string, Extension>): void {
  for (const ext of sequence(seq, "Extensions")) {
    const parts = fields(ext, "Extension", 2, 3);
    const id = oid(parts[0], "extnID");
    let critical = false;
    let valueTlv = parts[1];
    if (parts.length === 3) {
      critical = boolean(parts[1], "critical");
      if (!critical) throw new DerError("critical FALSE must be omitted in DER", parts[1].offset);
      valueTlv = parts[2];
    }
    expectTag(valueTlv, TAG.OCTET_STRING, `extension ${id}`);
    if (into.has(id)) {
      throw new DerError(`extension ${id} appears twice (RFC 5280 §4.2)`, ext.offset);
    }
    into.set(id, { critical, value: valueTlv.value });
  }
}

function readBasicConstraints(value: Uint8Array): { ca: boolean; pathLen?: number } {
  const parts = sequence(readOne(value, TAG.SEQUENCE, "basicConstraints"), "basicConstraints");
  let ca = false;
  let pathLen: number | undefined;
  for (const p of parts) {
    if (p.tag === TAG.BOOLEAN) ca = boolean(p, "cA");
    else pathLen = smallInt(p, "pathLenConstraint");
  }
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

function readName(tlv: Tlv): Name {
  const attributes: NameAttribute[] = [];
  for (const rdn of sequence(tlv, "Name")) {
    for (const atv of sequence(rdn, "RelativeDistinguishedName", TAG.SET)) {
      const [type, value] = fields(atv, "AttributeTypeAndValue", 2);
      attributes.push({
        oid: oid(type, "attribute type"),
        value: string(value, "attribute value"),
      });
    }
  }
  const text = attributes.map((a) => `${ATTRIBUTE_NAMES[a.oid] ?? a.oid}=${a.value}`).join(", ");
  return { der: tlv.bytes, attributes, text };
}

export function commonName(name: Name): string | undefined {
  return name.attributes.find((a) => a.oid === OID.commonName)?.value;
}

/** RFC 5280 §7.1, simplified: equal DER, or equal attributes after case and space folding. */
export function nameEquals(a: Name, b: Name): boolean {
  if (equalBytes(a.der, b.der)) return true;
  if (a.attributes.length !== b.attributes.length) return false;
  const fold = (s: string) => s.trim().replace(/\s+/g, " ").toLowerCase();
  return a.attributes.every((x, i) =>
    x.oid === b.attributes[i].oid && fold(x.value) === fold(b.attributes[i].value)
  );
}

function readPublicKey(spki: Tlv): PublicKey {
  const [alg, keyBits] = fields(spki, "SubjectPublicKeyInfo", 2);
  const [algOid, params] = fields(alg, "AlgorithmIdentifier", 1, 2);
  const kind = oid(algOid, "public key algorithm");
  const key = bitStringBytes(keyBits, "subjectPublicKey");
  if (kind === OID.rsaEncryption) {
    const [n, e] = fields(readOne(key, TAG.SEQUENCE, "RSAPublicKey"), "RSAPublicKey", 2);
    const rsa = rsaPublicKey(unsignedBytes(n, "modulus"), unsignedBytes(e, "publicExponent"));
    return { kind: "rsa", spki: spki.bytes, bits: rsa.bits, rsa };
  }
  if (kind === OID.ecPublicKey) {
    const curveOid = params ? oid(params, "namedCurve") : "";
    const curve = curveOid === OID.p256 ? "P-256" : curveOid === OID.p384 ? "P-384" : undefined;
    if (!curve) {
      throw new DerError(`unsupported elliptic curve ${curveOid || "(none)"}`, alg.offset);
    }
    const size = curve === "P-256" ? 32 : 48;
    if (key.length !== 1 + 2 * size || key[0] !== 0x04) {
      throw new DerError(`${curve} public key is not an uncompressed point`, keyBits.offset);
    }
    return { kind: "ec", curve, spki: spki.bytes, point: key };
  }
  throw new DerError(`unsupported public key algorithm ${kind}`, alg.offset);
}

function readSignatureAlgorithm(tlv: Tlv): SignatureAlgorithm {
  const [algOid, params] = fields(tlv, "signatureAlgorithm", 1, 2);
  const id = oid(algOid, "signature algorithm");
  switch (id) {
    case OID.ecdsaWithSHA256:
    case OID.ecdsaWithSHA384:
      if (params) {
        throw new DerError("ECDSA AlgorithmIdentifier must have no parameters", tlv.offset);
      }
      return { kind: "ecdsa", hash: id === OID.ecdsaWithSHA256 ? "SHA-256" : "SHA-384" };
    case OID.sha256WithRSA:
    case OID.sha384WithRSA:
    case OID.sha512WithRSA:
      return {
        kind: "rsa-pkcs1",
        hash: id === OID.sha256WithRSA
          ? "SHA-256"
          : id === OID.sha384WithRSA
          ? "SHA-384"
          : "SHA-512",
      };
    case OID.rsassaPss:
      if (!params) {
        throw new DerError("RSASSA-PSS without parameters (SHA-1 defaults refused)", tlv.offset);
      }
      return readPssParams(params);
  }
  throw new DerError(`unsupported signature algorithm ${id}`, tlv.offset);
}

/** RSASSA-PSS-params (RFC 4055 §3.1); SHA-1 defaults are refused. */
function readPssParams(tlv: Tlv): SignatureAlgorithm {
  let hash: Hash | undefined;
  let mgfHash: Hash | undefined;
  let saltLength = 20;
  for (const field of sequence(tlv, "RSASSA-PSS-params")) {
    const inner = readOne(
      field.value,
      undefined,
      "RSASSA-PSS field",
      field.offset + headerLength(field),
    );
    if (field.tag === 0xa0) hash = readHashAlgorithm(inner);
    else if (field.tag === 0xa1) {
      const [mgf, mgfParams] = fields(inner, "maskGenAlgorithm", 1, 2);
      if (oid(mgf, "maskGenAlgorithm") !== OID.mgf1 || !mgfParams) {
        throw new DerError("RSASSA-PSS mask generation is not MGF1", inner.offset);
      }
      mgfHash = readHashAlgorithm(mgfParams);
    } else if (field.tag === 0xa2) saltLength = smallInt(inner, "saltLength");
    else if (field.tag === 0xa3) {
      if (smallInt(inner, "trailerField") !== 1) {
        throw new DerError("PSS trailerField must be 1", inner.offset);
      }
    } else throw new DerError("unexpected RSASSA-PSS-params field", field.offset);
  }
  if (!hash || !mgfHash) {
    throw new DerError("RSASSA-PSS with the SHA-1 default hash or MGF", tlv.offset);
  }
  if (mgfHash !== hash) {
    throw new DerError(`RSASSA-PSS MGF1 hash ${mgfHash} differs from the hash ${hash}`, tlv.offset);
  }
  if (saltLength !== HASH_LENGTH[hash]) {
    throw new DerError(
      `RSASSA-PSS salt length ${saltLength}, expected ${HASH_LENGTH[hash]} for ${hash}`,
      tlv.offset,
    );
  }
  return { kind: "rsa-pss", hash, saltLength };
}

function readHashAlgorithm(tlv: Tlv): Hash {
  const [id, params] = fields(tlv, "hashAlgorithm", 1, 2);
  const name = HASH_OIDS[oid(id, "hash algorithm")];
  if (!name) throw new DerError("unsupported hash algorithm", tlv.offset);
  if (params && !(params.tag === TAG.NULL && params.value.length === 0)) {
    throw new DerError("hash algorithm parameters must be absent or NULL", params.offset);
  }
  return name;
}

/** Parses one DER CRL (cached by content). Throws `chain` if it cannot be decoded. */
export function parseCrl(der: Uint8Array, what = "CRL"): Crl {
  return cached(caches.crls, der, what, decodeCrl);
}

function decodeCrl(der: Uint8Array, id: string): Crl {
  const { tbsTlv, fields: f, algTlv, sigTlv } = readSigned(der, "CertificateList");
  let i = 0;
  if (f[0]?.tag === TAG.INTEGER) {
    if (smallInt(f[0], "version") !== 1) throw new DerError("CRL version must be v2", f[0].offset);
    i++;
  }
  const [innerAlg, issuerTlv, thisTlv] = f.slice(i, i + 3);
  if (!thisTlv) throw new DerError("TBSCertList: missing fields", tbsTlv.offset);
  if (!equalBytes(innerAlg.bytes, algTlv.bytes)) {
    throw new DerError(
      "signatureAlgorithm differs from TBSCertList.signature (RFC 5280 §5.1.1.2)",
      algTlv.offset,
    );
  }
  i += 3;
  let nextUpdate: Date | undefined;
  if (f[i] && (f[i].tag === TAG.UTC_TIME || f[i].tag === TAG.GENERALIZED_TIME)) {
    nextUpdate = time(f[i++], "nextUpdate");
  }
  const revoked: RevokedEntry[] = [];
  if (f[i]?.tag === TAG.SEQUENCE) {
    for (const entry of sequence(f[i++], "revokedCertificates")) {
      const [serial, date, entryExts] = fields(entry, "revoked certificate", 2, 3);
      if (entryExts) {
        const exts = new Map<string, Extension>();
        readExtensions(entryExts, exts);
        for (const [extId, ext] of exts) {
          if (ext.critical) {
            throw new DerError(
              `unsupported critical CRL entry extension ${extId}`,
              entryExts.offset,
            );
          }
        }
      }
      revoked.push({
        serial: integerBytes(serial, "userCertificate"),
        date: time(date, "revocationDate"),
      });
    }
  }
  if (f[i]?.tag === 0xa0) {
    const exts = new Map<string, Extension>();
    readExtensions(
      readOne(f[i].value, TAG.SEQUENCE, "crlExtensions", f[i].offset + headerLength(f[i])),
      exts,
    );
    for (const [extId, ext] of exts) {
      if (ext.critical && !KNOWN_CRITICAL_CRL.has(extId)) {
        throw new DerError(`unsupported critical CRL extension ${extId}`, f[i].offset);
      }
    }
    i++;
  }
  if (i !== f.length) {
    throw new DerError("unexpected fields at the end of TBSCertList", f[i].offset);
  }
  return new Crl(
    der,
    tbsTlv.bytes,
    readName(issuerTlv),
    time(thisTlv, "thisUpdate"),
    nextUpdate,
    revoked,
    readSignatureAlgorithm(algTlv),
    bitStringBytes(sigTlv, "signatureValue"),
    id,
  );
}

// ---------------------------------------------------------------------------------------------
// Files: DER, PEM, URL-encoded PEM

/** The PEM blocks of a text (RFC 7468), e.g. `{label: "CERTIFICATE", der}`. */
export function readPem(text: string): { label: string; der: Uint8Array }[] {
  const out: { label: string; der: Uint8Array }[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END \1-----/g;
  for (const m of text.matchAll(re)) {
    const body = m[2].replace(/[\r\n\t ]/g, "");
    out.push({ label: m[1], der: Uint8Array.fromBase64(body, { lastChunkHandling: "strict" }) });
  }
  return out;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** DER blocks of a file: a DER value (or several back to back), PEM text, or URL-encoded PEM. */
export function readBlocks(bytes: Uint8Array, label: string, what: string): Uint8Array[] {
  if (bytes[0] === TAG.SEQUENCE) {
    const out: Uint8Array[] = [];
    try {
      for (let at = 0; at < bytes.length;) {
        const tlv = readTlv(bytes, at);
        out.push(tlv.bytes);
        at += tlv.bytes.length;
      }
    } catch (e) {
      if (e instanceof DerError) throw chainError(`cannot decode ${what}: ${e.message}`, what);
      throw e;
    }
    return out;
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
    // Intel PCS returns issuer chains URL-encoded (`-----BEGIN%20CERTIFICATE-----%0A…`).
    if (!text.includes("-----BEGIN ") && /%[0-9A-Fa-f]{2}/.test(text)) {
      text = decodeURIComponent(text);
    }
  } catch {
    throw chainError(`${what} is neither DER nor PEM text`, what);
  }
  let blocks: { label: string; der: Uint8Array }[];
  try {
    blocks = readPem(text).filter((b) => b.label === label);
  } catch (e) {
    throw chainError(
      `${what}: bad base64 in a PEM block (${e instanceof Error ? e.message : e})`,
      what,
    );
  }
  if (blocks.length === 0) {
    throw chainError(`${what} holds no ${label} (neither DER nor PEM)`, what);
  }
  return blocks.map((b) => b.der);
}

/** Every certificate in a DER or PEM file (any number, any order). */
export function parseCertificates(bytes: Uint8Array, what = "certificate file"): Certificate[] {
  return readBlocks(bytes, "CERTIFICATE", what).map((der, i) =>
    parseCertificate(der, `${what} #${i + 1}`)
  );
}

/** Every CRL in a DER or PEM file. */
export function parseCrls(bytes: Uint8Array, what = "CRL file"): Crl[] {
  return readBlocks(bytes, "X509 CRL", what).map((der, i) => parseCrl(der, `${what} #${i + 1}`));
}

// ---------------------------------------------------------------------------------------------
// Signatures

/** ECDSA-Sig-Value (RFC 3279 §2.2.3) → r‖s, each left-padded to the field size. */
export function ecdsaDerToRaw(sig: Uint8Array, size: number): Uint8Array | undefined {
  try {
    const parts = sequence(readOne(sig, TAG.SEQUENCE, "ECDSA-Sig-Value"), "ECDSA-Sig-Value");
    if (parts.length !== 2) return undefined;
    const out = new Uint8Array(2 * size);
    for (let k = 0; k < 2; k++) {
      const v = unsignedBytes(parts[k]);
      if (v.length > size) return undefined;
      out.set(v, (k + 1) * size - v.length);
    }
    return out;
  } catch (e) {
    if (e instanceof DerError) return undefined;
    throw e;
  }
}

/** The WebCrypto ECDSA key of an EC certificate, imported once. */
function ecdsaKey(holder: Certificate & { publicKey: { kind: "ec" } }): Promise<CryptoKey> {
  const curve = holder.publicKey.curve;
  let key = holder.keys.get(curve);
  if (!key) {
    key = crypto.subtle.importKey(
      "spki",
      holder.publicKey.spki as BufferSource,
      { name: "ECDSA", namedCurve: curve },
      false,
      ["verify"],
    );
    key.catch(() => holder.keys.delete(curve));
    holder.keys.set(curve, key);
  }
  return key;
}

/** Minimum RSA modulus accepted for a signature (NIST SP 800-131A). */
const MIN_RSA_BITS = 2048;

/**
 * Whether `signed` carries a valid signature by `issuer`'s key. A key/algorithm mismatch or an
 * undecodable signature is `false`, never an exception. Positive results are cached.
 */
export async function verifySignature(
  signed: Signed & { id: string },
  issuer: Certificate,
): Promise<boolean> {
  const memo = `${signed.id}<${issuer.id}`;
  if (caches.verified.get(memo)) return true;
  const alg = signed.signatureAlgorithm;
  const key = issuer.publicKey;
  let ok = false;
  if (alg.kind === "ecdsa") {
    if (key.kind !== "ec") return false;
    const raw = ecdsaDerToRaw(signed.signature, key.curve === "P-256" ? 32 : 48);
    if (!raw) return false;
    try {
      ok = await crypto.subtle.verify(
        { name: "ECDSA", hash: alg.hash },
        await ecdsaKey(issuer as Certificate & { publicKey: { kind: "ec" } }),
        raw as BufferSource,
        signed.tbs as BufferSource,
      );
    } catch {
      ok = false;
    }
  } else {
    if (key.kind !== "rsa" || key.bits < MIN_RSA_BITS) return false;
    ok = alg.kind === "rsa-pss"
      ? verifyPss(key.rsa, alg.hash, alg.saltLength, signed.tbs, signed.signature)
      : verifyPkcs1(key.rsa, alg.hash, signed.tbs, signed.signature);
  }
  if (ok) caches.verified.set(memo, true);
  return ok;
}

/**
 * Whether a raw r‖s ECDSA `signature` (big-endian, as Intel's quote and PCS formats carry it,
 * not DER) over `data` verifies with `issuer`'s EC key. Positive results are cached by the
 * SHA-256 of signature and data, like `verifySignature`'s.
 */
export async function verifyRawEcdsa(
  data: Uint8Array,
  signature: Uint8Array,
  issuer: Certificate,
  hash: Hash = "SHA-256",
): Promise<boolean> {
  const key = issuer.publicKey;
  if (key.kind !== "ec" || signature.length !== (key.curve === "P-256" ? 64 : 96)) return false;
  const memo = `${createHash("sha256").update(signature).update(data).digest("hex")}<${issuer.id}`;
  if (caches.verified.get(memo)) return true;
  let ok: boolean;
  try {
    ok = await crypto.subtle.verify(
      { name: "ECDSA", hash },
      await ecdsaKey(issuer as Certificate & { publicKey: { kind: "ec" } }),
      signature as BufferSource,
      data as BufferSource,
    );
  } catch {
    ok = false;
  }
  if (ok) caches.verified.set(memo, true);
  return ok;
}

// ---------------------------------------------------------------------------------------------
// Chains

export interface ChainOptions {
  /** Reference time for every validity check. */
  now: Date;
  /** Trust anchors: a chain must end at a certificate byte-equal to one of these. */
  roots: readonly Certificate[];
  /** Candidate issuers between the leaf and the root, in any order. */
  intermediates?: readonly Certificate[];
  /** CRLs to apply; each is used for the certificates its issuer issued, others are ignored. */
  crls?: readonly Crl[];
  /**
   * An extra rule for each issuer chosen (e.g. SNP: a VLEK must be issued by `SEV-VLEK-<product>`).
   * Returns a problem sentence to refuse with `chain`, or undefined.
   */
  checkIssuer?: (issuer: Certificate, child: Certificate) => string | undefined;
  /** Longest accepted path, leaf and root included (default 6). */
  maxLength?: number;
}

export function iso(d: Date): string {
  return d.toISOString().replace(".000Z", "Z");
}

function isRoot(cert: Certificate, roots: readonly Certificate[]): boolean {
  return roots.some((r) => r.id === cert.id);
}

/**
 * The path from `leaf` to a trusted root, leaf first. Order of refusals (vectors README): the path
 * (`chain`), then validity at `now` of every certificate (`expired`), then CRLs (`revoked`).
 */
export async function buildChain(leaf: Certificate, options: ChainOptions): Promise<Certificate[]> {
  const { roots, now, intermediates = [], crls = [], maxLength = 6 } = options;
  const path = [leaf];
  for (let current = leaf; !isRoot(current, roots);) {
    if (path.length >= maxLength) {
      throw chainError(
        `no trusted root within ${maxLength} certificates of ${leaf.label}`,
        leaf.label,
      );
    }
    const named = [...roots, ...intermediates].filter((c) =>
      nameEquals(c.subject, current.issuer) && !path.some((p) => p.id === c.id)
    );
    const unique = named.filter((c, i) => named.findIndex((d) => d.id === c.id) === i);
    if (unique.length === 0) {
      if (current.selfIssued) {
        throw chainError(
          `${current.label} is self-issued but is not one of the trusted roots (${
            roots.map((r) => r.label).join(", ") || "none given"
          })`,
          current.label,
        );
      }
      throw chainError(
        `${current.label} was issued by "${current.issuer.text}", and no given certificate has that subject`,
        current.label,
      );
    }
    let issuer: Certificate | undefined;
    for (const candidate of unique) {
      if (await verifySignature(current, candidate)) {
        issuer = candidate;
        break;
      }
    }
    if (!issuer) {
      throw chainError(
        `the signature on ${current.label} does not verify with the key of ${
          unique.map((c) => c.label).join(" or ")
        }`,
        current.label,
      );
    }
    checkCa(issuer, path.length - 1, current);
    const problem = options.checkIssuer?.(issuer, current);
    if (problem) throw chainError(problem, current.label);
    path.push(issuer);
    current = issuer;
  }
  for (const cert of path) checkValidity(cert, now);
  for (const crl of crls) await applyCrl(crl, path, now);
  return path;
}

/** RFC 5280 §6.1.4 (k), (l), (n): an issuer must be a CA allowed to sign certificates. */
function checkCa(issuer: Certificate, below: number, child: Certificate): void {
  if (issuer.version === 3 && !issuer.basicConstraints?.ca) {
    throw chainError(
      `${issuer.label} signed ${child.label} but is not a CA (basicConstraints)`,
      issuer.label,
    );
  }
  if (issuer.keyUsage && !issuer.keyUsage[5]) {
    throw chainError(
      `${issuer.label} signed ${child.label} but lacks keyUsage keyCertSign`,
      issuer.label,
    );
  }
  const pathLen = issuer.basicConstraints?.pathLen;
  if (pathLen !== undefined && below > pathLen) {
    throw chainError(
      `${issuer.label} allows ${pathLen} intermediate certificates below it, the path has ${below}`,
      issuer.label,
    );
  }
}

/** `expired` unless `notBefore ≤ now ≤ notAfter` (RFC 5280 §4.1.2.5, both ends inclusive). */
export function checkValidity(cert: Certificate, now: Date): void {
  const t = now.getTime();
  if (t < cert.notBefore.getTime() || t > cert.notAfter.getTime()) {
    const when = t < cert.notBefore.getTime() ? "not yet valid" : "expired";
    throw new AttestationError(
      "expired",
      `${cert.label} is ${when} at ${iso(now)}: valid ${iso(cert.notBefore)}..${
        iso(cert.notAfter)
      }`,
      cert.label,
    );
  }
}

/**
 * Applies one CRL to a path: if its issuer is in the path, its signature must verify with that
 * issuer's key, `now` must lie in thisUpdate..nextUpdate, and no certificate that issuer issued
 * may be listed. A CRL for an issuer outside the path is not about this chain and is skipped.
 */
export async function applyCrl(crl: Crl, path: readonly Certificate[], now: Date): Promise<void> {
  const issuer = path.find((c) => nameEquals(c.subject, crl.issuer));
  if (!issuer) return;
  if (!(await verifySignature(crl, issuer))) {
    throw chainError(`${crl.label} is not signed by ${issuer.label}`, crl.label);
  }
  if (issuer.keyUsage && !issuer.keyUsage[6]) {
    throw chainError(`${crl.label}: ${issuer.label} lacks keyUsage cRLSign`, crl.label);
  }
  const t = now.getTime();
  if (t < crl.thisUpdate.getTime() || !crl.nextUpdate || t > crl.nextUpdate.getTime()) {
    throw new AttestationError(
      "expired",
      `${crl.label} is not current at ${iso(now)}: thisUpdate ${iso(crl.thisUpdate)}, nextUpdate ${
        crl.nextUpdate ? iso(crl.nextUpdate) : "absent"
      }`,
      crl.label,
    );
  }
  for (const cert of path) {
    if (cert === issuer || !nameEquals(cert.issuer, crl.issuer)) continue;
    const entry = crl.isRevoked(cert);
    if (entry) {
      throw new AttestationError(
        "revoked",
        `${cert.label} (serial ${cert.serialHex}) was revoked by ${issuer.label} on ${
          iso(entry.date)
        }`,
        cert.label,
      );
    }
  }
}
