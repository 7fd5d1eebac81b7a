/**
 * Where evidence comes from: one interface over the Linux guest interfaces (configfs-tsm,
 * /dev/sev-guest, /dev/tdx_guest) and the emulated secure processor, so the runtime asks
 * `getEvidence(reportData)` without knowing which one answers.
 *
 * Side effects stay at this edge and are injected: the file system (`FileSystem`, a real one in
 * `denoFileSystem`, a kernel-like fake in the tests), the ioctl (`ioctl.ts`) and the emulator's
 * byte stream. Failures are `ProviderError`s with a stable `code`: `unavailable` (no such
 * interface here), `busy` (another writer changed the request under us, or the device is busy),
 * `device` (the kernel or firmware refused, with its error), `protocol` (an answer that is not
 * what the interface promises).
 */
import type { Platform } from "../verify.ts";
import {
  type BindingClaims,
  encodeEvidenceBundle,
  type TransparencyProof,
} from "../../protocol/evidence.ts";

export interface Evidence {
  platform: Platform;
  /** The raw SEV-SNP report or TDX quote. */
  evidence: Uint8Array;
  /** DER certificates the platform returned with it (SNP extended report / auxblob). */
  certs?: Uint8Array[];
  /** Which provider produced it, e.g. `configfs-tsm (sev_guest)`. */
  source: string;
}

export interface EvidenceProvider {
  readonly platform: Platform;
  /** Human name for logs: `configfs-tsm`, `/dev/sev-guest`, `emulated`… */
  readonly name: string;
  /** A report or quote whose REPORT_DATA is `reportData` (64 bytes). */
  getEvidence(reportData: Uint8Array): Promise<Evidence>;
}

export type ProviderErrorCode = "unavailable" | "busy" | "device" | "protocol";

export class ProviderError extends Error {
  constructor(readonly code: ProviderErrorCode, message: string) {
    super(message);
    this.name = "ProviderError";
  }
}

/** The file operations providers need; paths are absolute. */
export interface FileSystem {
  readFile(path: string): Promise<Uint8Array>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** Creates one directory (configfs: creates a report entry). */
  mkdir(path: string): Promise<void>;
  /** Removes one empty directory (configfs: releases a report entry). */
  rmdir(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
}

export const denoFileSystem: FileSystem = {
  readFile: (path) => Deno.readFile(path),
  writeFile: (path, data) => Deno.writeFile(path, data),
  mkdir: (path) => Deno.mkdir(path),
  rmdir: (path) => Deno.remove(path),
  async exists(path) {
    try {
      await Deno.stat(path);
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return false;
      if (e instanceof Deno.errors.NotCapable) {
        throw new ProviderError(
          "unavailable",
          `cannot look for ${path}: Deno opens /sys and /dev only with --allow-all (in a CVM, ` +
            "run with --allow-all, as the image's evidence broker does; outside one, use --emulated)",
        );
      }
      throw e;
    }
  },
};

/** Checks the 64-byte REPORT_DATA every provider takes. */
export function checkReportData(reportData: Uint8Array): void {
  if (!(reportData instanceof Uint8Array) || reportData.length !== 64) {
    throw new RangeError(`REPORT_DATA must be 64 bytes, got ${reportData?.length}`);
  }
}

/**
 * The evidence bundle (`protocol/evidence.ts`) a runtime serves: evidence obtained for
 * `reportData(claims)`, with its certificates (leaf first, as the platform returned them).
 */
export function evidenceBundle(
  evidence: Evidence,
  claims: BindingClaims,
  extra: { collateral?: Map<string, Uint8Array>; transparency?: TransparencyProof } = {},
): Uint8Array {
  return encodeEvidenceBundle({
    platform: evidence.platform,
    evidence: evidence.evidence,
    certificates: evidence.certs ?? [],
    collateral: extra.collateral ?? new Map(),
    claims,
    ...(extra.transparency ? { transparency: extra.transparency } : {}),
  });
}
