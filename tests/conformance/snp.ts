/** Conformance suite `snp`: the SEV-SNP cases of an attestation cases folder. */
import { attestationSuite } from "./attestation.ts";

export default attestationSuite("sev-snp");
