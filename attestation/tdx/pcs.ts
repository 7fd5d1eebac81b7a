/**
 * Intel PCS collateral for TDX quotes: TCB info (v2 SGX, v3 TDX), QE identity (v2), their
 * signatures, and the JSON signing rule.
 *
 * Source: Intel "Provisioning Certification Service API" v4 (`/tdx/certification/v4/tcb`,
 * `/tdx/certification/v4/qe/identity`) and the "TCB Info / Enclave Identity" JSON schemas.
 * A response is `{"tcbInfo": {...}, "signature": "<hex r‖s>"}` (or `"enclaveIdentity"`); the
 * signature is ECDSA P-256 / SHA-256 over the EXACT bytes of the inner object as they appear in
 * the response. So the signed bytes are cut out of the file by a byte-level scan of the top-level
 * object (`signedMember`), never re-serialised, and the typed body is decoded from those same
 * bytes: what is checked is what was signed. A top-level key that appears twice is refused,
 * since JSON parsers disagree on which one wins.
 *
 * `readCollateral` sorts the files a verifier is given by content (vectors README "TDX
 * collateral"): PCS responses, dcap-qvl `QuoteCollateralV3` bundles, DER CRLs and certificates,
 * PEM and Intel's URL-encoded PEM issuer chains (`*-Issuer-Chain` headers).
 *
 * `fetchPcsCollateral` gets those files from Intel PCS (API v4) through an injected
 * `CollateralSource` (network, on-disk cache or offline mirror); everything else here is pure.
 * Refusals are `collateral` (a document that is not what it claims), with the field that was
 * wrong; certificates and CRLs that do not decode are `chain` (x509.ts).
 */
import { AttestationError } from "../errors.ts";
import { fromHex, toHex, utf8 } from "../../protocol/bytes.ts";
import { CollateralError, type CollateralSource } from "../collateral.ts";
import type { Quote } from "./abi.ts";
import { type PckCa, pckCa, pckCertificates, pckExtensions } from "./pck.ts";
import { TCB_STATUSES, type TcbStatusName } from "../policy.ts";
import {
  type Certificate,
  type Crl,
  parseCertificate,
  parseCertificates,
  parseCrl,
  parseCrls,
} from "../x509.ts";

/** TCB statuses of PCS TCB info and QE identity levels. */
export type TcbStatus = TcbStatusName;

export interface TcbLevel {
  /** SGX TCB components 1..16. */
  sgxComponents: number[];
  pceSvn: number;
  /** TDX TCB components 1..16 (v3 TDX only). */
  tdxComponents?: number[];
  tcbDate: string;
  status: TcbStatus;
  advisoryIds: string[];
}

/** An isvsvn-indexed level (QE identity, TDX module identity). */
export interface IsvLevel {
  isvSvn: number;
  tcbDate: string;
  status: TcbStatus;
  advisoryIds: string[];
}

export interface TdxModule {
  mrSigner: Uint8Array;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
}

export interface TdxModuleIdentity extends TdxModule {
  /** "TDX_%02X" of the module's major version (tee_tcb_svn[1]). */
  id: string;
  levels: IsvLevel[];
}

export interface TcbInfo {
  id: "SGX" | "TDX";
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  fmspc: Uint8Array;
  pceId: Uint8Array;
  tcbType: number;
  tcbEvaluationDataNumber: number;
  tdxModule?: TdxModule;
  tdxModuleIdentities: TdxModuleIdentity[];
  /** Newest first, as Intel orders them. */
  levels: TcbLevel[];
}

export interface QeIdentity {
  id: string;
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  tcbEvaluationDataNumber: number;
  miscSelect: Uint8Array;
  miscSelectMask: Uint8Array;
  attributes: Uint8Array;
  attributesMask: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  levels: IsvLevel[];
}

/** A PCS document with the exact bytes its signature covers. */
export interface Signed<T> {
  body: T;
  /** The inner JSON object's bytes, as they appeared in the response. */
  signed: Uint8Array;
  /** ECDSA P-256 r‖s (64 bytes, big-endian). */
  signature: Uint8Array;
}

function refuse(what: string, message: string): never {
  throw new AttestationError("collateral", `${what}: ${message}`, what);
}

// ---- the byte-exact JSON member scan -------------------------------------------------------

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length && WS.has(b[i])) i++;
  return i;
}

/** Index just past the string that starts at `i` (at its opening quote). */
function skipString(b: Uint8Array, i: number, what: string): number {
  for (i++; i < b.length; i++) {
    if (b[i] === BACKSLASH) i++;
    else if (b[i] === QUOTE) return i + 1;
  }
  return refuse(what, "unterminated string");
}

/** Index just past the JSON value that starts at `i`; structure only (JSON.parse validates). */
function skipValue(b: Uint8Array, i: number, what: string): number {
  if (b[i] === QUOTE) return skipString(b, i, what);
  if (b[i] === 0x7b || b[i] === 0x5b) {
    let depth = 0;
    for (; i < b.length; i++) {
      const c = b[i];
      if (c === QUOTE) i = skipString(b, i, what) - 1;
      else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (--depth === 0) return i + 1;
      }
    }
    return refuse(what, "unterminated object or array");
  }
  const start = i;
  while (i < b.length && !WS.has(b[i]) && b[i] !== 0x2c && b[i] !== 0x7d && b[i] !== 0x5d) i++;
  if (i === start) refuse(what, `no JSON value at byte ${start}`);
  return i;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

function text(bytes: Uint8Array, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    return refuse(what, "not UTF-8 text");
  }
}

/**
 * The members of the top-level JSON object in `bytes`, each with the byte span of its value.
 * The whole document must be valid JSON; a repeated key is refused.
 */
export function topLevelMembers(
  bytes: Uint8Array,
  what: string,
): Map<string, { start: number; end: number }> {
  try {
    JSON.parse(text(bytes, what));
  } catch (e) {
    if (e instanceof AttestationError) throw e;
    refuse(what, `not JSON (${e instanceof Error ? e.message : e})`);
  }
  const members = new Map<string, { start: number; end: number }>();
  let i = skipWs(bytes, 0);
  if (bytes[i] !== 0x7b) refuse(what, "not a JSON object");
  i = skipWs(bytes, i + 1);
  while (bytes[i] !== 0x7d) {
    const keyEnd = skipString(bytes, i, what);
    const key = JSON.parse(text(bytes.subarray(i, keyEnd), what)) as string;
    i = skipWs(bytes, skipWs(bytes, keyEnd) + 1); // past the ':'
    const end = skipValue(bytes, i, what);
    if (members.has(key)) refuse(what, `key "${key}" appears twice`);
    members.set(key, { start: i, end });
    i = skipWs(bytes, end);
    if (bytes[i] === 0x2c) i = skipWs(bytes, i + 1);
  }
  return members;
}

/**
 * Cuts `{"<key>": {...}, "signature": "<hex>"}` into the signed bytes of the inner object, its
 * decoded value and the 64-byte signature.
 */
export function signedMember(
  bytes: Uint8Array,
  key: string,
  what: string,
): { signed: Uint8Array; value: unknown; signature: Uint8Array } {
  const members = topLevelMembers(bytes, what);
  const span = members.get(key);
  const sig = members.get("signature");
  if (!span || !sig) refuse(what, `expected the keys "${key}" and "signature"`);
  const signed = bytes.subarray(span.start, span.end);
  const value = JSON.parse(text(signed, what));
  const signature = hexField(
    JSON.parse(text(bytes.subarray(sig.start, sig.end), what)),
    64,
    what,
    "signature",
  );
  return { signed, value, signature };
}

// ---- typed decoding of the documents --------------------------------------------------------

type Json = Record<string, unknown>;

function object(v: unknown, what: string, field: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    refuse(what, `${field} is not an object`);
  }
  return v as Json;
}

function array(v: unknown, what: string, field: string): unknown[] {
  if (!Array.isArray(v)) refuse(what, `${field} is not an array`);
  return v;
}

function uint(v: unknown, what: string, field: string, max = 0xffff): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    refuse(what, `${field} is not an integer in 0..${max}: ${JSON.stringify(v)}`);
  }
  return v;
}

function str(v: unknown, what: string, field: string): string {
  if (typeof v !== "string") refuse(what, `${field} is not a string`);
  return v;
}

function hexField(v: unknown, length: number, what: string, field: string): Uint8Array {
  const s = str(v, what, field);
  if (s.length !== 2 * length || /[^0-9a-fA-F]/.test(s)) {
    refuse(what, `${field} is not ${length} bytes of hex: "${s.slice(0, 40)}"`);
  }
  return fromHex(s);
}

/** RFC 3339 UTC time as PCS writes it ("2025-06-19T10:16:03Z"). */
function date(v: unknown, what: string, field: string): Date {
  const s = str(v, what, field);
  const d = new Date(s);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s) || Number.isNaN(d.getTime())) {
    refuse(what, `${field} is not a UTC date: "${s}"`);
  }
  return d;
}

function status(v: unknown, what: string, field: string): TcbStatus {
  const s = str(v, what, field);
  if (!(TCB_STATUSES as readonly string[]).includes(s)) {
    refuse(what, `${field} "${s}" is not a TCB status`);
  }
  return s as TcbStatus;
}

function advisories(v: unknown, what: string, field: string): string[] {
  if (v === undefined) return [];
  return array(v, what, field).map((a, i) => str(a, what, `${field}[${i}]`));
}

function isvLevels(v: unknown, what: string, field: string): IsvLevel[] {
  return array(v, what, field).map((l, i) => {
    const f = `${field}[${i}]`;
    const level = object(l, what, f);
    return {
      isvSvn: uint(object(level.tcb, what, `${f}.tcb`).isvsvn, what, `${f}.tcb.isvsvn`),
      tcbDate: str(level.tcbDate, what, `${f}.tcbDate`),
      status: status(level.tcbStatus, what, `${f}.tcbStatus`),
      advisoryIds: advisories(level.advisoryIDs, what, `${f}.advisoryIDs`),
    };
  });
}

function svnList(v: unknown, what: string, field: string): number[] {
  const list = array(v, what, field);
  if (list.length !== 16) refuse(what, `${field} has ${list.length} components, not 16`);
  return list.map((c, i) =>
    uint(object(c, what, `${field}[${i}]`).svn, what, `${field}[${i}].svn`, 255)
  );
}

function tcbLevel(l: unknown, version: number, what: string, f: string): TcbLevel {
  const level = object(l, what, f);
  const tcb = object(level.tcb, what, `${f}.tcb`);
  const common = {
    pceSvn: uint(tcb.pcesvn, what, `${f}.tcb.pcesvn`),
    tcbDate: str(level.tcbDate, what, `${f}.tcbDate`),
    status: status(level.tcbStatus, what, `${f}.tcbStatus`),
    advisoryIds: advisories(level.advisoryIDs, what, `${f}.advisoryIDs`),
  };
  if (version === 2) {
    const sgxComponents = Array.from({ length: 16 }, (_, i) => {
      const name = `sgxtcbcomp${String(i + 1).padStart(2, "0")}svn`;
      return uint(tcb[name], what, `${f}.tcb.${name}`, 255);
    });
    return { sgxComponents, ...common };
  }
  const tdx = tcb.tdxtcbcomponents;
  return {
    sgxComponents: svnList(tcb.sgxtcbcomponents, what, `${f}.tcb.sgxtcbcomponents`),
    ...(tdx === undefined
      ? {}
      : { tdxComponents: svnList(tdx, what, `${f}.tcb.tdxtcbcomponents`) }),
    ...common,
  };
}

function tdxModule(v: unknown, what: string, field: string): TdxModule {
  const m = object(v, what, field);
  return {
    mrSigner: hexField(m.mrsigner, 48, what, `${field}.mrsigner`),
    attributes: hexField(m.attributes, 8, what, `${field}.attributes`),
    attributesMask: hexField(m.attributesMask, 8, what, `${field}.attributesMask`),
  };
}

/** Decodes a `tcbInfo` object (v2: SGX; v3: SGX or TDX). */
export function decodeTcbInfo(v: unknown): TcbInfo {
  const what = "TCB info";
  const t = object(v, what, "tcbInfo");
  const version = uint(t.version, what, "version");
  if (version !== 2 && version !== 3) refuse(what, `version ${version} is not supported (2 or 3)`);
  const id = version === 2 ? "SGX" : str(t.id, what, "id");
  if (id !== "SGX" && id !== "TDX") refuse(what, `id "${id}" is neither SGX nor TDX`);
  const levels = array(t.tcbLevels, what, "tcbLevels").map((l, i) =>
    tcbLevel(l, version, what, `tcbLevels[${i}]`)
  );
  if (levels.length === 0) refuse(what, "tcbLevels is empty");
  if (id === "TDX") {
    if (t.tdxModule === undefined) refuse(what, "a TDX TCB info has no tdxModule");
    const i = levels.findIndex((l) => !l.tdxComponents);
    if (i >= 0) refuse(what, `tcbLevels[${i}] of a TDX TCB info has no tdxtcbcomponents`);
  }
  const identities = t.tdxModuleIdentities === undefined
    ? []
    : array(t.tdxModuleIdentities, what, "tdxModuleIdentities").map((m, i) => {
      const f = `tdxModuleIdentities[${i}]`;
      const o = object(m, what, f);
      return {
        id: str(o.id, what, `${f}.id`),
        ...tdxModule(o, what, f),
        levels: isvLevels(o.tcbLevels, what, `${f}.tcbLevels`),
      };
    });
  return {
    id,
    version,
    issueDate: date(t.issueDate, what, "issueDate"),
    nextUpdate: date(t.nextUpdate, what, "nextUpdate"),
    fmspc: hexField(t.fmspc, 6, what, "fmspc"),
    pceId: hexField(t.pceId, 2, what, "pceId"),
    tcbType: uint(t.tcbType, what, "tcbType"),
    tcbEvaluationDataNumber: uint(
      t.tcbEvaluationDataNumber,
      what,
      "tcbEvaluationDataNumber",
      2 ** 32,
    ),
    ...(t.tdxModule === undefined ? {} : { tdxModule: tdxModule(t.tdxModule, what, "tdxModule") }),
    tdxModuleIdentities: identities,
    levels,
  };
}

/** Decodes an `enclaveIdentity` object (v2: QE, QVE or TD_QE). */
export function decodeQeIdentity(v: unknown): QeIdentity {
  const what = "QE identity";
  const q = object(v, what, "enclaveIdentity");
  const version = uint(q.version, what, "version");
  if (version !== 2) refuse(what, `version ${version} is not supported (2)`);
  const levels = isvLevels(q.tcbLevels, what, "tcbLevels");
  if (levels.length === 0) refuse(what, "tcbLevels is empty");
  return {
    id: str(q.id, what, "id"),
    version,
    issueDate: date(q.issueDate, what, "issueDate"),
    nextUpdate: date(q.nextUpdate, what, "nextUpdate"),
    tcbEvaluationDataNumber: uint(
      q.tcbEvaluationDataNumber,
      what,
      "tcbEvaluationDataNumber",
      2 ** 32,
    ),
    miscSelect: hexField(q.miscselect, 4, what, "miscselect"),
    miscSelectMask: hexField(q.miscselectMask, 4, what, "miscselectMask"),
    attributes: hexField(q.attributes, 16, what, "attributes"),
    attributesMask: hexField(q.attributesMask, 16, what, "attributesMask"),
    mrSigner: hexField(q.mrsigner, 32, what, "mrsigner"),
    isvProdId: uint(q.isvprodid, what, "isvprodid"),
    levels,
  };
}

/** A PCS `/tcb` response body. */
export function parseTcbInfoResponse(bytes: Uint8Array): Signed<TcbInfo> {
  const { signed, value, signature } = signedMember(bytes, "tcbInfo", "TCB info");
  return { body: decodeTcbInfo(value), signed, signature };
}

/** A PCS `/qe/identity` response body. */
export function parseQeIdentityResponse(bytes: Uint8Array): Signed<QeIdentity> {
  const { signed, value, signature } = signedMember(bytes, "enclaveIdentity", "QE identity");
  return { body: decodeQeIdentity(value), signed, signature };
}

/**
 * A TCB info or QE identity given as the exact signed JSON text and a hex signature, as the
 * dcap-qvl collateral bundle carries them.
 */
export function signedFromText<T>(
  json: string,
  signatureHex: string,
  decode: (v: unknown) => T,
  what: string,
): Signed<T> {
  const signed = utf8(json);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    refuse(what, `not JSON (${e instanceof Error ? e.message : e})`);
  }
  return { body: decode(value), signed, signature: hexField(signatureHex, 64, what, "signature") };
}

// ---- collateral files, recognised by content ------------------------------------------------

/** Everything given to verify one quote's platform: PCS documents, issuer chains and CRLs. */
export interface TdxCollateral {
  tcbInfos: Signed<TcbInfo>[];
  qeIdentities: Signed<QeIdentity>[];
  /** Issuer chains (TCB Signing, PCK CA, root) and any other certificates given. */
  certificates: Certificate[];
  crls: Crl[];
}

const BUNDLE_KEYS = ["tcb_info", "tcb_info_signature", "qe_identity", "qe_identity_signature"];
const BUNDLE_CHAINS = [
  "tcb_info_issuer_chain",
  "qe_identity_issuer_chain",
  "pck_crl_issuer_chain",
  "pck_certificate_chain",
];

/**
 * Sorts collateral files by what they are (vectors README "TDX collateral"): a PCS TCB info or
 * QE identity response, a dcap-qvl collateral bundle, DER CRLs or certificates, PEM or Intel's
 * URL-encoded PEM issuer chains. `names` only label messages; content decides.
 */
export function readCollateral(
  files: readonly Uint8Array[],
  names: readonly string[] = [],
): TdxCollateral {
  const out: TdxCollateral = { tcbInfos: [], qeIdentities: [], certificates: [], crls: [] };
  files.forEach((bytes, i) => addFile(out, bytes, names[i] ?? `collateral file #${i + 1}`));
  return out;
}

function addFile(out: TdxCollateral, bytes: Uint8Array, name: string): void {
  const first = bytes[skipWs(bytes, 0)];
  if (first === 0x7b) return addJson(out, bytes, name);
  if (bytes[0] === 0x30) {
    // DER: a CRL (TBSCertList's third field is a time) or else a certificate.
    let crl: Crl;
    try {
      crl = parseCrl(bytes, name);
    } catch (crlError) {
      try {
        out.certificates.push(parseCertificate(bytes, name));
        return;
      } catch {
        throw crlError;
      }
    }
    out.crls.push(crl);
    return;
  }
  const body = text(bytes, name);
  if (/X509(%20| )CRL/.test(body)) out.crls.push(...parseCrls(bytes, name));
  else if (/CERTIFICATE/.test(body)) out.certificates.push(...parseCertificates(bytes, name));
  else refuse(name, "is neither PCS JSON, a DER CRL or certificate, nor a PEM chain");
}

function addJson(out: TdxCollateral, bytes: Uint8Array, name: string): void {
  const members = topLevelMembers(bytes, name);
  if (members.has("tcbInfo")) out.tcbInfos.push(parseTcbInfoResponse(bytes));
  else if (members.has("enclaveIdentity")) out.qeIdentities.push(parseQeIdentityResponse(bytes));
  else if (BUNDLE_KEYS.every((k) => members.has(k))) {
    addBundle(out, JSON.parse(text(bytes, name)), name);
  } else {
    refuse(name, `JSON with keys ${[...members.keys()].join(", ")} is no TDX collateral`);
  }
}

/** dcap-qvl `QuoteCollateralV3` JSON: signed texts, hex signatures and CRLs, PEM chains. */
function addBundle(out: TdxCollateral, b: Json, name: string): void {
  const signed = <T>(key: string, decode: (v: unknown) => T, what: string) =>
    signedFromText(
      str(b[key], name, key),
      str(b[`${key}_signature`], name, `${key}_signature`),
      decode,
      what,
    );
  out.tcbInfos.push(signed("tcb_info", decodeTcbInfo, "TCB info"));
  out.qeIdentities.push(signed("qe_identity", decodeQeIdentity, "QE identity"));
  for (const key of BUNDLE_CHAINS) {
    if (b[key] !== undefined) {
      out.certificates.push(...parseCertificates(utf8(str(b[key], name, key)), `${name} ${key}`));
    }
  }
  for (const key of ["root_ca_crl", "pck_crl"]) {
    if (b[key] === undefined) continue;
    const hex = str(b[key], name, key);
    if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) refuse(name, `${key} is not hex DER`);
    out.crls.push(parseCrl(fromHex(hex), `${name} ${key}`));
  }
}

// ---- Intel PCS (API v4) -------------------------------------------------------------------

export const PCS = "https://api.trustedservices.intel.com";
/** The root CA's CRL; signed by the root, so it comes with no issuer chain. */
export const ROOT_CA_CRL_URL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

/** TDX TCB info of a platform (PCS API v4 "Get TDX TCB Info"); FMSPC in upper-case hex. */
export function tcbInfoUrl(fmspc: Uint8Array): string {
  return `${PCS}/tdx/certification/v4/tcb?fmspc=${toHex(fmspc).toUpperCase()}`;
}

/** Identity of the TD quoting enclave (PCS API v4 "Get TDX QE Identity"). */
export function qeIdentityUrl(): string {
  return `${PCS}/tdx/certification/v4/qe/identity`;
}

/** The CRL of a PCK CA, DER (PCS API v4 "Get PCK Cert CRL"). */
export function pckCrlUrl(ca: PckCa): string {
  return `${PCS}/sgx/certification/v4/pckcrl?ca=${ca}&encoding=der`;
}

/** Response headers that carry each document's issuer chain (URL-encoded PEM), newest first. */
const CHAIN_HEADERS: Record<string, string[]> = {
  "TCB info": ["tcb-info-issuer-chain", "sgx-tcb-info-issuer-chain"],
  "QE identity": ["sgx-enclave-identity-issuer-chain"],
  "PCK CRL": ["sgx-pck-crl-issuer-chain"],
};

/**
 * Everything `verifyEvidence` needs beside a TDX quote, from Intel PCS through `source` (the
 * network, an on-disk cache, or an offline mirror: `../collateral.ts`): TCB info for the PCK's
 * FMSPC, the TD_QE identity, the PCK CA's CRL and the root CA CRL, each issuer chain as a file of
 * its own. Nothing is verified here. `stale` is true when a cache served an entry past its age
 * because the source failed.
 */
export async function fetchPcsCollateral(
  source: CollateralSource,
  quote: Quote,
): Promise<{ files: { name: string; bytes: Uint8Array }[]; stale: boolean }> {
  const [leaf, ca] = pckCertificates(quote);
  const requests: [string, string | undefined][] = [
    [tcbInfoUrl(pckExtensions(leaf).fmspc), "TCB info"],
    [qeIdentityUrl(), "QE identity"],
    [pckCrlUrl(pckCa(ca)), "PCK CRL"],
    [ROOT_CA_CRL_URL, undefined],
  ];
  const fetched = await Promise.all(requests.map(([url]) => source.get(url)));
  const files: { name: string; bytes: Uint8Array }[] = [];
  requests.forEach(([url, what], i) => {
    const { body, headers } = fetched[i];
    files.push({ name: url, bytes: body });
    if (!what) return;
    const header = CHAIN_HEADERS[what].find((h) => headers[h] !== undefined);
    if (!header) {
      throw new CollateralError(
        url,
        `the ${what} response has no ${CHAIN_HEADERS[what][0]} header`,
      );
    }
    files.push({ name: `${url} (${header})`, bytes: utf8(headers[header]) });
  });
  return { files, stale: fetched.some((f) => f.stale === true) };
}
