/**
 * The SEV-SNP launch digest of a QEMU guest whose vCPUs start in a Coconut SVSM at VMPL0, with
 * OVMF behind it: what virtee/sev-snp-measure computes with `--mode snp:svsm --svsm svsm.bin
 * --vars-size N` (or `--vars-file`), for the flat pre-IGVM SVSM image, which carries an
 * OVMF-style GUIDed footer table with its own SEV metadata (`ovmf.ts`).
 *
 * QEMU maps its three pflash devices downwards from 4 GiB: OVMF's code (unit 0) ends at 4 GiB,
 * its variable store (unit 1, `varsSize` bytes) lies below it, and the SVSM image (unit 2) below
 * that. The PAGE_INFO chain (`snp.ts`) covers, in this order:
 *
 * 1. the OVMF code as NORMAL pages from its GPA;
 * 2. the SVSM image as NORMAL pages from `ovmf.gpa - varsSize - svsm.length`;
 * 3. the SVSM's SEV metadata sections in table order (SEC_MEM → ZERO, SECRETS, CPUID, …);
 * 4. one VMSA page per vCPU, every one the same `svsmVmsaPage`: each vCPU starts at the SVSM's
 *    first byte.
 *
 * Not in the digest: the variable store's pages (only its size counts, as it places the SVSM),
 * OVMF's own SEV metadata sections, and kernel hashes. Guest features do not apply (the SVSM
 * VMSA's SEV_FEATURES is fixed). Established against sev-snp-measure's vectors, which were taken
 * from a real launch (2 and 4 vCPUs, and the `dump_vmsa` page hash). Limits: the IGVM-packaged
 * SVSMs of later Coconut releases are a different format and are not covered.
 */
import { MeasureError } from "./errors.ts";
import { FOUR_GIB, type Ovmf, PAGE_SIZE, parseOvmf } from "./ovmf.ts";
import { LaunchDigest, metadataSection } from "./snp.ts";
import { svsmVmsaPages } from "./vmsa.ts";

export interface SvsmLaunch {
  /** OVMF's code image, mapped at 4 GiB (pflash unit 0). */
  ovmf: Ovmf;
  /** The SVSM image, `svsm.bin` (pflash unit 2). */
  svsm: Uint8Array;
  /** Bytes of OVMF's variable store (pflash unit 1): the length of `OVMF_VARS.fd`. */
  varsSize: number;
  vcpus: number;
  /** CPUID signature of the vCPU model (see `vcpuSigOf`). */
  vcpuSig: number;
}

/** The SVSM image parsed where QEMU maps it: ending at OVMF's GPA minus the variable store. */
export function svsmImage(o: Pick<SvsmLaunch, "ovmf" | "svsm" | "varsSize">): Ovmf {
  if (o.ovmf.gpa + o.ovmf.data.length !== FOUR_GIB) {
    throw new MeasureError(
      "usage",
      `the OVMF image must end at 4 GiB, it ends at 0x${
        (o.ovmf.gpa + o.ovmf.data.length).toString(16)
      }`,
    );
  }
  const v = o.varsSize;
  if (!Number.isSafeInteger(v) || v < 0 || v % PAGE_SIZE !== 0 || v > o.ovmf.gpa) {
    throw new MeasureError(
      "usage",
      `OVMF vars size ${v} is not a whole number of 4 KiB pages that fits below OVMF ` +
        `(at 0x${o.ovmf.gpa.toString(16)})`,
    );
  }
  let svsm: Ovmf;
  try {
    svsm = parseOvmf(o.svsm, o.ovmf.gpa - v);
  } catch (e) {
    if (e instanceof MeasureError) throw new MeasureError(e.code, `SVSM image: ${e.message}`);
    throw e;
  }
  if (svsm.sections.length === 0) {
    throw new MeasureError(
      "ovmf-missing-entry",
      "SVSM image has no SEV metadata (footer table entry dc886566-984a-4798-a75e-5585a7bf67cc): " +
        "not a Coconut svsm.bin",
    );
  }
  return svsm;
}

/** The VMSA pages of the launch (one per vCPU, all starting at the SVSM's first byte). */
export function svsmLaunchVmsaPages(o: SvsmLaunch): Uint8Array[] {
  return svsmVmsaPages(o.vcpus, svsmImage(o).gpa, o.vcpuSig);
}

/** MEASUREMENT of an SNP launch through a Coconut SVSM. */
export function svsmLaunchDigest(o: SvsmLaunch): Uint8Array {
  const svsm = svsmImage(o);
  const pages = svsmVmsaPages(o.vcpus, svsm.gpa, o.vcpuSig);
  const gctx = new LaunchDigest();
  gctx.normalPages(o.ovmf.gpa, o.ovmf.data);
  gctx.normalPages(svsm.gpa, svsm.data);
  for (const s of svsm.sections) metadataSection(gctx, s, svsm, "QEMU");
  for (const page of pages) gctx.vmsaPage(page);
  return gctx.ld;
}
