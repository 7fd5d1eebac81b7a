/**
 * Writes a self-built model folder (Optimum/transformers.js layout, seeded weights):
 *
 *   deno run --allow-read --allow-write model/builders/cli.ts t5-small --out DIR [--int8] [--seed N]
 *
 * Kinds: t5-tiny (tests), t5-small (the shape of Google's t5-small; about 830 MB fp32, plus
 * 400 MB with --int8), bart-tiny. Reads /usr/share/common-licenses for the tokenizer's vocabulary.
 * Exit 0 on success, 2 on bad usage, 1 on a failed build, with one line on stderr.
 */
import { type BuildSpec, MODEL_KINDS, type ModelKind } from "./build.ts";
import { localCorpus, writeModel } from "./cache.ts";

const USAGE = `usage: cli.ts {${MODEL_KINDS.join("|")}} --out DIR [--int8] [--seed N]`;

function parse(args: string[]): { spec: BuildSpec; out: string } | string {
  let kind: ModelKind | undefined;
  let out: string | undefined;
  let int8 = false;
  let seed = 1;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--out") out = args[++i];
    else if (a === "--int8") int8 = true;
    else if (a === "--seed") {
      seed = Number(args[++i]);
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
        return `--seed needs an integer from 0 to 4294967295, got "${args[i]}"`;
      }
    } else if ((MODEL_KINDS as readonly string[]).includes(a) && kind === undefined) {
      kind = a as ModelKind;
    } else return `unexpected argument "${a}"`;
  }
  if (kind === undefined) return "no model kind given";
  if (!out) return "--out DIR is required";
  return { spec: { kind, int8, seed }, out };
}

async function main(args: string[]): Promise<number> {
  const parsed = parse(args);
  if (typeof parsed === "string") {
    console.error(`${parsed}; ${USAGE}`);
    return 2;
  }
  try {
    await writeModel(parsed.spec, parsed.out, await localCorpus(), (line) => console.error(line));
    console.error(`wrote ${parsed.out}`);
    return 0;
  } catch (e) {
    console.error(`build failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
