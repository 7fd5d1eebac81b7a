/**
 * Starts the real runtime (`runtime/main.ts`) as its own process for tests, on an ephemeral port,
 * waits for its `ready` line, and finds its children (workers, model process) for memory scans.
 */
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

const MAIN = new URL("../../runtime/main.ts", import.meta.url).pathname;
const DENO = Deno.execPath();

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
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RuntimeProcess> {
  const child = new Deno.Command(DENO, {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--clear-free-memory",
      MAIN,
      "--listen",
      "127.0.0.1:0",
      ...args,
    ],
    env: { MALLOC_PERTURB_: "165", NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  /** The first line on stdout (the runtime prints only its ready line there). */
  const firstLine = async (): Promise<string | undefined> => {
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await out.read();
      if (done) return undefined;
      text += value;
    }
    return text.split("\n")[0];
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await out.cancel().catch(() => {});
  };
  const first = await Promise.race([
    firstLine(),
    new Promise<undefined>((r) =>
      timer = setTimeout(() => r(undefined), options.timeoutMs ?? 120_000)
    ),
    child.status.then(() => undefined),
  ]);
  clearTimeout(timer);
  const m = first?.match(/^ready (\S+) platform=\S+ measurement=([0-9a-f]+)/);
  if (!m) {
    await stop();
    throw new Error(`runtime did not start: ${first ?? ""}\n${stderr}`);
  }
  return {
    url: m[1],
    pid: child.pid,
    measurement: m[2],
    stderr: () => stderr,
    pids: () => descendants(child.pid),
    stop,
  };
}
