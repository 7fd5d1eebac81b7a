/**
 * `deno task bench image`: the CVM image's build time, size and boot-to-ready time under QEMU/TCG
 * (median of 3 boots), against a baseline booted in the same run, interleaved: the same kernel
 * with a bare busybox initramfs whose init only mounts /proc and reports (the floor of a TCG
 * boot on this machine).
 *
 * "Ready" is the runtime answering GET /.well-known/ohttp-gateway on the forwarded port (what
 * `deno task boot` waits for): kernel, init, drivers, network, the evidence broker with a report
 * from the emulated secure processor, the runtime with its first key epoch attested and its first
 * worker warm (runtime/README.md "ready"). Each boot also records when the broker was ready and the host's 1-minute load
 * average, since a TCG guest's speed follows how much of the host it gets. Both boot with
 * `deno task boot`'s default memory for the image (`defaultMemory`).
 *
 * Ratio `image-boot-vs-bare` = image boot time / bare boot time (> 1: the image is slower than
 * the floor by that factor; what Deno, onnxruntime and the broker add). Goals: image < 150 MB,
 * boot-to-ready < 30 s under TCG.
 */
import { fileURLToPath } from "node:url";
import { type Result, summarize } from "./harness.ts";
import type { BenchSuite } from "./main.ts";
import { build, packageTree, treeFile } from "../enclave-image/build.ts";
import { newc } from "../enclave-image/cpio.ts";
import { defaultMemory, startVm, type Vm } from "../enclave-image/boot.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
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

/** Seconds from QEMU's start to each milestone, in order. */
async function bootOnce(
  image: string,
  memory: string,
  log: string,
  milestones: ((vm: Vm) => Promise<unknown>)[],
): Promise<number[]> {
  const vm = await startVm({ image, port: 0, memory, log });
  try {
    const at: number[] = [];
    for (const m of milestones) {
      await m(vm);
      at.push((performance.now() - vm.startedAt) / 1000);
    }
    return at;
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

    const memory = defaultMemory(manifest);
    const broker = (vm: Vm) =>
      vm.waitForConsole(/cloister-init: \[[\d.]+\] evidence broker listening/, TIMEOUT_MS);
    const ready = (vm: Vm) => vm.ready(TIMEOUT_MS);
    const bareReady = (vm: Vm) => vm.waitForConsole(/cloister-bare: ready/, TIMEOUT_MS);

    const imageTimes: number[] = [];
    const brokerTimes: number[] = [];
    const bareTimes: number[] = [];
    const loads: number[] = [];
    for (let i = 0; i < BOOTS; i++) {
      // alternate which goes first so drift hits both alike
      const runs = [
        async () => {
          const [t] = await bootOnce(bare, memory, `${work}/bare-${i}.log`, [bareReady]);
          bareTimes.push(t);
        },
        async () => {
          const [b, t] = await bootOnce(image, memory, `${work}/image-${i}.log`, [broker, ready]);
          brokerTimes.push(b);
          imageTimes.push(t);
          loads.push(Deno.loadavg()[0]);
        },
      ];
      if (i % 2) runs.reverse();
      for (const r of runs) await r();
      console.error(
        `boot ${i + 1}/${BOOTS} (${memory}): bare ${bareTimes.at(-1)!.toFixed(1)} s, image ` +
          `broker ${brokerTimes.at(-1)!.toFixed(1)} s, ready ${imageTimes.at(-1)!.toFixed(1)} s ` +
          `(load average ${loads.at(-1)!.toFixed(2)})`,
      );
    }
    const size = manifest.outputs.vmlinuz.bytes + manifest.outputs.initrd.bytes;
    const results: Result[] = [
      summarize("build (warm package cache)", [buildSeconds], "s"),
      summarize("image size (vmlinuz + initrd)", [size / 1e6], "MB"),
      summarize("initrd uncompressed", [manifest.initrd.uncompressed.bytes / 1e6], "MB"),
      summarize("boot-to-ready (TCG)", imageTimes, "s"),
      summarize("bare kernel + busybox boot (TCG)", bareTimes, "s"),
      summarize("boot-to-broker-ready (TCG)", brokerTimes, "s"),
      summarize("host load average (1 min) after each image boot", loads, ""),
    ];
    const [readyResult, floor] = [results[3], results[4]];
    return {
      results,
      ratios: [{
        name: "image-boot-vs-bare",
        value: readyResult.median / floor.median,
        numerator: readyResult.name,
        denominator: floor.name,
      }],
    };
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
};

export default suite;
