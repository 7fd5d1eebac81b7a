/**
 * Which evidence provider this machine has, in the order DESIGN.md gives: configfs-tsm (the
 * vendor-neutral kernel interface, SEV-SNP or TDX), then `/dev/sev-guest`, then `/dev/tdx_guest`
 * (which yields quotes only through configfs-tsm, so on its own it can only say why not). The
 * emulated secure processor is never detected: a caller chooses it by name (`--emulated`).
 */
import { type ConfigfsTsmOptions, ConfigfsTsmProvider } from "./configfs_tsm.ts";
import {
  denoFileSystem,
  type EvidenceProvider,
  type FileSystem,
  ProviderError,
} from "./provider.ts";
import { SEV_GUEST_DEVICE, type SevGuestOptions, SevGuestProvider } from "./sev_guest.ts";
import { TDX_GUEST_DEVICE, type TdxGuestOptions, TdxGuestProvider } from "./tdx_guest.ts";

export interface DetectOptions {
  fs?: FileSystem;
  configfs?: ConfigfsTsmOptions;
  sevGuest?: SevGuestOptions;
  tdxGuest?: TdxGuestOptions;
}

export async function detectProvider(options: DetectOptions = {}): Promise<EvidenceProvider> {
  const fs = options.fs ?? denoFileSystem;
  const configfs = await ConfigfsTsmProvider.detect({ fs, ...options.configfs });
  if (configfs) return configfs;
  if (await fs.exists(SEV_GUEST_DEVICE)) return new SevGuestProvider(options.sevGuest);
  if (await fs.exists(TDX_GUEST_DEVICE)) return new TdxGuestProvider(options.tdxGuest);
  throw new ProviderError(
    "unavailable",
    "no confidential-computing guest interface here (configfs-tsm, /dev/sev-guest, /dev/tdx_guest); " +
      "outside a CVM use the emulated secure processor (--emulated)",
  );
}
