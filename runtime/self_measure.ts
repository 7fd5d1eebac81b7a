/**
 * The launch measurement of a runtime started on a development host (no CVM image booted): the
 * emulated secure processor measures the files the runtime actually runs — its module graph (the
 * runtime, its workers and the model process), the dependency pins, and the model folder — so
 * changed code or a changed model means a changed, unlogged measurement (issue 6, the demo).
 * Inside a booted image the measurement is the image's (enclave-image/, attestation/measure/).
 *
 *   measurement = SHA-384("cloister-host-measurement/v1\n" ‖ for each file, sorted by path:
 *                         hex(SHA-256(file)) ‖ "  " ‖ path relative to the checkout ‖ "\n")
 *
 * The listing is the one `sha256sum` prints, so anyone can recompute it from a checkout.
 */
import { fileURLToPath } from "node:url";
import { sha256, sha384 } from "@noble/hashes/sha2.js";
import { toHex, utf8 } from "../protocol/bytes.ts";

const ROOT = new URL("../", import.meta.url);
export const ENTRY_POINTS = ["runtime/main.ts", "runtime/worker.ts", "runtime/model_server.ts"];
const PINS = ["deno.json", "package.json", "package-lock.json"];

/** Local modules of one entry point, as Deno resolves them. */
async function moduleGraph(entry: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: fileURLToPath(ROOT),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`deno info ${entry} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  const modules = JSON.parse(new TextDecoder().decode(out.stdout)).modules as {
    specifier?: string;
  }[];
  return modules.filter((m) => m.specifier?.startsWith("file://")).map((m) =>
    fileURLToPath(m.specifier!)
  );
}

async function walk(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) files.push(...await walk(path));
    else if (e.isFile) files.push(path);
  }
  return files;
}

/** The `sha256sum`-style listing that is measured (exposed so a publisher can print it). */
export async function measuredFiles(modelDir?: string): Promise<string> {
  const root = fileURLToPath(ROOT);
  const paths = [
    ...(await Promise.all(ENTRY_POINTS.map(moduleGraph))).flat(),
    ...PINS.map((p) => root + p),
    ...(modelDir ? await walk(await Deno.realPath(modelDir)) : []),
  ];
  const rows = await Promise.all([...new Set(paths)].map(async (path) => {
    const name = path.startsWith(root) ? path.slice(root.length) : path;
    return { name, line: `${toHex(sha256(await Deno.readFile(path)))}  ${name}\n` };
  }));
  rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return rows.map((r) => r.line).join("");
}

/** The 48-byte measurement the emulator reports for this runtime (see the module comment). */
export async function hostMeasurement(modelDir?: string): Promise<Uint8Array> {
  return sha384(utf8("cloister-host-measurement/v1\n" + await measuredFiles(modelDir)));
}
