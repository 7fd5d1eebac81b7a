/**
 * Where the shared, read-only vectors live: `$CLOISTER_VECTORS`, else `../shared/vectors` beside
 * the checkout. Tests read them in place and never write there.
 */
export const VECTORS: string = Deno.env.get("CLOISTER_VECTORS") ??
  new URL("../../shared/vectors", import.meta.url).pathname;

/** Absolute path of a file or folder under the shared vectors; throws if it is missing. */
export function vectorPath(relative: string): string {
  const path = `${VECTORS}/${relative}`;
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(
      `shared vectors not found at ${path} (set CLOISTER_VECTORS to the vectors folder)`,
    );
  }
  return path;
}
