/**
 * Where the shared, read-only vectors live: `$CLOISTER_VECTORS`, else `../shared/vectors` beside
 * the checkout. Tests read them in place and never write there.
 */
import { fileURLToPath } from "node:url";
export const VECTORS: string = Deno.env.get("CLOISTER_VECTORS") ??
  fileURLToPath(new URL("../../shared/vectors", import.meta.url));

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
