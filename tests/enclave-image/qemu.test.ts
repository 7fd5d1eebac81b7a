import assert from "node:assert/strict";
import {
  qemuArgs,
  QemuConfigError,
  shellCommand,
  type VmConfig,
} from "../../enclave-image/qemu.ts";

const base: VmConfig = {
  platform: "tcg",
  vmlinuz: "/img/vmlinuz",
  initrd: "/img/initrd",
  cmdline: "console=ttyS0 init_on_free=1",
  memory: "2G",
  vcpus: 2,
  hostPort: 18080,
  guestPort: 8080,
  spSocket: "/tmp/x/sp.sock",
  spPortName: "org.cloister.sp.0",
};

const after = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

Deno.test("qemu tcg: one restricted user network forwarding 127.0.0.1 only, the SP on virtio-serial", () => {
  const args = qemuArgs(base);
  assert.deepEqual(after(args, "-accel"), ["tcg"]);
  assert.deepEqual(after(args, "-netdev"), [
    "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:18080-:8080",
  ]);
  assert.ok(after(args, "-chardev").includes("socket,id=sp0,path=/tmp/x/sp.sock"));
  assert.ok(after(args, "-device").includes("virtserialport,chardev=sp0,name=org.cloister.sp.0"));
  assert.deepEqual(after(args, "-append"), [base.cmdline]);
  assert.deepEqual(after(args, "-smp"), ["2"]);
  for (const flag of ["-no-reboot", "-nodefaults", "-nographic"]) {
    assert.ok(args.includes(flag), flag);
  }
  assert.deepEqual(after(args, "-monitor"), ["none"]);
  // A comma in a path is QEMU's option separator: doubled, it stays part of the path.
  const comma = qemuArgs({ ...base, spSocket: "/tmp/a,server=on,wait=off/sp.sock" });
  assert.deepEqual(after(comma, "-chardev"), [
    "socket,id=sp0,path=/tmp/a,,server=on,,wait=off/sp.sock",
  ]);
});

Deno.test("qemu snp: KVM, sev-snp-guest with kernel-hashes, the given OVMF, the manifest's CPU model", () => {
  const args = qemuArgs({
    ...base,
    platform: "snp",
    firmware: "/fw/OVMF.fd",
    vcpuType: "EPYC-Milan",
  });
  assert.deepEqual(after(args, "-accel"), ["kvm"]);
  assert.deepEqual(after(args, "-cpu"), ["EPYC-Milan"]);
  assert.deepEqual(after(args, "-bios"), ["/fw/OVMF.fd"]);
  assert.ok(
    after(args, "-object").some((o) =>
      o.startsWith("sev-snp-guest,") && o.includes("kernel-hashes=on")
    ),
  );
  assert.ok(!args.some((a) => a.includes("virtserialport")), "no emulated SP on hardware");
  assert.throws(() => qemuArgs({ ...base, platform: "snp" }), QemuConfigError);
  assert.throws(() => qemuArgs({ ...base, platform: "tdx" }), QemuConfigError);
  assert.throws(() => qemuArgs({ ...base, spSocket: undefined }), QemuConfigError);
});

Deno.test("shellCommand quotes what the shell would split", () => {
  assert.equal(
    shellCommand(["-append", "console=ttyS0 quiet", "-m", "2G"]),
    "qemu-system-x86_64 -append 'console=ttyS0 quiet' -m 2G",
  );
});
