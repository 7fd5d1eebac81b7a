/**
 * `deno task test:image`: the CVM image end to end (QEMU/TCG; a few minutes). Not part of
 * `deno task test`: it needs qemu-system-x86 and the Debian packages the build fetches.
 *
 * - two builds in different directories give identical bytes (every output's SHA-256);
 * - the image boots under TCG, the guest obtains a report from the emulated secure processor
 *   over virtio-serial, and the measurement it carries is manifest.json's expected value (and
 *   the one attestation/measure computes from the files here);
 * - with the runtime in the image: the evidence bundle fetched from the host verifies with the
 *   emulated root trusted by name and carries that measurement, and one summarisation request
 *   goes through OHTTP (the client CLI);
 * - an initrd with one byte changed still boots, but its measurement differs, and (with the
 *   runtime) a client pinning the manifest's measurement refuses its evidence.
 * Steps that need the runtime (issue 5) or the client (issue 6) are reported as ignored until
 * those exist and the runtime reads CLOISTER_EMULATOR: nothing stands in for them.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import zlib from "node:zlib";
import { build, type Manifest } from "../../enclave-image/build.ts";
import { DEFAULT_SP_STATE, startVm, type Vm } from "../../enclave-image/boot.ts";
import { launchDigest } from "../../attestation/measure/launch.ts";
import { sevHashesOf } from "../../attestation/measure/sev-hashes.ts";
import { EmulatedSecureProcessor } from "../../attestation/emulated.ts";
import { verifyBundle } from "../../attestation/verify.ts";
import { AttestationError } from "../../attestation/errors.ts";
import { defaultPolicy } from "../../attestation/policy.ts";
import { fromHex, toHex } from "../../protocol/bytes.ts";

const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${ROOT}/.cache/enclave-image`;
const exists = (p: string) => {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
};
const HAS_RUNTIME = exists(`${ROOT}/runtime/main.ts`);
/**
 * The runtime is wired for the image once it takes its evidence from the broker socket named by
 * CLOISTER_EMULATOR (enclave-image/README.md "What remains for the runtime"); before that its
 * presence alone must not turn this suite red.
 */
const RUNTIME_WIRED = HAS_RUNTIME &&
  [...Deno.readDirSync(`${ROOT}/runtime`)].some((e) =>
    e.name.endsWith(".ts") &&
    Deno.readTextFileSync(`${ROOT}/runtime/${e.name}`).includes("CLOISTER_EMULATOR")
  );
const HAS_CLIENT = exists(`${ROOT}/client/main.ts`);
const BOOT_TIMEOUT_MS = 240_000;

const work = Deno.makeTempDirSync({ prefix: "cloister-test-image-" });
const OUT_A = `${work}/a/out`;
const OUT_B = `${work}/b/nested/out`;

async function buildInto(out: string): Promise<Manifest> {
  return await build({
    out,
    cache: CACHE,
    vcpus: 1,
    vcpuType: "EPYC-v4",
    guestFeatures: 1n,
    log: () => {},
  });
}

function sha256File(path: string): string {
  return createHash("sha256").update(Deno.readFileSync(path)).digest("hex");
}

/** What attestation/measure gives for the files of an image folder (a third, independent path). */
function measureFolder(dir: string, m: Manifest): string {
  const snp = m.measurements.snp;
  return toHex(launchDigest({
    mode: "snp",
    ovmf: Deno.readFileSync(`${ROOT}/${snp.firmware.file}`),
    vcpus: snp.vcpus,
    vcpuType: snp.vcpu_type,
    guestFeatures: BigInt(snp.guest_features),
    kernel: sevHashesOf(
      Deno.readFileSync(`${dir}/vmlinuz`),
      Deno.readFileSync(`${dir}/initrd`),
      Deno.readTextFileSync(`${dir}/cmdline`),
    ),
  }));
}

async function boot(dir: string, name: string): Promise<Vm> {
  return await startVm({ image: dir, port: 0, memory: "2G", log: `${work}/${name}-console.log` });
}

/** The measurement in the report the guest's broker obtained at boot. */
async function bootMeasurement(vm: Vm): Promise<string> {
  const line = await vm.waitForConsole(/cloister-broker: evidence source check/, BOOT_TIMEOUT_MS);
  const m = line.match(/check: ok, report v\d, measurement ([0-9a-f]{96})/);
  assert.ok(m, `the guest could not get a report: ${line}`);
  return m[1];
}

async function fetchBundle(vm: Vm): Promise<Uint8Array> {
  await vm.ready(BOOT_TIMEOUT_MS);
  const res = await fetch(`http://127.0.0.1:${vm.port}/.well-known/cloister/evidence`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/cbor");
  return new Uint8Array(await res.arrayBuffer());
}

async function emulatedRoot() {
  return (await EmulatedSecureProcessor.load(DEFAULT_SP_STATE)).root;
}

Deno.test({
  name: "image: two builds in different directories give identical bytes",
  sanitizeResources: false,
  async fn() {
    const a = await buildInto(OUT_A);
    const b = await buildInto(OUT_B);
    for (const file of ["vmlinuz", "initrd", "cmdline", "manifest.json"]) {
      assert.equal(sha256File(`${OUT_A}/${file}`), sha256File(`${OUT_B}/${file}`), file);
    }
    assert.deepEqual(a, b);
    for (const [name, out] of Object.entries(a.outputs)) {
      assert.equal(out.sha256, sha256File(`${OUT_A}/${name}`), `manifest digest of ${name}`);
    }
    assert.equal(a.measurements.snp.measurement, measureFolder(OUT_A, a));
    assert.ok(a.cmdline.includes("init_on_free=1") && a.cmdline.includes("init_on_alloc=1"));
    assert.ok(!/\broot=/.test(a.cmdline), "no root= on the command line");
  },
});

Deno.test({
  name:
    "image: boots under TCG and the emulated secure processor signs manifest.json's measurement",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const manifest = JSON.parse(Deno.readTextFileSync(`${OUT_A}/manifest.json`)) as Manifest;
    const vm = await boot(OUT_A, "a");
    try {
      assert.equal(
        vm.measurement,
        manifest.measurements.snp.measurement,
        "the SP's own measurement",
      );
      assert.equal(await bootMeasurement(vm), manifest.measurements.snp.measurement);
      if (!HAS_RUNTIME) {
        await vm.waitForConsole(/cloister-init: no runtime in this image/, BOOT_TIMEOUT_MS);
        assert.equal(await vm.exited, 0, "the guest halts cleanly without a runtime");
      }
    } finally {
      await vm.stop();
    }
  },
});

Deno.test({
  name:
    "image: the runtime's evidence verifies (--trust-emulated) with manifest.json's measurement" +
    (RUNTIME_WIRED
      ? ""
      : HAS_RUNTIME
      ? " [runtime not wired for the image yet]"
      : " [no runtime yet]"),
  ignore: !RUNTIME_WIRED,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const manifest = JSON.parse(Deno.readTextFileSync(`${OUT_A}/manifest.json`)) as Manifest;
    const vm = await boot(OUT_A, "a-runtime");
    try {
      const bundle = await fetchBundle(vm);
      const policy = {
        ...defaultPolicy(),
        measurement: [fromHex(manifest.measurements.snp.measurement)],
      };
      const verified = await verifyBundle(bundle, policy, {
        now: new Date(),
        roots: [await emulatedRoot()],
      });
      assert.equal(verified.emulated, true);
      assert.equal(toHex(verified.measurement), manifest.measurements.snp.measurement);
      if (HAS_CLIENT) {
        const text = `${work}/messages.txt`;
        Deno.writeTextFileSync(
          text,
          "Ann: The launch moved to Thursday.\nBob: Then the review is on Wednesday.\nAnn: Agreed.\n",
        );
        const out = await new Deno.Command(`${ROOT}/node_modules/.bin/deno`, {
          args: [
            "task",
            "client",
            "summarize",
            "--gateway",
            `http://127.0.0.1:${vm.port}`,
            "--trust-emulated",
            text,
          ],
          cwd: ROOT,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
        assert.ok(out.success, `client summarize failed: ${said}`);
        assert.match(said, /Thursday|Wednesday/);
      }
    } finally {
      await vm.stop();
    }
  },
});

Deno.test({
  name: "image: a one-byte-tampered initrd boots, but its measurement is not the published one",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const manifest = JSON.parse(Deno.readTextFileSync(`${OUT_A}/manifest.json`)) as Manifest;
    const dir = `${work}/tampered`;
    Deno.mkdirSync(dir);
    for (const f of ["vmlinuz", "cmdline", "manifest.json"]) {
      Deno.copyFileSync(`${OUT_A}/${f}`, `${dir}/${f}`);
    }
    // One byte of the init script's opening comment changes: the guest still boots the same way.
    const cpio = new Uint8Array(zlib.zstdDecompressSync(Deno.readFileSync(`${OUT_A}/initrd`)));
    const at = new TextDecoder("latin1").decode(cpio).indexOf("# Cloister CVM init");
    assert.ok(at > 0, "the init script is in the archive");
    cpio[at + 2] ^= 0x20; // "Cloister" -> "cloister"
    Deno.writeFileSync(`${dir}/initrd`, new Uint8Array(zlib.zstdCompressSync(cpio)));
    const tampered = measureFolder(dir, manifest);
    assert.notEqual(tampered, manifest.measurements.snp.measurement);

    const vm = await boot(dir, "tampered");
    try {
      assert.equal(vm.measurement, tampered, "the SP measures what it launches");
      assert.equal(await bootMeasurement(vm), tampered);
      if (RUNTIME_WIRED) {
        const bundle = await fetchBundle(vm);
        const pinned = {
          ...defaultPolicy(),
          measurement: [fromHex(manifest.measurements.snp.measurement)],
        };
        await assert.rejects(
          verifyBundle(bundle, pinned, { now: new Date(), roots: [await emulatedRoot()] }),
          (e) => e instanceof AttestationError && e.reason === "policy",
        );
      }
    } finally {
      await vm.stop();
    }
  },
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
});
