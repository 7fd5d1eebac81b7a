/**
 * Starts one of Cloister's long-running programs (a runtime node, the issuer, the log, the relay)
 * as a child process the way an operator would run it, and waits for its first stdout line (the
 * "ready" / "listening" line every one of them prints once it serves). stderr is kept (counts and
 * timings only, never content) for error messages; stdout is drained so the child never blocks.
 */
export interface Child {
  name: string;
  /** Its first line on stdout, "" if it exited or timed out before printing one. */
  first: string;
  pid: number;
  stderr: () => string;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Killed (SIGKILL) if no line came by then; default 180 s. */
  timeoutMs?: number;
  /** Extra `deno run` flags, before the script (tests: `--inspect=127.0.0.1:0`). */
  denoFlags?: string[];
}

/**
 * `deno run --allow-all script args` with freed memory overwritten (MALLOC_PERTURB_, V8's
 * --clear-free-memory) and `gc()` exposed (key epochs collect native key copies when they wipe a
 * key, runtime/epochs.ts), as `deno task runtime` runs it.
 */
export async function spawnDeno(
  name: string,
  script: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<Child> {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--clear-free-memory,--expose-gc",
      ...options.denoFlags ?? [],
      script,
      ...args,
    ],
    env: { MALLOC_PERTURB_: "165", NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  (async () => {
    for await (const chunk of process.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })();
  const out = process.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => {
    try {
      process.kill("SIGKILL");
    } catch { /* gone */ }
  }, options.timeoutMs ?? 180_000);
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await out.read();
    if (done) break;
    text += value;
  }
  clearTimeout(timer);
  (async () => {
    while (!(await out.read()).done) { /* discard */ }
  })().catch(() => {});
  return {
    name,
    first: text.includes("\n") ? text.split("\n")[0] : "",
    pid: process.pid,
    stderr: () => stderr,
    stop: async () => {
      try {
        process.kill("SIGTERM");
      } catch { /* gone */ }
      await process.status;
    },
  };
}
