/**
 * Launch digests of the older AMD modes (SEV API Specification rev 0.24, §6.5 LAUNCH_UPDATE_DATA,
 * §6.6 LAUNCH_UPDATE_VMSA, §6.7 LAUNCH_MEASURE): a running SHA-256 over every launched byte.
 *
 * - SEV: SHA-256(firmware ‖ padded SEV hashes table when a kernel is given).
 * - SEV-ES: the same, then each vCPU's raw 4 KiB VMSA page (SEV_FEATURES 0).
 *
 * The firmware must advertise a hashes table (SEV_HASH_TABLE_RV non-zero) for a kernel to be
 * measured. The result is what the platform HMACs into LAUNCH_MEASURE; that HMAC needs the TIK,
 * which only the guest owner holds, so it is out of scope here.
 */
import { createHash } from "node:crypto";
import { MeasureError } from "./errors.ts";
import { type Ovmf, sevEsResetEip, sevHashesTableGpa } from "./ovmf.ts";
import { type SevHashes, sevHashesTable } from "./sev-hashes.ts";
import { type VmmType, vmsaPages } from "./vmsa.ts";

function firmwareAndTable(ovmf: Ovmf, kernel: SevHashes | undefined) {
  const hash = createHash("sha256").update(ovmf.data);
  if (kernel) {
    if (sevHashesTableGpa(ovmf) === 0) {
      throw new MeasureError(
        "no-kernel-hashes",
        "a kernel is given but this OVMF does not measure kernel, initrd and command line " +
          "(its SEV_HASH_TABLE_RV entry is missing or 0)",
      );
    }
    hash.update(sevHashesTable(kernel));
  }
  return hash;
}

export function sevLaunchDigest(ovmf: Ovmf, kernel?: SevHashes): Uint8Array {
  return new Uint8Array(firmwareAndTable(ovmf, kernel).digest());
}

export interface SevEsLaunch {
  ovmf: Ovmf;
  vcpus: number;
  vcpuSig?: number;
  vmm?: VmmType;
  kernel?: SevHashes;
}

export function sevEsLaunchDigest(o: SevEsLaunch): Uint8Array {
  const hash = firmwareAndTable(o.ovmf, o.kernel);
  const vmm = o.vmm ?? "QEMU";
  if (vmm === "QEMU" && o.vcpuSig === undefined) {
    throw new MeasureError("vcpu", "a QEMU launch needs the vCPU type or signature");
  }
  const pages = vmsaPages(o.vcpus, sevEsResetEip(o.ovmf), {
    sevFeatures: 0n,
    vcpuSig: o.vcpuSig ?? 0,
    vmm,
  });
  for (const page of pages) hash.update(page);
  return new Uint8Array(hash.digest());
}
