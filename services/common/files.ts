/**
 * Durable state files: atomic replacement (write a temporary file, fsync, rename over the
 * target), so a crash leaves either the old or the new content, never a mix.
 */

/** Writes `data` to `path` atomically, creating parent folders; `mode` for secrets (0o600). */
export async function writeAtomic(path: string, data: Uint8Array, mode = 0o644): Promise<void> {
  await Deno.mkdir(path.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  const f = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    for (let at = 0; at < data.length;) at += await f.write(data.subarray(at));
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
}

/** The file's bytes, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
