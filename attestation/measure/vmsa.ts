/**
 * The initial VMSA (VM save area) pages of SEV-ES and SEV-SNP guests: one 4 KiB page per vCPU
 * holding the register state at reset, encrypted and measured by the secure processor (AMD64 APM
 * vol. 2 §15.35.2 and Table B-4 "VMSA Layout, State Save Area for SEV-ES"; Linux
 * `struct sev_es_save_area`). What the VMM puts there is part of the launch digest, so each VMM
 * (QEMU/KVM, AWS EC2, Google GCE) is modelled as sev-snp-measure `vmsa.py` does:
 *
 * - real-mode reset state: CS selector 0xf000 with base `eip & 0xffff0000` and RIP `eip & 0xffff`;
 *   the BSP starts at 0xfffffff0, APs at the firmware's SEV_ES_RESET_BLOCK EIP;
 * - RDX holds the CPUID(1).EAX signature of the vCPU model (QEMU), or 0x600 (EC2, GCE);
 * - QEMU also sets MXCSR 0x1f80 and the x87 control word 0x37f; EC2 uses other segment attributes;
 *   GCE a different PAT;
 * - SEV_FEATURES is the guest-features argument for SNP (0x1 SNP, 0x21 SNP + DebugSwap), 0 for
 *   SEV-ES;
 * - under a Coconut SVSM every vCPU starts in the SVSM instead, in 32-bit protected mode
 *   (`svsmVmsaPage`).
 */
import { MeasureError } from "./errors.ts";
import { PAGE_SIZE } from "./ovmf.ts";

export type VmmType = "QEMU" | "ec2" | "gce";

export const BSP_EIP = 0xfffffff0;

/** CPUID(1).EAX of a family/model/stepping (extended family above 0xf). */
export function cpuSig(family: number, model: number, stepping: number): number {
  const [familyLow, familyHigh] = family > 0xf ? [0xf, (family - 0xf) & 0xff] : [family, 0];
  return ((familyHigh << 20) | (((model >> 4) & 0xf) << 16) | (familyLow << 8) |
    ((model & 0xf) << 4) | (stepping & 0xf)) >>> 0;
}

const EPYC = cpuSig(23, 1, 2);
const ROME = cpuSig(23, 49, 0);
const MILAN = cpuSig(25, 1, 1);
const GENOA = cpuSig(25, 17, 0);
const TURIN = cpuSig(26, 0, 0);

/** QEMU `-cpu` model names and the signature each presents. */
export const VCPU_SIGS: Readonly<Record<string, number>> = {
  "EPYC": EPYC,
  "EPYC-v1": EPYC,
  "EPYC-v2": EPYC,
  "EPYC-IBPB": EPYC,
  "EPYC-v3": EPYC,
  "EPYC-v4": EPYC,
  "EPYC-Rome": ROME,
  "EPYC-Rome-v1": ROME,
  "EPYC-Rome-v2": ROME,
  "EPYC-Rome-v3": ROME,
  "EPYC-Milan": MILAN,
  "EPYC-Milan-v1": MILAN,
  "EPYC-Milan-v2": MILAN,
  "EPYC-Genoa": GENOA,
  "EPYC-Genoa-v1": GENOA,
  "EPYC-Turin": TURIN,
};

/** The signature of a QEMU CPU model, or a typed error listing the known ones. */
export function vcpuSigOf(type: string): number {
  // Own entries only: "constructor" is no CPU model.
  const sig = Object.hasOwn(VCPU_SIGS, type) ? VCPU_SIGS[type] : undefined;
  if (sig === undefined) {
    throw new MeasureError(
      "vcpu",
      `unknown vCPU type "${type}" (known: ${Object.keys(VCPU_SIGS).join(", ")})`,
    );
  }
  return sig;
}

export interface VmsaOptions {
  eip: number;
  /** VMSA SEV_FEATURES (0 for SEV-ES). */
  sevFeatures: bigint;
  /** CPUID signature for RDX; ignored by EC2 and GCE, which put 0x600 there. */
  vcpuSig: number;
  vmm: VmmType;
}

// Offsets in the save area (Linux arch/x86/include/asm/svm.h, struct sev_es_save_area).
const SEG = { es: 0x00, cs: 0x10, ss: 0x20, ds: 0x30, fs: 0x40, gs: 0x50 } as const;
const GDTR = 0x60, LDTR = 0x70, IDTR = 0x80, TR = 0x90;
const EFER = 0xd0, CR4 = 0x148, CR0 = 0x158, DR7 = 0x160, DR6 = 0x168, RFLAGS = 0x170;
const RIP = 0x178, G_PAT = 0x268, RDX = 0x310, SEV_FEATURES = 0x3b0, XCR0 = 0x3e8;
const MXCSR = 0x408, X87_FCW = 0x410;

/** Field writers over one zeroed 4 KiB save area. */
class SaveArea {
  readonly page = new Uint8Array(PAGE_SIZE);
  #v = new DataView(this.page.buffer);

  /** vmcb_seg: u16 selector, u16 attrib, u32 limit, u64 base. */
  seg(at: number, selector: number, attrib: number, limit: number, base: number): void {
    this.#v.setUint16(at, selector, true);
    this.#v.setUint16(at + 2, attrib, true);
    this.#v.setUint32(at + 4, limit, true);
    this.#v.setBigUint64(at + 8, BigInt(base), true);
  }

  q(at: number, value: bigint | number): void {
    this.#v.setBigUint64(at, BigInt(value), true);
  }

  /** The registers every launch here starts with: KVM's reset values, as the VMSA holds them. */
  resetState(): void {
    this.seg(GDTR, 0, 0, 0xffff, 0);
    this.seg(LDTR, 0, 0x82, 0xffff, 0);
    this.seg(IDTR, 0, 0, 0xffff, 0);
    this.q(EFER, 0x1000); // SVME
    this.q(CR4, 0x40); // MCE
    this.q(DR7, 0x400);
    this.q(DR6, 0xffff0ff0);
    this.q(RFLAGS, 0x2);
    this.q(XCR0, 0x1);
  }

  mxcsr(value: number): void {
    this.#v.setUint32(MXCSR, value, true);
  }

  x87Fcw(value: number): void {
    this.#v.setUint16(X87_FCW, value, true);
  }
}

const QEMU_PAT = 0x0007040600070406n;

/** One VMSA page for a vCPU starting at `eip`. */
export function vmsaPage(o: VmsaOptions): Uint8Array {
  const a = new SaveArea();
  const ec2 = o.vmm === "ec2";
  const csAttrib = ec2 && o.eip === BSP_EIP ? 0x9a : 0x9b;
  a.seg(SEG.es, 0, 0x93, 0xffff, 0);
  a.seg(SEG.cs, 0xf000, csAttrib, 0xffff, (o.eip & 0xffff0000) >>> 0);
  a.seg(SEG.ss, 0, ec2 ? 0x92 : 0x93, 0xffff, 0);
  a.seg(SEG.ds, 0, 0x93, 0xffff, 0);
  a.seg(SEG.fs, 0, 0x93, 0xffff, 0);
  a.seg(SEG.gs, 0, 0x93, 0xffff, 0);
  a.seg(TR, 0, ec2 ? 0x83 : 0x8b, 0xffff, 0);
  a.resetState();
  a.q(CR0, 0x10); // ET
  a.q(RIP, o.eip & 0xffff);
  a.q(G_PAT, o.vmm === "gce" ? 0x00070106n : QEMU_PAT);
  a.q(RDX, o.vmm === "QEMU" ? o.vcpuSig >>> 0 : 0x600);
  a.q(SEV_FEATURES, o.sevFeatures);
  if (o.vmm === "QEMU") {
    a.mxcsr(0x1f80);
    a.x87Fcw(0x37f);
  }
  return a.page;
}

/**
 * The VMSA page of a vCPU that QEMU starts in a Coconut SVSM (sev-snp-measure `--mode snp:svsm`):
 * 32-bit protected mode with paging off (CR0 = PE | ET) at `entry`, the SVSM image's first byte,
 * with a flat code segment (selector 0x08, attrib 0xc9b: present, 32-bit, 4 KiB granular) and
 * flat data segments (0x10, 0xc93) in ES, SS, DS and FS. GS keeps its real-mode reset value, the
 * x87 control word is 0 while MXCSR holds its 0x1f80 default, and SEV_FEATURES is SNP-active
 * only, whatever the guest features: that is the page sev-snp-measure builds and the hardware
 * measured (its SHA-384 is the shared vectors' `snp:svsm/dump_vmsa` value). RDX holds the vCPU
 * signature, as at reset; the VMSA's VMPL field is 0, since the SVSM runs at VMPL0.
 */
export function svsmVmsaPage(entry: number, vcpuSig: number): Uint8Array {
  const a = new SaveArea();
  for (const at of [SEG.es, SEG.ss, SEG.ds, SEG.fs]) a.seg(at, 0x10, 0xc93, 0xffffffff, 0);
  a.seg(SEG.cs, 0x08, 0xc9b, 0xffffffff, 0);
  a.seg(SEG.gs, 0, 0x93, 0xffff, 0);
  a.seg(TR, 0, 0x8b, 0xffff, 0);
  a.resetState();
  a.q(CR0, 0x11); // PE | ET
  a.q(RIP, entry);
  a.q(G_PAT, QEMU_PAT);
  a.q(RDX, vcpuSig >>> 0);
  a.q(SEV_FEATURES, 1n); // SNP active
  a.mxcsr(0x1f80);
  return a.page;
}

/** More than any host gives a guest (KVM's limit is 4096; a VMSA page each). */
const MAX_VCPUS = 4096;

function checkVcpus(vcpus: number): void {
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) {
    throw new MeasureError("vcpu", `vCPU count must be an integer 1..${MAX_VCPUS}, got ${vcpus}`);
  }
}

/** The VMSA pages of `vcpus` vCPUs: the BSP first, then the APs at `apEip`. */
export function vmsaPages(
  vcpus: number,
  apEip: number,
  base: Omit<VmsaOptions, "eip">,
): Uint8Array[] {
  checkVcpus(vcpus);
  const bsp = vmsaPage({ ...base, eip: BSP_EIP });
  const ap = vcpus > 1 ? vmsaPage({ ...base, eip: apEip }) : bsp;
  return Array.from({ length: vcpus }, (_, i) => (i === 0 ? bsp : ap));
}

/** The VMSA pages of `vcpus` vCPUs that all start in an SVSM at `entry`. */
export function svsmVmsaPages(vcpus: number, entry: number, vcpuSig: number): Uint8Array[] {
  checkVcpus(vcpus);
  const page = svsmVmsaPage(entry, vcpuSig);
  return Array.from({ length: vcpus }, () => page);
}
