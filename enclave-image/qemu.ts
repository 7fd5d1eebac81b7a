/**
 * QEMU command lines for the CVM image. Pure: the launcher runs them, `--print-command` prints
 * them, tests read them.
 *
 * - `tcg` (this machine: no KVM, and Debian 12's QEMU 7.2 has no SNP/TDX guest support): direct
 *   kernel boot by SeaBIOS, `-cpu max` (V8 needs no particular model under TCG), the emulated
 *   secure processor on a virtio-serial port backed by a host unix socket.
 * - `snp` (QEMU ≥ 9.1 on an SEV-SNP host): `-object sev-snp-guest,kernel-hashes=on` so the kernel,
 *   initrd and command line are measured through OVMF's hashes table, an AmdSevX64 OVMF as `-bios`,
 *   guest memory from memfd (guest_memfd backs private memory), the vCPU model the measurement
 *   was computed for.
 * - `tdx` (QEMU ≥ 10.1 on a TDX host): `-object tdx-guest`, an IntelTdx TDVF as `-bios`, split
 *   irqchip as TDX requires.
 *
 * Every variant: user networking restricted to the one forwarded port, bound to 127.0.0.1 only;
 * no display, no default devices, no monitor; `-no-reboot` so a guest panic ends QEMU.
 */

export type Platform = "tcg" | "snp" | "tdx";

export interface VmConfig {
  platform: Platform;
  vmlinuz: string;
  initrd: string;
  cmdline: string;
  /** Guest memory, QEMU syntax (e.g. "2G"). */
  memory: string;
  vcpus: number;
  /** Host port on 127.0.0.1 forwarded to `guestPort`. */
  hostPort: number;
  guestPort: number;
  /** tcg: the emulated secure processor's unix socket (it listens; QEMU connects). */
  spSocket?: string;
  /** tcg: name of the virtio-serial port the guest looks for. */
  spPortName?: string;
  /** snp/tdx: the firmware (AmdSevX64 OVMF or IntelTdx TDVF). */
  firmware?: string;
  /** snp: the QEMU CPU model the measurement assumes (e.g. EPYC-v4). */
  vcpuType?: string;
}

export class QemuConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QemuConfigError";
  }
}

export const QEMU = "qemu-system-x86_64";

/**
 * A value inside a QEMU `key=value,…` option: a comma is written twice (QEMU's escape), else a
 * path like /tmp/a,server=on (a TMPDIR with a comma) would add options of its own.
 */
const opt = (value: string) => value.replaceAll(",", ",,");

/** The argument vector (without the program name). */
export function qemuArgs(c: VmConfig): string[] {
  const common = [
    "-nodefaults",
    "-nographic",
    "-monitor",
    "none",
    "-no-reboot",
    "-serial",
    "stdio",
    "-m",
    c.memory,
    "-smp",
    String(c.vcpus),
    "-kernel",
    c.vmlinuz,
    "-initrd",
    c.initrd,
    "-append",
    c.cmdline,
    "-netdev",
    `user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:${c.hostPort}-:${c.guestPort}`,
    "-device",
    "virtio-net-pci,netdev=net0,romfile=",
  ];
  switch (c.platform) {
    case "tcg": {
      if (!c.spSocket || !c.spPortName) {
        throw new QemuConfigError("a TCG launch needs the emulated secure processor's socket");
      }
      return [
        "-accel",
        "tcg",
        "-cpu",
        "max",
        ...common,
        "-device",
        "virtio-serial-pci",
        "-chardev",
        `socket,id=sp0,path=${opt(c.spSocket)}`,
        "-device",
        `virtserialport,chardev=sp0,name=${opt(c.spPortName)}`,
      ];
    }
    case "snp": {
      if (!c.firmware) {
        throw new QemuConfigError("an SEV-SNP launch needs --ovmf (AmdSevX64 build)");
      }
      return [
        "-accel",
        "kvm",
        "-cpu",
        c.vcpuType ?? "EPYC-v4",
        "-machine",
        "q35,confidential-guest-support=sev0,memory-backend=ram0",
        "-object",
        `memory-backend-memfd,id=ram0,size=${opt(c.memory)},share=true,prealloc=false`,
        "-object",
        "sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,kernel-hashes=on",
        "-bios",
        c.firmware,
        ...common,
      ];
    }
    case "tdx": {
      if (!c.firmware) throw new QemuConfigError("a TDX launch needs --ovmf (IntelTdx TDVF build)");
      return [
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-machine",
        "q35,kernel-irqchip=split,confidential-guest-support=tdx0,memory-backend=ram0",
        "-object",
        `memory-backend-ram,id=ram0,size=${opt(c.memory)}`,
        "-object",
        "tdx-guest,id=tdx0",
        "-bios",
        c.firmware,
        ...common,
      ];
    }
  }
}

/** A shell-quoted command line for people to copy. */
export function shellCommand(args: string[]): string {
  const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);
  return [QEMU, ...args].map(q).join(" ");
}
