/**
 * `deno task image`: builds the CVM image reproducibly — `vmlinuz`, `initrd` (a deterministic
 * newc cpio, zstd-compressed), `cmdline` and `manifest.json` in `enclave-image/out/` — and prints
 * the launch measurement a verifier should expect.
 *
 * Inputs are pinned in `inputs.json` by version and SHA-256: Debian bookworm packages (fetched
 * with `apt-get download` into `.cache/enclave-image/debs/`), the Deno binary and onnxruntime's
 * CPU library from node_modules, and the firmware the measurement is computed for. The runtime's
 * entry points and the evidence broker ship `deno bundle`d, onnxruntime as files (README.md says
 * why). Same inputs, same bytes: no timestamp, path or host-specific value reaches an output.
 *
 *   deno task image [--out DIR] [--ovmf FILE] [--kernel FILE.deb --kernel-sha256 HEX]
 *                   [--tdvf FILE] [--model DIR] [--issuer-key FILE] [--vcpus N] [--vcpu-type NAME] [--guest-features HEX]
 *                   [--cache DIR] [--quiet]
 */
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import { checkGuestFeatures, launchDigest } from "../attestation/measure/launch.ts";
import { parseOvmf } from "../attestation/measure/ovmf.ts";
import { mrtd } from "../attestation/measure/tdx.ts";
import { sevHashesOf } from "../attestation/measure/sev-hashes.ts";
import { vcpuSigOf } from "../attestation/measure/vmsa.ts";
import { type Entry, newc } from "./cpio.ts";
import { loadOrder, modName } from "./kmod.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const DENO = `${ROOT}/node_modules/.bin/deno`;

/** The kernel command line (measured): see README.md "Kernel command line". */
export const CMDLINE =
  "console=ttyS0 init_on_alloc=1 init_on_free=1 panic=-1 oops=panic rdinit=/init quiet loglevel=4";
export const ZSTD_LEVEL = 9;
/** Port the runtime listens on inside the guest (init); the launcher forwards it. */
export const GUEST_PORT = 8080;

/** Guest drivers: virtio transport, network and console, configfs, and the CVM guest drivers. */
const MODULES = [
  { name: "virtio_pci" },
  { name: "virtio_net" },
  { name: "virtio_console" },
  { name: "configfs" },
  { name: "sev-guest" },
  { name: "tdx-guest", optional: true },
  { name: "tsm", optional: true },
];

/** The busybox applets init uses; no others are linked (no getty, telnetd, httpd…). */
const APPLETS = [
  "sh",
  "mount",
  "mkdir",
  "insmod",
  "ip",
  "chown",
  "chmod",
  "cat",
  "sleep",
  "setpriv",
  "su",
];

/** Shared libraries the Deno binary and onnxruntime need, from the pinned .debs. */
const LIBS: [deb: string, path: string][] = [
  ["libc", "lib/x86_64-linux-gnu/libc.so.6"],
  ["libc", "lib/x86_64-linux-gnu/libm.so.6"],
  ["libc", "lib/x86_64-linux-gnu/libdl.so.2"],
  ["libc", "lib/x86_64-linux-gnu/librt.so.1"],
  ["libc", "lib/x86_64-linux-gnu/libpthread.so.0"],
  ["libc", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"],
  ["libgcc", "lib/x86_64-linux-gnu/libgcc_s.so.1"],
  ["libstdc++", "usr/lib/x86_64-linux-gnu/libstdc++.so.6"],
];

export class BuildError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "BuildError";
  }
}

interface PinnedDeb {
  name: string;
  package: string;
  version: string;
  sha256: string;
}

interface PinnedFile {
  name: string;
  package: string;
  version: string;
  file: string;
  sha256: string;
}

interface Inputs {
  source_date_epoch: number;
  debs: PinnedDeb[];
  npm: PinnedFile[];
  firmware: { file: string; sha256: string; about: string };
}

export interface BuildOptions {
  out: string;
  cache: string;
  ovmf?: string;
  kernelDeb?: { file: string; sha256: string };
  model?: string;
  /** An IntelTdx TDVF firmware: MRTD goes into the manifest. */
  tdvf?: string;
  /** The Privacy Pass issuer's key file the runtime redeems tokens with (measured). */
  issuerKey?: string;
  vcpus: number;
  vcpuType: string;
  guestFeatures: bigint;
  log: (line: string) => void;
}

export function sha256hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw missingTool(cmd);
    throw e;
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new BuildError("tool-failed", `${cmd} ${args.join(" ")} failed: ${err}`);
  }
  return new TextDecoder().decode(out.stdout);
}

const TOOL_PACKAGES: Record<string, string> = {
  "apt-get": "apt",
  "dpkg-deb": "dpkg",
};

function missingTool(tool: string): BuildError {
  const pkg = TOOL_PACKAGES[tool];
  return new BuildError(
    "missing-tool",
    `missing host tool "${tool}"` + (pkg ? `: install it with: apt-get install -y ${pkg}` : ""),
  );
}

function readFile(path: string, what: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    throw new BuildError("missing-input", `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

function checkDigest(data: Uint8Array, want: string, what: string): void {
  const got = sha256hex(data);
  if (got !== want) {
    throw new BuildError("digest-mismatch", `${what} has SHA-256 ${got}, pinned ${want}`);
  }
}

/** The .deb file for a pin, downloaded with apt-get into the cache when missing. */
async function fetchDeb(pin: PinnedDeb, cache: string, log: (s: string) => void) {
  const dir = `${cache}/debs`;
  Deno.mkdirSync(dir, { recursive: true });
  const name = (f: string) =>
    f.startsWith(`${pin.package}_`) && f.endsWith(".deb") &&
    decodeURIComponent(f.split("_")[1]) === pin.version;
  let file = [...Deno.readDirSync(dir)].map((e) => e.name).find(name);
  if (!file) {
    log(`fetching ${pin.package}=${pin.version} with apt-get download`);
    const download = () => run("apt-get", ["download", "-q", `${pin.package}=${pin.version}`], dir);
    try {
      await download();
    } catch (e) {
      if (!(e instanceof BuildError && e.code === "tool-failed")) throw e;
      // A machine whose package lists were never fetched knows no versions: update once, retry.
      log("apt-get download failed; running apt-get update and retrying");
      try {
        await run("apt-get", ["update", "-qq"]);
        await download();
      } catch (e2) {
        throw new BuildError(
          "fetch-failed",
          `apt-get could not download ${pin.package}=${pin.version} (the pinned version may ` +
            `have left the archive; see enclave-image/Dockerfile.cvm for a snapshot mirror): ${
              (e2 as Error).message
            }`,
        );
      }
    }
    file = [...Deno.readDirSync(dir)].map((e) => e.name).find(name);
    if (!file) {
      throw new BuildError("fetch-failed", `apt-get left no ${pin.package} .deb in ${dir}`);
    }
  }
  const path = `${dir}/${file}`;
  checkDigest(readFile(path, "package"), pin.sha256, `${pin.package} ${pin.version} (${path})`);
  return path;
}

/** Extracts a .deb once into the cache (keyed by its digest) and returns the tree's root. */
async function extractDeb(deb: string, sha256: string, cache: string): Promise<string> {
  const dir = `${cache}/extract/${sha256}`;
  try {
    Deno.statSync(`${dir}/.complete`);
    return dir;
  } catch { /* not yet extracted */ }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  Deno.mkdirSync(dir, { recursive: true });
  await run("dpkg-deb", ["-x", deb, dir]);
  Deno.writeTextFileSync(`${dir}/.complete`, "");
  return dir;
}

/** Reads `path` inside an extracted tree, following symlinks inside that tree. */
export function treeFile(root: string, path: string): Uint8Array {
  let p = path;
  for (let hops = 0; hops < 16; hops++) {
    const full = `${root}/${p}`;
    const st = Deno.lstatSync(full);
    if (!st.isSymlink) return Deno.readFileSync(full);
    const target = Deno.readLinkSync(full);
    p = target.startsWith("/")
      ? target.slice(1)
      : `${p.slice(0, p.lastIndexOf("/"))}/${target}`.split("/").reduce<string[]>((a, s) => {
        if (s === "..") a.pop();
        else if (s !== "." && s !== "") a.push(s);
        return a;
      }, []).join("/");
  }
  throw new BuildError("bad-package", `too many symlinks resolving ${path} in ${root}`);
}

function walk(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...walk(`${dir}/${e.name}`, rel));
    else out.push(rel);
  }
  return out;
}

/** Accumulates archive entries, creating parent directories (mode 0755) as needed. */
class Tree {
  readonly entries = new Map<string, Entry>();

  dir(path: string, mode = 0o755): void {
    const parts = path.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (!this.entries.has(p)) this.entries.set(p, { type: "dir", path: p, mode });
    }
  }

  #parent(path: string): void {
    if (path.includes("/")) this.dir(path.slice(0, path.lastIndexOf("/")));
  }

  file(path: string, data: Uint8Array, mode = 0o644): void {
    this.#parent(path);
    if (this.entries.has(path)) throw new BuildError("duplicate", `${path} added twice`);
    this.entries.set(path, { type: "file", path, mode, data });
  }

  symlink(path: string, target: string): void {
    this.#parent(path);
    this.entries.set(path, { type: "symlink", path, target });
  }

  char(path: string, mode: number, major: number, minor: number): void {
    this.#parent(path);
    this.entries.set(path, { type: "char", path, mode, major, minor });
  }
}

/**
 * The runtime's entry points: the runtime and the processes it starts (its one-shot workers,
 * the model process), each bundled to a sibling `.js` (the runtime derives its children's paths
 * from its own extension, runtime/pool.ts `entryPoint`).
 */
const RUNTIME_ENTRIES = ["runtime/main.ts", "runtime/worker.ts", "runtime/model_server.ts"];
/** npm packages left out of the bundles and shipped as files: native code (`addOrtJs`). */
const EXTERNAL = ["onnxruntime-node", "onnxruntime-common"];

/** One JavaScript file of `entry` and everything it imports but `EXTERNAL`. */
async function bundle(entry: string, outFile: string): Promise<Uint8Array> {
  await run(DENO, [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    ...EXTERNAL.flatMap((p) => ["--external", p]),
    "-o",
    outFile,
    entry,
  ], ROOT);
  return Deno.readFileSync(outFile);
}

interface InputRecord {
  name: string;
  package?: string;
  version?: string;
  file?: string;
  sha256: string;
}

interface OutputRecord {
  sha256: string;
  bytes: number;
}

export interface Manifest {
  schema: "cloister-image-manifest/v1";
  source_date_epoch: number;
  inputs: InputRecord[];
  outputs: Record<"vmlinuz" | "initrd" | "cmdline", OutputRecord>;
  initrd: {
    format: string;
    compression: string;
    uncompressed: OutputRecord;
    files: { path: string; sha256: string; bytes: number; mode: string }[];
  };
  cmdline: string;
  kernel: { release: string; modules: string[] };
  runtime: {
    /** Each entry point the runtime runs, `deno bundle`d into the file the guest runs. */
    bundles: { entry: string; path: string; sha256: string; bytes: number }[];
    /** The checkout's files the bundles are built from: their `sha256sum` listing's digest. */
    sources: { files: number; listing_sha256: string };
    /** npm packages the sources import, inside the bundles; and those shipped as files. */
    bundled_packages: string[];
    external_packages: string[];
  };
  guest: { port: number; evidence_port: string };
  measurements: {
    snp: {
      measurement: string;
      mode: "snp";
      vmm: "QEMU";
      vcpus: number;
      vcpu_type: string;
      vcpu_sig: string;
      guest_features: string;
      firmware: { file: string; sha256: string; bootable: boolean; about: string };
      kernel_hashes: { kernel: string; initrd: string; cmdline: string };
    };
    tdx: null | {
      mrtd: string;
      mrtd_two_pass: string;
      firmware: { file: string; sha256: string };
      rtmrs: string;
    };
    tdx_note: string;
  };
}

/** The name of the virtio-serial port the guest reaches the emulated secure processor on. */
export const SP_PORT_NAME = "org.cloister.sp.0";

function readInputs(): Inputs {
  return JSON.parse(Deno.readTextFileSync(`${ROOT}/enclave-image/inputs.json`)) as Inputs;
}

/** The extracted tree of one pinned package of inputs.json (fetched and verified as needed). */
export async function packageTree(
  name: string,
  cache: string,
  log: (line: string) => void = () => {},
): Promise<string> {
  const pin = readInputs().debs.find((d) => d.name === name);
  if (!pin) throw new BuildError("usage", `inputs.json pins no package named ${name}`);
  return await extractDeb(await fetchDeb(pin, cache, log), pin.sha256, cache);
}

export async function build(o: BuildOptions): Promise<Manifest> {
  const inputs = readInputs();
  const given = Deno.env.get("SOURCE_DATE_EPOCH");
  // Decimal seconds that fit cpio's 32-bit mtime ("" is not 0, 2^32 does not wrap to 0).
  const epoch = given === undefined
    ? inputs.source_date_epoch
    : /^[0-9]+$/.test(given)
    ? Number(given)
    : NaN;
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new BuildError(
      "usage",
      `SOURCE_DATE_EPOCH must be decimal seconds 0..4294967295, got "${given ?? epoch}"`,
    );
  }
  const records: InputRecord[] = [];
  const trees = new Map<string, string>();
  for (const pin of inputs.debs) {
    if (pin.name === "kernel" && o.kernelDeb) continue;
    const deb = await fetchDeb(pin, o.cache, o.log);
    trees.set(pin.name, await extractDeb(deb, pin.sha256, o.cache));
    records.push({
      name: pin.name,
      package: pin.package,
      version: pin.version,
      sha256: pin.sha256,
    });
  }
  if (o.kernelDeb) {
    checkDigest(readFile(o.kernelDeb.file, "kernel package"), o.kernelDeb.sha256, o.kernelDeb.file);
    trees.set("kernel", await extractDeb(o.kernelDeb.file, o.kernelDeb.sha256, o.cache));
    records.push({
      name: "kernel",
      file: o.kernelDeb.file.split("/").pop(),
      sha256: o.kernelDeb.sha256,
    });
  }
  o.log("packages verified");

  const tree = new Tree();
  for (const d of ["dev", "proc", "sys", "tmp", "run", "etc/cloister", "app"]) tree.dir(d);
  tree.char("dev/console", 0o600, 5, 1);
  tree.file("init", readFile(`${ROOT}/enclave-image/guest/init`, "init"), 0o755);
  tree.file(
    "etc/passwd",
    utf8("root:x:0:0::/root:/bin/false\ncloister:x:1000:1000::/tmp:/bin/false\n"),
  );
  tree.file("etc/group", utf8("root:x:0:\ncloister:x:1000:\n"));

  // busybox and the applets init uses
  tree.file("bin/busybox", treeFile(trees.get("busybox")!, "bin/busybox"), 0o755);
  for (const a of APPLETS) tree.symlink(`bin/${a}`, "busybox");
  for (const [deb, path] of LIBS) {
    const target = `lib/x86_64-linux-gnu/${path.split("/").pop()}`;
    tree.file(target, treeFile(trees.get(deb)!, path), 0o755);
  }
  tree.symlink("lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");

  // npm-provided binaries, checked against their pins
  for (const pin of inputs.npm) {
    const pkg = JSON.parse(
      Deno.readTextFileSync(`${ROOT}/node_modules/${pin.package}/package.json`),
    );
    if (pkg.version !== pin.version) {
      throw new BuildError(
        "version-mismatch",
        `node_modules/${pin.package} is ${pkg.version}, pinned ${pin.version} (run npm ci)`,
      );
    }
    const data = readFile(`${ROOT}/${pin.file}`, pin.name);
    checkDigest(data, pin.sha256, pin.file);
    records.push({ ...pin });
    if (pin.name === "deno") tree.file("bin/deno", data, 0o755);
    else tree.file(`app/${pin.file}`, data, 0o755);
  }
  addOrtJs(tree);
  tree.file("app/package.json", appPackageJson());

  // kernel and its modules
  const kroot = trees.get("kernel")!;
  const vmlinuzName = [...Deno.readDirSync(`${kroot}/boot`)].map((e) => e.name)
    .filter((n) => n.startsWith("vmlinuz-"));
  if (vmlinuzName.length !== 1) {
    throw new BuildError("bad-package", `kernel package has ${vmlinuzName.length} boot/vmlinuz-*`);
  }
  const release = vmlinuzName[0].slice("vmlinuz-".length);
  const vmlinuz = Deno.readFileSync(`${kroot}/boot/${vmlinuzName[0]}`);
  const modRoot = `${kroot}/lib/modules/${release}`;
  const index = new Map<string, string>();
  for (const rel of walk(modRoot)) {
    if (rel.endsWith(".ko")) index.set(modName(rel.slice(rel.lastIndexOf("/") + 1, -3)), rel);
  }
  const order = loadOrder(MODULES, (name) => {
    const rel = index.get(name);
    return rel ? { path: rel, ko: Deno.readFileSync(`${modRoot}/${rel}`) } : undefined;
  });
  for (const rel of order) {
    tree.file(`lib/modules/${release}/${rel}`, Deno.readFileSync(`${modRoot}/${rel}`));
  }
  tree.file("etc/cloister/modules", utf8(order.map((r) => `${release}/${r}\n`).join("")));
  o.log(`kernel ${release}: ${order.length} modules`);

  // the broker and the runtime's entry points, bundled (README.md "Runtime packaging")
  const work = Deno.makeTempDirSync({ prefix: "cloister-image-" });
  const bundles: Manifest["runtime"]["bundles"] = [];
  try {
    tree.file("app/broker.js", await bundle("enclave-image/guest/broker.ts", `${work}/broker.js`));
    for (const entry of RUNTIME_ENTRIES) {
      const path = `app/${entry.replace(/\.ts$/, ".js")}`;
      const data = await bundle(entry, `${work}/${entry.replaceAll("/", "_")}.js`);
      tree.file(path, data);
      bundles.push({ entry, path, sha256: sha256hex(data), bytes: data.length });
    }
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
  const sources = await runtimeSources();
  tree.file("app/deno.json", Deno.readFileSync(`${ROOT}/deno.json`));
  const runtime: Manifest["runtime"] = {
    bundles,
    sources: {
      files: sources.files.length,
      listing_sha256: sha256hex(utf8(
        sources.files.map((f) => `${sha256hex(Deno.readFileSync(`${ROOT}/${f}`))}  ${f}\n`)
          .join(""),
      )),
    },
    bundled_packages: sources.packages.filter((p) => !EXTERNAL.includes(p)),
    external_packages: EXTERNAL,
  };
  if (o.issuerKey) {
    const key = readFile(o.issuerKey, "issuer key");
    tree.file("app/issuer-key", key);
    records.push({
      name: "issuer-key",
      file: o.issuerKey.split("/").pop(),
      sha256: sha256hex(key),
    });
  }
  if (o.model) {
    for (const rel of walk(o.model).sort()) {
      tree.file(`app/seq2seq/${rel}`, readFile(`${o.model}/${rel}`, "model file"));
    }
    records.push({
      name: "model",
      file: o.model.split("/").pop(),
      sha256: sha256hex(utf8(
        walk(o.model).sort().map((r) =>
          `${sha256hex(Deno.readFileSync(`${o.model}/${r}`))}  ${r}\n`
        )
          .join(""),
      )),
    });
  }

  const entries = [...tree.entries.values()];
  const cpio = newc(entries, epoch);
  const initrd = new Uint8Array(zlib.zstdCompressSync(cpio, {
    params: { [zlib.constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL },
  }));
  o.log(`initrd: ${entries.length} entries, ${mb(cpio.length)} cpio, ${mb(initrd.length)} zstd`);

  // the measurement, for the firmware the launch is declared with
  const fwPath = o.ovmf ?? `${ROOT}/${inputs.firmware.file}`;
  const fw = readFile(fwPath, "firmware");
  if (!o.ovmf) checkDigest(fw, inputs.firmware.sha256, inputs.firmware.file);
  const firmware = {
    file: o.ovmf ? fwPath.split("/").pop()! : inputs.firmware.file,
    sha256: sha256hex(fw),
    bootable: Boolean(o.ovmf),
    about: o.ovmf ? "given with --ovmf (an OvmfPkg/AmdSev/AmdSevX64 build)" : inputs.firmware.about,
  };
  records.push({ name: "firmware", file: firmware.file, sha256: firmware.sha256 });
  const hashes = sevHashesOf(vmlinuz, initrd, CMDLINE);
  const measurement = launchDigest({
    mode: "snp",
    ovmf: parseOvmf(fw),
    vcpus: o.vcpus,
    vcpuType: o.vcpuType,
    guestFeatures: o.guestFeatures,
    kernel: hashes,
  });

  const cmdlineBytes = utf8(CMDLINE);
  const record = (b: Uint8Array): OutputRecord => ({ sha256: sha256hex(b), bytes: b.length });
  const manifest: Manifest = {
    schema: "cloister-image-manifest/v1",
    source_date_epoch: epoch,
    inputs: records,
    outputs: { vmlinuz: record(vmlinuz), initrd: record(initrd), cmdline: record(cmdlineBytes) },
    initrd: {
      format: "newc cpio, sorted, owner 0:0, mtime = source_date_epoch",
      compression:
        `zstd level ${ZSTD_LEVEL}, single-threaded (node:zlib of Deno ${Deno.version.deno})`,
      uncompressed: record(cpio),
      files: entries.filter((e) => e.type === "file").map((e) => ({
        path: e.path,
        sha256: sha256hex((e as { data: Uint8Array }).data),
        bytes: (e as { data: Uint8Array }).data.length,
        mode: (e as { mode: number }).mode.toString(8).padStart(4, "0"),
      })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    },
    cmdline: CMDLINE,
    kernel: { release, modules: order.map((r) => r.slice(r.lastIndexOf("/") + 1)) },
    runtime,
    guest: { port: GUEST_PORT, evidence_port: SP_PORT_NAME },
    measurements: {
      snp: {
        measurement: hex(measurement),
        mode: "snp",
        vmm: "QEMU",
        vcpus: o.vcpus,
        vcpu_type: o.vcpuType,
        vcpu_sig: `0x${vcpuSigOf(o.vcpuType).toString(16)}`,
        guest_features: `0x${o.guestFeatures.toString(16)}`,
        firmware,
        kernel_hashes: {
          kernel: hex(hashes.kernel),
          initrd: hex(hashes.initrd),
          cmdline: hex(hashes.cmdline),
        },
      },
      tdx: tdx(o.tdvf),
      tdx_note: "TDX needs a kernel with the TDX guest driver (--kernel) and an IntelTdx TDVF " +
        '(--tdvf); RTMRs are not published; see README.md "TDX"',
    },
  };

  Deno.mkdirSync(o.out, { recursive: true });
  Deno.writeFileSync(`${o.out}/vmlinuz`, vmlinuz);
  Deno.writeFileSync(`${o.out}/initrd`, initrd);
  Deno.writeFileSync(`${o.out}/cmdline`, cmdlineBytes);
  Deno.writeTextFileSync(`${o.out}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

/** MRTD for a TDVF firmware (both page orders; see attestation/measure/tdx.ts). */
function tdx(file: string | undefined): Manifest["measurements"]["tdx"] {
  if (!file) return null;
  const bytes = readFile(file, "TDVF firmware");
  const fw = parseOvmf(bytes);
  return {
    mrtd: hex(mrtd(fw, "per-page")),
    mrtd_two_pass: hex(mrtd(fw, "two-pass")),
    firmware: { file: file.split("/").pop()!, sha256: sha256hex(bytes) },
    rtmrs: "not published: RTMR[1..2] of a direct boot are not reproduced without TDX vectors",
  };
}

/**
 * The checkout's files and npm packages the runtime's entry points import, as Deno resolves
 * them (`deno info`): what the bundles are made of.
 */
async function runtimeSources(): Promise<{ files: string[]; packages: string[] }> {
  const files = new Set<string>(["deno.json", "package.json", "package-lock.json"]);
  const packages = new Set<string>();
  for (const entry of RUNTIME_ENTRIES) {
    const info = JSON.parse(await run(DENO, ["info", "--json", entry], ROOT)) as {
      modules: { specifier?: string }[];
    };
    for (const m of info.modules) {
      if (!m.specifier?.startsWith("file://")) continue;
      const path = fileURLToPath(m.specifier);
      if (!path.startsWith(`${ROOT}/`)) {
        throw new BuildError("bad-graph", `${entry} imports ${path}, outside the checkout`);
      }
      const rel = path.slice(ROOT.length + 1);
      const nm = rel.match(/^node_modules\/((?:@[^/]+\/)?[^/]+)\//);
      if (nm) packages.add(nm[1]);
      else files.add(rel);
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/** package.json for /app: the external packages, so the bundles' bare imports of them resolve. */
function appPackageJson(): Uint8Array {
  const deps = JSON.parse(Deno.readTextFileSync(`${ROOT}/package.json`)).dependencies;
  const dependencies = Object.fromEntries(EXTERNAL.filter((p) => deps[p]).map((p) => [p, deps[p]]));
  return utf8(JSON.stringify({ type: "module", private: true, dependencies }, null, 2) + "\n");
}

/** onnxruntime-node's JavaScript (no maps, no types) and onnxruntime-common, for the runtime. */
function addOrtJs(tree: Tree): void {
  for (const pkg of EXTERNAL) {
    const base = `${ROOT}/node_modules/${pkg}`;
    tree.file(`app/node_modules/${pkg}/package.json`, Deno.readFileSync(`${base}/package.json`));
    for (const rel of walk(`${base}/dist`).sort()) {
      // dist/cjs/package.json and dist/esm/package.json say each folder's module type
      if (/(\.[cm]?js|(^|\/)package\.json)$/.test(rel)) {
        tree.file(`app/node_modules/${pkg}/dist/${rel}`, Deno.readFileSync(`${base}/dist/${rel}`));
      }
    }
  }
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

export function parseArgs(args: string[]): BuildOptions & { quiet: boolean } {
  const o = {
    out: `${ROOT}/enclave-image/out`,
    cache: `${ROOT}/.cache/enclave-image`,
    vcpus: 1,
    vcpuType: "EPYC-v4",
    guestFeatures: 1n,
    quiet: false,
    log: (_: string) => {},
  } as BuildOptions & { quiet: boolean };
  let kernel: string | undefined, kernelSha: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new BuildError("usage", `${a} needs a value`);
      return v;
    };
    switch (a) {
      case "--out":
        o.out = value();
        break;
      case "--cache":
        o.cache = value();
        break;
      case "--ovmf":
        o.ovmf = value();
        break;
      case "--kernel":
        kernel = value();
        break;
      case "--kernel-sha256":
        kernelSha = value();
        break;
      case "--model":
        o.model = value();
        break;
      case "--tdvf":
        o.tdvf = value();
        break;
      case "--issuer-key":
        o.issuerKey = value();
        break;
      case "--vcpus": {
        o.vcpus = Number(value());
        if (!Number.isInteger(o.vcpus) || o.vcpus < 1 || o.vcpus > 64) {
          throw new BuildError("usage", `--vcpus must be an integer from 1 to 64`);
        }
        break;
      }
      case "--vcpu-type":
        o.vcpuType = value();
        vcpuSigOf(o.vcpuType);
        break;
      case "--guest-features": {
        const v = value();
        if (!/^(0x)?[0-9a-f]+$/i.test(v)) {
          throw new BuildError("usage", `--guest-features ${v} is not hex`);
        }
        o.guestFeatures = BigInt(`0x${v.replace(/^0x/i, "")}`);
        try {
          checkGuestFeatures(o.guestFeatures);
        } catch (e) {
          throw new BuildError("usage", `--guest-features ${v}: ${(e as Error).message}`);
        }
        break;
      }
      case "--quiet":
        o.quiet = true;
        break;
      default:
        throw new BuildError(
          "usage",
          `unknown option ${a} (see the header of enclave-image/build.ts)`,
        );
    }
  }
  if (kernel !== undefined) {
    if (!kernelSha || !/^[0-9a-f]{64}$/.test(kernelSha)) {
      throw new BuildError(
        "usage",
        "--kernel needs --kernel-sha256 with the package's SHA-256 (pinning)",
      );
    }
    o.kernelDeb = { file: kernel, sha256: kernelSha };
  }
  return o;
}

if (import.meta.main) {
  const t0 = performance.now();
  const elapsed = () => `[${((performance.now() - t0) / 1000).toFixed(1)} s]`;
  try {
    const o = parseArgs(Deno.args);
    o.log = o.quiet ? () => {} : (line) => console.error(`${elapsed()} ${line}`);
    const m = await build(o);
    const snp = m.measurements.snp;
    console.log(`image       ${o.out}`);
    console.log(`vmlinuz     ${m.outputs.vmlinuz.sha256}  ${mb(m.outputs.vmlinuz.bytes)}`);
    console.log(`initrd      ${m.outputs.initrd.sha256}  ${mb(m.outputs.initrd.bytes)}`);
    console.log(`cmdline     ${m.cmdline}`);
    for (const b of m.runtime.bundles) {
      console.log(`${b.path.padEnd(28)} ${b.sha256}  ${mb(b.bytes)}`);
    }
    console.log(
      `runtime     bundled from ${m.runtime.sources.files} files of this checkout (listing ` +
        `${m.runtime.sources.listing_sha256}); npm bundled ${
          m.runtime.bundled_packages.join(", ")
        }; shipped as files ${m.runtime.external_packages.join(", ")}`,
    );
    console.log(
      `SEV-SNP     ${snp.measurement}\n            (${snp.vcpus} × ${snp.vcpu_type}, features ` +
        `${snp.guest_features}, firmware ${snp.firmware.file}${
          snp.firmware.bootable ? "" : ", emulated launch only"
        })`,
    );
    const tdx = m.measurements.tdx;
    console.log(
      tdx
        ? `TDX MRTD    ${tdx.mrtd}\n            (KVM per-page order; two-pass ${tdx.mrtd_two_pass}; firmware ${tdx.firmware.file})`
        : `TDX         not computed: ${m.measurements.tdx_note}`,
    );
    console.error(`${elapsed()} done`);
  } catch (e) {
    console.error(`image build failed: ${e instanceof Error ? e.message : e}`);
    Deno.exit(e instanceof BuildError && e.code === "usage" ? 2 : 1); // 2: as the other CLIs
  }
}
