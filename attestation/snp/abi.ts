/**
 * AMD SEV-SNP ATTESTATION_REPORT ⇄ typed struct (SEV-SNP Firmware ABI Specification, rev 1.57,
 * §7.3 Table 23 "ATTESTATION_REPORT Structure"; TCB_VERSION §2.2; layouts cross-checked with
 * go-sev-guest `abi/abi.go` and virtee/sev `firmware/guest/types/snp.rs`). Report versions 2, 3
 * and 5; 0x4A0 bytes, little-endian:
 *
 * ```
 * 0x000 version u32 | guest_svn u32 | policy u64 | family_id[16] | image_id[16] | vmpl u32
 * 0x034 signature_algo u32 | current_tcb u64 | platform_info u64 | signer_info u32 | MBZ u32
 * 0x050 report_data[64] | measurement[48] | host_data[32] | id_key_digest[48]
 * 0x110 author_key_digest[48] | report_id[32] | report_id_ma[32] | reported_tcb u64
 * 0x188 v3+: cpuid_fam u8, cpuid_mod u8, cpuid_step u8 | MBZ[21]   (v2: MBZ[24])
 * 0x1A0 chip_id[64] | committed_tcb u64 | current build/minor/major u8×3, MBZ u8
 * 0x1EC committed build/minor/major u8×3, MBZ u8 | launch_tcb u64
 * 0x1F8 v5: launch_mit_vector u64, current_mit_vector u64 | MBZ to 0x2A0  (v2/v3: MBZ from 0x1F8)
 * 0x2A0 signature: r[72] | s[72] (little-endian, P-384 uses the low 48 of each) | MBZ[368]
 * ```
 *
 * Which rule runs when (shared/vectors/attestation/README.md, "Reason codes and the order of
 * checks"): `parseReport` enforces only what must hold before anything else can be read — the
 * exact size (`malformed`), a defined version and `signature_algo` = 1 (`unsupported`), and zero
 * bytes in the unsigned reserved tail of the signature (0x330–0x49F, `malformed`). The reserved
 * fields inside the signed region are checked by `checkReserved`, which the verifier runs after
 * the signature, so that any change to signed bytes reports `signature` first (as go-sev-guest
 * does). The TCB layout is not in the report: Milan and Genoa use {bl, tee, 4 MBZ, snp, ucode},
 * Turin and later {fmc, bl, tee, snp, 3 MBZ, ucode}; `tcbLayout` picks it from the product.
 */
import { AttestationError } from "../errors.ts";
import type { Product } from "../policy.ts";

export const REPORT_SIZE = 0x4a0;
/** Bytes 0x000..0x29F are signed. */
export const SIGNED_SIZE = 0x2a0;
export const SIGNATURE_OFFSET = 0x2a0;
/** Each of r and s is a 72-byte little-endian field; P-384 values fill the low 48 bytes. */
export const SIG_COMPONENT_SIZE = 72;
export const SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1;
export const VERSIONS: readonly number[] = [2, 3, 5];

/** signer_info SIGNING_KEY (bits 2-4): which key signed the report. */
export type SigningKey = "vcek" | "vlek";
const SIGNING_KEYS: Record<number, SigningKey> = { 0: "vcek", 1: "vlek" };

export interface Tcb {
  bl: number;
  tee: number;
  snp: number;
  ucode: number;
  /** Turin and later only. */
  fmc?: number;
}
export type TcbLayout = "milan" | "turin";

export interface Cpuid {
  family: number;
  model: number;
  stepping: number;
}

export interface Report {
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgo: number;
  currentTcb: bigint;
  platformInfo: bigint;
  /** signer_info as encoded; see `signingKey`, `authorKeyEn`, `maskChipKey`. */
  signerInfo: number;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: bigint;
  /** v3 and later. */
  cpuid?: Cpuid;
  chipId: Uint8Array;
  committedTcb: bigint;
  currentVersion: { build: number; minor: number; major: number };
  committedVersion: { build: number; minor: number; major: number };
  launchTcb: bigint;
  /** v5 only. */
  launchMitVector?: bigint;
  currentMitVector?: bigint;
  /** r and s as the 72-byte little-endian fields of the report. */
  signatureR: Uint8Array;
  signatureS: Uint8Array;
}

/** A report read from bytes: the fields and the exact input they came from. */
export interface ParsedReport extends Report {
  /** The 0x4A0 bytes as given (a private copy); `raw.subarray(0, SIGNED_SIZE)` is signed. */
  raw: Uint8Array;
}

/** Guest policy bits (ABI §4.3 Table 9). */
export const POLICY = {
  SMT: 1n << 16n,
  RESERVED_ONE: 1n << 17n,
  MIGRATE_MA: 1n << 18n,
  DEBUG: 1n << 19n,
  SINGLE_SOCKET: 1n << 20n,
} as const;

export function signingKey(report: Pick<Report, "signerInfo">): SigningKey | undefined {
  return SIGNING_KEYS[(report.signerInfo >> 2) & 7];
}
export const authorKeyEn = (r: Pick<Report, "signerInfo">): boolean => (r.signerInfo & 1) !== 0;
export const maskChipKey = (r: Pick<Report, "signerInfo">): boolean => (r.signerInfo & 2) !== 0;

function malformed(message: string, offset?: number): never {
  throw new AttestationError(
    "malformed",
    message,
    offset === undefined ? undefined : `offset 0x${offset.toString(16)}`,
  );
}

/** Bytes → report, with the parse-time rules only (see the module comment). */
export function parseReport(bytes: Uint8Array): ParsedReport {
  if (bytes.length !== REPORT_SIZE) {
    malformed(`an SEV-SNP report is ${REPORT_SIZE} bytes, this input has ${bytes.length}`);
  }
  const b = bytes.slice();
  const v = new DataView(b.buffer);
  const u32 = (o: number) => v.getUint32(o, true);
  const u64 = (o: number) => v.getBigUint64(o, true);
  const version = u32(0x000);
  if (!VERSIONS.includes(version)) {
    throw new AttestationError(
      "unsupported",
      `report version ${version} is not one of ${VERSIONS.join(", ")}`,
      "version",
    );
  }
  const signatureAlgo = u32(0x034);
  if (signatureAlgo !== SIGNATURE_ALGO_ECDSA_P384_SHA384) {
    throw new AttestationError(
      "unsupported",
      `signature_algo ${signatureAlgo} is not 1 (ECDSA P-384 with SHA-384)`,
      "signature_algo",
    );
  }
  const tail = SIGNATURE_OFFSET + 2 * SIG_COMPONENT_SIZE;
  const nz = firstNonZero(b, tail, REPORT_SIZE);
  if (nz >= 0) malformed(`reserved byte 0x${nz.toString(16)} after the signature is not zero`, nz);
  const v3 = version >= 3;
  return {
    raw: b,
    version,
    guestSvn: u32(0x004),
    policy: u64(0x008),
    familyId: b.subarray(0x010, 0x020),
    imageId: b.subarray(0x020, 0x030),
    vmpl: u32(0x030),
    signatureAlgo,
    currentTcb: u64(0x038),
    platformInfo: u64(0x040),
    signerInfo: u32(0x048),
    reportData: b.subarray(0x050, 0x090),
    measurement: b.subarray(0x090, 0x0c0),
    hostData: b.subarray(0x0c0, 0x0e0),
    idKeyDigest: b.subarray(0x0e0, 0x110),
    authorKeyDigest: b.subarray(0x110, 0x140),
    reportId: b.subarray(0x140, 0x160),
    reportIdMa: b.subarray(0x160, 0x180),
    reportedTcb: u64(0x180),
    ...(v3 ? { cpuid: { family: b[0x188], model: b[0x189], stepping: b[0x18a] } } : {}),
    chipId: b.subarray(0x1a0, 0x1e0),
    committedTcb: u64(0x1e0),
    currentVersion: { build: b[0x1e8], minor: b[0x1e9], major: b[0x1ea] },
    committedVersion: { build: b[0x1ec], minor: b[0x1ed], major: b[0x1ee] },
    launchTcb: u64(0x1f0),
    ...(version >= 5 ? { launchMitVector: u64(0x1f8), currentMitVector: u64(0x200) } : {}),
    signatureR: b.subarray(SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIG_COMPONENT_SIZE),
    signatureS: b.subarray(SIGNATURE_OFFSET + SIG_COMPONENT_SIZE, tail),
  };
}

/**
 * The must-be-zero and fixed-value rules of the signed region (ABI Table 23), run after the
 * signature: reserved words and bytes, signer_info bits 5-31, a defined SIGNING_KEY, and guest
 * policy bit 17, which is reserved and must be one.
 */
export function checkReserved(report: ParsedReport): void {
  const b = report.raw;
  const zero: [number, number, string][] = [
    [0x04c, 0x050, "reserved word after signer_info"],
    [report.version >= 3 ? 0x18b : 0x188, 0x1a0, "reserved bytes after reported_tcb"],
    [0x1eb, 0x1ec, "reserved byte after current_major"],
    [0x1ef, 0x1f0, "reserved byte after committed_major"],
    [report.version >= 5 ? 0x208 : 0x1f8, SIGNED_SIZE, "reserved bytes before the signature"],
  ];
  for (const [from, to, what] of zero) {
    const nz = firstNonZero(b, from, to);
    if (nz >= 0) malformed(`${what}: byte 0x${nz.toString(16)} is not zero`, nz);
  }
  if (report.signerInfo >>> 5) {
    malformed(`signer_info 0x${report.signerInfo.toString(16)} sets reserved bits 5-31`, 0x048);
  }
  if (!signingKey(report)) {
    malformed(
      `signer_info SIGNING_KEY ${(report.signerInfo >> 2) & 7} is neither 0 (VCEK) nor 1 (VLEK)`,
      0x048,
    );
  }
  if (!(report.policy & POLICY.RESERVED_ONE)) {
    malformed(`guest policy 0x${report.policy.toString(16)} has reserved bit 17 clear`, 0x008);
  }
}

/** Struct → the exact 0x4A0 bytes (fields absent for the version are written as zero). */
export function encodeReport(r: Report): Uint8Array {
  const b = new Uint8Array(REPORT_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0x000, r.version, true);
  v.setUint32(0x004, r.guestSvn, true);
  v.setBigUint64(0x008, r.policy, true);
  put(b, 0x010, r.familyId, 16);
  put(b, 0x020, r.imageId, 16);
  v.setUint32(0x030, r.vmpl, true);
  v.setUint32(0x034, r.signatureAlgo, true);
  v.setBigUint64(0x038, r.currentTcb, true);
  v.setBigUint64(0x040, r.platformInfo, true);
  v.setUint32(0x048, r.signerInfo, true);
  put(b, 0x050, r.reportData, 64);
  put(b, 0x090, r.measurement, 48);
  put(b, 0x0c0, r.hostData, 32);
  put(b, 0x0e0, r.idKeyDigest, 48);
  put(b, 0x110, r.authorKeyDigest, 48);
  put(b, 0x140, r.reportId, 32);
  put(b, 0x160, r.reportIdMa, 32);
  v.setBigUint64(0x180, r.reportedTcb, true);
  if (r.cpuid) b.set([r.cpuid.family, r.cpuid.model, r.cpuid.stepping], 0x188);
  put(b, 0x1a0, r.chipId, 64);
  v.setBigUint64(0x1e0, r.committedTcb, true);
  b.set([r.currentVersion.build, r.currentVersion.minor, r.currentVersion.major], 0x1e8);
  b.set([r.committedVersion.build, r.committedVersion.minor, r.committedVersion.major], 0x1ec);
  v.setBigUint64(0x1f0, r.launchTcb, true);
  if (r.launchMitVector !== undefined) v.setBigUint64(0x1f8, r.launchMitVector, true);
  if (r.currentMitVector !== undefined) v.setBigUint64(0x200, r.currentMitVector, true);
  put(b, SIGNATURE_OFFSET, r.signatureR, SIG_COMPONENT_SIZE);
  put(b, SIGNATURE_OFFSET + SIG_COMPONENT_SIZE, r.signatureS, SIG_COMPONENT_SIZE);
  return b;
}

function put(b: Uint8Array, offset: number, value: Uint8Array, size: number): void {
  if (value.length !== size) {
    throw new RangeError(
      `field at 0x${offset.toString(16)} needs ${size} bytes, got ${value.length}`,
    );
  }
  b.set(value, offset);
}

function firstNonZero(b: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (b[i] !== 0) return i;
  return -1;
}

/**
 * The product line from the report's CPUID fields (v3+; go-sev-guest `kds.ProductLine`):
 * family 0x19 models 0x00-0x0F Milan, 0x10-0x1F Genoa; family 0x1A models 0x00-0x1F Turin.
 */
export function productFromCpuid(cpuid: Cpuid | undefined): Product | undefined {
  if (!cpuid) return undefined;
  if (cpuid.family === 0x19 && cpuid.model < 0x10) return "Milan";
  if (cpuid.family === 0x19 && cpuid.model < 0x20) return "Genoa";
  if (cpuid.family === 0x1a && cpuid.model < 0x20) return "Turin";
  return undefined;
}

/** The CPUID fields a report of this product line carries (the values observed on hardware). */
export const PRODUCT_CPUID: Record<Product, Cpuid> = {
  Milan: { family: 0x19, model: 0x01, stepping: 0x01 },
  Genoa: { family: 0x19, model: 0x11, stepping: 0x01 },
  Turin: { family: 0x1a, model: 0x02, stepping: 0x01 },
};

export function tcbLayout(product: Product): TcbLayout {
  return product === "Turin" ? "turin" : "milan";
}

/** TCB_VERSION u64 → components (ABI §2.2; Turin: virtee/sev `from_turin_bytes`). */
export function decodeTcb(raw: bigint, layout: TcbLayout): Tcb {
  const byte = (i: number) => Number((raw >> BigInt(8 * i)) & 0xffn);
  return layout === "turin"
    ? { fmc: byte(0), bl: byte(1), tee: byte(2), snp: byte(3), ucode: byte(7) }
    : { bl: byte(0), tee: byte(1), snp: byte(6), ucode: byte(7) };
}

export function encodeTcb(tcb: Tcb, layout: TcbLayout): bigint {
  const at = layout === "turin"
    ? { fmc: 0, bl: 1, tee: 2, snp: 3, ucode: 7 }
    : { bl: 0, tee: 1, snp: 6, ucode: 7 };
  let raw = 0n;
  for (const [name, i] of Object.entries(at)) {
    const value = tcb[name as keyof Tcb] ?? 0;
    if (!Number.isInteger(value) || value < 0 || value > 255) {
      throw new RangeError(`TCB component ${name} must be 0..255, got ${value}`);
    }
    raw |= BigInt(value) << BigInt(8 * i);
  }
  return raw;
}

/** `"bl 3, tee 0, snp 8, ucode 115"` (with `fmc` first on Turin). */
export function formatTcb(tcb: Tcb): string {
  return Object.entries(tcb).map(([k, v]) => `${k} ${v}`).join(", ");
}

/**
 * The certificate table of SNP_GET_EXT_REPORT and configfs-tsm `auxblob` (GHCB specification
 * §4.1.8.1 "SNP Extended Guest Request"; go-sev-guest `abi.CertTable`): entries of
 * {GUID[16], offset u32, length u32} ended by an all-zero entry, offsets from the table's start.
 * GUIDs are in RFC 4122 byte order, as go-sev-guest and virtee/sev write them.
 */
export const CERT_TABLE_GUIDS = {
  vcek: "63da758d-e664-4564-adc5-f4b93be8accd",
  vlek: "a8074bc2-a25a-483e-aae6-39c045a0b8a1",
  ask: "4ab7b379-bbac-4fe4-a02f-05aef327c782",
  ark: "c0b406a4-a803-4952-9743-3fb6014cd0ae",
} as const;

export interface CertTableEntry {
  guid: string;
  /** Name of a known GUID (vcek, vlek, ask, ark), else undefined. */
  kind?: keyof typeof CERT_TABLE_GUIDS;
  data: Uint8Array;
}

function guidText(b: Uint8Array): string {
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function parseCertTable(table: Uint8Array): CertTableEntry[] {
  const v = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const out: CertTableEntry[] = [];
  for (let at = 0;; at += 24) {
    if (at + 24 > table.length) malformed("certificate table has no terminating zero entry", at);
    const guid = table.subarray(at, at + 16);
    const offset = v.getUint32(at + 16, true);
    const length = v.getUint32(at + 20, true);
    if (guid.every((b) => b === 0) && offset === 0 && length === 0) return out;
    if (offset + length > table.length || offset < at + 24) {
      malformed(
        `certificate table entry at ${at} points outside the table (${offset}+${length})`,
        at,
      );
    }
    const text = guidText(guid);
    const kind = (Object.keys(CERT_TABLE_GUIDS) as (keyof typeof CERT_TABLE_GUIDS)[])
      .find((k) => CERT_TABLE_GUIDS[k] === text);
    out.push({
      guid: text,
      ...(kind ? { kind } : {}),
      data: table.subarray(offset, offset + length),
    });
  }
}

export function encodeCertTable(entries: { guid: string; data: Uint8Array }[]): Uint8Array {
  const header = 24 * (entries.length + 1);
  const out = new Uint8Array(header + entries.reduce((n, e) => n + e.data.length, 0));
  const v = new DataView(out.buffer);
  let offset = header;
  entries.forEach((e, i) => {
    const hex = e.guid.replace(/-/g, "");
    if (!/^[0-9a-f]{32}$/.test(hex)) throw new RangeError(`bad GUID ${e.guid}`);
    for (let k = 0; k < 16; k++) out[24 * i + k] = parseInt(hex.slice(2 * k, 2 * k + 2), 16);
    v.setUint32(24 * i + 16, offset, true);
    v.setUint32(24 * i + 20, e.data.length, true);
    out.set(e.data, offset);
    offset += e.data.length;
  });
  return out;
}
