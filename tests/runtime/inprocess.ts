/**
 * The runtime's real request path inside the test process: `gateway()` over a real `KeyEpochs`
 * (evidence from an in-process emulated secure processor) and a real `WorkerPool` of whatever
 * worker command the test gives, so tests can drive it with Request objects (fuzzing, failing
 * workers) without a socket in between.
 */
import { fileURLToPath } from "node:url";
import { EmulatedProvider } from "../../attestation/providers/emulated.ts";
import { evidenceBundle } from "../../attestation/providers/provider.ts";
import { KeyEpochs } from "../../runtime/epochs.ts";
import { gateway, GATEWAY_PATH } from "../../runtime/gateway.ts";
import { Metrics } from "../../runtime/metrics.ts";
import { childEnv, WorkerPool } from "../../runtime/pool.ts";
import type { Redeemer } from "../../runtime/tokens.ts";
import { MEDIA_TYPE_REQUEST } from "../../protocol/ohttp.ts";
import { emulatedSp, MEASUREMENT } from "../attestation/fixtures.ts";

export interface InProcessGateway {
  handler: (req: Request) => Promise<Response>;
  epochs: KeyEpochs;
  pool: WorkerPool;
  metrics: Metrics;
  close(): Promise<void>;
}

export async function inProcessGateway(o: {
  command: (channel: string) => Deno.Command;
  size?: number;
  workerTimeoutMs?: number;
  /** Default: every request is let through (as `--no-tokens`). */
  redeem?: Redeemer;
}): Promise<InProcessGateway> {
  const sp = await emulatedSp("genoa");
  sp.launch({ measurement: MEASUREMENT });
  const epochs = new KeyEpochs({ provider: new EmulatedProvider(sp) });
  const pool = new WorkerPool({ size: o.size ?? 1, command: o.command });
  const metrics = new Metrics();
  try {
    await Promise.all([epochs.rotate(), pool.warm()]);
  } catch (e) {
    await pool.close();
    throw e;
  }
  const handler = gateway({
    epochs,
    pool,
    redeem: o.redeem ?? (() => Promise.resolve(undefined)),
    bundle: () => evidenceBundle(epochs.current.evidence, epochs.current.claims),
    async bundleWithNonce(nonce) {
      const { claims, evidence } = await epochs.evidenceWithNonce(nonce);
      return evidenceBundle(evidence, claims);
    },
    metrics,
    workerTimeoutMs: o.workerTimeoutMs,
  });
  return {
    handler,
    epochs,
    pool,
    metrics,
    close: async () => {
      await pool.close();
      epochs.close();
    },
  };
}

/**
 * A command running a Deno script with the environment the runtime gives its workers; the pool's
 * socket comes last among its arguments.
 */
export function denoScript(
  script: string | URL,
  args: string[] = [],
): (channel: string) => Deno.Command {
  const path = script instanceof URL ? fileURLToPath(script) : script;
  return (channel) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-read",
        `--allow-write=${channel}`,
        `--allow-net=unix:${channel}`,
        path,
        ...args,
        channel,
      ],
      env: childEnv(),
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    });
}

/** A POST to the gateway endpoint as the runtime's HTTP server would hand it over. */
export function gatewayRequest(
  body: Uint8Array,
  contentType: string | null = MEDIA_TYPE_REQUEST,
): Request {
  return new Request(`http://cloister.test${GATEWAY_PATH}`, {
    method: "POST",
    headers: contentType === null ? {} : { "content-type": contentType },
    body: body as Uint8Array<ArrayBuffer>,
  });
}
