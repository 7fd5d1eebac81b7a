/** Conformance suite `tdx`: the Intel TDX cases of an attestation cases folder. */
import { attestationSuite } from "./attestation.ts";

export default attestationSuite("tdx");
