/**
 * Is this verified TDX quote what the relying party wants? Applies a `Policy` (`../policy.ts`)
 * to what `verify.ts` established. Order, after the vectors README: `tcb` (no matching level, or
 * a status outside `accept_tcb_status`), then `debug` (td_attributes bit 0, TDX module spec
 * "TDINFO_STRUCT.ATTRIBUTES.DEBUG"; go-tdx-guest `EnableTdDebugCheck`), then `policy` (MRTD
 * allow-list, RTMR0-3), then `binding` (REPORT_DATA).
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
