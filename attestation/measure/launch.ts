/**
 * One entry point for every launch measurement this folder computes, by sev-snp-measure mode
 * name: `snp` (SEV-SNP MEASUREMENT, SHA-384), `snp:ovmf-hash` (the firmware-only prefix of it, to
 * seed later computations), `seves` and `sev` (SHA-256 launch digests). The image build, the boot
 * launcher and the emulated secure processor all call this, so a measurement printed ahead of time
 * and one signed at boot come from the same code.
 */
import { MeasureError } from "./errors.ts";
import { type Ovmf, parseOvmf } from "./ovmf.ts";
import { sevEsLaunchDigest, sevLaunchDigest } from "./sev.ts";
import type { SevHashes } from "./sev-hashes.ts";
import { snpLaunchDigest, snpOvmfHash } from "./snp.ts";
import { vcpuSigOf, type VmmType } from "./vmsa.ts";

export type Mode = "snp" | "snp:ovmf-hash" | "seves" | "sev";

export const MODES: readonly Mode[] = ["snp", "snp:ovmf-hash", "seves", "sev"];

/** Accepts sev-snp-measure's spellings (`SEV-SNP`, `sev-es`, …), case-insensitively. */
export function parseMode(text: string): Mode {
  const t = text.toLowerCase();
  if (t === "snp" || t === "sev-snp") return "snp";
  if (t === "snp:ovmf-hash") return "snp:ovmf-hash";
  if (t === "seves" || t === "sev-es") return "seves";
  if (t === "sev") return "sev";
  if (t === "snp:svsm" || t === "sev-snp:svsm") {
    throw new MeasureError(
      "usage",
      "mode snp:svsm (Coconut SVSM launch) is not modelled: its VMSA and page order are unverified",
    );
  }
  throw new MeasureError("usage", `unknown mode "${text}" (modes: ${MODES.join(", ")})`);
}

export interface LaunchInputs {
  mode: Mode;
  /** The firmware image bytes, or an already parsed image. */
  ovmf: Uint8Array | Ovmf;
  vcpus?: number;
  /** QEMU `-cpu` model (EPYC-v4, EPYC-Milan, …); or give `vcpuSig` directly. */
  vcpuType?: string;
  vcpuSig?: number;
  vmm?: VmmType;
  /** SNP SEV_FEATURES; default 0x1 (SNP only). */
  guestFeatures?: bigint;
  /** Direct boot: the kernel, initrd and cmdline digests (`sevHashesOf`), absent without kernel. */
  kernel?: SevHashes;
  /** SNP: a precomputed `snp:ovmf-hash` seed. */
  ovmfHash?: Uint8Array;
}

/** The launch measurement for `inputs` (48 bytes for SNP modes, 32 for SEV and SEV-ES). */
export function launchDigest(inputs: LaunchInputs): Uint8Array {
  const ovmf = inputs.ovmf instanceof Uint8Array ? parseOvmf(inputs.ovmf) : inputs.ovmf;
  if (inputs.ovmfHash && inputs.mode !== "snp") {
    throw new MeasureError(
      "usage",
      `an OVMF hash seed only applies to mode snp, not ${inputs.mode}`,
    );
  }
  const vcpuSig = inputs.vcpuSig ?? (inputs.vcpuType ? vcpuSigOf(inputs.vcpuType) : undefined);
  const vcpus = inputs.vcpus ?? 1;
  switch (inputs.mode) {
    case "snp:ovmf-hash":
      return snpOvmfHash(ovmf);
    case "snp":
      return snpLaunchDigest({
        ovmf,
        vcpus,
        vcpuSig,
        vmm: inputs.vmm,
        guestFeatures: inputs.guestFeatures ?? 1n,
        kernel: inputs.kernel,
        ovmfHash: inputs.ovmfHash,
      });
    case "seves":
      return sevEsLaunchDigest({ ovmf, vcpus, vcpuSig, vmm: inputs.vmm, kernel: inputs.kernel });
    case "sev":
      return sevLaunchDigest(ovmf, inputs.kernel);
  }
}
