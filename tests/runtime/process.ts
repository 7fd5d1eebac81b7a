/**
 * Starts the real runtime (`runtime/main.ts`) as its own process for tests, on an ephemeral port,
 * waits for its `ready` line, and finds its children (workers, model process) for memory scans.
 */
import { fileURLToPath } from "node:url";
import { spawnDeno, type SpawnOptions } from "../../demo/spawn.ts";

export interface RuntimeProcess {
  url: string;
  pid: number;
  measurement: string;
  /** Everything it printed on stderr so far (counts and timings only). */
  stderr(): string;
  /** This process and every live descendant (workers, the model process). */
  pids(): Promise<number[]>;
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL("../../runtime/main.ts", import.meta.url));

/** The child pids of `pid`, from /proc/PID/task/TID/children. */
async function children(pid: number): Promise<number[]> {
  const out: number[] = [];
  try {
    for await (const t of Deno.readDir(`/proc/${pid}/task`)) {
      const text = await Deno.readTextFile(`/proc/${pid}/task/${t.name}/children`).catch(() => "");
      out.push(...text.split(/\s+/).filter(Boolean).map(Number));
    }
  } catch { /* exited */ }
  return out;
}

export async function descendants(pid: number): Promise<number[]> {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...await children(all[i]));
  return all;
}

export async function startRuntime(
  args: string[],
  options: SpawnOptions = {},
): Promise<RuntimeProcess> {
  const child = await spawnDeno("runtime", MAIN, ["--listen", "127.0.0.1:0", ...args], {
    ...options,
    timeoutMs: options.timeoutMs ?? 120_000,
  });
  const m = child.first.match(/^ready (\S+) platform=\S+ measurement=([0-9a-f]+)/);
  if (!m) {
    await child.stop();
    throw new Error(`runtime did not start: ${child.first}\n${child.stderr()}`);
  }
  return {
    url: m[1],
    pid: child.pid,
    measurement: m[2],
    stderr: child.stderr,
    pids: () => descendants(child.pid),
    stop: child.stop,
  };
}
