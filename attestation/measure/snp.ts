/**
 * The SEV-SNP launch digest (the report's MEASUREMENT) of a QEMU/OVMF guest, precomputed as the
 * AMD secure processor computes it (SEV Secure Nested Paging Firmware ABI Specification, rev 1.55,
 * §8.17 SNP_LAUNCH_UPDATE and Table 67 PAGE_INFO), in the page order QEMU and KVM use — the same
 * result as virtee/sev-snp-measure `--mode snp`.
 *
 * Each launched page extends the digest: `LD = SHA-384(PAGE_INFO)`, where the 112-byte PAGE_INFO is
 *
 *   0x00 DIGEST_CUR (48, the previous LD; 48 zero bytes at first)
 *   0x30 CONTENTS (48: SHA-384 of the page for NORMAL and VMSA pages, zero otherwise)
 *   0x60 u16 LENGTH = 0x70 | 0x62 u8 PAGE_TYPE | 0x63 u8 IMI_PAGE = 0
 *   0x64 u8 VMPL3_PERMS, VMPL2_PERMS, VMPL1_PERMS = 0 | 0x67 reserved
 *   0x68 u64 GPA (VMSA pages: 0xFFFFFFFFF000)
 *
 * Order: the firmware as NORMAL pages from 4 GiB − size; then the OVMF SEV metadata sections in
 * table order (SEC_MEM → ZERO, or UNMEASURED on GCE; SECRETS; CPUID, moved after all sections on
 * EC2; SVSM_CAA → ZERO; KERNEL_HASHES → one NORMAL page with the SEV hashes table, or ZERO pages
 * without a kernel); then one VMSA page per vCPU. Launches behind a Coconut SVSM: `svsm.ts`.
 */
import { createHash } from "node:crypto";
import { MeasureError } from "./errors.ts";
import {
  GUIDS,
  type Ovmf,
  PAGE_SIZE,
  SectionType,
  sevEsResetEip,
  type SevSection,
  tableU32,
} from "./ovmf.ts";
import { type SevHashes, sevHashesPage } from "./sev-hashes.ts";
import { type VmmType, vmsaPages } from "./vmsa.ts";

/** PAGE_INFO.PAGE_TYPE (Firmware ABI Table 68). */
export const PageType = {
  NORMAL: 1,
  VMSA: 2,
  ZERO: 3,
  UNMEASURED: 4,
  SECRETS: 5,
  CPUID: 6,
} as const;

export const LD_BYTES = 48;
const PAGE_INFO_LENGTH = 0x70;
const VMSA_GPA = 0xfffffffff000;

export function sha384(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha384").update(data).digest());
}

/** The running launch digest (sev-snp-measure's GCTX). */
export class LaunchDigest {
  #pageInfo = new Uint8Array(PAGE_INFO_LENGTH);
  #view = new DataView(this.#pageInfo.buffer);

  constructor(seed: Uint8Array = new Uint8Array(LD_BYTES)) {
    if (seed.length !== LD_BYTES) {
      throw new MeasureError(
        "usage",
        `a launch digest seed is ${LD_BYTES} bytes, got ${seed.length}`,
      );
    }
    this.#pageInfo.set(seed, 0);
  }

  /** The current digest (a copy). */
  get ld(): Uint8Array {
    return this.#pageInfo.slice(0, LD_BYTES);
  }

  update(pageType: number, gpa: number, contents: Uint8Array): void {
    const p = this.#pageInfo;
    p.set(contents, 0x30);
    this.#view.setUint16(0x60, PAGE_INFO_LENGTH, true);
    p[0x62] = pageType;
    p.fill(0, 0x63, 0x68); // IMI_PAGE, VMPL3..1 permissions, reserved
    this.#view.setBigUint64(0x68, BigInt(gpa), true);
    p.set(sha384(p), 0);
  }

  normalPages(gpa: number, data: Uint8Array): void {
    for (let at = 0; at < data.length; at += PAGE_SIZE) {
      this.update(PageType.NORMAL, gpa + at, sha384(data.subarray(at, at + PAGE_SIZE)));
    }
  }

  /** Pages with no contents digest (ZERO, UNMEASURED, SECRETS, CPUID) over `size` bytes. */
  emptyPages(pageType: number, gpa: number, size: number): void {
    const zeros = new Uint8Array(LD_BYTES);
    for (let at = 0; at < size; at += PAGE_SIZE) this.update(pageType, gpa + at, zeros);
  }

  vmsaPage(page: Uint8Array): void {
    this.update(PageType.VMSA, VMSA_GPA, sha384(page));
  }
}

/** The digest after only the firmware pages (`--mode snp:ovmf-hash`). */
export function snpOvmfHash(ovmf: Ovmf): Uint8Array {
  const gctx = new LaunchDigest();
  gctx.normalPages(ovmf.gpa, ovmf.data);
  return gctx.ld;
}

export interface SnpLaunch {
  ovmf: Ovmf;
  vcpus: number;
  /** CPUID signature of the vCPU model (QEMU only; see `vcpuSigOf`). */
  vcpuSig?: number;
  vmm?: VmmType;
  /** VMSA SEV_FEATURES; 0x1 = SNP only, 0x21 = SNP + DebugSwap. */
  guestFeatures: bigint;
  /** Digests of the direct-boot kernel, initrd and cmdline; absent when no kernel is given. */
  kernel?: SevHashes;
  /** A precomputed `snpOvmfHash` to start from instead of hashing the firmware pages again. */
  ovmfHash?: Uint8Array;
}

/**
 * Launches one SEV metadata section of `image` (the firmware, or an SVSM image with the same
 * footer-table metadata); `kernel` fills a KERNEL_HASHES section, which is ZERO pages without it.
 */
export function metadataSection(
  gctx: LaunchDigest,
  s: SevSection,
  image: Ovmf,
  vmm: VmmType,
  kernel?: SevHashes,
): void {
  switch (s.type) {
    case SectionType.SNP_SEC_MEM:
      gctx.emptyPages(vmm === "gce" ? PageType.UNMEASURED : PageType.ZERO, s.gpa, s.size);
      break;
    case SectionType.SNP_SECRETS:
      gctx.emptyPages(PageType.SECRETS, s.gpa, PAGE_SIZE);
      break;
    case SectionType.CPUID:
      if (vmm !== "ec2") gctx.emptyPages(PageType.CPUID, s.gpa, PAGE_SIZE);
      break;
    case SectionType.SVSM_CAA:
      gctx.emptyPages(PageType.ZERO, s.gpa, s.size);
      break;
    case SectionType.SNP_KERNEL_HASHES:
      if (kernel) {
        if (s.size !== PAGE_SIZE) {
          throw new MeasureError(
            "ovmf-malformed",
            `SNP_KERNEL_HASHES section at 0x${s.gpa.toString(16)} is ${s.size} bytes, want 4096`,
          );
        }
        const tableGpa = tableU32(image, GUIDS.sevHashTableRv, "SEV_HASH_TABLE_RV");
        // As QEMU's sev_snp_kernel_hashes check: the table lies in this section's page.
        if (tableGpa < s.gpa || tableGpa >= s.gpa + PAGE_SIZE) {
          throw new MeasureError(
            "no-kernel-hashes",
            `SEV_HASH_TABLE_RV 0x${tableGpa.toString(16)} is not in the SNP_KERNEL_HASHES page ` +
              `at 0x${s.gpa.toString(16)}`,
          );
        }
        gctx.normalPages(s.gpa, sevHashesPage(kernel, tableGpa & 0xfff));
      } else gctx.emptyPages(PageType.ZERO, s.gpa, s.size);
      break;
    default:
      throw new MeasureError(
        "ovmf-malformed",
        `unknown OVMF SEV metadata section type ${s.type} at GPA 0x${s.gpa.toString(16)}`,
      );
  }
}

/** MEASUREMENT of an SNP launch. */
export function snpLaunchDigest(o: SnpLaunch): Uint8Array {
  const vmm = o.vmm ?? "QEMU";
  if (vmm === "QEMU" && o.vcpuSig === undefined) {
    throw new MeasureError("vcpu", "a QEMU launch needs the vCPU type or signature");
  }
  const sections = o.ovmf.sections;
  if (o.kernel && !sections.some((s) => s.type === SectionType.SNP_KERNEL_HASHES)) {
    throw new MeasureError(
      "no-kernel-hashes",
      "a kernel is given but the OVMF SEV metadata has no SNP_KERNEL_HASHES section " +
        "(use an OvmfPkg/AmdSev/AmdSevX64 build)",
    );
  }
  const gctx = new LaunchDigest(o.ovmfHash);
  if (!o.ovmfHash) gctx.normalPages(o.ovmf.gpa, o.ovmf.data);
  for (const s of sections) metadataSection(gctx, s, o.ovmf, vmm, o.kernel);
  if (vmm === "ec2") {
    for (const s of sections) {
      if (s.type === SectionType.CPUID) gctx.emptyPages(PageType.CPUID, s.gpa, PAGE_SIZE);
    }
  }
  const pages = vmsaPages(o.vcpus, sevEsResetEip(o.ovmf), {
    sevFeatures: o.guestFeatures,
    vcpuSig: o.vcpuSig ?? 0,
    vmm,
  });
  for (const page of pages) gctx.vmsaPage(page);
  return gctx.ld;
}
