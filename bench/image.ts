/**
 * `deno task bench image`: the CVM image's build time, size and boot-to-ready time under QEMU/TCG
 * (median of 3 boots), against a baseline booted in the same run, interleaved: the same kernel
 * with a bare busybox initramfs whose init only mounts /proc and reports (the floor of a TCG
 * boot on this machine).
 *
 * "Ready" is the runtime answering GET /.well-known/ohttp-gateway on the forwarded port. Until
 * runtime/main.ts exists the image halts after its evidence broker is up, and the milestone
 * measured (and named in the result) is "broker ready": init done, drivers loaded, network up,
 * and a report signed by the emulated secure processor obtained over virtio-serial.
 *
 * Ratio `image-boot-vs-bare` = image boot time / bare boot time (> 1: the image is slower than
 * the floor by that factor; what Deno, onnxruntime and the broker add). Goals: image < 150 MB,
 * boot-to-ready < 30 s under TCG.
 */
import { type Result, summarize } from "./harness.ts";
import type { BenchSuite } from "./main.ts";
import { build, packageTree, treeFile } from "../enclave-image/build.ts";
import { newc } from "../enclave-image/cpio.ts";
import { startVm } from "../enclave-image/boot.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${ROOT}/.cache/enclave-image`;
const BOOTS = 3;
const TIMEOUT_MS = 300_000;

const BARE_INIT = `#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo "cloister-bare: ready"
exit 0
`;

/** Kernel + busybox only, with the image's manifest so the same launcher boots it. */
async function bareImage(image: string, dir: string): Promise<void> {
  const busybox = treeFile(await packageTree("busybox", CACHE), "bin/busybox");
  const initrd = newc([
    { type: "dir", path: "bin", mode: 0o755 },
    { type: "file", path: "bin/busybox", mode: 0o755, data: busybox },
    { type: "symlink", path: "bin/sh", target: "busybox" },
    { type: "dir", path: "dev", mode: 0o755 },
    { type: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 },
    { type: "dir", path: "proc", mode: 0o755 },
    { type: "file", path: "init", mode: 0o755, data: new TextEncoder().encode(BARE_INIT) },
  ], 0);
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeFileSync(`${dir}/initrd`, initrd);
  for (const f of ["vmlinuz", "cmdline", "manifest.json"]) {
    Deno.copyFileSync(`${image}/${f}`, `${dir}/${f}`);
  }
}

/** Seconds from QEMU's start to the milestone. */
async function bootOnce(
  image: string,
  log: string,
  milestone: (vm: Awaited<ReturnType<typeof startVm>>) => Promise<unknown>,
) {
  const vm = await startVm({ image, port: 0, memory: "2G", log });
  try {
    await milestone(vm);
    return (performance.now() - vm.startedAt) / 1000;
  } finally {
    await vm.stop();
  }
}

const suite: BenchSuite = async () => {
  const work = Deno.makeTempDirSync({ prefix: "cloister-bench-image-" });
  try {
    const image = `${work}/image`;
    const t0 = performance.now();
    const manifest = await build({
      out: image,
      cache: CACHE,
      vcpus: 1,
      vcpuType: "EPYC-v4",
      guestFeatures: 1n,
      log: () => {},
    });
    const buildSeconds = (performance.now() - t0) / 1000;
    const bare = `${work}/bare`;
    await bareImage(image, bare);

    const hasRuntime = manifest.runtime !== null;
    const readyName = hasRuntime
      ? "boot-to-ready (TCG)"
      : "boot-to-broker-ready (TCG, runtime absent)";
    const imageMilestone = hasRuntime
      ? (vm: Awaited<ReturnType<typeof startVm>>) => vm.ready(TIMEOUT_MS)
      : (vm: Awaited<ReturnType<typeof startVm>>) =>
        vm.waitForConsole(/cloister-init: evidence broker listening/, TIMEOUT_MS);
    const bareMilestone = (vm: Awaited<ReturnType<typeof startVm>>) =>
      vm.waitForConsole(/cloister-bare: ready/, TIMEOUT_MS);

    const imageTimes: number[] = [];
    const bareTimes: number[] = [];
    for (let i = 0; i < BOOTS; i++) {
      // alternate which goes first so drift hits both alike
      const runs = [
        async () => bareTimes.push(await bootOnce(bare, `${work}/bare-${i}.log`, bareMilestone)),
        async () =>
          imageTimes.push(await bootOnce(image, `${work}/image-${i}.log`, imageMilestone)),
      ];
      if (i % 2) runs.reverse();
      for (const r of runs) await r();
      console.error(
        `boot ${i + 1}/${BOOTS}: bare ${bareTimes.at(-1)!.toFixed(1)} s, image ${
          imageTimes.at(-1)!.toFixed(1)
        } s`,
      );
    }
    const size = manifest.outputs.vmlinuz.bytes + manifest.outputs.initrd.bytes;
    const results: Result[] = [
      summarize("build (warm package cache)", [buildSeconds], "s"),
      summarize("image size (vmlinuz + initrd)", [size / 1e6], "MB"),
      summarize("initrd uncompressed", [manifest.initrd.uncompressed.bytes / 1e6], "MB"),
      summarize(readyName, imageTimes, "s"),
      summarize("bare kernel + busybox boot (TCG)", bareTimes, "s"),
    ];
    const [ready, floor] = [results[3], results[4]];
    return {
      results,
      ratios: [{
        name: "image-boot-vs-bare",
        value: ready.median / floor.median,
        numerator: ready.name,
        denominator: floor.name,
      }],
    };
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
};

export default suite;
