/**
 * Reading a model folder's files: JSON that may be optional, and file existence, with the
 * folder errors of errors.ts (the path always named).
 */
import { type ModelFolderCode, ModelFolderError } from "./errors.ts";

/** Parsed JSON of `path`; undefined when it is absent and not `required`. */
export async function readJson(
  path: string,
  required: boolean,
  badCode: ModelFolderCode,
): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      if (required) throw new ModelFolderError("missing-file", "not found", path);
      return undefined;
    }
    // A folder where the file should be, no permission, an I/O error: named, with its cause.
    throw new ModelFolderError(badCode, `cannot read (${(e as Error).message})`, path);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(badCode, `not JSON (${(e as Error).message})`, path);
  }
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return false;
    // A symlink loop, no permission: the model's files are there but unusable.
    throw new ModelFolderError("bad-onnx", `cannot read (${(e as Error).message})`, path);
  }
}
