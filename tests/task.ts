/** Runs `deno task NAME …` from the repository root as a user types it (the task's own permissions). */
import { fileURLToPath } from "node:url";
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DENO = `${ROOT}node_modules/.bin/deno`;

export interface TaskOutput {
  code: number;
  out: string;
  err: string;
}

/** Runs `deno run -A SCRIPT args`, SCRIPT relative to the repository root. */
export async function runScript(script: string, args: string[]): Promise<TaskOutput> {
  const { code, stdout, stderr } = await new Deno.Command(DENO, {
    args: ["run", "-A", `${ROOT}${script}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

export async function runTask(name: string, args: string[], stdin?: string): Promise<TaskOutput> {
  const child = new Deno.Command(DENO, {
    args: ["task", "--quiet", name, ...args],
    cwd: ROOT,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const { code, stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}
