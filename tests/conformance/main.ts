/**
 * `deno task conformance <suite> <path>`: runs the real code on a vectors file or folder, prints
 * each failure and last `N passed, M failed`; exit 0 when all passed, 1 when any failed, 2 when
 * the command itself is unusable (unknown suite, missing path).
 */
import { errorLine, runSuite, type Suite } from "./harness.ts";
import { SUITES } from "./suites.ts";

async function main(args: string[]): Promise<number> {
  const [name, path, ...rest] = args;
  const names = Object.keys(SUITES).join(", ");
  if (!name || !path || rest.length > 0) {
    console.error(`usage: deno task conformance <suite> <path>   (suites: ${names})`);
    return 2;
  }
  const load = SUITES[name];
  if (!load) {
    console.error(`unknown suite "${name}" (suites: ${names})`);
    return 2;
  }
  try {
    Deno.statSync(path);
  } catch {
    console.error(`no such file or folder: ${path}`);
    return 2;
  }
  let suite: Suite;
  try {
    suite = await load();
  } catch (e) {
    console.error(`suite "${name}" is not available: ${errorLine(e)}`);
    return 2;
  }
  const tally = await runSuite(suite, path);
  for (const f of tally.failures) console.log(`FAIL ${f.name}: ${f.detail ?? "failed"}`);
  console.log(`${tally.passed} passed, ${tally.failed} failed`);
  return tally.failed > 0 ? 1 : 0;
}

Deno.exit(await main(Deno.args));
