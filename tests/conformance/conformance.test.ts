/**
 * Every conformance suite on the shared vectors it is built for, inside `deno task test`: the same
 * code path as `deno task conformance <suite> <path>`.
 */
import { runSuite } from "./harness.ts";
import { SUITES } from "./suites.ts";
import { vectorPath } from "../vectors.ts";

/** [suite, path under the shared vectors]; a suite joins this list when it is built. */
const RUNS: [string, string][] = [
  ["snp", "attestation"],
  ["oprf", "protocols/oprf"],
  ["privacypass", "protocols/blindrsa"],
  ["privacypass", "protocols/privacypass"],
  ["tlog", "protocols/transparency"],
  ["bhttp", "protocols/bhttp"],
  ["hpke", "protocols/hpke"],
  ["ohttp", "protocols/ohttp"],
  ["wycheproof", "protocols/wycheproof/x25519_test.json"],
  ["wycheproof", "protocols/wycheproof/aes_gcm_test.json"],
  ["wycheproof", "protocols/wycheproof/chacha20_poly1305_test.json"],
  ["wycheproof", "protocols/wycheproof/hkdf_sha256_test.json"],
  ["wycheproof", "protocols/wycheproof/hkdf_sha384_test.json"],
  ["tdx", "attestation"],
  ["measure", "measurement"],
];

for (const [suite, path] of RUNS) {
  Deno.test(`conformance ${suite} ${path}`, async () => {
    const tally = await runSuite(await SUITES[suite](), vectorPath(path));
    const lines = tally.failures.map((f) => `${f.name}: ${f.detail}`).join("\n");
    if (tally.failed > 0 || tally.passed === 0) {
      throw new Error(`${tally.passed} passed, ${tally.failed} failed\n${lines}`);
    }
  });
}
