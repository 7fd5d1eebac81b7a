/**
 * The SEV hashes table that QEMU writes into guest memory for a measured direct boot
 * (`kernel-hashes=on`; QEMU `target/i386/sev.c` `sev_add_kernel_loader_hashes`, read back by edk2
 * `OvmfPkg/AmdSev/BlobVerifierLibSevHashes`). Layout, packed and little-endian:
 *
 *   GUID 9438d606-… | u16 length = 168
 *   3 × { GUID | u16 length = 50 | SHA-256 (32) }   in the order cmdline, initrd, kernel
 *   zero padding to a multiple of 16 bytes (176)
 *
 * What is hashed: the kernel file as given to QEMU (setup + protected-mode part, i.e. the whole
 * bzImage); the initrd file (SHA-256 of nothing when absent); the command line with its NUL
 * terminator (a lone NUL when absent or empty). In SEV-SNP the table sits in the KERNEL_HASHES
 * page at the low 12 bits of the SEV_HASH_TABLE_RV GPA, the rest of that page zero.
 */
import { createHash } from "node:crypto";
import { concat, utf8 } from "../../protocol/bytes.ts";
import { guidBytes } from "./guid.ts";
import { MeasureError } from "./errors.ts";
import { PAGE_SIZE } from "./ovmf.ts";

const TABLE_GUID = "9438d606-4f22-4cc9-b479-a793d411fd21";
const CMDLINE_GUID = "97d02dd8-bd20-4c94-aa78-e7714d36ab2a";
const INITRD_GUID = "44baf731-3a2f-4bd7-9af1-41e29169781d";
const KERNEL_GUID = "4de79437-abd2-427f-b835-d5b172d2045b";

const ENTRY_LENGTH = 16 + 2 + 32;
const TABLE_LENGTH = 16 + 2 + 3 * ENTRY_LENGTH; // 168
export const PADDED_TABLE_LENGTH = (TABLE_LENGTH + 15) & ~15; // 176

/** SHA-256 digests of the three direct-boot blobs. */
export interface SevHashes {
  kernel: Uint8Array;
  initrd: Uint8Array;
  cmdline: Uint8Array;
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}

/** The bytes QEMU hashes for a command line: UTF-8 plus NUL (`""` and absent give one NUL). */
export function cmdlineBytes(cmdline: string | undefined): Uint8Array {
  // QEMU hashes up to the first NUL and passes UTF-8: a NUL inside, or a lone surrogate (U+FFFD
  // once encoded), would give a digest of another command line than the one written.
  if (cmdline !== undefined && (cmdline.includes("\0") || !cmdline.isWellFormed())) {
    throw new MeasureError("usage", "the kernel command line holds a NUL or is not valid Unicode");
  }
  return concat(utf8(cmdline ?? ""), new Uint8Array(1));
}

/** Digests of a kernel, an optional initrd and an optional command line. */
export function sevHashesOf(
  kernel: Uint8Array,
  initrd: Uint8Array | undefined,
  cmdline: string | undefined,
): SevHashes {
  return {
    kernel: sha256(kernel),
    initrd: sha256(initrd ?? new Uint8Array(0)),
    cmdline: sha256(cmdlineBytes(cmdline)),
  };
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n & 0xff, n >> 8);
}

function entry(guid: string, digest: Uint8Array): Uint8Array {
  if (digest.length !== 32) {
    throw new MeasureError("usage", `a SEV hashes entry holds 32 bytes, got ${digest.length}`);
  }
  return concat(guidBytes(guid), u16(ENTRY_LENGTH), digest);
}

/** The 176-byte padded table (what SEV and SEV-ES hash after the firmware). */
export function sevHashesTable(h: SevHashes): Uint8Array {
  const table = concat(
    guidBytes(TABLE_GUID),
    u16(TABLE_LENGTH),
    entry(CMDLINE_GUID, h.cmdline),
    entry(INITRD_GUID, h.initrd),
    entry(KERNEL_GUID, h.kernel),
  );
  return concat(table, new Uint8Array(PADDED_TABLE_LENGTH - TABLE_LENGTH));
}

/** The 4 KiB KERNEL_HASHES page with the table at `offset` (the hashes GPA & 0xfff). */
export function sevHashesPage(h: SevHashes, offset: number): Uint8Array {
  if (offset < 0 || offset + PADDED_TABLE_LENGTH > PAGE_SIZE) {
    throw new MeasureError(
      "ovmf-malformed",
      `SEV hashes table at page offset 0x${offset.toString(16)} does not fit in a page`,
    );
  }
  const page = new Uint8Array(PAGE_SIZE);
  page.set(sevHashesTable(h), offset);
  return page;
}
