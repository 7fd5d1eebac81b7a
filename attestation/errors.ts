/**
 * Why evidence was refused. One error class carries a stable reason code from
 * `../shared/vectors/attestation/README.md`; the order in which checks run (and so which reason
 * a doubly-wrong input reports) is: parse, certificate path, signature, key match, collateral,
 * TCB, policy. The message is one human sentence naming the field and the values that disagreed.
 */

export type Reason =
  /** lengths or sizes are wrong; reserved bytes not zero where the format requires it at parse */
  | "malformed"
  /** a well-formed header declares something not implemented (algorithm, version, TEE type) */
  | "unsupported"
  /** the report/quote signature (TDX: QE report signature or binding too) does not verify */
  | "signature"
  /** a certificate cannot be decoded, does not chain to a trusted root, or has the wrong issuer */
  | "chain"
  /** the reference time is outside a certificate's, CRL's or collateral item's validity */
  | "expired"
  /** a certificate in the path is on a given CRL */
  | "revoked"
  /** SNP: the VCEK/VLEK does not match the report (SPLs, hwID, product) */
  | "key-mismatch"
  /** TDX: collateral missing, badly signed, or not for this platform / QE / TDX module */
  | "collateral"
  /** TCB below the minimum, no matching TCB level, or a status the policy does not accept */
  | "tcb"
  /** the debug bit is set and the policy does not allow debug */
  | "debug"
  /** vmpl, measurement, mrtd, rtmr, product, host_data or key digests differ from the policy */
  | "policy"
  /** report_data differs from what the policy or key binding requires */
  | "binding";

export const REASONS: readonly Reason[] = [
  "malformed",
  "unsupported",
  "signature",
  "chain",
  "expired",
  "revoked",
  "key-mismatch",
  "collateral",
  "tcb",
  "debug",
  "policy",
  "binding",
];

/** A refusal of evidence: `reason` is the stable code, `field` the field that disagreed. */
export class AttestationError extends Error {
  constructor(
    readonly reason: Reason,
    message: string,
    /** The field (or certificate, or byte offset as "offset 0x2a0") the refusal is about. */
    readonly field?: string,
  ) {
    super(message);
    this.name = "AttestationError";
  }
}

/** Shorthand for `throw new AttestationError(...)` in expression position. */
export function refuse(reason: Reason, message: string, field?: string): never {
  throw new AttestationError(reason, message, field);
}
