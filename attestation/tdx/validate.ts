/**
 * Is this verified TDX quote what the relying party wants? Applies a `Policy` (`../policy.ts`)
 * to what `verify.ts` established. Order, after the vectors README: `tcb` (no matching level, or
 * a status outside `accept_tcb_status`), then `debug` (td_attributes bit 0, TDX module spec
 * "TDINFO_STRUCT.ATTRIBUTES.DEBUG"; go-tdx-guest `EnableTdDebugCheck`), then `policy` (MRTD
 * allow-list, RTMR0-3; and SEV-SNP pins that a TD cannot meet), then `binding` (REPORT_DATA).
 * SEV-SNP-only refinements (vmpl, host_data, key digests, min_tcb) do not apply to a TD.
 *
 * The TCB judgement applies to `full` verification only: a `signature` check has no collateral
 * and so no status to judge.
 */
import { AttestationError } from "../errors.ts";
import type { Policy } from "../policy.ts";
import { equalBytes, toHex } from "../../protocol/bytes.ts";
import type { VerifiedQuote } from "./verify.ts";

/** td_attributes bit 0 (byte 0, little-endian u64): the TD runs in debug mode. */
export function isDebug(tdAttributes: Uint8Array): boolean {
  return (tdAttributes[0] & 1) === 1;
}

/** Throws the first policy refusal, or returns normally when the quote is acceptable. */
export function validateQuote(verified: VerifiedQuote, policy: Policy): void {
  const { body } = verified.quote;
  const tcb = verified.tcb;
  if (tcb) {
    if (tcb.status === "NoMatchingTcbLevel") {
      throw new AttestationError("tcb", `no matching TCB level: ${tcb.detail}`, "tcb_status");
    }
    if (!policy.acceptTcbStatus.includes(tcb.status)) {
      const advisories = tcb.advisoryIds.length > 0
        ? ` (advisories ${tcb.advisoryIds.join(", ")})`
        : "";
      throw new AttestationError(
        "tcb",
        `TCB status ${tcb.status}${advisories} is not accepted (policy accepts ${
          policy.acceptTcbStatus.join(", ") || "none"
        })`,
        "tcb_status",
      );
    }
  }
  if (isDebug(body.tdAttributes) && !policy.allowDebug) {
    throw new AttestationError(
      "debug",
      `the TD runs in debug mode (td_attributes ${
        toHex(body.tdAttributes)
      }, bit 0 set) and the policy does not allow debug`,
      "td_attributes",
    );
  }
  // A policy written for SEV-SNP must not wave a TD through: a pinned launch measurement with
  // no MRTD pin, or a required AMD product, admits no TDX quote (else any TD would pass).
  if (policy.measurement && !policy.mrtd) {
    throw new AttestationError(
      "policy",
      "the policy pins SEV-SNP launch measurements but no MRTD, so no TDX quote can satisfy it",
      "mrtd",
    );
  }
  if (policy.requireProduct) {
    throw new AttestationError(
      "policy",
      `the policy requires an AMD ${policy.requireProduct}; this is an Intel TDX quote`,
      "product",
    );
  }
  if (policy.mrtd && !policy.mrtd.some((m) => equalBytes(m, body.mrTd))) {
    throw new AttestationError(
      "policy",
      `MRTD ${toHex(body.mrTd)} is not ${policy.mrtd.length === 1 ? "" : "one of "}${
        policy.mrtd.map(toHex).join(", ")
      }`,
      "mrtd",
    );
  }
  policy.rtmr?.forEach((want, i) => {
    if (want && !equalBytes(want, body.rtmrs[i])) {
      throw new AttestationError(
        "policy",
        `RTMR${i} ${toHex(body.rtmrs[i])} is not ${toHex(want)}`,
        `rtmr${i}`,
      );
    }
  });
  if (policy.reportData && !equalBytes(policy.reportData, body.reportData)) {
    throw new AttestationError(
      "binding",
      `REPORT_DATA ${toHex(body.reportData)} is not the expected ${toHex(policy.reportData)}`,
      "report_data",
    );
  }
}
