/**
 * OVMF firmware images as AMD SEV / SEV-ES / SEV-SNP and Intel TDX launches see them: the image is
 * mapped so that it ends at 4 GiB, and a GUIDed table just below its last 32 bytes (edk2
 * `OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm`) tells the VMM where the firmware wants its SEV
 * metadata sections, the AP reset vector and the kernel-hashes table. The same footer also points
 * to the TDVF metadata (TDX Virtual Firmware Design Guide §11), parsed in `tdx.ts`.
 *
 * Layout, reading backwards from `size - 32`: a footer entry `{u16 size, GUID 96b582de-…}` whose
 * size covers the whole table; before it, entries `{data, u16 size, GUID}` each ending where the
 * previous one starts. The SEV metadata entry holds a u32 offset from the end of the image to an
 * `"ASEV" u32 size, u32 version = 1, u32 count` header followed by `{u32 gpa, u32 size, u32 type}`
 * sections. Limits: the image must be a whole number of 4 KiB pages (the digest walks pages).
 */
import { guidString } from "./guid.ts";
import { MeasureError } from "./errors.ts";

export const FOUR_GIB = 0x1_0000_0000;
export const PAGE_SIZE = 4096;

export const GUIDS = {
  footer: "96b582de-1fb2-45f7-baea-a366c55a082d",
  sevHashTableRv: "7255371f-3a3b-4b04-927b-1da6efa8d454",
  sevEsResetBlock: "00f771de-1a7e-4fcb-890e-68c77e2fb44e",
  sevMetadata: "dc886566-984a-4798-a75e-5585a7bf67cc",
  tdxMetadata: "e47a6535-984a-4798-865e-4685a7bf8ec2",
} as const;

/** SEV metadata section types (edk2 `OvmfPkg/Include/WorkArea.h`, sev-snp-measure `ovmf.py`). */
export const SectionType = {
  SNP_SEC_MEM: 1,
  SNP_SECRETS: 2,
  CPUID: 3,
  SVSM_CAA: 4,
  SNP_KERNEL_HASHES: 0x10,
} as const;

export interface SevSection {
  gpa: number;
  size: number;
  type: number;
}

export interface Ovmf {
  /** The whole image; measured as NORMAL pages from `gpa`. */
  data: Uint8Array;
  /** Where the image starts: where it ends (4 GiB for the firmware) minus its size. */
  gpa: number;
  /** Footer table entries by canonical GUID string: the entry data without its trailer. */
  table: Map<string, Uint8Array>;
  /** SEV metadata sections in table order (empty when the image has none). */
  sections: SevSection[];
}

const ENTRY_HEADER = 18; // u16 size + GUID

function u32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
}

function malformed(message: string): never {
  throw new MeasureError("ovmf-malformed", message);
}

/**
 * Parses an OVMF image's footer table and SEV metadata. The image is mapped so that it ends at
 * `endAt` (4 GiB for the firmware; lower for a flash device QEMU maps below it, such as an SVSM).
 */
export function parseOvmf(data: Uint8Array, endAt: number = FOUR_GIB): Ovmf {
  if (data.length === 0 || data.length % PAGE_SIZE !== 0) {
    malformed(`OVMF image is ${data.length} bytes, not a whole number of 4 KiB pages`);
  }
  if (!Number.isSafeInteger(endAt) || endAt % PAGE_SIZE !== 0 || endAt > FOUR_GIB) {
    malformed(`an image must end at a 4 KiB-aligned address at most 4 GiB, not ${endAt}`);
  }
  if (data.length > endAt) {
    malformed(`image of ${data.length} bytes does not fit below 0x${endAt.toString(16)}`);
  }
  const table = parseFooterTable(data);
  return { data, gpa: endAt - data.length, table, sections: parseSevMetadata(data, table) };
}

function parseFooterTable(data: Uint8Array): Map<string, Uint8Array> {
  const table = new Map<string, Uint8Array>();
  const footerAt = data.length - 32 - ENTRY_HEADER;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  // An image without the footer GUID simply has no table (a non-SEV build): not an error.
  if (guidString(data.subarray(footerAt + 2, footerAt + ENTRY_HEADER)) !== GUIDS.footer) {
    return table;
  }
  const tableSize = view.getUint16(footerAt, true) - ENTRY_HEADER;
  if (tableSize < 0 || tableSize > footerAt) {
    malformed(
      `OVMF footer table size ${tableSize + ENTRY_HEADER} at offset ${footerAt} is invalid`,
    );
  }
  let end = footerAt; // entries are read backwards from the footer
  const start = footerAt - tableSize;
  while (end - start >= ENTRY_HEADER) {
    const at = end - ENTRY_HEADER;
    const size = view.getUint16(at, true);
    if (size < ENTRY_HEADER || size > end - start) {
      malformed(`OVMF footer table entry ending at offset ${end} has invalid size ${size}`);
    }
    table.set(guidString(data.subarray(at + 2, end)), data.subarray(end - size, at));
    end -= size;
  }
  return table;
}

function parseSevMetadata(data: Uint8Array, table: Map<string, Uint8Array>): SevSection[] {
  const entry = table.get(GUIDS.sevMetadata);
  if (!entry) return [];
  if (entry.length < 4) malformed(`OVMF SEV metadata entry is ${entry.length} bytes, need 4`);
  const start = data.length - u32(entry, 0);
  if (start < 0 || start + 16 > data.length) {
    malformed(`OVMF SEV metadata offset ${u32(entry, 0)} points outside the image`);
  }
  const signature = String.fromCharCode(...data.subarray(start, start + 4));
  if (signature !== "ASEV") {
    malformed(`OVMF SEV metadata at offset ${start} has signature "${signature}", want "ASEV"`);
  }
  const size = u32(data, start + 4);
  const version = u32(data, start + 8);
  const count = u32(data, start + 12);
  if (version !== 1) {
    malformed(`OVMF SEV metadata version ${version} at offset ${start + 8}, want 1`);
  }
  if (16 + 12 * count > size || start + size > data.length) {
    malformed(
      `OVMF SEV metadata at offset ${start}: ${count} sections do not fit in ${size} bytes`,
    );
  }
  const sections: SevSection[] = [];
  for (let i = 0; i < count; i++) {
    const at = start + 16 + 12 * i;
    const s = { gpa: u32(data, at), size: u32(data, at + 4), type: u32(data, at + 8) };
    // Whole pages below 4 GiB, each its own: the launch measures them page by page, and two
    // sections over one page would measure it twice, differently (sev-snp-measure assumes this).
    if (s.gpa % PAGE_SIZE || s.size % PAGE_SIZE || s.size === 0 || s.gpa + s.size > 2 ** 32) {
      malformed(
        `OVMF SEV metadata section ${i} (0x${s.gpa.toString(16)}, ${s.size} bytes) is not ` +
          "whole pages below 4 GiB",
      );
    }
    const other = sections.findIndex((o) => s.gpa < o.gpa + o.size && o.gpa < s.gpa + s.size);
    if (other >= 0) malformed(`OVMF SEV metadata sections ${other} and ${i} overlap`);
    sections.push(s);
  }
  return sections;
}

/** The first u32 of a footer entry, or a typed error naming what the mode needed. */
export function tableU32(ovmf: Ovmf, guid: string, what: string): number {
  const entry = ovmf.table.get(guid);
  if (!entry) {
    throw new MeasureError(
      "ovmf-missing-entry",
      `OVMF footer table has no ${what} entry (${guid})`,
    );
  }
  if (entry.length < 4) malformed(`OVMF ${what} entry is ${entry.length} bytes, need 4`);
  return u32(entry, 0);
}

/** The EIP at which SEV-ES/SNP application processors start (SEV_ES_RESET_BLOCK). */
export function sevEsResetEip(ovmf: Ovmf): number {
  return tableU32(ovmf, GUIDS.sevEsResetBlock, "SEV_ES_RESET_BLOCK");
}

/** GPA of the kernel-hashes table, or 0 when the build does not measure a direct-boot kernel. */
export function sevHashesTableGpa(ovmf: Ovmf): number {
  return ovmf.table.has(GUIDS.sevHashTableRv)
    ? tableU32(ovmf, GUIDS.sevHashTableRv, "SEV_HASH_TABLE_RV")
    : 0;
}
