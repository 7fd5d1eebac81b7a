/**
 * TDX reports through `/dev/tdx_guest` (Linux `drivers/virt/coco/tdx-guest`, uapi
 * `include/uapi/linux/tdx-guest.h`):
 * ```
 * tdx_report_req (1088): reportdata[64] @0 (in), tdreport[1024] @64 (out)
 * TDX_CMD_GET_REPORT0 = _IOWR('T', 1, 1088) = 0xC4405401
 * ```
 * A TDREPORT is MAC'd for the local platform, not signed: nobody else can verify it. A quote —
 * the evidence a remote party verifies — comes from the host's quoting enclave, which recent
 * kernels reach through configfs-tsm (`outblob` of the `tdx_guest` provider). So this provider
 * returns quotes by delegating to configfs-tsm, and `getReport` gives the raw TDREPORT for local
 * use. The out-of-tree TDX_CMD_GET_QUOTE ioctl and the QGS vsock path are not supported.
 */
import {
  checkReportData,
  type Evidence,
  type EvidenceProvider,
  ProviderError,
} from "./provider.ts";
import { type Device, IoctlError, iowr, openDevice } from "./ioctl.ts";

export const TDX_GUEST_DEVICE = "/dev/tdx_guest";
export const TDX_REPORT_REQ_SIZE = 1088;
export const TDREPORT_SIZE = 1024;
export const TDX_CMD_GET_REPORT0 = iowr("T", 1, TDX_REPORT_REQ_SIZE);

export function packTdxReportRequest(reportData: Uint8Array): Uint8Array {
  const b = new Uint8Array(TDX_REPORT_REQ_SIZE);
  b.set(reportData, 0);
  return b;
}

export interface TdxGuestOptions {
  open?: () => Device;
  /** Where quotes come from (normally the configfs-tsm provider); none: getEvidence refuses. */
  quotes?: EvidenceProvider;
}

export class TdxGuestProvider implements EvidenceProvider {
  readonly platform = "tdx" as const;
  readonly name = TDX_GUEST_DEVICE;
  constructor(readonly options: TdxGuestOptions = {}) {}

  /** TDX_CMD_GET_REPORT0: the 1024-byte TDREPORT_STRUCT for this REPORT_DATA. */
  getReport(reportData: Uint8Array): Uint8Array {
    checkReportData(reportData);
    const device = (this.options.open ?? (() => openDevice(TDX_GUEST_DEVICE)))();
    try {
      const req = packTdxReportRequest(reportData);
      const errno = device.ioctl(TDX_CMD_GET_REPORT0, req);
      if (errno !== 0) {
        throw new IoctlError(
          errno,
          `${TDX_GUEST_DEVICE} TDX_CMD_GET_REPORT0 failed: errno ${errno}`,
        );
      }
      return req.slice(64, 64 + TDREPORT_SIZE);
    } finally {
      device.close();
    }
  }

  async getEvidence(reportData: Uint8Array): Promise<Evidence> {
    checkReportData(reportData);
    if (!this.options.quotes || this.options.quotes.platform !== "tdx") {
      throw new ProviderError(
        "unavailable",
        `${TDX_GUEST_DEVICE} gives only a local TDREPORT; quotes need configfs-tsm (kernel ≥ 6.7 with the tdx_guest provider)`,
      );
    }
    return await this.options.quotes.getEvidence(reportData);
  }
}
