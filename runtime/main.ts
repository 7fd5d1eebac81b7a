/**
 * `deno task runtime --listen HOST:PORT [--emulated] [--model DIR] [--issuer-key FILE]`: the
 * process that runs inside the CVM (DESIGN.md; runnable on a host for development).
 *
 * Boot, in order, and only then "ready": pick the evidence provider (configfs-tsm, then
 * /dev/sev-guest, then /dev/tdx_guest; the emulated secure processor only when asked with
 * `--emulated` — in process on a development host, measuring the runtime's own files, or the
 * image's host-side emulator when `CLOISTER_EMULATOR` names its socket), start the model process
 * (seq2seq `--model`), start the worker pool and wait for its first warm worker (which has loaded
 * the model's code; the pool goes on filling to `--pool` after "ready"), generate the first key
 * epoch with its evidence, fetch the measurement's transparency-log proof (`--log URL`), and
 * listen. Without `--issuer-key` it refuses to start unless `--no-tokens` is given.
 *
 * Options:
 *   --listen HOST:PORT        where to serve (required)
 *   --emulated                use the emulated secure processor (never trusted by default)
 *   --emulated-state DIR      its state (default $CLOISTER_EMULATED_SP or .cache/emulated-sp)
 *   --model DIR               an Optimum seq2seq export, served by the model process
 *   --int8                    with --model: the *_quantized.onnx files
 *   --issuer-key FILE         the Privacy Pass issuer's key file (re-read when it changes)
 *   --no-tokens               accept requests without tokens (development only; said at start)
 *   --log URL                 transparency log to fetch this measurement's inclusion proof from
 *   --epoch SECONDS           key epoch length (default 600, at most 30 days)
 *   --grace SECONDS           how long a superseded key is still accepted (default 60, 2..--epoch)
 *   --pool N                  warm one-shot workers (default 2, at most 64)
 *   --max-body BYTES          largest encapsulated request (default 262144, at most 16 MiB)
 *   --worker-timeout MS       longest a worker may take (default 30000, at most 2^31 − 1)
 */
import { fileURLToPath } from "node:url";
import { KeyEpochs } from "./epochs.ts";
import { gateway } from "./gateway.ts";
import { Metrics } from "./metrics.ts";
import { childEnv, entryPoint, v8Flags, WorkerPool } from "./pool.ts";
import { IssuerKeyFile, type Redeemer } from "./tokens.ts";
import { startModelProcess } from "./model_process.ts";
import { hostMeasurement } from "./self_measure.ts";
import { fetchLogProof } from "./transparency.ts";
import { toHex } from "../protocol/bytes.ts";
import {
  integerOption,
  listenUrl,
  MAX_TIMER_MS,
  parseListen,
  UsageError,
} from "../services/common/cli.ts";
import { MAX_FRAME } from "./frames.ts";
import type { TransparencyProof } from "../protocol/evidence.ts";
import { defaultEmulatedState, EmulatedSecureProcessor } from "../attestation/emulated.ts";
import { connectEmulator, EmulatedProvider } from "../attestation/providers/emulated.ts";
import { detectProvider } from "../attestation/providers/detect.ts";
import { evidenceBundle, type EvidenceProvider } from "../attestation/providers/provider.ts";
import { verifyEvidence } from "../attestation/verify.ts";
import { defaultPolicy } from "../attestation/policy.ts";

interface Config {
  hostname: string;
  port: number;
  emulated: boolean;
  emulatedState: string;
  model?: string;
  int8: boolean;
  issuerKey?: string;
  noTokens: boolean;
  log?: string;
  epoch: number;
  grace: number;
  pool: number;
  maxBody: number;
  workerTimeout: number;
}

const FLAGS = new Set(["--emulated", "--no-tokens", "--int8"]);
const VALUED = new Set([
  "--listen",
  "--emulated-state",
  "--model",
  "--issuer-key",
  "--log",
  "--epoch",
  "--grace",
  "--pool",
  "--max-body",
  "--worker-timeout",
]);

/** Shortest grace (s): rotation runs on a 1 s tick and waits for evidence. */
const MIN_GRACE = 2;

/** Longest key epoch (s): a key lives this long, plus grace, before it is wiped. */
const MAX_EPOCH = 30 * 86_400;

export function parseArgs(args: string[]): Config {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const [name, inline] = args[i].split(/=(.*)/s, 2);
    if (FLAGS.has(name) && inline === undefined) flags.add(name);
    else if (VALUED.has(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      values.set(name, value);
    } else throw new UsageError(`unknown option "${args[i]}"`);
  }
  const listen = values.get("--listen");
  if (!listen) throw new UsageError("--listen HOST:PORT is required");
  const option = (name: string, fallback: number, min: number, max: number) =>
    integerOption(name, values.get(name), fallback, min, max);
  const epoch = option("--epoch", 600, MIN_GRACE, MAX_EPOCH);
  const config: Config = {
    ...parseListen(listen),
    emulated: flags.has("--emulated"),
    emulatedState: values.get("--emulated-state") ?? defaultEmulatedState(),
    model: values.get("--model"),
    int8: flags.has("--int8"),
    issuerKey: values.get("--issuer-key"),
    noTokens: flags.has("--no-tokens"),
    log: values.get("--log"),
    epoch,
    // At least MIN_GRACE: the successor's evidence must come before the old epoch's claims end.
    grace: option("--grace", Math.min(60, epoch), MIN_GRACE, epoch),
    pool: option("--pool", 2, 1, 64),
    // A request travels to its worker in one frame.
    maxBody: option("--max-body", 256 * 1024, 1, MAX_FRAME),
    workerTimeout: option("--worker-timeout", 30_000, 1, MAX_TIMER_MS),
  };
  if (!config.issuerKey && !config.noTokens) {
    throw new UsageError(
      "no --issuer-key given: refusing to serve without token checks (pass --no-tokens for development)",
    );
  }
  if (config.issuerKey && config.noTokens) {
    throw new UsageError("--issuer-key and --no-tokens conflict");
  }
  if (config.int8 && !config.model) throw new UsageError("--int8 needs --model");
  return config;
}

function parseEmulatorAddress(value: string): Parameters<typeof connectEmulator>[0] {
  if (value.startsWith("unix:")) return { transport: "unix", path: value.slice(5) };
  if (value.startsWith("device:")) return { device: value.slice(7) };
  const m = value.match(/^tcp:(.+):(\d+)$/);
  if (m) return { hostname: m[1], port: Number(m[2]) };
  throw new UsageError(
    `CLOISTER_EMULATOR must be unix:PATH, device:PATH or tcp:HOST:PORT, not "${value}"`,
  );
}

async function provider(config: Config, log: (s: string) => void): Promise<EvidenceProvider> {
  if (!config.emulated) return await detectProvider();
  const remote = Deno.env.get("CLOISTER_EMULATOR");
  if (remote) {
    const address = parseEmulatorAddress(remote);
    log(`evidence: EMULATED secure processor at ${remote} (not hardware)`);
    return new EmulatedProvider(() => connectEmulator(address));
  }
  const sp = await EmulatedSecureProcessor.open(config.emulatedState);
  const measurement = await hostMeasurement(config.model);
  sp.launch({ measurement });
  log(
    `evidence: EMULATED secure processor in process, state ${config.emulatedState} (not hardware)`,
  );
  return new EmulatedProvider(sp);
}

const WORKER = entryPoint("worker", import.meta.url);
const ROOT = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");

/**
 * What starts one worker. Workers read the code and the model, load ONNX Runtime, and reach the
 * model process: nothing else (no network, no environment, no subprocesses, no other files).
 */
export async function workerCommand(
  model?: { dir: string; socket: string },
): Promise<(channel: string) => Deno.Command> {
  const readable = [ROOT, ...(model ? [await Deno.realPath(model.dir), model.socket] : [])];
  // The first worker is the one "ready" waits for, and V8's code cache is still empty then:
  // writing it would cost that start more than reading it saves each later one (≈ 1.9 s and
  // 0.5 s in the CVM image under emulation), so the first runs without and the next writes it.
  let first = true;
  return (channel) => {
    const sockets = [channel, ...(model ? [model.socket] : [])];
    const codeCache = first ? ["--no-code-cache"] : [];
    first = false;
    return new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        ...codeCache,
        `--allow-read=${[...readable, channel].join(",")}`,
        `--allow-write=${sockets.join(",")}`,
        `--allow-net=${sockets.map((s) => `unix:${s}`).join(",")}`,
        "--allow-ffi",
        v8Flags(["--expose-gc"]), // worker.ts collects its warm-up garbage before it is ready
        WORKER,
        "--channel",
        channel,
        ...(model ? ["--model-socket", model.socket, "--model", model.dir] : []),
      ],
      env: childEnv(),
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    });
  };
}

async function main(args: string[]): Promise<number> {
  const log = (s: string) => console.error(`runtime: ${s}`);
  let config: Config;
  try {
    config = parseArgs(args);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`runtime: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (config.noTokens) {
    log("WARNING: --no-tokens: requests are served without Privacy Pass tokens (development only)");
  }

  // --no-tokens: every request is let through, with or without a token (counted as such).
  let redeemer: Redeemer = () => Promise.resolve(undefined);
  if (config.issuerKey) {
    let keys: IssuerKeyFile;
    try {
      keys = await IssuerKeyFile.open(config.issuerKey);
    } catch (e) {
      console.error(
        `runtime: --issuer-key ${config.issuerKey}: ${e instanceof Error ? e.message : e}`,
      );
      return 2;
    }
    redeemer = (authorization) => keys.redeem(authorization);
  }
  const metrics = new Metrics();
  const evidence = await provider(config, log);
  const model = config.model
    ? await startModelProcess({ model: config.model, int8: config.int8 })
    : undefined;
  const pool = new WorkerPool({
    size: config.pool,
    command: await workerCommand(model && { dir: config.model!, socket: model.socket }),
  });
  const epochs = new KeyEpochs({
    provider: evidence,
    lengthSeconds: config.epoch,
    graceSeconds: config.grace,
  });
  let transparency: TransparencyProof | undefined;
  let bundle: Uint8Array;
  const rebuild = () => {
    bundle = evidenceBundle(epochs.current.evidence, epochs.current.claims, { transparency });
  };
  try {
    // One warm worker is enough to serve; waiting for the rest would delay "ready" by a worker
    // start each (seconds in a CVM under emulation) for no request that needs them yet.
    await Promise.all([pool.warm(1), epochs.rotate()]);
  } catch (e) {
    await pool.close();
    await model?.close();
    throw e;
  }
  const measured = await verifyEvidence(
    { platform: evidence.platform, evidence: epochs.current.evidence.evidence },
    defaultPolicy(),
    { now: new Date(), check: "parse" },
  );
  const measurement = toHex(measured.measurement);
  // The log proof: fetched at boot, again at every rotation (a fresher checkpoint), and every
  // few seconds while there is none (the release may be published after the node starts).
  let proofTried = 0;
  let proofMissing = "";
  const refreshProof = async () => {
    if (!config.log) return;
    proofTried = Date.now();
    try {
      transparency = await fetchLogProof(config.log, evidence.platform, measured.measurement);
      if (proofMissing) log("transparency log: this measurement is now logged");
      proofMissing = "";
      rebuild();
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      if (why !== proofMissing) log(`transparency log: no proof for this measurement yet (${why})`);
      proofMissing = why;
    }
  };
  rebuild();
  await refreshProof();

  let ticking = false;
  const rotation = setInterval(async () => {
    epochs.expire(); // a retired key is wiped on time even when no request comes
    if (ticking) return;
    ticking = true;
    try {
      if (epochs.due()) {
        await epochs.rotate();
        rebuild();
        metrics.count("epoch-rotated");
        await refreshProof();
      } else if (!transparency && config.log && Date.now() - proofTried > 2000) {
        await refreshProof();
      }
    } catch (e) {
      metrics.count("epoch-rotation-failed");
      log(
        `key rotation failed; the current key serves until its epoch ends, then none: ${
          e instanceof Error ? e.message : e
        }`,
      );
    } finally {
      ticking = false;
    }
  }, 1000);

  const handler = gateway({
    epochs,
    pool,
    redeem: redeemer,
    bundle: () => bundle,
    async bundleWithNonce(nonce) {
      const { claims, evidence: fresh } = await epochs.evidenceWithNonce(nonce);
      return evidenceBundle(fresh, claims, { transparency });
    },
    metrics,
    maxBody: config.maxBody,
    workerTimeoutMs: config.workerTimeout,
  });
  const controller = new AbortController();
  const server = Deno.serve({
    hostname: config.hostname,
    port: config.port,
    signal: controller.signal,
    onListen: (addr) => {
      // The one line tests and launchers wait for; stdout carries nothing else.
      console.log(
        `ready ${listenUrl(addr)} ` +
          `platform=${evidence.platform} measurement=${measurement} key-id=${epochs.current.key.config.keyId}`,
      );
    },
    onError: () => new Response("internal error\n", { status: 500 }),
  }, handler);
  const metricsTimer = setInterval(() => log(metrics.line()), 60_000);

  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
  clearInterval(rotation);
  clearInterval(metricsTimer);
  await pool.close();
  await model?.close();
  epochs.close();
  log(`stopped; ${metrics.line()}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`runtime: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
