/**
 * The one entry point for verifying attestation evidence, used by the conformance harness, the
 * `deno task verify` CLI, the runtime (to check its own evidence) and the client.
 *
 * `verifyEvidence({platform, evidence, certs, collateral}, policy, {now, roots, check})` parses
 * the raw SEV-SNP report or TDX quote, checks its signatures and certificate chain against
 * `roots` at `now` (the platform's production roots when `roots` is omitted: AMD's ARKs, Intel's
 * SGX Root CA), judges it against the policy, and resolves to the verified fields — or rejects
 * with the first `AttestationError` in the order of shared/vectors/attestation/README.md:
 * parse, certificate path, signature, key match, collateral, TCB, policy.
 *
 * `verifyBundle` does the same for a Cloister evidence bundle (`protocol/evidence.ts`) and also
 * checks the key binding: REPORT_DATA must equal `reportData(claims)` (reason `binding`).
 *
 * `check` (README "check"): `full` does everything; `signature` skips TDX TCB collateral; `parse`
 * only decodes (nothing is verified, no policy is applied, and the result says so). A result
 * whose chain ends at an emulated secure processor's root has `emulated: true`; that root is
 * trusted only when the caller names it in `roots`.
 */
import { AttestationError } from "./errors.ts";
import { type Policy } from "./policy.ts";
import { type Certificate, type Crl, parseCertificates, parseCrls } from "./x509.ts";
import {
  checkReserved,
  decodeTcb,
  type ParsedReport,
  parseReport,
  productFromCpuid,
  REPORT_SIZE,
  signingKey,
  type Tcb,
  tcbLayout,
} from "./snp/abi.ts";
import { amdRoots } from "./snp/trust.ts";
import { verifyReport } from "./snp/verify.ts";
import { validateReport } from "./snp/validate.ts";
import { type VerifiedQuote, verifyQuote } from "./tdx/verify.ts";
import { validateQuote } from "./tdx/validate.ts";
import { readCollateral } from "./tdx/pcs.ts";
import { intelSgxRootCa } from "./tdx/trust.ts";
import { equalBytes, toHex } from "../protocol/bytes.ts";
import {
  type BindingClaims,
  decodeEvidenceBundle,
  type EvidenceBundle,
  EvidenceError,
  reportData,
  type TransparencyProof,
} from "../protocol/evidence.ts";

export type Platform = "sev-snp" | "tdx";
export const PLATFORMS: readonly Platform[] = ["sev-snp", "tdx"];
export type Check = "full" | "signature" | "parse";

/** A file given as certificate or collateral input: its name labels messages. */
export interface NamedFile {
  name: string;
  bytes: Uint8Array;
}

export interface EvidenceInput {
  platform: Platform;
  /** The raw SEV-SNP report (1184 bytes) or TDX quote (trailing padding allowed). */
  evidence: Uint8Array;
  /** Certificate files, DER or PEM, any number of certificates each, any order. */
  certs?: (Uint8Array | NamedFile)[];
  /** TDX: TCB info, QE identity, CRLs, issuer chains. SEV-SNP: CRLs (DER or PEM). */
  collateral?: (Uint8Array | NamedFile)[];
}

export interface VerifyOptions {
  /** Reference time of every validity check. */
  now: Date;
  /** Trust anchors: files (DER/PEM) or parsed certificates. Default: the platform's production roots. */
  roots?: (Uint8Array | NamedFile | Certificate)[];
  check?: Check;
  /** Called as each check passes, in order (the CLI prints these as ✓ lines). */
  onStep?: (check: string, detail: string) => void;
}

/** A field value of the README's `fields`: numbers, lowercase hex, or a TCB map. */
export type FieldValue = string | number | Record<string, number>;

export interface Verified {
  platform: Platform;
  check: Check;
  /** The README's decoded fields (SEV-SNP: version, vmpl, policy, … ; TDX: mrtd, rtmr0, …). */
  fields: Record<string, FieldValue>;
  reportData: Uint8Array;
  /** The launch measurement (SEV-SNP MEASUREMENT, TDX MRTD). */
  measurement: Uint8Array;
  /** The chain ends at an emulated secure processor's root: not real hardware. */
  emulated: boolean;
  /** Endorsement chain, leaf first (empty for `parse`). */
  chain: Certificate[];
}

function files(list: (Uint8Array | NamedFile)[] | undefined, what: string): NamedFile[] {
  return (list ?? []).map((f, i) =>
    f instanceof Uint8Array ? { name: `${what} #${i + 1}`, bytes: f } : f
  );
}

/** The roots used when a caller gives none: AMD's ARKs, or Intel's SGX Root CA. */
export function productionRoots(platform: Platform): Certificate[] {
  return platform === "sev-snp" ? amdRoots() : [intelSgxRootCa()];
}

function resolveRoots(platform: Platform, roots: VerifyOptions["roots"]): Certificate[] {
  if (!roots) return productionRoots(platform);
  return roots.flatMap((r, i) => {
    if (r instanceof Uint8Array) return parseCertificates(r, `root file #${i + 1}`);
    if ("bytes" in r) return parseCertificates(r.bytes, r.name);
    return [r];
  });
}

/** Verifies raw evidence (see the module comment). */
export async function verifyEvidence(
  input: EvidenceInput,
  policy: Policy,
  options: VerifyOptions,
): Promise<Verified> {
  if (!PLATFORMS.includes(input.platform)) {
    throw new AttestationError(
      "unsupported",
      `platform "${input.platform}" is not one of ${PLATFORMS.join(", ")}`,
      "platform",
    );
  }
  const step = options.onStep ?? (() => {});
  const check = options.check ?? "full";
  const roots = check === "parse" ? [] : resolveRoots(input.platform, options.roots);
  return input.platform === "sev-snp"
    ? await verifySnp(input, policy, { now: options.now, roots, check, step })
    : await verifyTdx(input, policy, { now: options.now, roots, check, step });
}

interface Resolved {
  now: Date;
  roots: Certificate[];
  check: Check;
  step: (check: string, detail: string) => void;
}

async function verifySnp(input: EvidenceInput, policy: Policy, o: Resolved): Promise<Verified> {
  const report = parseReport(input.evidence);
  o.step("parse", `SEV-SNP report version ${report.version}, ${REPORT_SIZE} bytes`);
  if (o.check === "parse") {
    checkReserved(report);
    const product = productFromCpuid(report.cpuid);
    // v2 reports predate Turin: without a CPUID product they use the Milan/Genoa layout.
    const tcb = decodeTcb(report.reportedTcb, tcbLayout(product ?? "Milan"));
    o.step("reserved fields", "must-be-zero fields are zero (nothing verified: parse only)");
    return snpResult(report, o.check, tcb, product, [], false);
  }
  const certs = files(input.certs, "certificate file").flatMap((f) =>
    parseCertificates(f.bytes, f.name)
  );
  const crls: Crl[] = files(input.collateral, "collateral file").flatMap((f) =>
    parseCrls(f.bytes, f.name)
  );
  const v = await verifyReport(report, certs, {
    now: o.now,
    roots: o.roots,
    crls,
    onStep: o.step,
  });
  validateReport(report, { product: v.product, reportedTcb: v.reportedTcb }, policy, o.step);
  return snpResult(report, o.check, v.reportedTcb, v.product, v.chain, v.emulated);
}

function snpResult(
  report: ParsedReport,
  check: Check,
  tcb: Tcb,
  product: string | undefined,
  chain: Certificate[],
  emulated: boolean,
): Verified {
  const fields: Record<string, FieldValue> = {
    version: report.version,
    vmpl: report.vmpl,
    policy: `0x${report.policy.toString(16).padStart(16, "0")}`,
    measurement: toHex(report.measurement),
    report_data: toHex(report.reportData),
    chip_id: toHex(report.chipId),
    reported_tcb: { ...tcb },
  };
  const kind = signingKey(report);
  if (kind) fields.signing_key = kind;
  if (product) fields.product = product;
  return {
    platform: "sev-snp",
    check,
    fields,
    reportData: report.reportData,
    measurement: report.measurement,
    emulated,
    chain,
  };
}

async function verifyTdx(input: EvidenceInput, policy: Policy, o: Resolved): Promise<Verified> {
  const given = files(input.collateral, "collateral file");
  // Read only once the quote has parsed (tdx/verify.ts), so the README's order holds.
  const collateral = () => readCollateral(given.map((f) => f.bytes), given.map((f) => f.name));
  const extra = files(input.certs, "certificate file").flatMap((f) =>
    parseCertificates(f.bytes, f.name)
  );
  const v = await verifyQuote(input.evidence, collateral, {
    now: o.now,
    roots: o.roots,
    check: o.check,
    certificates: extra,
  });
  const version = v.quote.header.version;
  o.step("parse", `TDX quote version ${version}, ${v.quote.length} bytes`);
  if (o.check !== "parse") {
    o.step("certificate chain", v.pck!.chain.map((c) => c.label).join(" → "));
    o.step(
      "quote signature",
      "QE report by the PCK, QE report_data binding, quote by the attestation key",
    );
  }
  if (v.tcb) o.step("collateral", `TCB info and QE identity verified; TCB status ${v.tcb.status}`);
  if (o.check !== "parse") {
    validateQuote(v, policy);
    o.step("policy", "TCB status, debug, MRTD/RTMR and report_data as required");
  }
  return tdxResult(v);
}

function tdxResult(v: VerifiedQuote): Verified {
  const body = v.quote.body;
  const fields: Record<string, FieldValue> = {
    version: v.quote.header.version,
    mrtd: toHex(body.mrTd),
    rtmr0: toHex(body.rtmrs[0]),
    rtmr1: toHex(body.rtmrs[1]),
    rtmr2: toHex(body.rtmrs[2]),
    rtmr3: toHex(body.rtmrs[3]),
    report_data: toHex(body.reportData),
    tee_tcb_svn: toHex(body.teeTcbSvn),
    td_attributes: toHex(body.tdAttributes),
  };
  if (v.pck) fields.fmspc = toHex(v.pck.extensions.fmspc);
  if (v.tcb) fields.tcb_status = v.tcb.status;
  return {
    platform: "tdx",
    check: v.check,
    fields,
    reportData: body.reportData,
    measurement: body.mrTd,
    emulated: false,
    chain: v.pck?.chain ?? [],
  };
}

export interface BundleOptions extends VerifyOptions {
  /** Seconds a key epoch may appear to start early (clock skew); default 300. */
  skewSeconds?: number;
}

/** A bundle whose evidence verified and whose REPORT_DATA binds its claims. */
export interface VerifiedBundle extends Verified {
  claims: BindingClaims;
  /** The transparency-log proof as carried (checked by the client against its log key). */
  transparency?: TransparencyProof;
}

/**
 * Verifies an evidence bundle (DESIGN.md "Key binding and evidence"): decodes it (`malformed` if
 * it is not a well-formed bundle), verifies its evidence like `verifyEvidence`, then checks the
 * binding — REPORT_DATA = SHA-512(domain ‖ 0x00 ‖ CBOR(claims)) (`binding`) — and that `now`
 * lies in the key's epoch (`expired`). Returns the verified fields with the claims.
 */
export async function verifyBundle(
  bundle: Uint8Array | EvidenceBundle,
  policy: Policy,
  options: BundleOptions,
): Promise<VerifiedBundle> {
  let b: EvidenceBundle;
  try {
    b = bundle instanceof Uint8Array ? decodeEvidenceBundle(bundle) : bundle;
  } catch (e) {
    if (e instanceof EvidenceError) {
      throw new AttestationError("malformed", `evidence bundle: ${e.message}`, e.field);
    }
    throw e;
  }
  const step = options.onStep ?? (() => {});
  step("bundle", `${b.platform} evidence bundle, ${b.certificates.length} certificate(s)`);
  const verified = await verifyEvidence(
    {
      platform: b.platform,
      evidence: b.evidence,
      certs: b.certificates.map((bytes, i) => ({ name: `bundle certificate #${i + 1}`, bytes })),
      collateral: [...b.collateral].map(([name, bytes]) => ({ name, bytes })),
    },
    policy,
    options,
  );
  if (verified.check === "parse") {
    throw new AttestationError("unsupported", 'a bundle cannot be verified with check "parse"');
  }
  const expected = reportData(b.claims);
  if (!equalBytes(verified.reportData, expected)) {
    throw new AttestationError(
      "binding",
      `REPORT_DATA ${toHex(verified.reportData)} is not SHA-512 of the bundle's claims (${
        toHex(expected)
      }): the key is not the one the hardware attested`,
      "report_data",
    );
  }
  step("key binding", "REPORT_DATA = SHA-512(domain ‖ 0x00 ‖ CBOR(claims))");
  const now = Math.floor(options.now.getTime() / 1000);
  const skew = options.skewSeconds ?? 300;
  if (now < b.claims.epochStart - skew || now >= b.claims.epochEnd) {
    const span = `${new Date(b.claims.epochStart * 1000).toISOString()}..${
      new Date(b.claims.epochEnd * 1000).toISOString()
    }`;
    throw new AttestationError(
      "expired",
      `the key's epoch ${span} does not include ${options.now.toISOString()}`,
      "claims.epoch",
    );
  }
  step("key epoch", `current until ${new Date(b.claims.epochEnd * 1000).toISOString()}`);
  return { ...verified, claims: b.claims, transparency: b.transparency };
}
