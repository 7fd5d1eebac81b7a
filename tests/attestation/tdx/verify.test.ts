/**
 * TDX verification on real quotes and collateral: every byte of the signed region and its
 * signatures, and the collateral defects the peers let through (CRLs whose signature or dates are
 * never checked, unparsable CRLs ignored, a QE auth-data size never checked, re-serialised JSON).
 */
import assert from "node:assert/strict";
import { offsets, parseQuote } from "../../../attestation/tdx/abi.ts";
import { readCollateral, type TdxCollateral } from "../../../attestation/tdx/pcs.ts";
import { verifyQuote } from "../../../attestation/tdx/verify.ts";
import { validateQuote } from "../../../attestation/tdx/validate.ts";
import { intelSgxRootCa } from "../../../attestation/tdx/trust.ts";
import { parsePolicy } from "../../../attestation/policy.ts";
import { parseCertificates } from "../../../attestation/x509.ts";
import { verifyEvidence } from "../../../attestation/verify.ts";
import { AttestationError, type Reason } from "../../../attestation/errors.ts";
import { toHex, utf8 } from "../../../protocol/bytes.ts";
import { vectorPath } from "../../vectors.ts";

const read = (f: string) => Deno.readFileSync(vectorPath(`attestation/tdx/${f}`));
const QUOTE = read("dcap-qvl/tdx_quote");
const BUNDLE = read("dcap-qvl/tdx_quote_collateral.json");
const AT = new Date("2025-07-01T00:00:00Z");
const roots = [intelSgxRootCa()];

const V5 = read("go-tdx-guest/quote_v5_sample.dat");
const V5_AT = new Date("2026-02-03T01:00:00Z");
const TINFOIL = [
  "tcb_info_90c06f000000.json",
  "tcb_info_90c06f000000_chain.txt",
  "qe_identity.json",
  "qe_identity_chain.txt",
  "root_ca.crl",
  "pck_crl_platform.crl",
  "pck_crl_platform_chain.txt",
].map((f) => read(`tinfoil-verifier/${f}`));

async function verdict(
  quote: Uint8Array,
  collateral: TdxCollateral | undefined,
  now = AT,
  check: "full" | "signature" = "full",
): Promise<{ reason: Reason | "accept"; message: string }> {
  try {
    const v = await verifyQuote(quote, collateral, { now, roots, check });
    validateQuote(v, parsePolicy({}));
    return { reason: "accept", message: v.tcb?.status ?? "" };
  } catch (e) {
    if (!(e instanceof AttestationError)) throw e;
    return { reason: e.reason, message: e.message };
  }
}

function bundleWith(changes: Record<string, string | undefined>): Uint8Array {
  const b = JSON.parse(new TextDecoder().decode(BUNDLE));
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete b[k];
    else b[k] = v;
  }
  return utf8(JSON.stringify(b));
}

Deno.test("the real dcap-qvl quote is accepted as UpToDate, v5 with PCS files too", async () => {
  assert.deepEqual(await verdict(QUOTE, readCollateral([BUNDLE])), {
    reason: "accept",
    message: "UpToDate",
  });
  assert.deepEqual(await verdict(V5, readCollateral(TINFOIL), V5_AT), {
    reason: "accept",
    message: "UpToDate",
  });
});

Deno.test("every single-byte flip of the signed region, signatures, key and QE data rejects", async () => {
  const collateral = readCollateral([BUNDLE]);
  for (
    const [quote, coll, now] of [[QUOTE, collateral, AT], [
      V5,
      readCollateral(TINFOIL),
      V5_AT,
    ]] as const
  ) {
    const q = parseQuote(quote);
    const o = offsets(q);
    // header + body (the attestation key's message), then signature, attestation key, QE report,
    // QE report signature and QE auth data: everything up to the PCK chain's framing.
    const end = o.qeAuthData + q.qeAuthData.length;
    const skip = new Set([o.sigDataLen, o.sigDataLen + 1, o.sigDataLen + 2, o.sigDataLen + 3]);
    for (let i = o.certData; i < o.qeReport; i++) skip.add(i); // certification type and size
    for (let i = o.qeAuthData - 2; i < o.qeAuthData; i++) skip.add(i); // auth-data length
    let walked = 0;
    for (let at = 0; at < end; at++) {
      if (skip.has(at)) continue;
      const bad = quote.slice();
      bad[at] ^= 0x01;
      const { reason, message } = await verdict(bad, coll, now);
      // version, key type, TEE type (and v5 body type/size) reframe the quote; the rest is signed.
      const framing = at < 8 || (q.header.version === 5 && at >= 48 && at < 54);
      const expected = framing ? ["unsupported", "malformed"] : ["signature"];
      assert.ok(
        expected.includes(reason),
        `offset ${at} (0x${at.toString(16)}): ${reason}: ${message}`,
      );
      walked++;
    }
    assert.equal(walked, end - skip.size);
    // The framing fields skipped above are sizes and types: they reject as malformed/unsupported.
    for (const at of skip) {
      const bad = quote.slice();
      bad[at] ^= 0x01;
      const { reason } = await verdict(bad, coll, now);
      assert.ok(reason === "malformed" || reason === "unsupported", `offset ${at}: ${reason}`);
    }
  }
});

Deno.test("a QE auth-data size inconsistent with its content is malformed, even with padding room", async () => {
  const q = parseQuote(QUOTE);
  const bad = QUOTE.slice();
  bad[offsets(q).qeAuthData - 2] += 16; // 48 claimed; the file's 70 padding bytes would "fit" it
  assert.equal((await verdict(bad, readCollateral([BUNDLE]))).reason, "malformed");
  const sigLen = QUOTE.slice();
  sigLen[offsets(q).sigDataLen] ^= 0x10; // the peer accepts this one (specs/peers.md §3)
  assert.equal((await verdict(sigLen, readCollateral([BUNDLE]))).reason, "malformed");
});

Deno.test("CRLs: a bad signature, a date past nextUpdate and an unparsable CRL all reject", async () => {
  const b = JSON.parse(new TextDecoder().decode(BUNDLE));
  // Flip the last byte of the PCK CRL's signature (inside the ECDSA s value).
  const crl = b.pck_crl as string;
  const flipped = crl.slice(0, -2) +
    (parseInt(crl.slice(-2), 16) ^ 1).toString(16).padStart(2, "0");
  const badSig = await verdict(QUOTE, readCollateral([bundleWith({ pck_crl: flipped })]));
  assert.equal(badSig.reason, "chain");
  assert.match(badSig.message, /CRL of Intel SGX PCK Platform CA is not signed by/);

  // After the PCK CRL's nextUpdate (10:00:35Z) but before the TCB info's (10:16:03Z).
  const late = await verdict(QUOTE, readCollateral([BUNDLE]), new Date("2025-07-19T10:05:00Z"));
  assert.equal(late.reason, "expired");
  assert.match(late.message, /CRL of Intel SGX PCK Platform CA is not current/);
  // Before the root CA CRL's thisUpdate.
  const early = await verdict(QUOTE, readCollateral([BUNDLE]), new Date("2025-03-01T00:00:00Z"));
  assert.equal(early.reason, "expired");

  // The CRLs dcap-qvl silently ignores.
  for (const [key, value] of [["root_ca_crl", "00"], ["pck_crl", "3000"], ["pck_crl", "zz"]]) {
    assert.throws(
      () => readCollateral([bundleWith({ [key]: value })]),
      (e: unknown) => e instanceof AttestationError && ["chain", "collateral"].includes(e.reason),
      `${key} = ${value}`,
    );
  }
  assert.throws(() => readCollateral([new Uint8Array([0x30, 0x00])]), AttestationError);
});

Deno.test("full verification needs both CRLs, TCB info and QE identity", async () => {
  const without = (key: string) =>
    verdict(QUOTE, readCollateral([bundleWith({ [key]: undefined })]));
  for (const key of ["root_ca_crl", "pck_crl"]) {
    const r = await without(key);
    assert.equal(r.reason, "collateral", key);
    assert.match(r.message, /revocation cannot be checked/);
  }
  const none = await verdict(QUOTE, undefined);
  assert.equal(none.reason, "collateral");
  assert.match(none.message, /no TDX TCB info was given/, none.message);
  // …but a signature check needs none of them.
  assert.equal((await verdict(QUOTE, undefined, AT, "signature")).reason, "accept");
});

Deno.test("collateral signatures cover the exact bytes: re-serialised or edited JSON is refused", async () => {
  const text = new TextDecoder().decode(TINFOIL[0]);
  const pretty = utf8(JSON.stringify(JSON.parse(text), null, 1));
  const r1 = await verdict(V5, readCollateral([pretty, ...TINFOIL.slice(1)]), V5_AT);
  assert.equal(r1.reason, "collateral");
  assert.match(r1.message, /TCB info signature does not verify/);
  // Whitespace outside the signed object changes nothing.
  const spaced = utf8(` \n${text.replace('"signature"', ' "signature" ')}\n`);
  assert.equal(
    (await verdict(V5, readCollateral([spaced, ...TINFOIL.slice(1)]), V5_AT)).reason,
    "accept",
  );
  // One changed date inside the signed object.
  const edited = utf8(text.replace("2024-11-13T00:00:00Z", "2024-11-14T00:00:00Z"));
  assert.equal(
    (await verdict(V5, readCollateral([edited, ...TINFOIL.slice(1)]), V5_AT)).reason,
    "collateral",
  );
  // A second "tcbInfo" key: parsers disagree on which wins, so it is refused outright.
  const twice = utf8(text.replace('{"tcbInfo":', '{"tcbInfo":{},"tcbInfo":'));
  assert.throws(() => readCollateral([twice]), /appears twice/);
  // The QE identity is checked the same way.
  const qe = new TextDecoder().decode(TINFOIL[2]).replace('"isvprodid":2', '"isvprodid":2 ');
  const r2 = await verdict(
    V5,
    readCollateral([...TINFOIL.slice(0, 2), utf8(qe), ...TINFOIL.slice(3)]),
    V5_AT,
  );
  assert.equal(r2.reason, "collateral");
  assert.match(r2.message, /QE identity signature does not verify/);
});

Deno.test("a TCB Signing certificate that does not chain to the roots is a collateral refusal", async () => {
  // The tinfoil set without its TCB Signing chains: the signer cannot be found.
  const noChain = readCollateral([TINFOIL[0], TINFOIL[2], TINFOIL[4], TINFOIL[5], TINFOIL[6]]);
  const r = await verdict(V5, noChain, V5_AT);
  assert.equal(r.reason, "collateral");
  assert.match(r.message, /Intel SGX TCB Signing/);
});

Deno.test("the embedded Intel SGX Root CA is the one in the vectors (both copies)", () => {
  for (const f of ["tinfoil-verifier/sgx_root_ca.pem", "go-tdx-guest/trusted_root.pem"]) {
    assert.equal(parseCertificates(read(f))[0].id, intelSgxRootCa().id, f);
  }
  assert.equal(intelSgxRootCa().label, "Intel SGX Root CA");
});

Deno.test("fields decode as the manifest says", async () => {
  const v = await verifyQuote(QUOTE, readCollateral([BUNDLE]), { now: AT, roots });
  assert.equal(toHex(v.pck!.extensions.fmspc), "b0c06f000000");
  assert.equal(v.pck!.extensions.pceSvn, 11);
  assert.equal(v.tcb?.status, "UpToDate");
  assert.equal(v.tcb?.module?.isvSvn, 4); // TDX_01, tee_tcb_svn[0] = 6
  assert.equal(v.qeIdentity?.id, "TD_QE");
});

Deno.test("a malformed quote is reported before an unreadable collateral file", async () => {
  const evidence = QUOTE.subarray(0, 100);
  await assert.rejects(
    () =>
      verifyEvidence(
        { platform: "tdx", evidence, collateral: [{ name: "junk.json", bytes: utf8("{}") }] },
        parsePolicy({}),
        { now: AT },
      ),
    (e: unknown) => e instanceof AttestationError && e.reason === "malformed",
  );
  // With a well-formed quote the same file is the refusal.
  await assert.rejects(
    () =>
      verifyEvidence(
        {
          platform: "tdx",
          evidence: QUOTE,
          collateral: [{ name: "junk.json", bytes: utf8("{}") }],
        },
        parsePolicy({}),
        { now: AT },
      ),
    (e: unknown) =>
      e instanceof AttestationError && e.reason === "collateral" && /junk\.json/.test(e.message),
  );
});

Deno.test("policy: SEV-SNP pins never let a TD through; debug, MRTD, RTMR and binding in order", async () => {
  const v = await verifyQuote(QUOTE, readCollateral([BUNDLE]), { now: AT, roots });
  const reason = (doc: unknown) => {
    try {
      validateQuote(v, parsePolicy(doc));
      return "accept";
    } catch (e) {
      if (!(e instanceof AttestationError)) throw e;
      return e.reason;
    }
  };
  const mrtd = toHex(v.quote.body.mrTd);
  assert.equal(reason({ measurement: "00".repeat(48) }), "policy");
  assert.equal(reason({ measurement: "00".repeat(48), mrtd }), "accept"); // a mixed-fleet policy
  assert.equal(reason({ require_product: "Genoa" }), "policy");
  assert.equal(reason({ vmpl: 0 }), "accept"); // SNP-only refinement
  assert.equal(reason({ accept_tcb_status: ["OutOfDate"] }), "tcb");
  assert.equal(reason({ rtmr: [null, null, null, "11".repeat(48)] }), "policy");
  assert.equal(reason({ rtmr: [null, null, null, toHex(v.quote.body.rtmrs[3])] }), "accept");
  assert.equal(reason({ mrtd: ["00".repeat(48), mrtd] }), "accept");
  assert.equal(reason({ mrtd: "00".repeat(48), report_data: "00".repeat(64) }), "policy");
  assert.equal(reason({ report_data: "00".repeat(64) }), "binding");
});
