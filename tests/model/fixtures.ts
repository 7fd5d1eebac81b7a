/** Self-built model folders for the model tests, built once into the cache (.cache/models). */
import { cachedModel } from "../../model/builders/cache.ts";
import type { ModelKind } from "../../model/builders/build.ts";

const built = new Map<string, Promise<string>>();

/** The folder of a tiny model with fp32 and int8 files. */
export function tinyModel(kind: Extract<ModelKind, "t5-tiny" | "bart-tiny">): Promise<string> {
  let dir = built.get(kind);
  if (!dir) built.set(kind, dir = cachedModel({ kind, int8: true }));
  return dir;
}

/** A writable copy of a model folder in a fresh temporary directory (flat layout kept). */
export async function copyModel(dir: string): Promise<string> {
  const out = await Deno.makeTempDir({ prefix: "cloister-model-" });
  const copy = async (from: string, to: string) => {
    for await (const e of Deno.readDir(from)) {
      if (e.isDirectory) {
        await Deno.mkdir(`${to}/${e.name}`);
        await copy(`${from}/${e.name}`, `${to}/${e.name}`);
      } else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
    }
  };
  await copy(dir, out);
  return out;
}
