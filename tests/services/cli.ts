/** Runs a service CLI with bad arguments: each must exit 2 with one line `<name>: ...` on stderr. */
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

export async function expectUsageErrors(
  main: string,
  name: string,
  cases: string[][],
): Promise<string[]> {
  const lines: string[] = [];
  for (const args of cases) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", fileURLToPath(new URL(`../../${main}`, import.meta.url)), ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 2, `${args.join(" ")}: ${err}`);
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, new RegExp(`^${name}: `));
    lines.push(err);
  }
  return lines;
}
