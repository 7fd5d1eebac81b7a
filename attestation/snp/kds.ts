/**
 * What AMD's Key Distribution Service puts in and around its certificates: the VCEK/VLEK X.509
 * extensions (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface
 * Specification" #57230 §3.1 Table 8, and "VLEK" #58369; go-sev-guest `kds/kds.go`), product
 * names, the names of the CA certificates, and the KDS URLs (#57230 §4).
 *
 * Extension values are DER (INTEGER SPLs, IA5String productName/cspID), except hwID, which KDS
 * writes as the raw 64 bytes (8 on Turin) in the extnValue; a DER OCTET STRING around it (seen in
 * trustee's "new" test VCEK) is accepted too. `productName` carries a stepping suffix on Milan
 * ("Milan-B0"); the product line is the part before the dash.
 *
 * Emulated chains (`../emulated.ts`) name their CAs `ARK-Emulated`, `SEV-Emulated` and
 * `SEV-VLEK-Emulated` and carry the real product line in the VCEK, so the same chain rules apply
 * and nothing can mistake the emulated root for AMD's.
 */
import { AttestationError } from "../errors.ts";
import { DerError, readOne, smallInt, string, TAG } from "../der.ts";
import { type Certificate, commonName } from "../x509.ts";
import { type Product, PRODUCTS } from "../policy.ts";
import type { SigningKey, Tcb } from "./abi.ts";
import { toHex } from "../../protocol/bytes.ts";

const AMD = "1.3.6.1.4.1.3704.1";
export const KDS_OID = {
  structVersion: `${AMD}.1`,
  productName: `${AMD}.2`,
  blSpl: `${AMD}.3.1`,
  teeSpl: `${AMD}.3.2`,
  snpSpl: `${AMD}.3.3`,
  ucodeSpl: `${AMD}.3.8`,
  fmcSpl: `${AMD}.3.9`,
  hwId: `${AMD}.4`,
  cspId: `${AMD}.5`,
} as const;

/** The name every emulated CA carries in place of the product line. */
export const EMULATED = "Emulated";

export interface EndorsementKey {
  cert: Certificate;
  kind: SigningKey;
  /** productName as written, e.g. "Milan-B0". */
  productName: string;
  product: Product;
  /** The SPLs the key was derived for; `fmc` on Turin only. */
  tcb: Tcb;
  /** VCEK only: the chip's hwID (64 bytes; 8 on Turin). */
  hwId?: Uint8Array;
  /** VLEK only: the cloud provider the key was issued to. */
  cspId?: string;
}

function bad(cert: Certificate, message: string): never {
  throw new AttestationError("chain", `${cert.label}: ${message}`, cert.label);
}

/** Whether a certificate is an AMD endorsement key (CN SEV-VCEK or SEV-VLEK). */
export function endorsementKind(cert: Certificate): SigningKey | undefined {
  const cn = commonName(cert.subject);
  return cn === "SEV-VCEK" ? "vcek" : cn === "SEV-VLEK" ? "vlek" : undefined;
}

/** Reads the KDS extensions of a VCEK or VLEK; anything missing or malformed is `chain`. */
export function readEndorsementKey(cert: Certificate): EndorsementKey {
  const kind = endorsementKind(cert);
  if (!kind) bad(cert, "is neither a VCEK nor a VLEK (subject CN)");
  if (cert.publicKey.kind !== "ec" || cert.publicKey.curve !== "P-384") {
    bad(cert, "public key is not an EC P-384 key");
  }
  const ext = (oid: string) => cert.extensions.get(oid)?.value;
  const der = (oid: string, name: string) => {
    const v = ext(oid);
    if (!v) bad(cert, `missing the ${name} extension (${oid})`);
    return v;
  };
  try {
    const productName = string(readOne(der(KDS_OID.productName, "productName"), TAG.IA5_STRING));
    const product = PRODUCTS.find((p) => productName === p || productName.startsWith(`${p}-`));
    if (!product) bad(cert, `unknown productName "${productName}"`);
    const spl = (oid: string, name: string) => smallInt(readOne(der(oid, name), TAG.INTEGER), name);
    const tcb: Tcb = {
      bl: spl(KDS_OID.blSpl, "blSPL"),
      tee: spl(KDS_OID.teeSpl, "teeSPL"),
      snp: spl(KDS_OID.snpSpl, "snpSPL"),
      ucode: spl(KDS_OID.ucodeSpl, "ucodeSPL"),
    };
    if (product === "Turin") tcb.fmc = spl(KDS_OID.fmcSpl, "fmcSPL");
    const key: EndorsementKey = { cert, kind, productName, product, tcb };
    if (kind === "vcek") key.hwId = hwId(cert, der(KDS_OID.hwId, "hwID"), product);
    else {
      const csp = ext(KDS_OID.cspId);
      if (csp) key.cspId = string(readOne(csp, TAG.IA5_STRING), "cspID");
    }
    return key;
  } catch (e) {
    if (e instanceof DerError) bad(cert, `bad KDS extension: ${e.message}`);
    throw e;
  }
}

function hwId(cert: Certificate, value: Uint8Array, product: Product): Uint8Array {
  const size = product === "Turin" ? 8 : 64;
  if (value.length === size) return value;
  if (value.length === size + 2 && value[0] === TAG.OCTET_STRING) {
    return readOne(value, TAG.OCTET_STRING, "hwID").value;
  }
  bad(cert, `hwID is ${value.length} bytes, expected ${size} for ${product}`);
}

/** CN of the CA that issues this kind of key: `SEV-Milan`, `SEV-VLEK-Genoa`, `SEV-Emulated`… */
export function intermediateName(kind: SigningKey, product: Product | typeof EMULATED): string {
  return kind === "vcek" ? `SEV-${product}` : `SEV-VLEK-${product}`;
}

/** CN of the root of a product line: `ARK-Milan`, …, or `ARK-Emulated`. */
export function rootName(product: Product | typeof EMULATED): string {
  return `ARK-${product}`;
}

/** Whether a root certificate is an emulated secure processor's (never AMD hardware). */
export function isEmulatedRoot(cert: Certificate): boolean {
  return commonName(cert.subject) === rootName(EMULATED);
}

const KDS = "https://kdsintf.amd.com";

/** The VCEK of a chip at a TCB (#57230 §4.1; Turin uses the 8-byte hwID and adds fmcSPL). */
export function vcekUrl(product: Product, chipId: Uint8Array, tcb: Tcb): string {
  const two = (n: number | undefined) => String(n ?? 0).padStart(2, "0");
  const turin = product === "Turin";
  const id = toHex(turin ? chipId.subarray(0, 8) : chipId);
  const query = `${turin ? `fmcSPL=${two(tcb.fmc)}&` : ""}blSPL=${two(tcb.bl)}&teeSPL=${
    two(tcb.tee)
  }&snpSPL=${two(tcb.snp)}&ucodeSPL=${two(tcb.ucode)}`;
  return `${KDS}/vcek/v1/${product}/${id}?${query}`;
}

/** ASK (or ASVK) then ARK, PEM (#57230 §4.2). */
export function certChainUrl(product: Product, kind: SigningKey): string {
  return `${KDS}/${kind}/v1/${product}/cert_chain`;
}

/** The ARK-signed CRL of a product line (#57230 §4.3). */
export function crlUrl(product: Product, kind: SigningKey = "vcek"): string {
  return `${KDS}/${kind}/v1/${product}/crl`;
}
