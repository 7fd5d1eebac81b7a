/**
 * Intel TDX quotes (DCAP ECDSA quote format, versions 4 and 5) ⇄ typed structs.
 *
 * Layouts: Intel "TDX DCAP Quote Generation Library and Quote Verification Library" Appendix A
 * (quote format v4 and v5), and `shared/specs/attestation.md` (c), cross-checked with
 * go-tdx-guest `abi/abi.go` and dcap-qvl `src/quote.rs`. All integers are little-endian.
 *
 * ```
 * header 0x30 | [v5: body_type u16, body_size u32] | TD report body (TD10 584 / TD15 648 bytes)
 *   ^ signed by the attestation key: header .. end of body
 * sig_data_len u32 | signature r‖s 64 | attestation key x‖y 64
 *   | cert type u16 = 6 | cert size u32 | QE report 384 | QE report signature 64
 *   | qe_auth_len u16 | qe_auth_data | inner type u16 = 5 | inner size u32 | PCK chain PEM
 * ```
 *
 * Every length comes from the structure: the quote ends where its declared signature data ends,
 * each nested size must equal the sum of its parts exactly (a QE auth-data size that leaves bytes
 * unaccounted for is `malformed`), and bytes after the quote (file padding) are ignored. Sizes
 * are checked before the types they frame, so a shifted field reads as `malformed`. A header
 * that declares a version, key type, TEE type, body type or certification data type other than
 * the ones above is `unsupported`. Nothing here checks a signature: that is `verify.ts`.
 */
import { AttestationError } from "../errors.ts";
import { concat } from "../../protocol/bytes.ts";

export const HEADER_SIZE = 0x30;
export const TD10_BODY_SIZE = 584;
export const TD15_BODY_SIZE = 648;
export const QE_REPORT_SIZE = 384;
/** att_key_type: ECDSA-256 with P-256. */
export const ATT_KEY_ECDSA_P256 = 2;
/** tee_type of a TD quote (0x00 is SGX). */
export const TEE_TYPE_TDX = 0x81;
/** v5 body types (Appendix A.3.2); 1 is an SGX enclave report. */
export const BODY_TD10 = 2;
export const BODY_TD15 = 3;
/** Certification data types (Appendix A.3.10). */
export const CERT_PCK_CHAIN = 5;
export const CERT_QE_REPORT = 6;

export interface QuoteHeader {
  version: 4 | 5;
  attKeyType: number;
  teeType: number;
  /** Bytes 0x08..0x0B; qe_svn/pce_svn in the SGX v3 layout, reserved for TDX. */
  reserved: Uint8Array;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
}

/** TD report body: TDREPORT's TDINFO and TEE_TCB_INFO fields as the quote carries them. */
export interface TdReport {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmrs: [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  reportData: Uint8Array;
  /** TD15 only (TDX module 1.5). */
  teeTcbSvn2?: Uint8Array;
  mrServiceTd?: Uint8Array;
}

/** SGX REPORT_BODY of the quoting enclave (SGX SDK `sgx_report_body_t`, 384 bytes). */
export interface QeReport {
  cpuSvn: Uint8Array;
  /** The 4 MISCSELECT bytes as stored (little-endian u32). */
  miscSelect: Uint8Array;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array;
  /** All 384 bytes: what the PCK signs. */
  raw: Uint8Array;
}

export interface Quote {
  header: QuoteHeader;
  /** TD10 for every v4 quote; v5 says which. */
  bodyType: typeof BODY_TD10 | typeof BODY_TD15;
  body: TdReport;
  /** Header through body (v5: with body type and size): what the attestation key signs. */
  signed: Uint8Array;
  /** ECDSA P-256 r‖s, big-endian. */
  signature: Uint8Array;
  /** Uncompressed P-256 point x‖y without the 0x04 prefix. */
  attestationKey: Uint8Array;
  qeReport: QeReport;
  /** ECDSA P-256 r‖s by the PCK key over `qeReport.raw`. */
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** Certification data type 5: the PCK leaf, the PCK CA and the root as PEM text bytes. */
  pckChainPem: Uint8Array;
  /** Bytes of the input the quote occupies; anything after is padding. */
  length: number;
}

/** Where each part of the signature data starts in an encoded quote (tests, error messages). */
export function offsets(quote: Pick<Quote, "signed" | "qeAuthData">): {
  sigDataLen: number;
  signature: number;
  attestationKey: number;
  certData: number;
  qeReport: number;
  qeReportSignature: number;
  qeAuthData: number;
  pckChain: number;
} {
  const sigDataLen = quote.signed.length;
  const signature = sigDataLen + 4;
  const attestationKey = signature + 64;
  const certData = attestationKey + 64;
  const qeReport = certData + 6;
  const qeReportSignature = qeReport + QE_REPORT_SIZE;
  const qeAuthData = qeReportSignature + 64 + 2;
  const pckChain = qeAuthData + quote.qeAuthData.length + 6;
  return {
    sigDataLen,
    signature,
    attestationKey,
    certData,
    qeReport,
    qeReportSignature,
    qeAuthData,
    pckChain,
  };
}

const hex = (n: number) => `0x${n.toString(16)}`;

function malformed(message: string, offset: number): never {
  throw new AttestationError(
    "malformed",
    `${message} (offset ${hex(offset)})`,
    `offset ${hex(offset)}`,
  );
}

function unsupported(message: string, field: string): never {
  throw new AttestationError("unsupported", message, field);
}

/**
 * Certification data types 1-7 are defined (Appendix A.3.10: 1-5 PCK identifiers and chains,
 * 6 QE report data, 7 platform manifest); a defined one other than `expected` is `unsupported`,
 * any other value is not a declaration at all, so `malformed`. Called after the sizes agreed.
 */
function certDataType(type: number, expected: number, what: string, at: number): void {
  if (type === expected) return;
  if (type < 1 || type > 7) malformed(`${what} type ${type} is not a defined type (1-7)`, at);
  unsupported(
    `${what} type ${type} is not supported (only ${expected}: ${
      expected === CERT_PCK_CHAIN ? "a PCK chain" : "QE report certification data"
    })`,
    "cert_data_type",
  );
}

/** Bounds-checked little-endian reader over the quote; it never reads past `end`. */
class Reader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array, public at = 0, public end = bytes.length) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (this.at + n > this.end) {
      malformed(
        `${what} needs ${n} bytes but only ${Math.max(0, this.end - this.at)} remain`,
        this.at,
      );
    }
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const v = this.bytes.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
}

function parseBody(r: Reader, type: number): TdReport {
  const take = (n: number, name: string) => r.take(n, `TD report ${name}`);
  const body: TdReport = {
    teeTcbSvn: take(16, "tee_tcb_svn"),
    mrSeam: take(48, "mrseam"),
    mrSignerSeam: take(48, "mrsignerseam"),
    seamAttributes: take(8, "seam_attributes"),
    tdAttributes: take(8, "td_attributes"),
    xfam: take(8, "xfam"),
    mrTd: take(48, "mrtd"),
    mrConfigId: take(48, "mrconfigid"),
    mrOwner: take(48, "mrowner"),
    mrOwnerConfig: take(48, "mrownerconfig"),
    rtmrs: [take(48, "rtmr0"), take(48, "rtmr1"), take(48, "rtmr2"), take(48, "rtmr3")],
    reportData: take(64, "report_data"),
  };
  if (type === BODY_TD15) {
    body.teeTcbSvn2 = take(16, "tee_tcb_svn_2");
    body.mrServiceTd = take(48, "mr_servicetd");
  }
  return body;
}

/** Decodes the 384-byte SGX report body of the quoting enclave. */
export function parseQeReport(raw: Uint8Array): QeReport {
  if (raw.length !== QE_REPORT_SIZE) malformed(`QE report is ${raw.length} bytes, not 384`, 0);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return {
    cpuSvn: raw.subarray(0, 16),
    miscSelect: raw.subarray(16, 20),
    attributes: raw.subarray(48, 64),
    mrEnclave: raw.subarray(64, 96),
    mrSigner: raw.subarray(128, 160),
    isvProdId: view.getUint16(256, true),
    isvSvn: view.getUint16(258, true),
    reportData: raw.subarray(320, 384),
    raw,
  };
}

/**
 * Parses a TDX quote. The input is copied, so the result does not change if the caller later
 * reuses its buffer. Throws `AttestationError` `malformed` or `unsupported`.
 */
export function parseQuote(input: Uint8Array): Quote {
  const bytes = input.slice();
  const r = new Reader(bytes);
  r.need(HEADER_SIZE, "quote header");
  const version = r.u16("version");
  if (version !== 4 && version !== 5) {
    unsupported(`TDX quote version ${version} is not supported (only 4 and 5)`, "version");
  }
  const attKeyType = r.u16("att_key_type");
  if (attKeyType !== ATT_KEY_ECDSA_P256) {
    unsupported(`attestation key type ${attKeyType} is not ECDSA P-256 (2)`, "att_key_type");
  }
  const teeType = r.u32("tee_type");
  if (teeType !== TEE_TYPE_TDX) {
    unsupported(`TEE type ${hex(teeType)} is not TDX (0x81)`, "tee_type");
  }
  const header: QuoteHeader = {
    version,
    attKeyType,
    teeType,
    reserved: r.take(4, "header reserved"),
    qeVendorId: r.take(16, "qe_vendor_id"),
    userData: r.take(20, "user_data"),
  };

  let bodyType: number = BODY_TD10;
  if (version === 5) {
    const typeAt = r.at;
    bodyType = r.u16("body_type");
    const bodySize = r.u32("body_size");
    if (bodyType !== BODY_TD10 && bodyType !== BODY_TD15) {
      unsupported(
        `v5 body type ${bodyType} is not a TD report (2 = TDX 1.0, 3 = TDX 1.5)` +
          (bodyType === 1 ? ": an SGX enclave report in a TDX quote" : ""),
        "body_type",
      );
    }
    const expected = bodyType === BODY_TD15 ? TD15_BODY_SIZE : TD10_BODY_SIZE;
    if (bodySize !== expected) {
      malformed(
        `body_size ${bodySize} does not match body type ${bodyType} (${expected})`,
        typeAt + 2,
      );
    }
  }
  const body = parseBody(r, bodyType);
  const signed = bytes.subarray(0, r.at);

  const sigLenAt = r.at;
  const sigDataLen = r.u32("sig_data_len");
  r.need(sigDataLen, `signature data of declared length ${sigDataLen}`);
  const end = r.at + sigDataLen;
  r.end = end;
  const signature = r.take(64, "quote signature");
  const attestationKey = r.take(64, "attestation key");
  const certTypeAt = r.at;
  const certType = r.u16("certification data type");
  const certSizeAt = r.at;
  const certSize = r.u32("certification data size");
  if (134 + certSize !== sigDataLen) {
    malformed(
      `sig_data_len ${sigDataLen} disagrees with its content: 128 bytes of signature and key, ` +
        `6 of certification header and ${certSize} of certification data make ${134 + certSize}`,
      sigLenAt,
    );
  }
  certDataType(certType, CERT_QE_REPORT, "certification data", certTypeAt);
  const qeReport = parseQeReport(r.take(QE_REPORT_SIZE, "QE report"));
  const qeReportSignature = r.take(64, "QE report signature");
  const authLenAt = r.at;
  const authLen = r.u16("qe_auth_data length");
  const qeAuthData = r.take(authLen, "qe_auth_data");
  const innerTypeAt = r.at;
  const innerType = r.u16("inner certification data type");
  const innerSize = r.u32("PCK chain size");
  if (r.at + innerSize !== end) {
    malformed(
      `certification data size ${certSize} disagrees with its content: QE report, signature, ` +
        `qe_auth_data (${authLen} bytes at ${hex(authLenAt + 2)}) and a PCK chain of ` +
        `${innerSize} bytes make ${certSize + r.at + innerSize - end}`,
      certSizeAt,
    );
  }
  certDataType(innerType, CERT_PCK_CHAIN, "inner certification data", innerTypeAt);
  const pckChainPem = r.take(innerSize, "PCK chain");
  return {
    header,
    bodyType: bodyType as Quote["bodyType"],
    body,
    signed,
    signature,
    attestationKey,
    qeReport,
    qeReportSignature,
    qeAuthData,
    pckChainPem,
    length: end,
  };
}

function u16(v: number): Uint8Array {
  return new Uint8Array([v & 0xff, v >>> 8]);
}

function u32(v: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, v, true);
  return out;
}

function encodeBody(b: TdReport, type: number): Uint8Array {
  const parts = [
    b.teeTcbSvn,
    b.mrSeam,
    b.mrSignerSeam,
    b.seamAttributes,
    b.tdAttributes,
    b.xfam,
    b.mrTd,
    b.mrConfigId,
    b.mrOwner,
    b.mrOwnerConfig,
    ...b.rtmrs,
    b.reportData,
  ];
  if (type === BODY_TD15) {
    if (!b.teeTcbSvn2 || !b.mrServiceTd) {
      throw new TypeError("a TD15 body needs teeTcbSvn2 and mrServiceTd");
    }
    parts.push(b.teeTcbSvn2, b.mrServiceTd);
  }
  const out = concat(...parts);
  const size = type === BODY_TD15 ? TD15_BODY_SIZE : TD10_BODY_SIZE;
  if (out.length !== size) {
    throw new TypeError(`TD report body fields make ${out.length} bytes, not ${size}`);
  }
  return out;
}

/**
 * Encodes the header and body: the bytes the attestation key signs. Used to build test quotes
 * and by `encodeQuote`.
 */
export function encodeSigned(
  header: QuoteHeader,
  bodyType: Quote["bodyType"],
  body: TdReport,
): Uint8Array {
  const h = concat(
    u16(header.version),
    u16(header.attKeyType),
    u32(header.teeType),
    header.reserved,
    header.qeVendorId,
    header.userData,
  );
  if (h.length !== HEADER_SIZE) throw new TypeError(`header fields make ${h.length} bytes, not 48`);
  const b = encodeBody(body, bodyType);
  if (header.version === 4) {
    if (bodyType !== BODY_TD10) throw new TypeError("a v4 quote carries a TD10 body");
    return concat(h, b);
  }
  return concat(h, u16(bodyType), u32(b.length), b);
}

/** Encodes a quote back to bytes; `encodeQuote(parseQuote(q))` is `q` up to its length. */
export function encodeQuote(
  q: Omit<Quote, "signed" | "length" | "qeReport"> & { qeReport: { raw: Uint8Array } },
): Uint8Array {
  const signed = encodeSigned(q.header, q.bodyType, q.body);
  const certData = concat(
    q.qeReport.raw,
    q.qeReportSignature,
    u16(q.qeAuthData.length),
    q.qeAuthData,
    u16(CERT_PCK_CHAIN),
    u32(q.pckChainPem.length),
    q.pckChainPem,
  );
  const sigData = concat(
    q.signature,
    q.attestationKey,
    u16(CERT_QE_REPORT),
    u32(certData.length),
    certData,
  );
  return concat(signed, u32(sigData.length), sigData);
}
