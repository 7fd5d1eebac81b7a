/**
 * Starts and stops the long-lived model process (`model_server.ts`) for a seq2seq model: loads
 * the weights once, then serves token ids to the workers over a Unix socket in a directory only
 * this user can enter. Its environment and flags overwrite freed memory (see model_server.ts).
 */
import { fileURLToPath } from "node:url";
import { FrameReader } from "./frames.ts";
import { READY } from "./channel.ts";
import { childEnv, entryPoint, v8Flags } from "./pool.ts";

const SERVER = entryPoint("model_server", import.meta.url);
const ROOT = fileURLToPath(new URL("../", import.meta.url)).replace(/\/$/, "");

export interface ModelProcess {
  readonly pid: number;
  readonly socket: string;
  close(): Promise<void>;
}

export async function startModelProcess(
  options: { model: string; int8?: boolean; readyTimeoutMs?: number },
): Promise<ModelProcess> {
  const dir = await Deno.makeTempDir({ prefix: "cloister-model-" });
  await Deno.chmod(dir, 0o700);
  const socket = `${dir}/model.sock`;
  const model = await Deno.realPath(options.model);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${ROOT},${model},${dir}`,
      `--allow-net=unix:${socket}`,
      `--allow-write=${socket}`,
      "--allow-ffi",
      v8Flags(),
      SERVER,
      "--model",
      model,
      "--socket",
      socket,
      ...(options.int8 ? ["--int8"] : []),
    ],
    env: childEnv(),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const close = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const reader = new FrameReader(child.stdout);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const first = await Promise.race([
    reader.next().catch(() => null),
    new Promise<null>((r) => timer = setTimeout(() => r(null), options.readyTimeoutMs ?? 120_000)),
  ]);
  clearTimeout(timer);
  reader.release();
  child.stdout.cancel().catch(() => {});
  if (!first || first.length !== READY.length) {
    await close();
    throw new Error(`the model process did not start for ${options.model}`);
  }
  return { pid: child.pid, socket, close };
}
