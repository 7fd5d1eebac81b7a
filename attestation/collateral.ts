/**
 * Collateral: what a verifier fetches besides the evidence — from AMD KDS the VCEK of a chip at a
 * TCB, the ASK/ASVK + ARK chain and the ARK-signed CRL (VCEK spec #57230 §4, URLs in
 * `snp/kds.ts`); from Intel PCS the TCB info, QE identity, CRLs and their issuer chains (which PCS
 * returns in response headers, hence `Fetched.headers`).
 *
 * One interface, `CollateralSource.get(url)`, three implementations to compose:
 * - `HttpSource`: the network (an injected `fetch`, a timeout, HTTP errors refused);
 * - `CachedSource`: an on-disk cache in front of another source; an entry is fresh for its
 *   `maxAge` (per URL kind: VCEKs and chains for long, CRLs and PCS documents briefly), and a
 *   stale entry is still served when the network fails (`stale: true` says so);
 * - `FileSource`: offline, a folder that mirrors the URLs (`<folder>/<host>/<path>[?query]`),
 *   which is what tests and air-gapped verifiers use.
 * Nothing here verifies anything: fetched bytes go to `verifyEvidence` like any other input.
 */
import { createHash } from "node:crypto";
import type { Product } from "./policy.ts";
import type { SigningKey, Tcb } from "./snp/abi.ts";
import { certChainUrl, crlUrl, vcekUrl } from "./snp/kds.ts";
import { readBlocks } from "./x509.ts";

export interface Fetched {
  body: Uint8Array;
  /** Lowercase header names (Intel PCS puts issuer chains there). */
  headers: Record<string, string>;
  /** Served from a cache entry older than its maximum age because the source failed. */
  stale?: boolean;
}

export interface CollateralSource {
  get(url: string): Promise<Fetched>;
}

/** A fetch that failed: `status` is the HTTP status when there was one. */
export class CollateralError extends Error {
  constructor(readonly url: string, message: string, readonly status?: number) {
    super(`${url}: ${message}`);
    this.name = "CollateralError";
  }
}

export class HttpSource implements CollateralSource {
  constructor(
    readonly fetchFn: typeof fetch = fetch,
    readonly timeoutMs = 10_000,
  ) {}

  async get(url: string): Promise<Fetched> {
    let response: Response;
    try {
      response = await this.fetchFn(url, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw new CollateralError(url, `request failed: ${e instanceof Error ? e.message : e}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new CollateralError(
        url,
        `HTTP ${response.status} ${response.statusText}`,
        response.status,
      );
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((v, k) => headers[k.toLowerCase()] = v);
    return { body: new Uint8Array(await response.arrayBuffer()), headers };
  }
}

/** Offline: `<folder>/<host>/<path>` (with `?query` appended to the file name when present). */
export class FileSource implements CollateralSource {
  constructor(readonly folder: string) {}

  path(url: string): string {
    const u = new URL(url);
    const name = `${u.host}${decodeURIComponent(u.pathname)}${u.search}`;
    if (name.split("/").some((part) => part === ".." || part === "")) {
      throw new CollateralError(url, "path cannot be mapped to a file");
    }
    return `${this.folder}/${name}`;
  }

  async get(url: string): Promise<Fetched> {
    const path = this.path(url);
    try {
      const body = await Deno.readFile(path);
      let headers: Record<string, string> = {};
      try {
        headers = JSON.parse(await Deno.readTextFile(`${path}.headers.json`));
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      return { body, headers };
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new CollateralError(url, `not in ${this.folder}`, 404);
      }
      throw e;
    }
  }
}

/** How long an entry stays fresh, by URL. */
export function defaultMaxAge(url: string): number {
  const hour = 3_600_000;
  if (/\/crl(\?|$)|\/pckcrl|\/rootcacrl/.test(url)) return 12 * hour;
  if (/\/tcb(\?|$)|\/qe\/identity/.test(url)) return 12 * hour;
  return 30 * 24 * hour; // VCEKs, ASK/ARK chains: they do not change
}

export class CachedSource implements CollateralSource {
  constructor(
    readonly inner: CollateralSource,
    readonly folder: string,
    readonly maxAge: (url: string) => number = defaultMaxAge,
    readonly now: () => number = Date.now,
  ) {}

  #paths(url: string): { body: string; meta: string } {
    const key = createHash("sha256").update(url).digest("hex");
    return { body: `${this.folder}/${key}.bin`, meta: `${this.folder}/${key}.json` };
  }

  async get(url: string): Promise<Fetched> {
    const paths = this.#paths(url);
    let cached: (Fetched & { fetchedAt: number }) | undefined;
    try {
      const meta = JSON.parse(await Deno.readTextFile(paths.meta));
      if (meta.url === url) {
        cached = {
          body: await Deno.readFile(paths.body),
          headers: meta.headers,
          fetchedAt: meta.fetchedAt,
        };
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound) && !(e instanceof SyntaxError)) throw e;
    }
    if (cached && this.now() - cached.fetchedAt <= this.maxAge(url)) {
      return { body: cached.body, headers: cached.headers };
    }
    let fresh: Fetched;
    try {
      fresh = await this.inner.get(url);
    } catch (e) {
      if (cached && !(e instanceof CollateralError && e.status === 404)) {
        return { body: cached.body, headers: cached.headers, stale: true };
      }
      throw e;
    }
    await Deno.mkdir(this.folder, { recursive: true });
    const tmp = `${paths.body}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, fresh.body);
    await Deno.rename(tmp, paths.body);
    await Deno.writeTextFile(
      paths.meta,
      JSON.stringify({ url, headers: fresh.headers, fetchedAt: this.now() }),
    );
    return fresh;
  }
}

/** The VCEK (DER) of a chip at a TCB from AMD KDS. */
export async function fetchVcek(
  source: CollateralSource,
  product: Product,
  chipId: Uint8Array,
  tcb: Tcb,
): Promise<Uint8Array> {
  return (await source.get(vcekUrl(product, chipId, tcb))).body;
}

/** The ASK (or ASVK) and ARK of a product line, DER, in the order KDS serves them. */
export async function fetchCertChain(
  source: CollateralSource,
  product: Product,
  kind: SigningKey = "vcek",
): Promise<Uint8Array[]> {
  const url = certChainUrl(product, kind);
  return readBlocks((await source.get(url)).body, "CERTIFICATE", url);
}

/** The ARK-signed CRL of a product line (DER). */
export async function fetchCrl(
  source: CollateralSource,
  product: Product,
  kind: SigningKey = "vcek",
): Promise<Uint8Array> {
  return (await source.get(crlUrl(product, kind))).body;
}
