/**
 * Is this TDX quote signed by Intel-certified hardware, and what does Intel's collateral say
 * about that hardware? (The policy question — is it what I want? — is `validate.ts`.)
 *
 * Checks, after Intel's QVL, go-tdx-guest `verify/verify.go` and dcap-qvl `verify.rs`, in the
 * order of `shared/vectors/attestation/README.md` (the first that fails is the reason):
 * 1. parse (`abi.ts`): `malformed`, `unsupported`;
 * 2. certificate path: the PCK chain from certification data type 5 (exactly leaf, PCK
 *    Platform/Processor CA, root; the root byte-equal to one of `roots`) at `now`, with every
 *    given CRL checked — signature by its issuer, thisUpdate..nextUpdate, serials (`chain`,
 *    `expired`, `revoked`); then the issueDate..nextUpdate window of TCB info and QE identity
 *    (`expired`);
 * 3. signatures (`signature`): the QE report by the PCK key, QE report_data = SHA-256(attestation
 *    key ‖ QE auth data) ‖ 32 zero bytes (Intel ECDSA quote library §A.4 "QE Report Data"), and
 *    the quote (header ‖ body) by the attestation key;
 * 4. collateral (`collateral`; `full` only): both CRLs present, TCB info and QE identity signed by
 *    the Intel SGX TCB Signing certificate that chains to `roots`, TCB info id "TDX" v3 with the
 *    PCK's FMSPC and PCE-ID, the TDX module and QE identities matching (`tcb.ts`);
 * 5. the TCB status (`tcb.ts`), returned for `validate.ts` to judge.
 *
 * The public-key operations of steps 2-4 are started together and awaited in that order, so the
 * reasons keep their order while WebCrypto runs them in parallel. Certificates, CRLs and
 * collateral signatures verified once are remembered (`x509.ts` caches); the quote's own
 * signature is checked on every call.
 */
import { createHash } from "node:crypto";
import { AttestationError } from "../errors.ts";
import {
  applyCrl,
  buildChain,
  type Certificate,
  commonName,
  type Crl,
  iso,
  nameEquals,
  verifyRawEcdsa,
  verifySignature,
} from "../x509.ts";
import { concat, equalBytes, isZero, toHex } from "../../protocol/bytes.ts";
import { parseQuote, type Quote } from "./abi.ts";
import { pckCertificates, type PckExtensions, pckExtensions } from "./pck.ts";
import type { QeIdentity, Signed, TcbInfo, TdxCollateral } from "./pcs.ts";
import { checkQeIdentity, checkTdxModule, type TcbResult, tdxTcbStatus } from "./tcb.ts";

export type Check = "full" | "signature" | "parse";

export interface TdxVerifyOptions {
  /** Reference time of every validity check. */
  now: Date;
  /** Trust anchors (normally `intelSgxRootCa()` from `trust.ts`). */
  roots: readonly Certificate[];
  /** How far to go (vectors README "check"); default "full". */
  check?: Check;
  /** Further candidate intermediates (rarely needed: the quote carries its PCK CA). */
  certificates?: readonly Certificate[];
}

/** What verification established; `pck` from `signature` on, `tcb` and collateral for `full`. */
export interface VerifiedQuote {
  quote: Quote;
  check: Check;
  pck?: { chain: Certificate[]; extensions: PckExtensions };
  tcbInfo?: TcbInfo;
  qeIdentity?: QeIdentity;
  tcb?: TcbResult;
}

const TCB_SIGNING_NAME = "Intel SGX TCB Signing";

function refuse(
  reason: ConstructorParameters<typeof AttestationError>[0],
  message: string,
  field?: string,
): never {
  throw new AttestationError(reason, message, field);
}

/** A promise's outcome as a value, so work started early never rejects unobserved. */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error) => ({ ok: false as const, error }),
  );
}
function unwrap<T>(s: Settled<T>): T {
  if (!s.ok) throw s.error;
  return s.value;
}

async function verifyPckChain(
  [leaf, ca, root]: [Certificate, Certificate, Certificate],
  crls: readonly Crl[],
  options: TdxVerifyOptions,
): Promise<Certificate[]> {
  if (!options.roots.some((r) => r.id === root.id)) {
    refuse(
      "chain",
      `the PCK chain ends at "${root.label}" (SHA-256 ${root.id}), which is not a trusted root (${
        options.roots.map((r) => r.label).join(", ") || "none given"
      })`,
      "pck",
    );
  }
  // Every signature the path needs, started together: buildChain then walks the path with the
  // results in hand (x509 remembers verified pairs); a failure is found again, and named, there.
  await Promise.all([
    verifySignature(leaf, ca),
    verifySignature(ca, root),
    ...crls.flatMap((crl) =>
      [ca, root].filter((c) => nameEquals(c.subject, crl.issuer)).map((c) =>
        verifySignature(crl, c)
      )
    ),
  ]);
  const chain = await buildChain(leaf, {
    now: options.now,
    roots: [root],
    intermediates: [ca, ...(options.certificates ?? [])],
    crls,
    maxLength: 3,
  });
  if (chain[1].id !== ca.id) {
    refuse("chain", `PCK certificate is not issued by the quote's ${ca.label}`, "pck");
  }
  return chain;
}

function checkWindow(doc: { issueDate: Date; nextUpdate: Date }, what: string, now: Date): void {
  const t = now.getTime();
  if (t >= doc.issueDate.getTime() && t <= doc.nextUpdate.getTime()) return;
  const state = t < doc.issueDate.getTime() ? "not yet issued" : "past its nextUpdate";
  const window = `issued ${iso(doc.issueDate)}, next update ${iso(doc.nextUpdate)}`;
  refuse("expired", `${what} is ${state} at ${iso(now)}: ${window}`, what);
}

function sha256(data: Uint8Array): Uint8Array {
  return createHash("sha256").update(data).digest();
}

/** ECDSA P-256 verification with the bare attestation key (x‖y, not a certificate). */
async function verifyWithAttestationKey(quote: Quote): Promise<boolean> {
  try {
    const key = await crypto.subtle.importKey(
      "raw",
      concat(new Uint8Array([4]), quote.attestationKey) as BufferSource,
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["verify"],
    );
    return await crypto.subtle.verify(
      { name: "ECDSA", hash: "SHA-256" },
      key,
      quote.signature as BufferSource,
      quote.signed as BufferSource,
    );
  } catch {
    return false; // not a point on P-256
  }
}

/** Step 3, every part started at once; returns the first failure in order, or undefined. */
async function signatureProblem(quote: Quote, pck: Certificate): Promise<string | undefined> {
  const binding = sha256(concat(quote.attestationKey, quote.qeAuthData));
  const [qeOk, quoteOk] = await Promise.all([
    verifyRawEcdsa(quote.qeReport.raw, quote.qeReportSignature, pck),
    verifyWithAttestationKey(quote),
  ]);
  if (!qeOk) return "the QE report signature does not verify with the PCK certificate's key";
  const rd = quote.qeReport.reportData;
  if (!equalBytes(rd.subarray(0, 32), binding) || !isZero(rd.subarray(32))) {
    return `QE report_data ${toHex(rd)} is not SHA-256(attestation key ‖ QE auth data) ${
      toHex(binding)
    } ‖ 0^32`;
  }
  if (!quoteOk) return "the quote signature does not verify with the attestation key";
  return undefined;
}

/** The one document of `docs` that `fits`; `collateral` if none or several do. */
function pick<T>(docs: Signed<T>[], what: string, fits: (d: T) => boolean): Signed<T> {
  const fit = docs.filter((d) => fits(d.body));
  if (fit.length > 1) refuse("collateral", `${fit.length} ${what} documents apply; give one`, what);
  if (fit.length === 0) {
    refuse(
      "collateral",
      docs.length === 0 ? `no ${what} was given` : `no ${what} fits this quote`,
      what,
    );
  }
  return fit[0];
}

/** The TDX TCB info (one given, or the one for the PCK's FMSPC) and the TD_QE identity. */
function selectCollateral(given: TdxCollateral, pck: PckExtensions) {
  const tdx = given.tcbInfos.filter((t) => t.body.id === "TDX");
  const tcbInfo = tdx.length === 1
    ? tdx[0]
    : pick(tdx, "TDX TCB info", (t) => equalBytes(t.fmspc, pck.fmspc));
  const qeIdentity = pick(given.qeIdentities, "TD_QE identity", (q) => q.id === "TD_QE");
  return { tcbInfo, qeIdentity };
}

/**
 * The Intel SGX TCB Signing certificates among the collateral that chain to `roots` (CRLs are
 * applied once the PCK chain has verified them), and the TCB info and QE identity signatures by
 * one of them. Throws `collateral` when no signer chains or a signature does not verify.
 */
async function verifyCollateralSignatures(
  docs: { tcbInfo: Signed<TcbInfo>; qeIdentity: Signed<QeIdentity> },
  collateral: TdxCollateral,
  options: TdxVerifyOptions,
): Promise<Certificate[][]> {
  const signers = collateral.certificates.filter((c, i, all) =>
    commonName(c.subject) === TCB_SIGNING_NAME && all.findIndex((d) => d.id === c.id) === i
  );
  if (signers.length === 0) {
    refuse("collateral", `no "${TCB_SIGNING_NAME}" certificate was given`, "tcb-signing");
  }
  // The documents' signatures by every candidate start now, with the candidates' chains.
  const pairs = [[docs.tcbInfo, "TCB info"], [docs.qeIdentity, "QE identity"]] as const;
  const signed = pairs.map(([doc]) =>
    Promise.all(signers.map((s) => verifyRawEcdsa(doc.signed, doc.signature, s)))
  );
  const chains = await Promise.all(signers.map((signer) =>
    settle(buildChain(signer, {
      now: options.now,
      roots: options.roots,
      intermediates: collateral.certificates,
      maxLength: 2,
    }))
  ));
  const paths: Certificate[][] = [];
  let problem = "";
  for (const chain of chains) {
    if (chain.ok) paths.push(chain.value);
    else if (chain.error instanceof AttestationError && chain.error.reason === "chain") {
      problem = chain.error.message;
    } else throw chain.error;
  }
  if (paths.length === 0) {
    refuse(
      "collateral",
      `${TCB_SIGNING_NAME} does not chain to a trusted root: ${problem}`,
      "tcb-signing",
    );
  }
  for (const [k, [, what]] of pairs.entries()) {
    const ok = await signed[k];
    if (!paths.some((p) => ok[signers.indexOf(p[0])])) {
      refuse(
        "collateral",
        `the ${what} signature does not verify with ${
          paths.map((p) => p[0].describe()).join(" or ")
        }`,
        what,
      );
    }
  }
  return paths;
}

/**
 * Verifies a TDX quote (raw bytes, trailing padding allowed) against its collateral. Resolves to
 * what was established, or rejects with the first `AttestationError` in the README's order.
 * `collateral` may be a function that reads it (`readCollateral`): it is called once the quote
 * has parsed, so a malformed quote is reported before a bad collateral file, and the quote's
 * signature checks run while the collateral is being decoded.
 */
export async function verifyQuote(
  bytes: Uint8Array,
  collateral: TdxCollateral | (() => TdxCollateral) | undefined,
  options: TdxVerifyOptions,
): Promise<VerifiedQuote> {
  const check = options.check ?? "full";
  // 1. parse
  const quote = parseQuote(bytes);
  if (check === "parse") return { quote, check };
  const full = check === "full";

  // 2. certificate path: decoding is synchronous, the public-key work starts as soon as its
  // inputs are known (the quote's own signatures first, while the collateral is read).
  const certs = pckCertificates(quote);
  const extensions = pckExtensions(certs[0]);
  const signatures = settle(signatureProblem(quote, certs[0]));
  const given = (typeof collateral === "function" ? collateral() : collateral) ??
    { tcbInfos: [], qeIdentities: [], certificates: [], crls: [] };
  const chain = settle(verifyPckChain(certs, given.crls, options));
  let docs: Settled<ReturnType<typeof selectCollateral>> | undefined;
  let docSignatures: Promise<Settled<Certificate[][]>> | undefined;
  if (full) {
    try {
      docs = { ok: true, value: selectCollateral(given, extensions) };
      docSignatures = settle(verifyCollateralSignatures(docs.value, given, options));
    } catch (error) {
      docs = { ok: false, error };
    }
  }
  const path = unwrap(await chain);
  if (docs?.ok) {
    checkWindow(docs.value.tcbInfo.body, "TCB info", options.now);
    checkWindow(docs.value.qeIdentity.body, "QE identity", options.now);
  }
  // 3. signatures
  const problem = unwrap(await signatures);
  if (problem) refuse("signature", problem, "signature");
  const pck = { chain: path, extensions };
  if (!docs) return { quote, check, pck };

  // 4. collateral
  const { tcbInfo, qeIdentity } = unwrap(docs);
  for (const issuer of [path[2], path[1]]) {
    if (!given.crls.some((c) => nameEquals(c.issuer, issuer.subject))) {
      refuse(
        "collateral",
        `no CRL of ${issuer.label} was given: revocation cannot be checked`,
        "crl",
      );
    }
  }
  for (const signingPath of unwrap(await docSignatures!)) {
    for (const crl of given.crls) await applyCrl(crl, signingPath, options.now);
  }
  const info = tcbInfo.body;
  if (!equalBytes(info.fmspc, extensions.fmspc)) {
    refuse(
      "collateral",
      `TCB info FMSPC ${toHex(info.fmspc)} is not the PCK's ${toHex(extensions.fmspc)}`,
      "fmspc",
    );
  }
  if (!equalBytes(info.pceId, extensions.pceId)) {
    refuse(
      "collateral",
      `TCB info PCE-ID ${toHex(info.pceId)} is not the PCK's ${toHex(extensions.pceId)}`,
      "pceId",
    );
  }
  checkTdxModule(info, quote.body);
  checkQeIdentity(qeIdentity.body, quote.qeReport);
  // 5. TCB status, judged by the policy (validate.ts)
  const tcb = tdxTcbStatus(info, qeIdentity.body, extensions, quote.body, quote.qeReport);
  return { quote, check, pck, tcbInfo: info, qeIdentity: qeIdentity.body, tcb };
}
