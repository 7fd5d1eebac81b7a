/**
 * Why the client refused to send, or why a request failed: one error class with a stable `code`
 * and the reason in human words (`REASONS`), so the CLI, the demo and tests can tell "image
 * measurement not in the transparency log" from "report signature invalid" without matching on
 * message text. Evidence refusals keep attestation/'s reason codes (`signature`, `chain`, `tcb`,
 * `binding`, …); the rest are the client's own (log, keys, tokens, transport).
 *
 * `ClientInputError` is the other family: what the caller gave cannot be used (a bad option, an
 * unreadable file, a configuration that pins nothing). The CLI exits 2 on it, 1 on a refusal.
 */
import { AttestationError } from "../attestation/errors.ts";
import type { TrailStep } from "./trail.ts";

/** Stable code → the reason in human words (what a refusal says first). */
export const REASONS = {
  // Evidence: attestation/errors.ts reasons, and `measurement` for a policy allow-list miss.
  malformed: "evidence malformed",
  unsupported: "evidence format not supported",
  signature: "report signature invalid",
  chain: "certificate chain not trusted",
  expired: "evidence expired",
  revoked: "certificate revoked",
  "key-mismatch": "endorsement key does not match the report",
  collateral: "TCB collateral invalid",
  tcb: "TCB below the policy minimum",
  debug: "debug guest not allowed",
  policy: "report not allowed by the policy",
  measurement: "image measurement not allowed by the policy",
  binding: "key binding mismatch",
  // The client's own checks of a node.
  "stale-evidence": "evidence not fresh (nonce mismatch)",
  "unattested-key": "advertised key is not the attested one",
  unlogged: "image measurement not in the transparency log",
  "log-signature": "checkpoint not signed by the pinned log key",
  "log-proof": "log inclusion proof invalid",
  inconsistent: "checkpoint not consistent with the last one seen",
  "log-unreachable": "transparency log unreachable",
  // The fleet and the request.
  "no-node": "no node verified",
  unreachable: "node unreachable",
  "relay-unreachable": "relay unreachable",
  relay: "relay refused the request",
  issuer: "issuer refused to issue tokens",
  "token-refused": "token refused",
  "stale-key": "node no longer accepts the attested key",
  response: "response did not authenticate",
  "node-error": "node could not answer",
} as const;

export type ClientErrorCode = keyof typeof REASONS;

/** A refusal: `code` is stable, `reason` its human words, `detail` what exactly disagreed. */
export class ClientError extends Error {
  /** Set when the error ends a whole `summarize` call: every step taken until then. */
  trail?: TrailStep[];

  constructor(
    readonly code: ClientErrorCode,
    readonly detail: string,
    /** The node the refusal is about, when there is one. */
    readonly node?: string,
  ) {
    super(`${REASONS[code]}: ${detail}`);
    this.name = "ClientError";
  }

  get reason(): string {
    return REASONS[this.code];
  }
}

/** What the caller gave cannot be used (options, files, configuration). */
export class ClientInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClientInputError";
  }
}

/** The client's refusal for an attestation/ refusal, keeping its reason code and sentence. */
export function fromAttestation(e: AttestationError, node?: string): ClientError {
  const code: ClientErrorCode = e.reason === "policy" && /^(measurement|mrtd)$/.test(e.field ?? "")
    ? "measurement"
    : e.reason;
  return new ClientError(code, e.message, node);
}
