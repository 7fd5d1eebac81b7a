/**
 * "Is this report signed by AMD?" — SEV-SNP report signature and endorsement chain
 * (go-sev-guest `verify.SnpAttestation`; SEV-SNP Firmware ABI §7.3 Table 23, signature format
 * Appendix A "ECDSA P-384 with SHA-384"; VCEK specification #57230 §3).
 *
 * Steps, in the order of shared/vectors/attestation/README.md:
 * 1. Certificate path: the endorsement key (VCEK or VLEK) among `certs` chains to one of the
 *    roots through the right intermediate — a VCEK through `SEV-<product>` (the ASK), a VLEK
 *    through `SEV-VLEK-<product>` (the ASVK), each under `ARK-<product>` — valid at `now`, and
 *    not on a given CRL. Refusals: `chain`, `expired`, `revoked`.
 * 2. Signature (`signature`): ECDSA P-384 over bytes 0x000–0x29F. r and s are 72-byte
 *    little-endian fields whose upper 24 bytes must be zero: a verifier that ignores them
 *    accepts 2^384 encodings of one signature (the @tinfoilsh/verifier defect).
 * 3. Reserved fields of the signed region (`malformed`, `abi.checkReserved`).
 * 4. Key match (`key-mismatch`): the key's kind is the report's SIGNING_KEY, its SPLs encode
 *    exactly reported_tcb (the product's layout, FMC on Turin), its hwID is chip_id (the first
 *    8 bytes on Turin; a chip_id masked to zero is allowed), its product is the report's.
 *
 * Policy (TCB minimum, debug, measurement, binding…) is `validate.ts`. Speed: the endorsement key
 * is imported once per certificate; a chip seen twice gets a fixed-base table
 * (`P384Key.precompute`), so its next reports cost one table-driven verification.
 */
import { createHash } from "node:crypto";
import { AttestationError } from "../errors.ts";
import { P384Key } from "../p384.ts";
import type { Product } from "../policy.ts";
import { buildChain, type Certificate, commonName, type Crl } from "../x509.ts";
import {
  checkReserved,
  decodeTcb,
  encodeTcb,
  formatTcb,
  type ParsedReport,
  productFromCpuid,
  SIG_COMPONENT_SIZE,
  SIGNED_SIZE,
  signingKey,
  type Tcb,
  tcbLayout,
} from "./abi.ts";
import {
  EMULATED,
  type EndorsementKey,
  endorsementKind,
  intermediateName,
  isEmulatedRoot,
  readEndorsementKey,
  rootName,
} from "./kds.ts";
import { isZero, toHex } from "../../protocol/bytes.ts";

export interface SnpVerifyOptions {
  now: Date;
  roots: readonly Certificate[];
  crls?: readonly Crl[];
  /** Called as each step passes (the CLI's ✓ lines). */
  onStep?: (check: string, detail: string) => void;
}

export interface VerifiedReport {
  report: ParsedReport;
  key: EndorsementKey;
  /** Endorsement key first, root last. */
  chain: Certificate[];
  product: Product;
  reportedTcb: Tcb;
  /** The chain ends at an emulated secure processor's root, not AMD's. */
  emulated: boolean;
}

/** Keys imported per endorsement certificate (bounded by x509's certificate cache in practice). */
const keys = new WeakMap<Certificate, { key: P384Key; uses: number }>();

function endorsementP384(cert: Certificate): P384Key {
  let entry = keys.get(cert);
  if (!entry) {
    if (cert.publicKey.kind !== "ec") throw new Error("unreachable: checked by readEndorsementKey");
    entry = { key: P384Key.fromPoint(cert.publicKey.point), uses: 0 };
    keys.set(cert, entry);
  }
  // A chip seen a second time is likely to be seen again: give it its fixed-base table.
  if (++entry.uses === 2) entry.key.precompute();
  return entry.key;
}

/** Picks the endorsement key among `certs`: the report's kind first, then hwID and TCB fit. */
function selectKey(report: ParsedReport, certs: readonly Certificate[]): EndorsementKey {
  const leaves = certs.filter((c) => endorsementKind(c) !== undefined);
  if (leaves.length === 0) {
    throw new AttestationError(
      "chain",
      "no VCEK or VLEK among the certificates (subject CN SEV-VCEK or SEV-VLEK)",
      "certs",
    );
  }
  const wanted = signingKey(report);
  const score = (c: Certificate) => {
    const kind = endorsementKind(c);
    let s = kind === wanted ? 4 : 0;
    try {
      const k = readEndorsementKey(c);
      if (k.hwId && toHex(report.chipId).startsWith(toHex(k.hwId))) s += 2;
      if (encodeTcb(k.tcb, tcbLayout(k.product)) === report.reportedTcb) s += 1;
    } catch { /* undecodable: refused below if chosen */ }
    return s;
  };
  const best = leaves.reduce((a, b) => (score(b) > score(a) ? b : a));
  return readEndorsementKey(best);
}

/** Steps 1–4 of the module comment; returns what the validator needs. */
export async function verifyReport(
  report: ParsedReport,
  certs: readonly Certificate[],
  options: SnpVerifyOptions,
): Promise<VerifiedReport> {
  const step = options.onStep ?? (() => {});
  const key = selectKey(report, certs);
  const askName = intermediateName(key.kind, key.product);
  const chain = await buildChain(key.cert, {
    now: options.now,
    roots: options.roots,
    intermediates: certs.filter((c) => c !== key.cert),
    crls: options.crls,
    checkIssuer: (issuer, child) => {
      const cn = commonName(issuer.subject) ?? "";
      const expected = child === key.cert
        ? [askName, intermediateName(key.kind, EMULATED)]
        : [rootName(key.product), rootName(EMULATED)];
      if (expected.includes(cn)) return undefined;
      return `${child.label} must be issued by ${expected[0]}, not ${cn || issuer.subject.text}` +
        (child === key.cert ? ` (a ${key.kind.toUpperCase()} chains through ${askName})` : "");
    },
  });
  const root = chain[chain.length - 1];
  const emulated = isEmulatedRoot(root);
  step(
    "certificate chain",
    `${chain.map((c) => c.label).join(" → ")}, valid at ${options.now.toISOString()}${
      options.crls?.length ? `, ${options.crls.length} CRL(s) checked` : ""
    }${emulated ? " — EMULATED root, not AMD" : ""}`,
  );

  verifySignature(report, key);
  step("report signature", `ECDSA P-384/SHA-384 by the ${key.kind.toUpperCase()} over 0x000–0x29F`);

  checkReserved(report);
  step("reserved fields", "must-be-zero fields are zero, SIGNING_KEY defined, policy bit 17 set");

  const product = matchKey(report, key);
  const reportedTcb = decodeTcb(report.reportedTcb, tcbLayout(product));
  step(
    "key matches report",
    `${key.kind.toUpperCase()} ${key.productName}: SPLs = reported_tcb (${formatTcb(reportedTcb)})${
      key.hwId ? ", hwID = chip_id" : ""
    }`,
  );
  return { report, key, chain, product, reportedTcb, emulated };
}

/** Little-endian 72-byte field → integer, refusing non-zero upper 24 bytes. */
function component(field: Uint8Array, name: string, offset: number): bigint {
  for (let i = 48; i < SIG_COMPONENT_SIZE; i++) {
    if (field[i] !== 0) {
      throw new AttestationError(
        "signature",
        `signature ${name} has non-zero byte 0x${(offset + i).toString(16)} above its 48 low bytes`,
        `offset 0x${(offset + i).toString(16)}`,
      );
    }
  }
  let n = 0n;
  for (let i = 47; i >= 0; i--) n = (n << 8n) | BigInt(field[i]);
  return n;
}

function verifySignature(report: ParsedReport, key: EndorsementKey): void {
  const r = component(report.signatureR, "r", 0x2a0);
  const s = component(report.signatureS, "s", 0x2e8);
  const digest = createHash("sha384").update(report.raw.subarray(0, SIGNED_SIZE)).digest();
  if (!endorsementP384(key.cert).verify(digest, r, s)) {
    throw new AttestationError(
      "signature",
      `report signature does not verify with the ${key.kind.toUpperCase()} (${key.cert.label}, ${key.productName}, serial ${key.cert.serialHex})`,
      "signature",
    );
  }
}

function mismatch(message: string, field: string): never {
  throw new AttestationError("key-mismatch", message, field);
}

/** Step 4; returns the product line (from the report's CPUID when it has one). */
function matchKey(report: ParsedReport, key: EndorsementKey): Product {
  const kind = signingKey(report);
  if (kind !== key.kind) {
    mismatch(
      `report SIGNING_KEY is ${kind?.toUpperCase()} but the endorsement key is a ${key.kind.toUpperCase()}`,
      "signer_info",
    );
  }
  const fromCpuid = productFromCpuid(report.cpuid);
  if (fromCpuid && fromCpuid !== key.product) {
    mismatch(
      `report CPUID says ${fromCpuid} but the ${key.kind.toUpperCase()} productName is ${key.productName}`,
      "cpuid",
    );
  }
  const layout = tcbLayout(key.product);
  if (encodeTcb(key.tcb, layout) !== report.reportedTcb) {
    mismatch(
      `reported_tcb 0x${report.reportedTcb.toString(16).padStart(16, "0")} (${
        formatTcb(decodeTcb(report.reportedTcb, layout))
      }) differs from the ${key.kind.toUpperCase()} SPLs (${formatTcb(key.tcb)})`,
      "reported_tcb",
    );
  }
  if (key.hwId && !isZero(report.chipId)) {
    const chip = report.chipId.subarray(0, key.hwId.length);
    if (toHex(chip) !== toHex(key.hwId)) {
      mismatch(
        `chip_id ${toHex(chip)} differs from the VCEK hwID ${toHex(key.hwId)}`,
        "chip_id",
      );
    }
  }
  return key.product;
}
