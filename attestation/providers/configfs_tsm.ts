/**
 * Linux configfs-tsm reports (kernel ≥ 6.7; Documentation/ABI/testing/configfs-tsm): the
 * vendor-neutral way to get an SEV-SNP report with its certificates, or a TDX quote.
 *
 * One request, as the kernel ABI prescribes:
 * 1. `mkdir /sys/kernel/config/tsm/report/<name>` creates a private report entry;
 * 2. `provider` names the backend (`sev_guest` → SEV-SNP, `tdx_guest` → TDX) and `generation`
 *    counts every write to the entry's attributes;
 * 3. optionally write `privlevel` (SNP VMPL, ≥ `privlevel_floor`), then write the 64 bytes of
 *    `inblob` (REPORT_DATA);
 * 4. read `outblob` (the report or quote; reading triggers generation) and `auxblob` (SEV-SNP:
 *    the GUID certificate table; may be empty);
 * 5. read `generation` again: it must be the first value plus our writes, or another writer
 *    changed the request between our write and our read — then the blobs are not ours, and we
 *    try again with a fresh entry (`busy` after `retries` attempts);
 * 6. `rmdir` the entry, always.
 */
import type { Platform } from "../verify.ts";
import { parseCertTable } from "../snp/abi.ts";
import {
  checkReportData,
  denoFileSystem,
  type Evidence,
  type EvidenceProvider,
  type FileSystem,
  ProviderError,
} from "./provider.ts";
import { toHex, utf8 } from "../../protocol/bytes.ts";

export const TSM_REPORT_ROOT = "/sys/kernel/config/tsm/report";

const PLATFORM_OF: Record<string, Platform> = { sev_guest: "sev-snp", tdx_guest: "tdx" };

export interface ConfigfsTsmOptions {
  fs?: FileSystem;
  /** Default `TSM_REPORT_ROOT`. */
  root?: string;
  /** SEV-SNP: the VMPL to request (writes `privlevel`). */
  privlevel?: number;
  /** Attempts when another writer interferes (default 3). */
  retries?: number;
}

const decoder = new TextDecoder();

function deviceError(what: string, e: unknown): ProviderError {
  if (e instanceof ProviderError) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof Deno.errors.Busy) return new ProviderError("busy", `${what}: ${message}`);
  return new ProviderError("device", `${what}: ${message}`);
}

export class ConfigfsTsmProvider implements EvidenceProvider {
  readonly name: string;
  readonly #fs: FileSystem;
  readonly #root: string;

  private constructor(
    readonly platform: Platform,
    readonly backend: string,
    readonly options: ConfigfsTsmOptions,
  ) {
    this.#fs = options.fs ?? denoFileSystem;
    this.#root = options.root ?? TSM_REPORT_ROOT;
    this.name = `configfs-tsm (${backend})`;
  }

  /** The provider of this machine's configfs-tsm, or undefined where there is none. */
  static async detect(options: ConfigfsTsmOptions = {}): Promise<ConfigfsTsmProvider | undefined> {
    const fs = options.fs ?? denoFileSystem;
    const root = options.root ?? TSM_REPORT_ROOT;
    if (!(await fs.exists(root))) return undefined;
    const backend = await withEntry(fs, root, (dir) => readText(fs, `${dir}/provider`));
    const platform = PLATFORM_OF[backend];
    if (!platform) {
      throw new ProviderError("unavailable", `configfs-tsm provider "${backend}" is not supported`);
    }
    return new ConfigfsTsmProvider(platform, backend, options);
  }

  async getEvidence(reportData: Uint8Array): Promise<Evidence> {
    checkReportData(reportData);
    const retries = this.options.retries ?? 3;
    for (let attempt = 1;; attempt++) {
      const got = await withEntry(this.#fs, this.#root, (dir) => this.#request(dir, reportData));
      if (got) return got;
      if (attempt >= retries) {
        throw new ProviderError(
          "busy",
          `configfs-tsm: another writer changed the report request ${retries} times in a row`,
        );
      }
    }
  }

  /** Steps 2-5; undefined when the generation shows interference. */
  async #request(dir: string, reportData: Uint8Array): Promise<Evidence | undefined> {
    const fs = this.#fs;
    const backend = await readText(fs, `${dir}/provider`);
    if (backend !== this.backend) {
      throw new ProviderError(
        "protocol",
        `configfs-tsm provider changed from ${this.backend} to ${backend}`,
      );
    }
    const before = await readGeneration(fs, dir);
    let writes = 0;
    if (this.options.privlevel !== undefined) {
      await write(fs, `${dir}/privlevel`, utf8(`${this.options.privlevel}\n`));
      writes++;
    }
    await write(fs, `${dir}/inblob`, reportData);
    writes++;
    let outblob: Uint8Array;
    try {
      outblob = await fs.readFile(`${dir}/outblob`);
    } catch (e) {
      throw deviceError(`configfs-tsm ${this.backend}: reading outblob failed`, e);
    }
    let auxblob: Uint8Array | undefined;
    if (this.platform === "sev-snp" && (await fs.exists(`${dir}/auxblob`))) {
      try {
        auxblob = await fs.readFile(`${dir}/auxblob`);
      } catch { /* the host supplied no certificates */ }
    }
    const after = await readGeneration(fs, dir);
    if (after !== before + writes) return undefined;
    if (outblob.length === 0) {
      throw new ProviderError("protocol", "configfs-tsm returned an empty outblob");
    }
    const evidence: Evidence = { platform: this.platform, evidence: outblob, source: this.name };
    if (auxblob?.length) evidence.certs = parseCertTable(auxblob).map((e) => e.data);
    return evidence;
  }
}

/** mkdir a uniquely named entry, run `fn`, and rmdir it whatever happens. */
async function withEntry<T>(
  fs: FileSystem,
  root: string,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = `${root}/cloister-${toHex(crypto.getRandomValues(new Uint8Array(8)))}`;
  try {
    await fs.mkdir(dir);
  } catch (e) {
    throw deviceError(`configfs-tsm: cannot create ${dir}`, e);
  }
  try {
    return await fn(dir);
  } finally {
    await fs.rmdir(dir).catch(() => {});
  }
}

async function readText(fs: FileSystem, path: string): Promise<string> {
  try {
    return decoder.decode(await fs.readFile(path)).trim();
  } catch (e) {
    throw deviceError(`configfs-tsm: cannot read ${path}`, e);
  }
}

async function readGeneration(fs: FileSystem, dir: string): Promise<number> {
  const text = await readText(fs, `${dir}/generation`);
  if (!/^\d+$/.test(text)) {
    throw new ProviderError("protocol", `configfs-tsm generation "${text}" is not a number`);
  }
  return Number(text);
}

async function write(fs: FileSystem, path: string, data: Uint8Array): Promise<void> {
  try {
    await fs.writeFile(path, data);
  } catch (e) {
    throw deviceError(`configfs-tsm: cannot write ${path}`, e);
  }
}
