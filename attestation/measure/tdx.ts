/**
 * Intel TDX build-time measurement: MRTD of a TD launched with a TDVF (TDX Virtual Firmware)
 * image, and the RTMR extend rule.
 *
 * TDVF metadata (TDX Virtual Firmware Design Guide rev 1.01, §11 "TDVF Metadata"): the OVMF
 * footer table entry e47a6535-… holds a u32 offset from the end of the image to the
 * `TDVF_DESCRIPTOR` (preceded by its GUID e9eaf9f3-…):
 *
 *   "TDVF" | u32 length | u32 version = 1 | u32 section count
 *   section × count: u32 data offset | u32 raw size | u64 memory address | u64 memory size
 *                    | u32 type | u32 attributes
 *
 * types 0 BFV (firmware code), 1 CFV (configuration/variables), 2 TD_HOB, 3 TempMem,
 * 4 PermMem, 5 Payload, 6 PayloadParam; attribute bit 0 MR.EXTEND, bit 1 PAGE.AUG.
 *
 * MRTD (Intel TDX Module ABI spec, TDH.MEM.PAGE.ADD and TDH.MR.EXTEND): one SHA-384 over a
 * stream of 128-byte records, finalised by TDH.MR.FINALIZE:
 * - every page the VMM adds (all sections except PAGE.AUG ones, 4 KiB steps from the memory
 *   address): `"MEM.PAGE.ADD"` at 0, the GPA (u64 LE) at 16, zeros to 128;
 * - for sections with MR.EXTEND, each 256-byte chunk of each page: `"MR.EXTEND"` at 0, the chunk
 *   GPA at 16, zeros to 128, then the chunk's 256 bytes (file bytes at the data offset, zero
 *   beyond the raw size).
 * The order depends on the VMM: Linux KVM (`KVM_TDX_INIT_MEM_REGION`, QEMU ≥ 10.1) adds a page and
 * extends it before the next page (`per-page`); older stacks added every page first and then
 * extended (`two-pass`). Both are offered; which one a host uses is for the caller to state.
 *
 * RTMRs: `RTMR ← SHA-384(RTMR ‖ digest)` per event, from 48 zero bytes (`rtmrReplay`). Which
 * events OVMF and the Linux EFI stub log in RTMR[1] and RTMR[2] for a direct boot — the kernel's
 * Authenticode hash after QEMU patches its setup header, the UTF-16 load options — is not
 * reproduced here: there are no vectors to check it against (enclave-image/README.md "TDX").
 *
 * Limits: the image must be the whole firmware file the VMM loads (the data offsets point into
 * it); no vectors with a known MRTD exist in ../shared/vectors, so MRTD is checked against the
 * records spelled out independently in tests/attestation/measure/tdx.test.ts.
 */
import { createHash } from "node:crypto";
import { MeasureError } from "./errors.ts";
import { type Ovmf, PAGE_SIZE, tableU32 } from "./ovmf.ts";

export const TDX_METADATA_GUID = "e47a6535-984a-4798-865e-4685a7bf8ec2";

export const TdvfSectionType = {
  BFV: 0,
  CFV: 1,
  TD_HOB: 2,
  TEMP_MEM: 3,
  PERM_MEM: 4,
  PAYLOAD: 5,
  PAYLOAD_PARAM: 6,
} as const;

export const TDVF_ATTRIBUTE_MR_EXTEND = 1;
export const TDVF_ATTRIBUTE_PAGE_AUG = 2;

export interface TdvfSection {
  dataOffset: number;
  rawSize: number;
  memoryAddress: bigint;
  memorySize: bigint;
  type: number;
  attributes: number;
}

/** Parses the TDVF descriptor an OVMF/TDVF image points to. */
/** TDVF section types: BFV, CFV, TD_HOB, TempMem, PermMem, Payload, PayloadParam. */
const MAX_SECTION_TYPE = 6;
/** Firmware sections are megabytes; more than 4 GiB is no TDVF. */
const MAX_SECTION_BYTES = 1n << 32n;

export function parseTdvf(ovmf: Ovmf): TdvfSection[] {
  const data = ovmf.data;
  const start = data.length - tableU32(ovmf, TDX_METADATA_GUID, "TDX metadata");
  const malformed = (m: string): never => {
    throw new MeasureError("ovmf-malformed", `TDVF metadata at offset ${start}: ${m}`);
  };
  if (start < 0 || start + 16 > data.length) malformed("outside the image");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const signature = String.fromCharCode(...data.subarray(start, start + 4));
  if (signature !== "TDVF") malformed(`signature "${signature}", want "TDVF"`);
  const length = view.getUint32(start + 4, true);
  const version = view.getUint32(start + 8, true);
  const count = view.getUint32(start + 12, true);
  if (version !== 1) malformed(`version ${version}, want 1`);
  if (16 + 32 * count > length || start + length > data.length) {
    malformed(`${count} sections do not fit in ${length} bytes`);
  }
  const sections: TdvfSection[] = [];
  for (let i = 0; i < count; i++) {
    const at = start + 16 + 32 * i;
    const s: TdvfSection = {
      dataOffset: view.getUint32(at, true),
      rawSize: view.getUint32(at + 4, true),
      memoryAddress: view.getBigUint64(at + 8, true),
      memorySize: view.getBigUint64(at + 16, true),
      type: view.getUint32(at + 24, true),
      attributes: view.getUint32(at + 28, true),
    };
    if (s.memoryAddress % BigInt(PAGE_SIZE) !== 0n || s.memorySize % BigInt(PAGE_SIZE) !== 0n) {
      malformed(`section ${i} is not page-aligned`);
    }
    if (BigInt(s.rawSize) > s.memorySize) {
      malformed(`section ${i}'s data is larger than its memory`);
    }
    // TDVF spec §11.3 (TDVF_SECTION.Type 0..6); a section is measured page by page, so one past
    // 4 GiB of memory or over another would make a digest no TD reports (or take hours).
    if (s.type > MAX_SECTION_TYPE) malformed(`section ${i} has unknown type ${s.type}`);
    if (s.memorySize > MAX_SECTION_BYTES || s.memoryAddress + s.memorySize > 1n << 52n) {
      malformed(
        `section ${i} of ${s.memorySize} bytes at 0x${s.memoryAddress.toString(16)} is too large`,
      );
    }
    const other = sections.findIndex((o) =>
      s.memoryAddress < o.memoryAddress + o.memorySize &&
      o.memoryAddress < s.memoryAddress + s.memorySize
    );
    if (other >= 0) malformed(`sections ${other} and ${i} overlap`);
    sections.push(s);
  }
  return sections;
}

export type PageAddOrder = "per-page" | "two-pass";

const ADD = new TextEncoder().encode("MEM.PAGE.ADD");
const EXTEND = new TextEncoder().encode("MR.EXTEND");
const CHUNK = 256;

function record(label: Uint8Array, gpa: bigint): Uint8Array {
  const r = new Uint8Array(128);
  r.set(label, 0);
  new DataView(r.buffer).setBigUint64(16, gpa, true);
  return r;
}

/** MRTD of a TD built from `ovmf`'s TDVF sections. */
export function mrtd(ovmf: Ovmf, order: PageAddOrder = "per-page"): Uint8Array {
  const hash = createHash("sha384");
  const sections = parseTdvf(ovmf).filter((s) => (s.attributes & TDVF_ATTRIBUTE_PAGE_AUG) === 0);
  for (const s of sections) {
    if (s.dataOffset + s.rawSize > ovmf.data.length) {
      throw new MeasureError(
        "ovmf-malformed",
        `TDVF section at GPA 0x${s.memoryAddress.toString(16)} wants bytes ${s.dataOffset}..${
          s.dataOffset + s.rawSize
        } of a ${ovmf.data.length}-byte image (give the whole firmware file)`,
      );
    }
  }
  const pageBytes = (s: TdvfSection, offset: number) => {
    const page = new Uint8Array(PAGE_SIZE);
    const from = s.dataOffset + offset;
    const end = Math.min(s.dataOffset + s.rawSize, from + PAGE_SIZE);
    if (end > from) page.set(ovmf.data.subarray(from, end));
    return page;
  };
  const extend = (s: TdvfSection, offset: number) => {
    const page = pageBytes(s, offset);
    const gpa = s.memoryAddress + BigInt(offset);
    for (let c = 0; c < PAGE_SIZE; c += CHUNK) {
      hash.update(record(EXTEND, gpa + BigInt(c)));
      hash.update(page.subarray(c, c + CHUNK));
    }
  };
  const pages = (s: TdvfSection) => Number(s.memorySize) / PAGE_SIZE;
  for (const s of sections) {
    for (let p = 0; p < pages(s); p++) {
      hash.update(record(ADD, s.memoryAddress + BigInt(p * PAGE_SIZE)));
      if (order === "per-page" && s.attributes & TDVF_ATTRIBUTE_MR_EXTEND) extend(s, p * PAGE_SIZE);
    }
  }
  if (order === "two-pass") {
    for (const s of sections) {
      if (!(s.attributes & TDVF_ATTRIBUTE_MR_EXTEND)) continue;
      for (let p = 0; p < pages(s); p++) extend(s, p * PAGE_SIZE);
    }
  }
  return new Uint8Array(hash.digest());
}

/** Replays RTMR extensions: each event digest (48 bytes) is folded in order. */
export function rtmrReplay(digests: Uint8Array[]): Uint8Array {
  let rtmr = new Uint8Array(48);
  for (const d of digests) {
    if (d.length !== 48) {
      throw new MeasureError("usage", `an RTMR event digest is 48 bytes, got ${d.length}`);
    }
    rtmr = new Uint8Array(createHash("sha384").update(rtmr).update(d).digest());
  }
  return rtmr;
}
