/**
 * The HPKE error family (RFC 9180): one class, a stable `code` per failure the RFC names.
 *
 * | code | RFC 9180 | when |
 * | --- | --- | --- |
 * | `unsupported-kem`, `unsupported-kdf`, `unsupported-aead` | §7 | an identifier this module does not implement |
 * | `invalid-public-key` | §7.1.1, §7.1.4 (DeserializeError / ValidationError) | wrong length or prefix, not on the curve, the identity, a low-order point, or an all-zero / infinite shared secret |
 * | `invalid-private-key` | §7.1.2 | wrong length, or a NIST scalar outside [1, n-1] |
 * | `derive-key-pair-failed` | §7.1.3 (DeriveKeyPairError) | input keying material too short, or 256 rejected candidates |
 * | `invalid-psk` | §5.1 (VerifyPSKInputs) | psk without psk_id or the reverse, a PSK in a mode that takes none, a missing or short PSK |
 * | `open-failed` | §5.2 (OpenError) | the AEAD tag did not verify |
 * | `message-limit` | §5.2 (MessageLimitReachedError) | the sequence number would reach 2^(8*Nn) - 1 |
 * | `export-only` | §5.3 | Seal or Open under the export-only AEAD (0xFFFF) |
 * | `invalid-length` | §5.3, §7.3 | an export or expansion longer than 255 * Nh; an AEAD key or nonce of the wrong size |
 * | `disposed` | — | a context used after `dispose()` wiped its secrets |
 */
import { ProtocolError } from "../errors.ts";

export type HpkeErrorCode =
  | "unsupported-kem"
  | "unsupported-kdf"
  | "unsupported-aead"
  | "invalid-public-key"
  | "invalid-private-key"
  | "derive-key-pair-failed"
  | "invalid-psk"
  | "open-failed"
  | "message-limit"
  | "export-only"
  | "invalid-length"
  | "disposed";

export class HpkeError extends ProtocolError {
  declare readonly code: HpkeErrorCode;

  constructor(
    code: HpkeErrorCode,
    message: string,
    options?: { offset?: number; cause?: unknown },
  ) {
    super(code, message, options?.offset);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** An algorithm identifier as RFC 9180 writes it: `0x0020`. */
export function idHex(id: number): string {
  return `0x${id.toString(16).padStart(4, "0")}`;
}
