/**
 * Builds model folders on disk, and keeps built ones in a cache folder
 * (`.cache/models/<kind>[-int8]-<hash>`, never committed) so tests and benchmarks build each
 * model once. The hash covers the build spec, the corpus and the builders' own source, so any
 * change to either builds afresh. A folder appears only complete: it is written under a temporary
 * name and renamed into place.
 *
 * The tokenizer corpus is local text: Debian's /usr/share/common-licenses (about 260 kB of
 * English prose, present on every Debian system), or the repository's Markdown where that is
 * missing.
 */
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { type BuildSpec, modelFiles } from "./build.ts";

const HERE = new URL(".", import.meta.url);
const REPO = new URL("../../", import.meta.url);
export const DEFAULT_CACHE = fileURLToPath(new URL(".cache/models/", REPO));

async function regularFiles(
  dir: string | URL,
  match: (name: string) => boolean,
): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && match(e.name)) names.push(e.name);
  return names.sort();
}

async function readAll(dir: string | URL, names: string[]): Promise<string> {
  const base = typeof dir === "string" ? new URL(`file://${dir.replace(/\/?$/, "/")}`) : dir;
  const parts = await Promise.all(names.map((n) => Deno.readTextFile(new URL(n, base))));
  return parts.join("\n");
}

/** The local text the tokenizers learn their vocabulary from. */
export async function localCorpus(): Promise<string> {
  const licenses = "/usr/share/common-licenses";
  try {
    return await readAll(licenses, await regularFiles(licenses, () => true));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    return await readAll(REPO, await regularFiles(REPO, (n) => n.endsWith(".md")));
  }
}

/** Writes a model folder at `dir` (created; existing files are overwritten). */
export async function writeModel(
  spec: BuildSpec,
  dir: string,
  corpus: string,
  log: (line: string) => void = () => {},
): Promise<void> {
  await Deno.mkdir(`${dir}/onnx`, { recursive: true });
  for (const f of modelFiles(spec, corpus)) {
    const t0 = performance.now();
    const bytes = f.bytes();
    await Deno.writeFile(`${dir}/${f.path}`, bytes);
    log(
      `${f.path}: ${(bytes.length / 1e6).toFixed(1)} MB in ${
        (performance.now() - t0).toFixed(0)
      } ms`,
    );
  }
}

/** The cache key: spec, corpus and builder sources. */
async function buildHash(spec: BuildSpec, corpus: string): Promise<string> {
  const h = createHash("sha256");
  h.update(JSON.stringify({
    kind: spec.kind,
    int8: spec.int8 ?? false,
    seed: spec.seed ?? 1,
    attention: spec.attention ?? "fused",
  }));
  h.update(corpus);
  for (const dir of [HERE, new URL("../onnx/", HERE)]) {
    const names = await regularFiles(dir, (n) => n.endsWith(".ts"));
    h.update(names.join(","));
    h.update(await readAll(dir, names));
  }
  return h.digest("hex").slice(0, 16);
}

/** The folder of a built model, building it into the cache first if needed. */
export async function cachedModel(
  spec: BuildSpec,
  options: { root?: string; log?: (line: string) => void } = {},
): Promise<string> {
  const root = options.root ?? DEFAULT_CACHE;
  const corpus = await localCorpus();
  const tags = `${spec.int8 ? "-int8" : ""}${spec.attention === "plain" ? "-plain" : ""}`;
  const name = `${spec.kind}${tags}-${await buildHash(spec, corpus)}`;
  const dir = `${root.replace(/\/$/, "")}/${name}`;
  try {
    await Deno.stat(`${dir}/config.json`);
    return dir;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.mkdir(root, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: root, prefix: `.${name}-` });
  try {
    options.log?.(`building ${name}`);
    await writeModel(spec, tmp, corpus, options.log);
    await Deno.rename(tmp, dir);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true });
    // another process may have finished the same build first
    try {
      await Deno.stat(`${dir}/config.json`);
    } catch {
      throw e;
    }
  }
  return dir;
}
