/**
 * The emulated AMD secure processor as a host process: what stands in for the AMD-SP when QEMU
 * runs without SEV-SNP. Like the real one it sits outside the guest and decides the launch
 * measurement itself — computed here, with attestation/measure, from the exact kernel, initrd,
 * command line and declared firmware that the launcher hands to QEMU (so a changed image yields a
 * changed measurement, never the published one) — and it signs the guest's report requests with
 * the emulated VCEK of attestation/emulated.ts (whose root nothing trusts unless asked by name).
 *
 * It listens on a unix socket that QEMU connects a virtio-serial port to, answers in
 * attestation/emulated.ts's `EMULATOR_PROTOCOL` (`serveEmulator`), and prints one JSON line
 * `{"ready": true, "measurement": "<hex>"}` on stdout once listening. Its keys live in `--state`
 * (created on first use), so the emulated root stays the same from one boot to the next.
 *
 *   deno run --allow-read --allow-write=DIRS --allow-net=unix:PATH sp-host.ts --socket PATH
 *     --state DIR --kernel F --initrd F --cmdline F --firmware F --vcpus N --vcpu-type NAME
 *     --guest-features HEX
 */
import { launchDigest } from "../attestation/measure/launch.ts";
import { sevHashesOf } from "../attestation/measure/sev-hashes.ts";
import { EmulatedSecureProcessor, serveEmulator } from "../attestation/emulated.ts";

export interface LaunchFiles {
  kernel: string;
  initrd: string;
  cmdline: string;
  firmware: string;
  vcpus: number;
  vcpuType: string;
  guestFeatures: bigint;
}

/** The SEV-SNP measurement of the launch these files describe (what the SP signs). */
export function measureLaunch(f: LaunchFiles): Uint8Array {
  const cmdline = Deno.readTextFileSync(f.cmdline);
  return launchDigest({
    mode: "snp",
    ovmf: Deno.readFileSync(f.firmware),
    vcpus: f.vcpus,
    vcpuType: f.vcpuType,
    guestFeatures: f.guestFeatures,
    kernel: sevHashesOf(Deno.readFileSync(f.kernel), Deno.readFileSync(f.initrd), cmdline),
  });
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function option(args: string[], name: string): string {
  const i = args.indexOf(name);
  if (i < 0 || args[i + 1] === undefined) throw new Error(`missing ${name}`);
  return args[i + 1];
}

async function main(args: string[]): Promise<number> {
  let files: LaunchFiles, socket: string;
  try {
    socket = option(args, "--socket");
    files = {
      kernel: option(args, "--kernel"),
      initrd: option(args, "--initrd"),
      cmdline: option(args, "--cmdline"),
      firmware: option(args, "--firmware"),
      vcpus: Number(option(args, "--vcpus")),
      vcpuType: option(args, "--vcpu-type"),
      guestFeatures: BigInt(option(args, "--guest-features")),
    };
  } catch (e) {
    console.error(`sp-host: ${(e as Error).message} (see the header of enclave-image/sp-host.ts)`);
    return 2;
  }
  let measurement: Uint8Array;
  try {
    measurement = measureLaunch(files);
  } catch (e) {
    console.error(`sp-host: cannot measure the launch: ${(e as Error).message}`);
    return 1;
  }
  let sp: EmulatedSecureProcessor;
  try {
    sp = await EmulatedSecureProcessor.open(option(args, "--state"));
  } catch (e) {
    console.error(
      `sp-host: cannot open the emulated secure processor state: ${(e as Error).message}`,
    );
    return 1;
  }
  sp.launch({ measurement });
  await Deno.remove(socket).catch(() => {});
  let listener: Deno.UnixListener;
  try {
    listener = Deno.listen({ transport: "unix", path: socket });
  } catch (e) {
    console.error(`sp-host: cannot listen on ${socket}: ${(e as Error).message}`);
    return 1;
  }
  console.log(JSON.stringify({ ready: true, measurement: hex(measurement) }));
  await serveEmulator(sp, listener);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
