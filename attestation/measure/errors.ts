/**
 * Why a launch measurement cannot be computed: the firmware image is not what the mode needs, or
 * the launch parameters are inconsistent. Distinct from `AttestationError` (a refusal of
 * evidence): these are input errors of the precomputation, each with a stable `code`.
 */

export type MeasureCode =
  /** the firmware image is truncated or its GUIDed footer table / SEV metadata is inconsistent */
  | "ovmf-malformed"
  /** a kernel is given but the firmware cannot measure it (no hashes table, no KERNEL_HASHES) */
  | "no-kernel-hashes"
  /** the firmware lacks an entry the mode needs (reset block, TDVF metadata) */
  | "ovmf-missing-entry"
  /** a vCPU count, type, signature or VMM type is unknown or missing */
  | "vcpu"
  /** a mode, option or combination of options is not supported */
  | "usage"
  /** a kernel image (bzImage / PE) is malformed */
  | "kernel-malformed";

export class MeasureError extends Error {
  constructor(readonly code: MeasureCode, message: string) {
    super(message);
    this.name = "MeasureError";
  }
}
