import assert from "node:assert/strict";
import { AttestationError } from "../../../attestation/errors.ts";
import { parsePolicy } from "../../../attestation/policy.ts";
import { parseReport, type Report } from "../../../attestation/snp/abi.ts";
import { validateReport } from "../../../attestation/snp/validate.ts";
import { toHex } from "../../../protocol/bytes.ts";
import { vectorPath } from "../../vectors.ts";

const report = parseReport(
  Deno.readFileSync(vectorPath("attestation/snp/oak/genoa_oc.report.bin")),
);
const facts = { product: "Genoa" as const, reportedTcb: { bl: 10, tee: 0, snp: 25, ucode: 84 } };

function refusal(policy: unknown, r: Report = report): string {
  try {
    validateReport(r, facts, parsePolicy(policy));
    return "accept";
  } catch (e) {
    if (e instanceof AttestationError) return `${e.reason} ${e.field}: ${e.message}`;
    throw e;
  }
}

Deno.test("each identity field pinned by the policy: equal accepts, different refuses naming it", () => {
  const m = toHex(report.measurement);
  assert.equal(refusal({ measurement: [("00").repeat(48), m] }), "accept");
  assert.match(
    refusal({ measurement: ["00".repeat(48), "11".repeat(48)] }),
    /^policy measurement: .* is not one of the 2 allowed values/,
  );
  assert.equal(refusal({ host_data: toHex(report.hostData) }), "accept");
  assert.match(refusal({ host_data: "ff".repeat(32) }), /^policy host_data: /);
  assert.equal(refusal({ id_key_digest: toHex(report.idKeyDigest) }), "accept");
  assert.match(refusal({ id_key_digest: "ab".repeat(48) }), /^policy id_key_digest: /);
  assert.match(
    refusal({ author_key_digest: toHex(report.authorKeyDigest) }),
    /^policy author_key_digest: the report has no author key/,
  );
  assert.match(refusal({ vmpl: 3 }), /^policy vmpl: report VMPL is 0, the policy requires 3/);
  assert.match(refusal({ require_product: "Turin" }), /^policy product: report is from Genoa/);
});

Deno.test("a policy pinning only TDX identity admits no SEV-SNP report", () => {
  const zeros = "00".repeat(48);
  const tdxOnly = /^policy measurement: the policy pins TDX MRTD or RTMRs but no SEV-SNP/;
  assert.match(refusal({ mrtd: [zeros] }), tdxOnly);
  assert.match(refusal({ rtmr: [zeros, null, null, null] }), tdxOnly);
  // Pinning both platforms' measurements is how one policy covers a mixed fleet.
  assert.equal(refusal({ mrtd: [zeros], measurement: [toHex(report.measurement)] }), "accept");
});

Deno.test("order: tcb before debug before policy before binding", () => {
  const debug = { ...report, policy: report.policy | (1n << 19n) };
  const pins = { measurement: "00".repeat(48), report_data: "00".repeat(64) };
  assert.match(
    refusal({ ...pins, min_tcb: { snp: 99 } }, debug),
    /^tcb reported_tcb\.snp: reported_tcb snp SPL 25 is below the minimum 99/,
  );
  assert.match(refusal(pins, debug), /^debug /);
  assert.match(refusal({ ...pins, allow_debug: true }, debug), /^policy measurement/);
  assert.match(refusal({ report_data: "00".repeat(64) }), /^binding report_data: /);
  assert.match(refusal({ min_tcb: { fmc: 1 } }), /^tcb .*no fmc component/);
});
