import assert from "node:assert/strict";
import { AttestationError } from "../../../attestation/errors.ts";
import { endorsementKind, readEndorsementKey } from "../../../attestation/snp/kds.ts";
import { amdArk, amdRoots } from "../../../attestation/snp/trust.ts";
import { parseCertificates } from "../../../attestation/x509.ts";
import { toHex } from "../../../protocol/bytes.ts";
import { vectorPath } from "../../vectors.ts";

const cert = (f: string) =>
  parseCertificates(Deno.readFileSync(vectorPath(`attestation/snp/${f}`)))[0];

Deno.test("VCEK extensions: Milan-B0 SPLs and the 64-byte hwID", () => {
  const k = readEndorsementKey(cert("go-sev-guest/vcek_milan_3ac3fe21.der"));
  assert.equal(k.kind, "vcek");
  assert.equal(k.productName, "Milan-B0");
  assert.equal(k.product, "Milan");
  assert.deepEqual(k.tcb, { bl: 2, tee: 0, snp: 5, ucode: 68 });
  assert.equal(toHex(k.hwId!).slice(0, 8), "3ac3fe21");
  assert.equal(k.hwId!.length, 64);
});

Deno.test("Turin VCEK: fmcSPL and an 8-byte hwID", () => {
  const k = readEndorsementKey(cert("virtee-sev/vcek_turin_1e550a8e.der"));
  assert.equal(k.product, "Turin");
  assert.deepEqual(k.tcb, { bl: 0, tee: 0, snp: 0, ucode: 9, fmc: 0 });
  assert.equal(toHex(k.hwId!), "1e550a8ee5cf9f4d");
});

Deno.test("VLEK: cspID, no hwID; hwID wrapped in an OCTET STRING is read too", () => {
  const vlek = readEndorsementKey(cert("trustee/test-vlek.der"));
  assert.equal(vlek.kind, "vlek");
  assert.equal(vlek.cspId, "CN=cc-us-east-2.amazonaws.com");
  assert.equal(vlek.hwId, undefined);
  const wrapped = readEndorsementKey(cert("trustee/test-vcek-invalid-new.der"));
  assert.equal(wrapped.hwId!.length, 64);
  assert.equal(toHex(wrapped.hwId!).slice(0, 8), "00010203");
});

Deno.test("a CA certificate is not an endorsement key", () => {
  const ask = cert("go-sev-guest/ask_ark_milan.pem");
  assert.equal(endorsementKind(ask), undefined);
  assert.throws(() => readEndorsementKey(ask), (e: unknown) => {
    assert.ok(e instanceof AttestationError);
    assert.equal(e.reason, "chain");
    assert.match(e.message, /neither a VCEK nor a VLEK/);
    return true;
  });
});

Deno.test("embedded AMD roots are the vectors' ARKs, fingerprints checked", () => {
  assert.deepEqual(amdRoots().map((c) => c.label), ["ARK-Milan", "ARK-Genoa", "ARK-Turin"]);
  assert.equal(amdArk("Genoa").id, cert("virtee-sev/genoa_ark.pem").id);
  assert.equal(amdArk("Turin").id, cert("virtee-sev/turin_ark.pem").id);
});
