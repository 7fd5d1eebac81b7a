/**
 * The relying party's policy: what it requires of verified evidence, as data (a JSON or CBOR
 * document), never code. Keys are those of `shared/vectors/attestation/README.md` ("policy keys")
 * plus the SEV-SNP identity fields of go-sev-guest's `validate.Options`:
 *
 * | key | platform | meaning (absent = not checked) |
 * |---|---|---|
 * | `allow_debug` | both | default false: SNP guest policy bit 19 / TDX td_attributes bit 0 → `debug` |
 * | `vmpl` | SNP | the report's VMPL must equal this (0..3) |
 * | `measurement` | SNP | hex (48 bytes) or a list of them: an allow-list |
 * | `report_data` | both | hex (64 bytes): must equal REPORT_DATA → else `binding` |
 * | `min_tcb` | SNP | `{bl,tee,snp,ucode[,fmc]}`: each given component ≤ reported_tcb → else `tcb` |
 * | `accept_tcb_status` | TDX | default `["UpToDate","SWHardeningNeeded"]` |
 * | `mrtd` | TDX | hex (48 bytes) or a list of them: an allow-list |
 * | `rtmr` | TDX | a list of 4 entries, each hex (48 bytes) or null (not checked) |
 * | `require_product` | SNP | `"Milan"`, `"Genoa"` or `"Turin"` |
 * | `host_data` | SNP | hex (32 bytes) |
 * | `id_key_digest`, `author_key_digest` | SNP | hex (48 bytes) or a list: allow-lists |
 *
 * Parsing is strict: an unknown key, a wrong type or a wrong length is a `PolicyError` naming the
 * key, so a typo can never silently drop a requirement. CBOR documents are deterministic CBOR
 * (`protocol/cbor.ts`: a duplicated key is refused, never last-one-wins) and byte fields may be
 * byte strings there. `snp/validate.ts` and `tdx/validate.ts` apply a `Policy` to verified evidence.
 */
import { fromHex } from "../protocol/bytes.ts";
import { decodeCbor } from "../protocol/cbor.ts";

export type Product = "Milan" | "Genoa" | "Turin";
export const PRODUCTS: readonly Product[] = ["Milan", "Genoa", "Turin"];

/** TDX TCB statuses of Intel PCS TCB info and QE identity (PCS API v4). */
export const TCB_STATUSES = [
  "UpToDate",
  "SWHardeningNeeded",
  "ConfigurationNeeded",
  "ConfigurationAndSWHardeningNeeded",
  "OutOfDate",
  "OutOfDateConfigurationNeeded",
  "Revoked",
] as const;
export type TcbStatusName = typeof TCB_STATUSES[number];

/** SNP TCB components; `fmc` exists on Turin and later only. */
export interface MinTcb {
  bl?: number;
  tee?: number;
  snp?: number;
  ucode?: number;
  fmc?: number;
}

export interface Policy {
  allowDebug: boolean;
  vmpl?: number;
  /** Allow-list of launch measurements (48 bytes each). */
  measurement?: Uint8Array[];
  reportData?: Uint8Array;
  minTcb?: MinTcb;
  acceptTcbStatus: TcbStatusName[];
  /** Allow-list of MRTDs (48 bytes each). */
  mrtd?: Uint8Array[];
  /** RTMR0..3; null entries are not checked. */
  rtmr?: (Uint8Array | null)[];
  requireProduct?: Product;
  hostData?: Uint8Array;
  idKeyDigest?: Uint8Array[];
  authorKeyDigest?: Uint8Array[];
}

/** The policy of an empty document: debug forbidden, TCB statuses UpToDate/SWHardeningNeeded. */
export function defaultPolicy(): Policy {
  return { allowDebug: false, acceptTcbStatus: ["UpToDate", "SWHardeningNeeded"] };
}

/** A policy document that cannot be used: `key` names the offending entry. */
export class PolicyError extends Error {
  constructor(readonly key: string, message: string) {
    super(`policy ${key}: ${message}`);
    this.name = "PolicyError";
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a policy document: a JSON text, JSON or CBOR bytes, or an already-decoded object
 * (`undefined`/`null` is the default policy).
 */
export function parsePolicy(doc: unknown): Policy {
  let value = doc;
  if (typeof doc === "string") value = parseJson(doc);
  else if (doc instanceof Uint8Array) {
    let text: string | undefined;
    try {
      text = decoder.decode(doc).trim();
    } catch { /* not UTF-8: CBOR */ }
    if (text !== undefined && text.startsWith("{")) value = parseJson(text);
    else {
      try {
        value = decodeCbor(doc);
      } catch (e) {
        throw new PolicyError(
          "document",
          `neither JSON nor CBOR (${e instanceof Error ? e.message : e})`,
        );
      }
    }
  }
  if (value === undefined || value === null) return defaultPolicy();
  if (value instanceof Map) value = Object.fromEntries(value);
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new PolicyError("document", "must be a map of keys to requirements");
  }
  const policy = defaultPolicy();
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    // Own keys only: "constructor" or "toString" must be unknown keys, not Object.prototype's.
    const parse = Object.hasOwn(FIELDS, key) ? FIELDS[key] : undefined;
    if (!parse) {
      throw new PolicyError(key, `unknown key (known: ${Object.keys(FIELDS).join(", ")})`);
    }
    parse(policy, v, key);
  }
  return policy;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PolicyError("document", `not JSON (${e instanceof Error ? e.message : e})`);
  }
}

type FieldParser = (policy: Policy, value: unknown, key: string) => void;

const FIELDS: Record<string, FieldParser> = {
  allow_debug: (p, v, k) => {
    if (typeof v !== "boolean") throw new PolicyError(k, `must be true or false, got ${show(v)}`);
    p.allowDebug = v;
  },
  vmpl: (p, v, k) => p.vmpl = integer(v, k, 0, 3),
  measurement: (p, v, k) => p.measurement = allowList(v, k, 48),
  report_data: (p, v, k) => p.reportData = bytes(v, k, 64),
  min_tcb: (p, v, k) => {
    if (v instanceof Map) v = Object.fromEntries(v);
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      throw new PolicyError(k, 'must be a map like {"bl": 3, "tee": 0, "snp": 8, "ucode": 115}');
    }
    const min: MinTcb = {};
    for (const [name, n] of Object.entries(v as Record<string, unknown>)) {
      if (!["bl", "tee", "snp", "ucode", "fmc"].includes(name)) {
        throw new PolicyError(
          `${k}.${name}`,
          "unknown TCB component (known: bl, tee, snp, ucode, fmc)",
        );
      }
      min[name as keyof MinTcb] = integer(n, `${k}.${name}`, 0, 255);
    }
    p.minTcb = min;
  },
  accept_tcb_status: (p, v, k) => {
    if (!Array.isArray(v)) throw new PolicyError(k, "must be a list of TCB status names");
    p.acceptTcbStatus = v.map((s, i) => {
      if (!TCB_STATUSES.includes(s)) {
        throw new PolicyError(
          `${k}[${i}]`,
          `${show(s)} is not a TCB status (${TCB_STATUSES.join(", ")})`,
        );
      }
      return s as TcbStatusName;
    });
  },
  mrtd: (p, v, k) => p.mrtd = allowList(v, k, 48),
  rtmr: (p, v, k) => {
    if (!Array.isArray(v) || v.length !== 4) {
      throw new PolicyError(k, "must be a list of 4 entries (hex or null), one per RTMR");
    }
    p.rtmr = v.map((x, i) => x === null ? null : bytes(x, `${k}[${i}]`, 48));
  },
  require_product: (p, v, k) => {
    if (!PRODUCTS.includes(v as Product)) {
      throw new PolicyError(k, `must be one of ${PRODUCTS.join(", ")}, got ${show(v)}`);
    }
    p.requireProduct = v as Product;
  },
  host_data: (p, v, k) => p.hostData = bytes(v, k, 32),
  id_key_digest: (p, v, k) => p.idKeyDigest = allowList(v, k, 48),
  author_key_digest: (p, v, k) => p.authorKeyDigest = allowList(v, k, 48),
};

function show(v: unknown): string {
  // A CBOR document's integers over 2^53 decode as bigint, which JSON.stringify refuses.
  const s = JSON.stringify(v, (_, x) => typeof x === "bigint" ? `${x}` : x) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function integer(v: unknown, key: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new PolicyError(key, `must be an integer ${min}..${max}, got ${show(v)}`);
  }
  return v;
}

function bytes(v: unknown, key: string, length: number): Uint8Array {
  let b: Uint8Array;
  if (v instanceof Uint8Array) b = v;
  else if (typeof v === "string" && /^[0-9a-fA-F]*$/.test(v) && v.length % 2 === 0) b = fromHex(v);
  else throw new PolicyError(key, `must be hex, got ${show(v)}`);
  if (b.length !== length) throw new PolicyError(key, `must be ${length} bytes, got ${b.length}`);
  return b;
}

/** One value or a non-empty list of them. */
function allowList(v: unknown, key: string, length: number): Uint8Array[] {
  if (!Array.isArray(v)) return [bytes(v, key, length)];
  if (v.length === 0) throw new PolicyError(key, "an empty allow-list would refuse everything");
  return v.map((x, i) => bytes(x, `${key}[${i}]`, length));
}
