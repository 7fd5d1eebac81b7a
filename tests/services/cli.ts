/** Runs a service CLI with bad arguments: each must exit 2 with one line `<name>: ...` on stderr. */
import assert from "node:assert/strict";
import { runScript } from "../task.ts";

export async function expectUsageErrors(
  main: string,
  name: string,
  cases: string[][],
): Promise<string[]> {
  const lines: string[] = [];
  for (const args of cases) {
    const out = await runScript(main, args);
    const err = out.err.trim();
    assert.equal(out.code, 2, `${args.join(" ")}: ${err}`);
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, new RegExp(`^${name}: `));
    lines.push(err);
  }
  return lines;
}
