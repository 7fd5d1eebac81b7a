/**
 * The PCK certificate of a TDX quote: the chain the quote carries (certification data type 5:
 * exactly the PCK leaf, its Platform or Processor CA and the Intel SGX Root CA, PEM, in that
 * order), which CA issued it, and the leaf's Intel SGX extension (OID 1.2.840.113741.1.13.1) with
 * the platform's FMSPC, PCE-ID and the TCB the PCK was issued for.
 *
 * Source: Intel "SGX PCK Certificate and Certificate Revocation List Profile Specification"
 * §3.5 (Intel SGX extensions), and `shared/specs/attestation.md` (c) item 6. The extension value
 * is a SEQUENCE of SEQUENCE { OID, value } in this order:
 *   .1 PPID OCTET STRING(16), .2 TCB SEQUENCE { .2.1…2.16 SGX TCB comp SVNs INTEGER,
 *   .2.17 PCESVN INTEGER, .2.18 CPUSVN OCTET STRING(16) }, .3 PCE-ID OCTET STRING(2),
 *   .4 FMSPC OCTET STRING(6), .5 SGX Type ENUMERATED, then optional platform entries (.6, .7).
 * Entries are found by OID (read with `../der.ts`), not position; each required one must appear
 * exactly once. Anything that does not decode is a `chain` refusal.
 */
import { AttestationError } from "../errors.ts";
import { DerError, expectTag, oid, readOne, sequence, smallInt, TAG, type Tlv } from "../der.ts";
import { type Certificate, commonName, parseCertificate, readPem } from "../x509.ts";
import type { Quote } from "./abi.ts";

export const SGX_EXTENSION_OID = "1.2.840.113741.1.13.1";
export const PCK_LEAF_NAME = "Intel SGX PCK Certificate";
/** The two PCK issuers, and the `ca` parameter of their PCS CRL. */
export const PCK_CAS = {
  "Intel SGX PCK Platform CA": "platform",
  "Intel SGX PCK Processor CA": "processor",
} as const;
export type PckCa = typeof PCK_CAS[keyof typeof PCK_CAS];

export interface PckExtensions {
  ppid: Uint8Array;
  /** SGX TCB components 1..16 (the level's `sgxtcbcomponents`). */
  sgxTcbComponents: number[];
  pceSvn: number;
  cpuSvn: Uint8Array;
  pceId: Uint8Array;
  fmspc: Uint8Array;
  /** 0 = Standard, 1 = Scalable, 2 = Scalable with integrity. */
  sgxType: number;
}

function bad(message: string): never {
  throw new AttestationError(
    "chain",
    `PCK certificate SGX extension: ${message}`,
    "pck.sgx-extension",
  );
}

/** The SEQUENCE { OID, value } entries of a SEQUENCE, keyed by the OID arc after `prefix`. */
function entries(node: Tlv, prefix: string, what: string): Map<string, Tlv> {
  const out = new Map<string, Tlv>();
  for (const item of sequence(node, what)) {
    const pair = sequence(item, `${what} entry`);
    if (pair.length !== 2) bad(`${what} holds an entry that is not SEQUENCE { OID, value }`);
    const id = oid(pair[0], `${what} entry OID`);
    if (!id.startsWith(`${prefix}.`)) bad(`${what} holds foreign OID ${id}`);
    const key = id.slice(prefix.length + 1);
    if (out.has(key)) bad(`${what} repeats OID ${id}`);
    out.set(key, pair[1]);
  }
  return out;
}

function octets(map: Map<string, Tlv>, key: string, length: number, name: string): Uint8Array {
  const v = map.get(key);
  if (!v) bad(`${name} (.${key}) is missing`);
  const bytes = expectTag(v, TAG.OCTET_STRING, name).value;
  if (bytes.length !== length) bad(`${name} is ${bytes.length} bytes, not ${length}`);
  return bytes;
}

function integer(
  map: Map<string, Tlv>,
  key: string,
  name: string,
  max: number,
  tag: number = TAG.INTEGER,
): number {
  const v = map.get(key);
  if (!v) bad(`${name} (.${key}) is missing`);
  // smallInt decodes INTEGER contents; ENUMERATED has the same contents (X.690 §8.4).
  const n = smallInt({ ...expectTag(v, tag, name), tag: TAG.INTEGER }, name);
  if (n > max) bad(`${name} ${n} is out of range 0..${max}`);
  return n;
}

/** Decodes the DER value (extnValue contents) of the SGX extension. */
export function parsePckExtensions(der: Uint8Array): PckExtensions {
  try {
    const top = entries(
      readOne(der, TAG.SEQUENCE, "SGX extension"),
      SGX_EXTENSION_OID,
      "extension",
    );
    const tcbNode = top.get("2");
    if (!tcbNode) bad("TCB (.2) is missing");
    const tcb = entries(tcbNode, `${SGX_EXTENSION_OID}.2`, "TCB");
    const sgxTcbComponents = Array.from(
      { length: 16 },
      (_, i) => integer(tcb, String(i + 1), `SGX TCB comp ${i + 1}`, 255),
    );
    return {
      ppid: octets(top, "1", 16, "PPID"),
      sgxTcbComponents,
      pceSvn: integer(tcb, "17", "PCESVN", 0xffff),
      cpuSvn: octets(tcb, "18", 16, "CPUSVN"),
      pceId: octets(top, "3", 2, "PCE-ID"),
      fmspc: octets(top, "4", 6, "FMSPC"),
      sgxType: integer(top, "5", "SGX Type", 255, TAG.ENUMERATED),
    };
  } catch (e) {
    if (e instanceof DerError) bad(e.message);
    throw e;
  }
}

function refuseChain(message: string, field = "pck"): never {
  throw new AttestationError("chain", message, field);
}

/** The PCK chain of certification data type 5: exactly leaf, PCK CA, root, in that order. */
export function pckCertificates(quote: Quote): [Certificate, Certificate, Certificate] {
  let blocks: { label: string; der: Uint8Array }[];
  try {
    blocks = readPem(new TextDecoder().decode(quote.pckChainPem));
  } catch (e) {
    refuseChain(
      `PCK chain in the quote has a bad PEM block (${e instanceof Error ? e.message : e})`,
    );
  }
  const certs = blocks.filter((b) => b.label === "CERTIFICATE");
  if (certs.length !== 3 || blocks.length !== 3) {
    refuseChain(
      `PCK chain in the quote holds ${certs.length} certificates (of ${blocks.length} PEM blocks), not 3 (PCK, PCK CA, root)`,
    );
  }
  const names = ["PCK certificate", "PCK CA certificate", "root certificate of the PCK chain"];
  const [leaf, ca, root] = certs.map((b, i) => parseCertificate(b.der, names[i]));
  if (commonName(leaf.subject) !== PCK_LEAF_NAME) {
    refuseChain(
      `first certificate of the PCK chain is "${leaf.label}", not "${PCK_LEAF_NAME}"`,
    );
  }
  pckCa(ca);
  return [leaf, ca, root];
}

/** The PCK leaf's SGX extension: FMSPC, PCE-ID and the TCB the PCK was issued for. */
export function pckExtensions(leaf: Certificate): PckExtensions {
  const ext = leaf.extensions.get(SGX_EXTENSION_OID);
  if (!ext) {
    refuseChain("PCK certificate has no Intel SGX extension (1.2.840.113741.1.13.1)");
  }
  return parsePckExtensions(ext.value);
}

/** Which PCK CA issued the chain: the `ca` of its PCS CRL. */
export function pckCa(ca: Certificate): PckCa {
  const kind = PCK_CAS[commonName(ca.subject) as keyof typeof PCK_CAS];
  if (!kind) refuseChain(`PCK issuer is "${ca.label}", not a PCK Platform or Processor CA`);
  return kind;
}
