import assert from "node:assert/strict";
import { AttestationError } from "../../attestation/errors.ts";
import { issueCertificate, kdsExtensions } from "../../attestation/emulated.ts";
import { parsePolicy } from "../../attestation/policy.ts";
import { intermediateName, rootName } from "../../attestation/snp/kds.ts";
import { type EvidenceInput, verifyBundle, verifyEvidence } from "../../attestation/verify.ts";
import type { Certificate } from "../../attestation/x509.ts";
import { toHex } from "../../protocol/bytes.ts";
import { type BindingClaims, encodeEvidenceBundle, reportData } from "../../protocol/evidence.ts";
import { vectorPath } from "../vectors.ts";
import { emulatedSp, MEASUREMENT } from "./fixtures.ts";

const read = (f: string) => Deno.readFileSync(vectorPath(`attestation/snp/${f}`));
const at = new Date("2025-10-01T08:00:00Z");

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "accept";
  } catch (e) {
    if (e instanceof AttestationError) return e.reason;
    throw e;
  }
}

Deno.test("every single-byte flip of an accepted report rejects: signed region, r, s and tail", async () => {
  const report = read("virtee-sev/report_milan_v2.bin");
  const input = (evidence: Uint8Array): EvidenceInput => ({
    platform: "sev-snp",
    evidence,
    certs: [read("virtee-sev/vcek_milan_d49554ec.der"), read("virtee-sev/cert_chain_milan.pem")],
  });
  const policy = parsePolicy({});
  const roots = [read("virtee-sev/milan_ark.pem")];
  assert.equal(await outcome(verifyEvidence(input(report), policy, { now: at, roots })), "accept");
  const seen = new Map<string, number>();
  for (let offset = 0; offset < report.length; offset++) {
    const mutated = report.slice();
    mutated[offset] ^= 0x01;
    const got = await outcome(verifyEvidence(input(mutated), policy, { now: at, roots }));
    // version (0x000) and signature_algo (0x034) are read before anything else; the tail after
    // s (0x330..) is unsigned and must be zero; everything else is signed or is the signature.
    const expected = offset >= 0x330
      ? "malformed"
      : (offset >= 1 && offset < 4) || (offset >= 0x34 && offset < 0x38)
      ? "unsupported"
      : "signature";
    assert.equal(got, expected, `flip at 0x${offset.toString(16)}`);
    seen.set(got, (seen.get(got) ?? 0) + 1);
  }
  assert.deepEqual(Object.fromEntries(seen), { signature: 809, unsupported: 7, malformed: 368 });
});

Deno.test("the upper 24 bytes of r and s must be zero (0x2d0-0x2e7, 0x318-0x32f)", async () => {
  const report = read("oak/genoa_oc.report.bin");
  for (const offset of [0x2d0, 0x2e7, 0x318, 0x32f]) {
    const mutated = report.slice();
    mutated[offset] = 0x80;
    const e = await verifyEvidence(
      {
        platform: "sev-snp",
        evidence: mutated,
        certs: [read("oak/genoa_oc.vcek.der"), read("go-sev-guest/ask_ark_genoa.pem")],
      },
      parsePolicy({}),
      { now: at, roots: [read("virtee-sev/genoa_ark.pem")] },
    ).catch((e) => e);
    assert.ok(e instanceof AttestationError);
    assert.equal(e.reason, "signature");
    assert.match(e.message, new RegExp(`byte 0x${offset.toString(16)} above its 48 low bytes`));
  }
});

Deno.test("emulated chain: accepted only when its root is named, and marked emulated", async () => {
  const sp = await emulatedSp("genoa");
  sp.launch({ measurement: MEASUREMENT });
  const evidence = await sp.report({ reportData: new Uint8Array(64).fill(7) });
  const input = {
    platform: "sev-snp" as const,
    evidence,
    certs: sp.certificates.map((c) => c.der),
  };
  const steps: string[] = [];
  const v = await verifyEvidence(input, parsePolicy({ measurement: toHex(MEASUREMENT) }), {
    now: new Date(),
    roots: [sp.root],
    onStep: (check) => steps.push(check),
  });
  assert.equal(v.emulated, true);
  assert.equal(v.fields.product, "Genoa");
  assert.equal(v.fields.version, 5);
  assert.deepEqual(v.chain.map((c) => c.label), ["SEV-VCEK", "SEV-Emulated", "ARK-Emulated"]);
  assert.deepEqual(steps, [
    "parse",
    "certificate chain",
    "report signature",
    "reserved fields",
    "key matches report",
    "debug",
    "policy",
  ]);
  const byDefault = await verifyEvidence(input, parsePolicy({}), { now: new Date() }).catch((e) =>
    e
  );
  assert.equal(byDefault.reason, "chain");
  assert.match(
    byDefault.message,
    /ARK-Emulated is self-issued but is not one of the trusted roots/,
  );
  const v3 = await sp.report({ reportData: new Uint8Array(64), version: 3, vmpl: 2 });
  const w = await verifyEvidence({ ...input, evidence: v3 }, parsePolicy({ vmpl: 2 }), {
    now: new Date(),
    roots: [sp.root],
  });
  assert.equal(w.fields.version, 3);
  assert.equal(w.fields.vmpl, 2);
});

Deno.test("Turin: FMC in the TCB and an 8-byte hwID", async () => {
  const sp = await emulatedSp("turin", { product: "Turin" });
  sp.launch({ measurement: MEASUREMENT });
  const evidence = await sp.report({ reportData: new Uint8Array(64) });
  const v = await verifyEvidence(
    { platform: "sev-snp", evidence, certs: sp.certificates.map((c) => c.der) },
    parsePolicy({ min_tcb: { fmc: 1, snp: 3 }, require_product: "Turin" }),
    { now: new Date(), roots: [sp.root] },
  );
  assert.deepEqual(v.fields.reported_tcb, { fmc: 1, bl: 1, tee: 1, snp: 3, ucode: 9 });
  assert.equal((v.fields.chip_id as string).slice(16), "0".repeat(112));
  const tooNew = parsePolicy({ min_tcb: { fmc: 2 } });
  const e = await verifyEvidence(
    { platform: "sev-snp", evidence, certs: sp.certificates.map((c) => c.der) },
    tooNew,
    { now: new Date(), roots: [sp.root] },
  ).catch((e) => e);
  assert.equal(e.reason, "tcb");
  assert.match(e.message, /fmc SPL 1 is below the minimum 2/);
});

/** A VCEK for the same key as `sp`'s, with other KDS fields, issued by `sp`'s ASK. */
async function otherVcek(
  sp: Awaited<ReturnType<typeof emulatedSp>>,
  change: Partial<typeof sp.identity>,
): Promise<Certificate> {
  const publicKey = await crypto.subtle.importKey(
    "spki",
    sp.endorsement.cert.publicKey.spki as BufferSource,
    { name: "ECDSA", namedCurve: "P-384" },
    true,
    ["verify"],
  );
  return issueCertificate({
    serial: 1,
    subject: "SEV-VCEK",
    issuer: intermediateName("vcek", "Emulated"),
    publicKey,
    signer: sp.intermediate.privateKey,
    notBefore: new Date(Date.now() - 86_400_000),
    years: 1,
    extensions: kdsExtensions({ ...sp.identity, ...change }),
  });
}

Deno.test("key match: SPLs, hwID and product of the VCEK must be the report's", async () => {
  const sp = await emulatedSp("genoa");
  sp.launch({ measurement: MEASUREMENT });
  const evidence = await sp.report({ reportData: new Uint8Array(64) });
  const cases: [Partial<typeof sp.identity>, RegExp][] = [
    [
      { tcb: { ...sp.identity.tcb, snp: sp.identity.tcb.snp + 1 } },
      /reported_tcb .* differs from the VCEK SPLs/,
    ],
    [{ chipId: new Uint8Array(64).fill(9) }, /chip_id .* differs from the VCEK hwID/],
    [{ product: "Milan" }, /report CPUID says Genoa but the VCEK productName is Milan-B0/],
  ];
  for (const [change, message] of cases) {
    const vcek = await otherVcek(sp, change);
    const e = await verifyEvidence(
      {
        platform: "sev-snp",
        evidence,
        certs: [vcek.der, sp.intermediate.cert.der, sp.root.der],
      },
      parsePolicy({}),
      { now: new Date(), roots: [sp.root] },
    ).catch((e) => e);
    assert.ok(e instanceof AttestationError, String(e));
    assert.equal(e.reason, "key-mismatch");
    assert.match(e.message, message);
  }
});

Deno.test("CRLs: a revoked ASK, a stale CRL, a CRL signed by another key", async () => {
  const sp = await emulatedSp("genoa");
  const other = await emulatedSp("milan", { product: "Milan" });
  sp.launch({ measurement: MEASUREMENT });
  const evidence = await sp.report({ reportData: new Uint8Array(64) });
  const run = (crl: Uint8Array) =>
    verifyEvidence(
      {
        platform: "sev-snp",
        evidence,
        certs: sp.certificates.map((c) => c.der),
        collateral: [crl],
      },
      parsePolicy({}),
      { now: new Date(), roots: [sp.root] },
    ).then(() => "accept", (e: AttestationError) => `${e.reason}: ${e.message}`);
  assert.equal(await run(await sp.crl()), "accept");
  assert.match(
    await run(await sp.crl([sp.intermediate.cert])),
    /^revoked: SEV-Emulated \(serial 010001\) was revoked by ARK-Emulated/,
  );
  assert.match(
    await run(await sp.crl([], new Date(Date.now() - 90 * 86_400_000))),
    /^expired: CRL of ARK-Emulated is not current/,
  );
  assert.match(
    await run(await other.crl()),
    /^chain: CRL of ARK-Emulated is not signed by ARK-Emulated/,
  );
  assert.equal(rootName("Emulated"), "ARK-Emulated");
});

Deno.test("verifyBundle: binding to the claims, the key epoch, malformed bundles", async () => {
  const sp = await emulatedSp("genoa");
  sp.launch({ measurement: MEASUREMENT });
  const now = Math.floor(Date.now() / 1000);
  const claims: BindingClaims = {
    keyConfig: new Uint8Array([1, 0, 32, ...new Uint8Array(32).fill(5), 0, 4, 0, 1, 0, 1]),
    epochStart: now - 60,
    epochEnd: now + 540,
  };
  const evidence = await sp.report({ reportData: reportData(claims) });
  const bundle = (c: BindingClaims) =>
    encodeEvidenceBundle({
      platform: "sev-snp",
      evidence,
      certificates: sp.certificates.map((x) => x.der),
      collateral: new Map(),
      claims: c,
    });
  const options = { now: new Date(), roots: [sp.root] };
  const ok = await verifyBundle(bundle(claims), parsePolicy({}), options);
  assert.equal(ok.emulated, true);
  assert.equal(ok.claims.epochEnd, claims.epochEnd);
  const other = await verifyBundle(
    bundle({ ...claims, nonce: new Uint8Array([1]) }),
    parsePolicy({}),
    options,
  )
    .catch((e) => e);
  assert.equal(other.reason, "binding");
  const late = await verifyBundle(bundle(claims), parsePolicy({}), {
    ...options,
    now: new Date((claims.epochEnd + 1) * 1000),
  }).catch((e) => e);
  assert.equal(late.reason, "expired");
  const broken = bundle(claims).slice(0, 100);
  const bad = await verifyBundle(broken, parsePolicy({}), options).catch((e) => e);
  assert.equal(bad.reason, "malformed");
});
