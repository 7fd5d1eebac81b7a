/**
 * `deno task test:image`: the CVM image end to end (QEMU/TCG; a few minutes). Not part of
 * `deno task test`: it needs qemu-system-x86 and the Debian packages the build fetches.
 *
 * - two builds in different directories give identical bytes (every output's SHA-256), and the
 *   manifest's measurement is what attestation/measure computes from the files;
 * - the image boots under TCG; the emulated secure processor measures what it launches and the
 *   guest's broker obtains a report carrying manifest.json's measurement; the runtime serves;
 *   the evidence bundle fetched from the forwarded port verifies with the emulated root trusted
 *   by name (in process, and with a plain `deno task verify --trust-emulated`, which must find
 *   the root the boot used) and carries that measurement; one summarisation goes through OHTTP
 *   with the client SDK, whose policy pins the manifest's measurement;
 * - an initrd with one byte changed still boots and serves, but its measurement differs, and a
 *   client pinning the manifest's measurement refuses its evidence (code `measurement`).
 */
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import zlib from "node:zlib";
import { build, type Manifest } from "../../enclave-image/build.ts";
import { DEFAULT_SP_STATE, startVm, type Vm } from "../../enclave-image/boot.ts";
import { launchDigest } from "../../attestation/measure/launch.ts";
import { sevHashesOf } from "../../attestation/measure/sev-hashes.ts";
import { loadEmulatedRoot } from "../../attestation/emulated.ts";
import { verifyBundle } from "../../attestation/verify.ts";
import { AttestationError } from "../../attestation/errors.ts";
import { defaultPolicy, type Policy } from "../../attestation/policy.ts";
import { ClientError, CloisterClient } from "../../client/mod.ts";
import { fromHex, toHex } from "../../protocol/bytes.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");
const DENO = `${ROOT}/node_modules/.bin/deno`;
const CACHE = `${ROOT}/.cache/enclave-image`;
/** From QEMU's start to the runtime answering: under a minute under TCG on a 2-core host. */
const BOOT_TIMEOUT_MS = 300_000;

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

function manifestOf(dir: string): Manifest {
  return JSON.parse(Deno.readTextFileSync(`${dir}/manifest.json`)) as Manifest;
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

/** The policy of a client that pins the published measurement (and nothing looser). */
function pinning(m: Manifest): Policy {
  return { ...defaultPolicy(), measurement: [fromHex(m.measurements.snp.measurement)] };
}

async function boot(dir: string, name: string): Promise<Vm> {
  return await startVm({ image: dir, port: 0, log: `${work}/${name}-console.log` });
}

/** The measurement in the report the guest's broker obtained at boot. */
async function bootMeasurement(vm: Vm): Promise<string> {
  const line = await vm.waitForConsole(/cloister-broker: evidence source check/, BOOT_TIMEOUT_MS);
  const m = line.match(/check: ok, report v\d, measurement ([0-9a-f]{96})/);
  assert.ok(m, `the guest could not get a report: ${line}`);
  return m[1];
}

/** Waits until the runtime serves, then fetches its evidence bundle from the forwarded port. */
async function fetchBundle(vm: Vm): Promise<Uint8Array> {
  await vm.ready(BOOT_TIMEOUT_MS);
  const res = await fetch(`http://127.0.0.1:${vm.port}/.well-known/cloister/evidence`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/cbor");
  return new Uint8Array(await res.arrayBuffer());
}

/** A client that talks to the VM directly, trusts the emulated root and pins the manifest. */
async function client(vm: Vm, m: Manifest): Promise<CloisterClient> {
  return new CloisterClient({
    gateways: [`http://127.0.0.1:${vm.port}`],
    policy: pinning(m),
    emulatedRoot: await loadEmulatedRoot(DEFAULT_SP_STATE),
  });
}

const MESSAGES = {
  messages: [
    { from: "Ann", text: "The launch moved to Thursday because the venue cancelled." },
    { from: "Bob", text: "Then the design review is on Wednesday at ten." },
    { from: "Ann", text: "Agreed. I will tell the team and book the small room." },
  ],
};

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
    // the runtime ships as one bundle per entry point it runs, each listed with its digest
    assert.deepEqual(a.runtime.bundles.map((x) => x.entry), [
      "runtime/main.ts",
      "runtime/worker.ts",
      "runtime/model_server.ts",
    ]);
    const files = new Map(a.initrd.files.map((f) => [f.path, f.sha256]));
    for (const bundle of a.runtime.bundles) {
      assert.equal(files.get(bundle.path), bundle.sha256, bundle.path);
    }
    assert.ok(a.runtime.sources.files > 0);
    assert.ok(![...files.keys()].some((p) => p.endsWith(".ts")), "no TypeScript in the image");
  },
});

Deno.test({
  name: "image: boots under TCG, its evidence verifies (--trust-emulated) with manifest.json's " +
    "measurement, and a summary comes back through OHTTP",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const manifest = manifestOf(OUT_A);
    const published = manifest.measurements.snp.measurement;
    const vm = await boot(OUT_A, "a");
    try {
      assert.equal(vm.measurement, published, "the SP's own measurement");
      assert.equal(await bootMeasurement(vm), published, "the guest's first report");

      const bundle = await fetchBundle(vm);
      const verified = await verifyBundle(bundle, pinning(manifest), {
        now: new Date(),
        roots: [await loadEmulatedRoot(DEFAULT_SP_STATE)],
      });
      assert.equal(verified.emulated, true);
      assert.equal(verified.platform, "sev-snp");
      assert.equal(toHex(verified.measurement), published);

      // A plain --trust-emulated finds the root this boot used (no state folder named).
      const file = `${work}/bundle.cbor`;
      Deno.writeFileSync(file, bundle);
      Deno.writeTextFileSync(`${work}/policy.json`, JSON.stringify({ measurement: published }));
      const cli = await new Deno.Command(DENO, {
        args: ["task", "-q", "verify", "--trust-emulated", "--policy", `${work}/policy.json`, file],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const said = new TextDecoder().decode(cli.stdout) + new TextDecoder().decode(cli.stderr);
      assert.equal(cli.code, 0, `deno task verify --trust-emulated refused the bundle:\n${said}`);
      assert.match(said, /EMULATED/);

      const { summary, node, trail } = await (await client(vm, manifest)).summarize(MESSAGES);
      assert.equal(toHex(node.measurement), published);
      assert.ok(trail.some((s) => s.step === "measurement pinned" && s.ok));
      assert.match(summary, /Thursday|Wednesday/);
    } finally {
      await vm.stop();
    }
    assert.equal(typeof await vm.exited, "number", "QEMU has exited");
  },
});

Deno.test({
  name: "image: a one-byte-tampered initrd boots and serves, but a client pinning the manifest's " +
    "measurement refuses its evidence",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const manifest = manifestOf(OUT_A);
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
      const bundle = await fetchBundle(vm);
      const root = await loadEmulatedRoot(DEFAULT_SP_STATE);
      // Genuine evidence of what runs (signature, chain, binding hold) ...
      const genuine = await verifyBundle(bundle, defaultPolicy(), {
        now: new Date(),
        roots: [root],
      });
      assert.equal(toHex(genuine.measurement), tampered);
      // ... but not the published image: refused for its measurement, by name.
      await assert.rejects(
        verifyBundle(bundle, pinning(manifest), { now: new Date(), roots: [root] }),
        (e) => e instanceof AttestationError && e.reason === "policy" && e.field === "measurement",
      );
      const c = await client(vm, manifest);
      const fleet = await c.verifyFleet();
      assert.equal(fleet.verified.length, 0);
      assert.equal(fleet.refused.length, 1);
      assert.equal(fleet.refused[0].code, "measurement");
      assert.equal(fleet.refused[0].reason, "image measurement not allowed by the policy");
      await assert.rejects(
        c.summarize(MESSAGES),
        (e) =>
          e instanceof ClientError && e.code === "no-node" &&
          e.message.includes("image measurement not allowed by the policy"),
      );
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
