/**
 * The conformance harness: a suite turns a vectors file or folder into named results, and the
 * harness prints each failure and last the line `N passed, M failed`. The same suites run inside
 * `deno task test` (tests/conformance/conformance.test.ts) and from the command line.
 */

/** One checked vector: `ok` false carries a one-line reason. */
export interface CaseResult {
  name: string;
  ok: boolean;
  detail?: string;
}

/** A suite reads the vectors at `path` and yields one result per vector. */
export type Suite = (path: string) => AsyncIterable<CaseResult> | Iterable<CaseResult>;

export interface Tally {
  passed: number;
  failed: number;
  failures: CaseResult[];
}

/** Runs a suite to the end; a suite that throws counts as one failure, never a crash. */
export async function runSuite(suite: Suite, path: string): Promise<Tally> {
  const tally: Tally = { passed: 0, failed: 0, failures: [] };
  try {
    for await (const result of suite(path)) {
      if (result.ok) tally.passed++;
      else {
        tally.failed++;
        tally.failures.push(result);
      }
    }
  } catch (e) {
    tally.failed++;
    tally.failures.push({ name: path, ok: false, detail: errorLine(e) });
  }
  return tally;
}

/** The one readable line a CLI prints for an error: never a stack trace. */
export function errorLine(e: unknown): string {
  return e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
}

/** Runs `fn` over each item, turning a thrown error into a failed result for that item. */
export function check(name: string, fn: () => string | undefined | void): CaseResult {
  try {
    const problem = fn();
    return problem ? { name, ok: false, detail: problem } : { name, ok: true };
  } catch (e) {
    return { name, ok: false, detail: errorLine(e) };
  }
}

/** Same as `check` for asynchronous checks. */
export async function checkAsync(
  name: string,
  fn: () => Promise<string | undefined | void>,
): Promise<CaseResult> {
  try {
    const problem = await fn();
    return problem ? { name, ok: false, detail: problem } : { name, ok: true };
  } catch (e) {
    return { name, ok: false, detail: errorLine(e) };
  }
}

/**
 * The vectors files a suite runs on `path`: the file itself, or each file that a folder's
 * manifest.json lists (`files[].file`), in the manifest's order.
 */
export function vectorFiles(path: string): string[] {
  if (path.endsWith("/manifest.json")) path = path.slice(0, -"/manifest.json".length);
  if (!Deno.statSync(path).isDirectory) return [path];
  const manifest = readJson(`${path}/manifest.json`) as { files?: { file: string }[] };
  if (!Array.isArray(manifest.files)) throw new Error(`${path}/manifest.json lists no files`);
  return manifest.files.map((f) => `${path}/${f.file}`);
}

/** Reads and parses a JSON file with an error that names the file. */
export function readJson(path: string): unknown {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not JSON: ${e instanceof Error ? e.message : e}`);
  }
}
