/**
 * `deno task boot`: boots the CVM image in QEMU and waits until the runtime serves.
 *
 * Here (no KVM, QEMU 7.2) that means TCG with the emulated secure processor (sp-host.ts) as a
 * separate host process on a virtio-serial port; on an SEV-SNP or TDX host, `--platform snp|tdx
 * --ovmf FILE --print-command` prints the confidential launch for QEMU ≥ 9.1 / 10.1. The runtime's
 * port is forwarded to 127.0.0.1 only. Progress goes to the terminal with elapsed seconds; the
 * guest console goes to a log file; Ctrl-C (or SIGTERM) stops QEMU and the secure processor and
 * removes their sockets, leaving no process behind.
 *
 *   deno task boot [--image DIR] [--build] [--port N] [--memory SIZE] [--log FILE]
 *                  [--timeout SECONDS] [--emulated-state DIR]
 *                  [--platform tcg|snp|tdx] [--ovmf FILE] [--print-command]
 *
 * `--emulated-state DIR`: the emulated secure processor's keys (default `$CLOISTER_EMULATED_SP`
 * or `.cache/emulated-sp`, where `deno task verify --trust-emulated` and `deno task client …
 * --trust-emulated` look too).
 *
 * `startVm` is the same launch as a library call (tests and benchmarks use it).
 */
import { fileURLToPath } from "node:url";
import { build, type Manifest, sha256hex } from "./build.ts";
import { QEMU, qemuArgs, QemuConfigError, shellCommand, type VmConfig } from "./qemu.ts";
import { defaultEmulatedState } from "../attestation/emulated.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
const DENO = `${ROOT}/node_modules/.bin/deno`;
/** Where the runtime answers once it is ready (RFC 9540 gateway key configuration). */
export const READY_PATH = "/.well-known/ohttp-gateway";
/**
 * Where the emulated secure processor keeps its keys between boots (never committed): the same
 * folder the runtime's in-process emulator and every verifier's plain `--trust-emulated` use
 * (`$CLOISTER_EMULATED_SP`, else `.cache/emulated-sp`), so one emulated root serves a checkout.
 */
export const DEFAULT_SP_STATE = defaultEmulatedState();

/**
 * Guest memory when none is asked for: 1G holds the runtime, its warm workers and their
 * replacements with the default (extractive) model, and boots faster under TCG than more
 * (init_on_free=1 has the kernel clear every page at boot); an image with a seq2seq model
 * (`deno task image --model`) gets 2G for the model process.
 */
export function defaultMemory(manifest: Manifest): string {
  return manifest.inputs.some((i) => i.name === "model") ? "2G" : "1G";
}

export class BootError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "BootError";
  }
}

export interface VmOptions {
  /** Folder with vmlinuz, initrd, cmdline and manifest.json. */
  image: string;
  /** Host port on 127.0.0.1 (0: a free one). */
  port: number;
  /** Guest memory, QEMU syntax (default `defaultMemory(manifest)`). */
  memory?: string;
  /** Guest console log file. */
  log: string;
  /** Firmware the emulated SP measures the launch with (default: the manifest's). */
  firmware?: string;
  /** The emulated secure processor's key state (created on first use). */
  spState?: string;
  progress?: (line: string) => void;
}

export interface Vm {
  port: number;
  /** `performance.now()` when QEMU was spawned (boot times count from here). */
  startedAt: number;
  /** The measurement the emulated secure processor computed and signs with (hex). */
  measurement: string;
  manifest: Manifest;
  /** Resolves with the first console line matching `pattern`; rejects if the guest stops first. */
  waitForConsole(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Resolves once GET READY_PATH answers 200 on the forwarded port. */
  ready(timeoutMs: number): Promise<void>;
  /** QEMU's exit status, once it has exited. */
  exited: Promise<number>;
  /** The last console lines (for error messages). */
  tail(lines?: number): string[];
  stop(): Promise<void>;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function firstLine(stream: ReadableStream<Uint8Array>, timeoutMs: number): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => reader.cancel(), timeoutMs);
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
  return text.split("\n")[0];
}

async function terminate(child: Deno.ChildProcess, status: Promise<unknown>): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch { /* already gone */ }
  const killed = await Promise.race([
    status.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
  ]);
  if (!killed) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await status;
  }
}

/**
 * The firmware to boot `image` with. The pinned one lives in this checkout; one given to `deno
 * task image --ovmf` does not, and the manifest keeps only its name: boot needs the file again.
 */
function firmwareFor(manifest: Manifest, image: string, given?: string): string {
  const { file, sha256, bootable } = manifest.measurements.snp.firmware;
  if (given) return given;
  if (bootable) {
    throw new BootError(
      "usage",
      `${image} was built with --ovmf (firmware ${file}, sha256 ${sha256.slice(0, 16)}…): ` +
        "give the same file to boot with --ovmf FILE",
    );
  }
  return `${ROOT}/${file}`;
}

/** Starts the emulated secure processor and QEMU (TCG) for the image. */
export async function startVm(o: VmOptions): Promise<Vm> {
  const progress = o.progress ?? (() => {});
  const manifest = JSON.parse(Deno.readTextFileSync(`${o.image}/manifest.json`)) as Manifest;
  const snp = manifest.measurements.snp;
  const firmware = firmwareFor(manifest, o.image, o.firmware);
  const port = o.port === 0 ? freePort() : o.port;
  const dir = Deno.makeTempDirSync({ prefix: "cloister-boot-" });
  const spSocket = `${dir}/sp.sock`;
  const spState = o.spState ?? DEFAULT_SP_STATE;
  Deno.mkdirSync(spState, { recursive: true, mode: 0o700 });

  const sp = new Deno.Command(DENO, {
    args: [
      "run",
      "--allow-read",
      `--allow-write=${dir},${spState}`,
      `--allow-net=unix:${spSocket}`,
      `${ROOT}/enclave-image/sp-host.ts`,
      "--socket",
      spSocket,
      "--state",
      spState,
      "--kernel",
      `${o.image}/vmlinuz`,
      "--initrd",
      `${o.image}/initrd`,
      "--cmdline",
      `${o.image}/cmdline`,
      "--firmware",
      firmware,
      "--vcpus",
      String(snp.vcpus),
      "--vcpu-type",
      snp.vcpu_type,
      "--guest-features",
      snp.guest_features,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const spStatus = sp.status;
  let measurement: string;
  try {
    const line = await firstLine(sp.stdout, 60_000);
    measurement = JSON.parse(line).measurement;
    if (!/^[0-9a-f]{96}$/.test(measurement)) throw new Error(`unexpected answer ${line}`);
  } catch (e) {
    await terminate(sp, spStatus);
    Deno.removeSync(dir, { recursive: true });
    throw new BootError(
      "sp-failed",
      `the emulated secure processor did not start: ${(e as Error).message}`,
    );
  }
  progress(
    `emulated secure processor ready (state ${spState}: verify with --trust-emulated=${spState}), ` +
      `launch measurement ${measurement}`,
  );

  const config: VmConfig = {
    platform: "tcg",
    vmlinuz: `${o.image}/vmlinuz`,
    initrd: `${o.image}/initrd`,
    cmdline: Deno.readTextFileSync(`${o.image}/cmdline`),
    memory: o.memory ?? defaultMemory(manifest),
    vcpus: snp.vcpus,
    hostPort: port,
    guestPort: manifest.guest.port,
    spSocket,
    spPortName: manifest.guest.evidence_port,
  };
  const qemu = new Deno.Command(QEMU, {
    args: qemuArgs(config),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const startedAt = performance.now();
  const exited = qemu.status.then((s) => s.code);
  progress(`QEMU (TCG, ${config.memory}) started, pid ${qemu.pid}; guest console → ${o.log}`);

  const log = Deno.openSync(o.log, { write: true, create: true, truncate: true });
  const lines: string[] = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (l: string) => void }>();
  const consumed = (async () => {
    let rest = "";
    for await (const chunk of qemu.stdout.pipeThrough(new TextDecoderStream())) {
      log.writeSync(new TextEncoder().encode(chunk));
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const raw of parts) {
        // deno-lint-ignore no-control-regex
        const line = raw.replace(/\x1b\[[0-9;?]*[a-zA-Z]|\x1bc|\r/g, "");
        lines.push(line);
        if (lines.length > 400) lines.shift();
        if (line.startsWith("cloister-")) progress(`guest: ${line}`);
        for (const w of waiters) {
          if (w.pattern.test(line)) {
            waiters.delete(w);
            w.resolve(line);
          }
        }
      }
    }
  })();
  const stderr = qemu.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const errors: string[] = [];
  (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) return;
      errors.push(value);
    }
  })();
  const tail = (n = 20) =>
    [...errors.join("").trim().split("\n").filter(Boolean), ...lines].slice(-n);
  const stoppedEarly = exited.then(async (code) => {
    await consumed.catch(() => {});
    // What the guest's programs said last, not the panic's register dump that follows them.
    const said = lines.filter((l) => !/^\s*\[\s*\d+\.\d+\]/.test(l) || /Kernel panic/.test(l));
    return new BootError(
      "guest-stopped",
      `QEMU exited (status ${code}) before that; last console lines:\n  ${
        [...errors.join("").trim().split("\n").filter(Boolean), ...said].slice(-12).join("\n  ")
      }`,
    );
  });

  // One shutdown, however many callers (a signal and the main path both stop): each waits for
  // the same one to finish, so nobody exits while the secure processor is still running.
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      await terminate(qemu, exited);
      await consumed.catch(() => {});
      await terminate(sp, spStatus);
      log.close();
      Deno.removeSync(dir, { recursive: true });
    })();

  const waitForConsole = (pattern: RegExp, timeoutMs: number) => {
    const seen = lines.find((l) => pattern.test(l));
    if (seen) return Promise.resolve(seen);
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      new Promise<string>((resolve) => waiters.add({ pattern, resolve })),
      stoppedEarly.then((e) => Promise.reject(e)),
      new Promise<string>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new BootError(
                "timeout",
                `no console line matching ${pattern} in ${timeoutMs / 1000} s`,
              ),
            ),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  };

  const ready = async (timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    let stoppedWith: BootError | undefined;
    stoppedEarly.then((e) => (stoppedWith = e));
    while (Date.now() < deadline) {
      if (stoppedWith) throw stoppedWith;
      try {
        const res = await fetch(`http://127.0.0.1:${port}${READY_PATH}`, {
          signal: AbortSignal.timeout(2000),
        });
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new BootError(
      "timeout",
      `the runtime did not answer ${READY_PATH} in ${timeoutMs / 1000} s`,
    );
  };

  return { port, startedAt, measurement, manifest, waitForConsole, ready, exited, tail, stop };
}

interface CliOptions {
  image: string;
  build: boolean;
  port: number;
  memory?: string;
  log: string;
  timeout: number;
  spState: string;
  platform: "tcg" | "snp" | "tdx";
  ovmf?: string;
  printCommand: boolean;
}

function hasImage(dir: string): boolean {
  try {
    return Deno.statSync(`${dir}/manifest.json`).isFile;
  } catch {
    return false;
  }
}

function parseArgs(args: string[]): CliOptions {
  const o: CliOptions = {
    image: `${ROOT}/enclave-image/out`,
    build: false,
    port: 18080,
    log: `${ROOT}/enclave-image/out/console.log`,
    timeout: 300,
    spState: DEFAULT_SP_STATE,
    platform: "tcg",
    printCommand: false,
  };
  let logGiven = false;
  let imageGiven = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new BootError("usage", `${a} needs a value`);
      return v;
    };
    switch (a) {
      case "--image":
        o.image = value();
        imageGiven = true;
        break;
      case "--build":
        o.build = true;
        break;
      case "--port":
        o.port = Number(value());
        if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
          throw new BootError("usage", "--port must be 0..65535");
        }
        break;
      case "--memory":
        o.memory = value();
        if (!/^\d+[MG]$/.test(o.memory)) {
          throw new BootError("usage", "--memory is like 2G or 1536M");
        }
        break;
      case "--log":
        o.log = value();
        logGiven = true;
        break;
      case "--timeout":
        o.timeout = Number(value());
        if (!(o.timeout > 0)) throw new BootError("usage", "--timeout must be a positive number");
        break;
      case "--emulated-state":
        o.spState = value();
        break;
      case "--platform": {
        const p = value();
        if (p !== "tcg" && p !== "snp" && p !== "tdx") {
          throw new BootError("usage", `--platform is tcg, snp or tdx, not ${p}`);
        }
        o.platform = p;
        break;
      }
      case "--ovmf":
        o.ovmf = value();
        break;
      case "--print-command":
        o.printCommand = true;
        break;
      default:
        throw new BootError(
          "usage",
          `unknown option ${a} (see the header of enclave-image/boot.ts)`,
        );
    }
  }
  if (!logGiven) o.log = `${o.image}/console.log`;
  // The default folder is built on first use; a folder named by hand must hold an image (or
  // --build), so a mistyped path is an error, not minutes of building into it.
  if (imageGiven && !o.build && !hasImage(o.image)) {
    throw new BootError(
      "usage",
      `no image in ${o.image} (no manifest.json): build one there with --build, or with ` +
        "deno task image --out DIR",
    );
  }
  return o;
}

async function main(args: string[]): Promise<number> {
  const t0 = performance.now();
  const say = (line: string) =>
    console.error(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${line}`);
  const o = parseArgs(args);
  if (o.build || !hasImage(o.image)) {
    say(`building the image into ${o.image}`);
    await build({
      out: o.image,
      cache: `${ROOT}/.cache/enclave-image`,
      vcpus: 1,
      vcpuType: "EPYC-v4",
      guestFeatures: 1n,
      log: (l) => say(`build: ${l}`),
    });
  }
  const manifest = JSON.parse(Deno.readTextFileSync(`${o.image}/manifest.json`)) as Manifest;
  if (o.printCommand) {
    const args = qemuArgs({
      platform: o.platform,
      vmlinuz: `${o.image}/vmlinuz`,
      initrd: `${o.image}/initrd`,
      cmdline: manifest.cmdline,
      memory: o.memory ?? defaultMemory(manifest),
      vcpus: manifest.measurements.snp.vcpus,
      hostPort: o.port,
      guestPort: manifest.guest.port,
      spSocket: "/run/cloister-sp.sock",
      spPortName: manifest.guest.evidence_port,
      firmware: o.ovmf,
      vcpuType: manifest.measurements.snp.vcpu_type,
    });
    console.log(shellCommand(args));
    const fw = manifest.measurements.snp.firmware;
    if (o.platform === "snp" && o.ovmf && sha256hex(Deno.readFileSync(o.ovmf)) !== fw.sha256) {
      console.error(
        `warning: manifest.json's measurement was computed for firmware ${fw.file}, not ${o.ovmf}: ` +
          `rebuild with deno task image --ovmf ${o.ovmf} to know what this launch will report`,
      );
    }
    return 0;
  }
  if (o.platform !== "tcg") {
    throw new BootError(
      "usage",
      `this launcher runs TCG only (QEMU ${o.platform === "snp" ? "≥ 9.1" : "≥ 10.1"} and a ` +
        `${o.platform.toUpperCase()} host are needed); use --print-command for the ${o.platform} command`,
    );
  }
  const firmware = firmwareFor(manifest, o.image, o.ovmf); // refused before anything starts
  say(`booting ${o.image} under TCG`);
  const vm = await startVm({
    image: o.image,
    port: o.port,
    memory: o.memory,
    log: o.log,
    spState: o.spState,
    progress: say,
    firmware,
  });
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    say("stopping (signal)");
    vm.stop(); // QEMU's exit then ends the wait below, which reports 130
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) Deno.addSignalListener(s, onSignal);
  try {
    say(`waiting for the runtime on http://127.0.0.1:${vm.port}${READY_PATH}`);
    await vm.ready(o.timeout * 1000);
    say(
      `ready: http://127.0.0.1:${vm.port} (evidence at /.well-known/cloister/evidence); Ctrl-C stops`,
    );
    const code = await vm.exited;
    await vm.stop();
    if (interrupted) return 130;
    say(`guest stopped (QEMU status ${code}); console log in ${o.log}`);
    return code === 0 ? 0 : 1;
  } catch (e) {
    await vm.stop();
    if (interrupted) return 130;
    throw e;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`boot failed: ${e instanceof Error ? e.message : e}`);
    const usage = (e instanceof BootError && e.code === "usage") || e instanceof QemuConfigError;
    Deno.exit(usage ? 2 : 1);
  }
}
