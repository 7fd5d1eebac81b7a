/**
 * One entry point for every launch measurement this folder computes, by sev-snp-measure mode
 * name: `snp` (SEV-SNP MEASUREMENT, SHA-384), `snp:ovmf-hash` (the firmware-only prefix of it, to
 * seed later computations), `snp:svsm` (SEV-SNP behind a Coconut SVSM), `seves` and `sev`
 * (SHA-256 launch digests). The image build, the boot
 * launcher and the emulated secure processor all call this, so a measurement printed ahead of time
 * and one signed at boot come from the same code.
 */
import { MeasureError } from "./errors.ts";
import { type Ovmf, parseOvmf } from "./ovmf.ts";
import { sevEsLaunchDigest, sevLaunchDigest } from "./sev.ts";
import type { SevHashes } from "./sev-hashes.ts";
import { snpLaunchDigest, snpOvmfHash } from "./snp.ts";
import { svsmLaunchDigest } from "./svsm.ts";
import { vcpuSigOf, type VmmType } from "./vmsa.ts";

export type Mode = "snp" | "snp:ovmf-hash" | "snp:svsm" | "seves" | "sev";

export const MODES: readonly Mode[] = ["snp", "snp:ovmf-hash", "snp:svsm", "seves", "sev"];

/** Accepts sev-snp-measure's spellings (`SEV-SNP`, `sev-es`, …), case-insensitively. */
export function parseMode(text: string): Mode {
  const t = text.toLowerCase();
  if (t === "snp" || t === "sev-snp") return "snp";
  if (t === "snp:ovmf-hash") return "snp:ovmf-hash";
  if (t === "seves" || t === "sev-es") return "seves";
  if (t === "sev") return "sev";
  if (t === "snp:svsm" || t === "sev-snp:svsm") return "snp:svsm";
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
  /** SNP SEV_FEATURES; default 0x1 (SNP only). Not used by `snp:svsm`, whose VMSA fixes it. */
  guestFeatures?: bigint;
  /** Direct boot: the kernel, initrd and cmdline digests (`sevHashesOf`), absent without kernel. */
  kernel?: SevHashes;
  /** SNP: a precomputed `snp:ovmf-hash` seed. */
  ovmfHash?: Uint8Array;
  /** `snp:svsm`: the SVSM image (svsm.bin). */
  svsm?: Uint8Array;
  /** `snp:svsm`: bytes of OVMF's variable store (the length of OVMF_VARS.fd). */
  varsSize?: number;
}

const VMMS: readonly VmmType[] = ["QEMU", "ec2", "gce"];

/**
 * The launch parameters each fit the field that measures them: a VMSA's RDX holds a 32-bit
 * signature and SEV_FEATURES 64 bits with bit 0 (SNP active) set (SEV-SNP ABI §4.3 / APM vol. 2
 * Table B-4); written into those fields, a wider value would wrap into another launch's digest.
 */
function checkLaunch(o: LaunchInputs): void {
  if (o.vmm !== undefined && !VMMS.includes(o.vmm)) {
    throw new MeasureError("vcpu", `unknown VMM "${o.vmm}" (known: ${VMMS.join(", ")})`);
  }
  if (
    o.vcpuSig !== undefined &&
    !(Number.isInteger(o.vcpuSig) && o.vcpuSig >= 0 && o.vcpuSig < 2 ** 32)
  ) {
    throw new MeasureError("vcpu", `vCPU signature must be a 32-bit value, got ${o.vcpuSig}`);
  }
  if (o.guestFeatures !== undefined) checkGuestFeatures(o.guestFeatures);
}

/** SNP guest features (SEV_FEATURES): 64 bits, bit 0 (SNP active) set. */
export function checkGuestFeatures(f: bigint): void {
  if (f < 0n || f >= 1n << 64n || (f & 1n) === 0n) {
    throw new MeasureError(
      "usage",
      `guest features 0x${f.toString(16)} must be a 64-bit value with bit 0 (SNP active) set`,
    );
  }
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
  if ((inputs.svsm || inputs.varsSize !== undefined) && inputs.mode !== "snp:svsm") {
    throw new MeasureError(
      "usage",
      `an SVSM image and vars size only apply to mode snp:svsm, not ${inputs.mode}`,
    );
  }
  checkLaunch(inputs);
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
    case "snp:svsm":
      return svsmLaunch(inputs, ovmf, vcpus, vcpuSig);
    case "seves":
      return sevEsLaunchDigest({ ovmf, vcpus, vcpuSig, vmm: inputs.vmm, kernel: inputs.kernel });
    case "sev":
      return sevLaunchDigest(ovmf, inputs.kernel);
  }
}

function svsmLaunch(
  inputs: LaunchInputs,
  ovmf: Ovmf,
  vcpus: number,
  vcpuSig: number | undefined,
): Uint8Array {
  if (!inputs.svsm) {
    throw new MeasureError("usage", "mode snp:svsm needs the SVSM image (svsm.bin)");
  }
  if (inputs.varsSize === undefined) {
    throw new MeasureError(
      "usage",
      "mode snp:svsm needs the OVMF vars size (the length of OVMF_VARS.fd)",
    );
  }
  if (inputs.kernel) {
    throw new MeasureError(
      "usage",
      "mode snp:svsm measures no direct-boot kernel: the SVSM launch has no kernel hashes table",
    );
  }
  if (inputs.vmm !== undefined && inputs.vmm !== "QEMU") {
    throw new MeasureError("usage", `mode snp:svsm is a QEMU launch, not ${inputs.vmm}`);
  }
  if (vcpuSig === undefined) {
    throw new MeasureError("vcpu", "a QEMU launch needs the vCPU type or signature");
  }
  return svsmLaunchDigest({ ovmf, svsm: inputs.svsm, varsSize: inputs.varsSize, vcpus, vcpuSig });
}
