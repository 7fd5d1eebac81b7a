/**
 * The measure suite on the whole measurement folder (cases.json, derived_cases.json, aux.json):
 * every case passes, the three `snp:svsm` (Coconut SVSM) ones included, and none is skipped.
 */
import assert from "node:assert/strict";
import { runSuite } from "../../conformance/harness.ts";
import suite from "../../conformance/measure.ts";
import { vectorPath } from "../../vectors.ts";

Deno.test("conformance measure: every sev-snp-measure vector reproduces", async () => {
  const tally = await runSuite(suite, vectorPath("measurement"));
  assert.deepEqual(tally.failures, []);
  assert.equal(tally.passed, 49, "30 upstream cases (3 of them SVSM), 15 derived, 4 aux checks");
});
