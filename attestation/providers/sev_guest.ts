/**
 * SEV-SNP reports through `/dev/sev-guest` (Linux `drivers/virt/coco/sev-guest`, uapi
 * `include/uapi/linux/sev-guest.h`): the path for kernels without configfs-tsm.
 *
 * Structures, little-endian x86-64 layout:
 * ```
 * snp_guest_request_ioctl (32): msg_version u8 @0 (1), pad[7], req_data u64 @8, resp_data u64 @16,
 *                               exitinfo2 u64 @24 = fw_error u32 @24 | vmm_error u32 @28
 * snp_report_req (96):          user_data[64] @0, vmpl u32 @64, rsvd[28] @68 (zero)
 * snp_ext_report_req (112):     snp_report_req @0, certs_address u64 @96, certs_len u32 @104, pad[4]
 * snp_report_resp (4000):       MSG_REPORT_RSP (SEV-SNP ABI Table 25): status u32 @0,
 *                               report_size u32 @4, reserved[24], report @0x20
 * SNP_GET_REPORT = _IOWR('S', 0, 32) = 0xC0205300; SNP_GET_EXT_REPORT = _IOWR('S', 2, 32) = 0xC0205302
 * ```
 * SNP_GET_EXT_REPORT also copies the host's certificate table (GUID table, `snp/abi.ts`) to
 * `certs_address`; `certs_len` must be a multiple of the page size, and when it is too small the
 * ioctl fails with vmm_error SNP_GUEST_VMM_ERR_INVALID_LEN (1) and `certs_len` set to the size
 * needed — then we retry once with that size.
 */
import { parseCertTable, REPORT_SIZE } from "../snp/abi.ts";
import {
  checkReportData,
  type Evidence,
  type EvidenceProvider,
  ProviderError,
} from "./provider.ts";
import { type Device, IoctlError, iowr, openDevice } from "./ioctl.ts";

export const SEV_GUEST_DEVICE = "/dev/sev-guest";
export const GUEST_REQUEST_SIZE = 32;
export const REPORT_REQ_SIZE = 96;
export const EXT_REPORT_REQ_SIZE = 112;
export const REPORT_RESP_SIZE = 4000;
export const SNP_GET_REPORT = iowr("S", 0x0, GUEST_REQUEST_SIZE);
export const SNP_GET_EXT_REPORT = iowr("S", 0x2, GUEST_REQUEST_SIZE);
export const VMM_ERR_INVALID_LEN = 1;
const PAGE = 4096;
/** SEV_FW_BLOB_MAX_SIZE in the driver. */
const CERTS_MAX = 0x4000;

export function packGuestRequest(request: bigint, response: bigint): Uint8Array {
  const b = new Uint8Array(GUEST_REQUEST_SIZE);
  const v = new DataView(b.buffer);
  b[0] = 1; // msg_version
  v.setBigUint64(8, request, true);
  v.setBigUint64(16, response, true);
  return b;
}

export function guestRequestErrors(b: Uint8Array): { fwError: number; vmmError: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { fwError: v.getUint32(24, true), vmmError: v.getUint32(28, true) };
}

export function packReportRequest(reportData: Uint8Array, vmpl: number): Uint8Array {
  const b = new Uint8Array(REPORT_REQ_SIZE);
  b.set(reportData, 0);
  new DataView(b.buffer).setUint32(64, vmpl, true);
  return b;
}

export function packExtReportRequest(
  reportData: Uint8Array,
  vmpl: number,
  certsAddress: bigint,
  certsLength: number,
): Uint8Array {
  const b = new Uint8Array(EXT_REPORT_REQ_SIZE);
  b.set(packReportRequest(reportData, vmpl), 0);
  const v = new DataView(b.buffer);
  v.setBigUint64(96, certsAddress, true);
  v.setUint32(104, certsLength, true);
  return b;
}

/** MSG_REPORT_RSP → the report, refusing a firmware status or a size other than 1184. */
export function unpackReportResponse(resp: Uint8Array): Uint8Array {
  const v = new DataView(resp.buffer, resp.byteOffset, resp.byteLength);
  const status = v.getUint32(0, true);
  const size = v.getUint32(4, true);
  if (status !== 0) {
    throw new ProviderError(
      "device",
      `SNP firmware answered MSG_REPORT_RSP status 0x${status.toString(16)}`,
    );
  }
  if (size !== REPORT_SIZE || 0x20 + size > resp.length) {
    throw new ProviderError(
      "protocol",
      `MSG_REPORT_RSP report_size ${size}, expected ${REPORT_SIZE}`,
    );
  }
  return resp.slice(0x20, 0x20 + size);
}

export interface SevGuestOptions {
  /** Default: `openDevice(SEV_GUEST_DEVICE)` through FFI. */
  open?: () => Device;
  vmpl?: number;
  /** Ask for the host's certificates (SNP_GET_EXT_REPORT); default true. */
  extended?: boolean;
}

export class SevGuestProvider implements EvidenceProvider {
  readonly platform = "sev-snp" as const;
  readonly name = SEV_GUEST_DEVICE;
  constructor(readonly options: SevGuestOptions = {}) {}

  // deno-lint-ignore require-await
  async getEvidence(reportData: Uint8Array): Promise<Evidence> {
    checkReportData(reportData);
    const device = (this.options.open ?? (() => openDevice(SEV_GUEST_DEVICE)))();
    try {
      return this.#request(device, reportData);
    } finally {
      device.close();
    }
  }

  #request(device: Device, reportData: Uint8Array): Evidence {
    const vmpl = this.options.vmpl ?? 0;
    const resp = new Uint8Array(REPORT_RESP_SIZE);
    if (this.options.extended === false) {
      const req = packReportRequest(reportData, vmpl);
      this.#call(device, SNP_GET_REPORT, req, resp);
      return { platform: "sev-snp", evidence: unpackReportResponse(resp), source: this.name };
    }
    let certs = new Uint8Array(PAGE);
    for (let attempt = 0;; attempt++) {
      const req = packExtReportRequest(reportData, vmpl, device.address(certs), certs.length);
      const result = this.#call(device, SNP_GET_EXT_REPORT, req, resp, attempt === 0);
      if (result === "too-small") {
        const needed = new DataView(req.buffer).getUint32(104, true);
        if (needed <= certs.length || needed > CERTS_MAX || needed % PAGE !== 0) {
          throw new ProviderError(
            "protocol",
            `SNP_GET_EXT_REPORT asked for ${needed} bytes of certificates`,
          );
        }
        certs = new Uint8Array(needed);
        continue;
      }
      const evidence: Evidence = {
        platform: "sev-snp",
        evidence: unpackReportResponse(resp),
        source: this.name,
      };
      // An all-zero first entry means the host supplied no certificates.
      const table = parseCertTable(certs);
      if (table.length) evidence.certs = table.map((e) => e.data);
      return evidence;
    }
  }

  #call(
    device: Device,
    request: number,
    req: Uint8Array,
    resp: Uint8Array,
    mayGrow = false,
  ): "ok" | "too-small" {
    const arg = packGuestRequest(device.address(req), device.address(resp));
    const errno = device.ioctl(request, arg);
    if (errno === 0) return "ok";
    const { fwError, vmmError } = guestRequestErrors(arg);
    if (mayGrow && vmmError === VMM_ERR_INVALID_LEN) return "too-small";
    throw new IoctlError(
      errno,
      `${SEV_GUEST_DEVICE} ioctl 0x${
        request.toString(16)
      } failed: errno ${errno}, firmware error 0x${fwError.toString(16)}, VMM error 0x${
        vmmError.toString(16)
      }`,
    );
  }
}
