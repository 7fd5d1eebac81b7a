/**
 * "Is this the SEV-SNP guest I want?" — a verified report against a `Policy` (go-sev-guest
 * `validate.Options`; guest policy bits: SEV-SNP Firmware ABI §4.3 Table 9).
 *
 * Order (shared/vectors/attestation/README.md): TCB (`tcb`: each component given in `min_tcb` ≤
 * reported_tcb), then debug (`debug`: guest policy bit 19 set and `allow_debug` false), then the
 * identity fields (`policy`: vmpl, measurement allow-list, product, host_data, ID and author key
 * digests), then the binding (`binding`: report_data). Each refusal names the field and both
 * values. Runs only on a report whose signature and chain `verify.ts` has accepted (or, for a
 * `parse`-only check, on a decoded report, saying so).
 */
import { AttestationError } from "../errors.ts";
import type { MinTcb, Policy, Product } from "../policy.ts";
import { authorKeyEn, formatTcb, POLICY, type Report, type Tcb } from "./abi.ts";
import { equalBytes, toHex } from "../../protocol/bytes.ts";

export function validateReport(
  report: Report,
  facts: { product?: Product; reportedTcb: Tcb },
  policy: Policy,
  onStep: (check: string, detail: string) => void = () => {},
): void {
  if (policy.minTcb) {
    checkMinTcb(facts.reportedTcb, policy.minTcb);
    onStep(
      "minimum TCB",
      `reported_tcb (${formatTcb(facts.reportedTcb)}) ≥ ${formatTcb(policy.minTcb as Tcb)}`,
    );
  }
  const debug = (report.policy & POLICY.DEBUG) !== 0n;
  if (debug && !policy.allowDebug) {
    throw new AttestationError(
      "debug",
      `guest policy 0x${
        report.policy.toString(16).padStart(16, "0")
      } has DEBUG (bit 19) set and the policy does not allow debug`,
      "policy.debug",
    );
  }
  onStep("debug", debug ? "DEBUG set, allowed by allow_debug" : "DEBUG off");
  // The mirror of tdx/validate.ts: a policy written for TDX must not wave an SEV-SNP guest
  // through: MRTD or RTMR pins with no launch measurement pinned admit no SEV-SNP report.
  if ((policy.mrtd || policy.rtmr?.some((r) => r !== null)) && !policy.measurement) {
    refuse(
      "measurement",
      "the policy pins TDX MRTD or RTMRs but no SEV-SNP launch measurement, so no SEV-SNP " +
        "report can satisfy it",
    );
  }
  if (policy.vmpl !== undefined && report.vmpl !== policy.vmpl) {
    refuse("vmpl", `report VMPL is ${report.vmpl}, the policy requires ${policy.vmpl}`);
  }
  oneOf("measurement", report.measurement, policy.measurement);
  if (policy.requireProduct && facts.product !== policy.requireProduct) {
    refuse(
      "product",
      `report is from ${
        facts.product ?? "an unknown product"
      }, the policy requires ${policy.requireProduct}`,
    );
  }
  if (policy.hostData && !equalBytes(report.hostData, policy.hostData)) {
    refuse("host_data", `host_data ${toHex(report.hostData)} ≠ ${toHex(policy.hostData)}`);
  }
  oneOf("id_key_digest", report.idKeyDigest, policy.idKeyDigest);
  if (policy.authorKeyDigest) {
    if (!authorKeyEn(report)) {
      refuse("author_key_digest", "the report has no author key (AUTHOR_KEY_EN is 0)");
    }
    oneOf("author_key_digest", report.authorKeyDigest, policy.authorKeyDigest);
  }
  const pinned = [
    policy.vmpl !== undefined && `vmpl ${report.vmpl}`,
    policy.measurement && "measurement",
    policy.requireProduct && `product ${facts.product}`,
    policy.hostData && "host_data",
    policy.idKeyDigest && "id_key_digest",
    policy.authorKeyDigest && "author_key_digest",
  ].filter(Boolean);
  onStep(
    "policy",
    pinned.length ? `${pinned.join(", ")} as required` : "no identity fields pinned",
  );
  if (policy.reportData) {
    if (!equalBytes(report.reportData, policy.reportData)) {
      throw new AttestationError(
        "binding",
        `report_data ${toHex(report.reportData)} ≠ expected ${toHex(policy.reportData)}`,
        "report_data",
      );
    }
    onStep("report_data", "equals the policy's report_data");
  }
}

function refuse(field: string, message: string): never {
  throw new AttestationError("policy", message, field);
}

function oneOf(field: string, value: Uint8Array, allowed: Uint8Array[] | undefined): void {
  if (!allowed || allowed.some((a) => equalBytes(a, value))) return;
  refuse(
    field,
    `${field} ${toHex(value)} is not ${
      allowed.length === 1 ? toHex(allowed[0]) : `one of the ${allowed.length} allowed values`
    }`,
  );
}

function checkMinTcb(reported: Tcb, min: MinTcb): void {
  for (const [name, floor] of Object.entries(min) as [keyof Tcb, number][]) {
    const have = reported[name];
    if (have === undefined) {
      throw new AttestationError(
        "tcb",
        `min_tcb.${name} is set but this product's TCB has no ${name} component`,
        `reported_tcb.${name}`,
      );
    }
    if (have < floor) {
      throw new AttestationError(
        "tcb",
        `reported_tcb ${name} SPL ${have} is below the minimum ${floor} (reported: ${
          formatTcb(reported)
        })`,
        `reported_tcb.${name}`,
      );
    }
  }
}
