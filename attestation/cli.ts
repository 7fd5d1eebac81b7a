/**
 * `deno task verify [options] EVIDENCE [FILE...]` (DESIGN.md "Commands"): verifies a Cloister
 * evidence bundle, or a raw SEV-SNP report / TDX quote with its certificate and collateral files,
 * through `verifyEvidence`/`verifyBundle`, and prints every check with ✓ or ✗ and the decoded
 * fields (or, with `--json`, one JSON object).
 *
 * Exit status: 0 accepted, 1 rejected (the reason code and its sentence are printed), 2 unusable
 * input (unknown option, unreadable file, a file that is no evidence, a bad policy document).
 * Errors are one line, never a stack trace; with `--json` an unusable input also gives
 * `{"verdict": "error", "message": …}` on stdout. Permissions: read only (the files, and the emulated
 * root's public `ark.pem` with `--trust-emulated`); no network, no writes.
 */
import { AttestationError, type Reason } from "./errors.ts";
import { defaultEmulatedState, loadEmulatedRoot } from "./emulated.ts";
import { parsePolicy, type Policy, PolicyError } from "./policy.ts";
import {
  type Check,
  type EvidenceInput,
  type FieldValue,
  type NamedFile,
  type Platform,
  productionRoots,
  type Verified,
  verifyBundle,
  verifyEvidence,
} from "./verify.ts";
import { type Certificate, parseCertificates } from "./x509.ts";
import { REPORT_SIZE, VERSIONS } from "./snp/abi.ts";
import { toHex } from "../protocol/bytes.ts";
import { decodeEvidenceBundle, type EvidenceBundle } from "../protocol/evidence.ts";

const USAGE = `usage: deno task verify [options] EVIDENCE [FILE...]

EVIDENCE is a Cloister evidence bundle (CBOR), a raw SEV-SNP report (1184 bytes) or a TDX quote;
FILE... are its certificates (DER or PEM) and collateral (CRLs; TDX TCB info, QE identity, chains).

  --policy FILE        policy document (JSON or CBOR; keys of the attestation vectors README)
  --at TIME            reference time, ISO 8601 (default: now)
  --check MODE         full (default), signature, or parse (decode only, nothing verified)
  --platform P         sev-snp or tdx, when EVIDENCE is raw and ambiguous
  --root FILE          trust this root (repeatable); default: AMD ARKs / Intel SGX Root CA
  --trust-emulated[=DIR]  also trust the emulated secure processor's root (state DIR,
                       default $CLOISTER_EMULATED_SP or .cache/emulated-sp)
  --json               one JSON object on stdout
exit status: 0 accepted, 1 rejected, 2 unusable input`;

class UsageError extends Error {}

interface Args {
  json: boolean;
  at: Date;
  check: Check;
  platform?: Platform;
  policy?: string;
  roots: string[];
  trustEmulated?: string;
  files: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, at: new Date(), check: "full", roots: [], files: [] };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].startsWith("--") ? argv[i].split(/=(.*)/s, 2) : [argv[i]];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--json":
        args.json = true;
        break;
      case "--at": {
        const v = value();
        args.at = new Date(v);
        if (Number.isNaN(args.at.getTime())) {
          throw new UsageError(`--at "${v}" is not an ISO 8601 time`);
        }
        break;
      }
      case "--check": {
        const v = value();
        if (!["full", "signature", "parse"].includes(v)) {
          throw new UsageError(`--check must be full, signature or parse`);
        }
        args.check = v as Check;
        break;
      }
      case "--platform": {
        const v = value();
        if (v !== "sev-snp" && v !== "tdx") {
          throw new UsageError(`--platform must be sev-snp or tdx`);
        }
        args.platform = v;
        break;
      }
      case "--policy":
        args.policy = value();
        break;
      case "--root":
        args.roots.push(value());
        break;
      case "--trust-emulated":
        args.trustEmulated = inline ?? defaultEmulatedState();
        break;
      case "-h":
      case "--help":
        throw new UsageError(USAGE);
      default:
        if (flag.startsWith("-")) throw new UsageError(`unknown option ${flag}`);
        args.files.push(argv[i]);
    }
  }
  if (args.files.length === 0) throw new UsageError("no evidence file given");
  return args;
}

function readFile(path: string): NamedFile {
  try {
    return { name: path, bytes: Deno.readFileSync(path) };
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

type Kind = { bundle: true } | { bundle: false; platform: Platform };

/** What the evidence file is, from its content (or `--platform`). */
function classify(file: NamedFile, platform?: Platform): Kind {
  const b = file.bytes;
  if (b.length > 0 && b[0] >= 0xa0 && b[0] <= 0xbf) return { bundle: true };
  if (platform) return { bundle: false, platform };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length === REPORT_SIZE && VERSIONS.includes(v.getUint32(0, true))) {
    return { bundle: false, platform: "sev-snp" };
  }
  if (b.length >= 48 && [4, 5].includes(v.getUint16(0, true)) && v.getUint32(4, true) === 0x81) {
    return { bundle: false, platform: "tdx" };
  }
  throw new UsageError(
    `${file.name} is not an evidence bundle, an SEV-SNP report or a TDX quote (${b.length} bytes; try --platform)`,
  );
}

/** SEV-SNP extra files: certificate files go to certs, the rest (CRLs) to collateral. */
function sortFiles(
  platform: Platform,
  files: NamedFile[],
): Pick<EvidenceInput, "certs" | "collateral"> {
  if (platform === "tdx") return { certs: [], collateral: files };
  const certs: NamedFile[] = [];
  const collateral: NamedFile[] = [];
  for (const f of files) {
    let isCert = true;
    try {
      parseCertificates(f.bytes, f.name);
    } catch {
      isCert = false;
    }
    (isCert ? certs : collateral).push(f);
  }
  return { certs, collateral };
}

const STEP_OF: Record<Reason, string> = {
  malformed: "parse",
  unsupported: "parse",
  chain: "certificate chain",
  expired: "certificate chain",
  revoked: "certificate chain",
  signature: "signature",
  "key-mismatch": "key matches report",
  collateral: "collateral",
  tcb: "TCB",
  debug: "debug",
  policy: "policy",
  binding: "binding",
};

interface Outcome {
  verdict: "accept" | "reject";
  reason: Reason | null;
  message?: string;
  field?: string;
  platform?: Platform;
  check: Check;
  emulated: boolean;
  steps: { check: string; ok: boolean; detail: string }[];
  fields?: Record<string, FieldValue>;
  /** false when `fields` come from decoding only (a rejection, or `--check parse`). */
  verified: boolean;
  claims?: Record<string, string | number>;
}

async function run(args: Args): Promise<Outcome> {
  let policy: Policy;
  try {
    policy = parsePolicy(args.policy ? readFile(args.policy).bytes : undefined);
  } catch (e) {
    if (e instanceof PolicyError) throw new UsageError(`${args.policy}: ${e.message}`);
    throw e;
  }
  const [evidenceFile, ...rest] = args.files.map(readFile);
  const kind = classify(evidenceFile, args.platform);
  const outcome: Outcome = {
    verdict: "reject",
    reason: null,
    check: args.check,
    emulated: false,
    steps: [],
    verified: false,
  };
  const onStep = (check: string, detail: string) => outcome.steps.push({ check, ok: true, detail });
  const roots = async (platform: Platform): Promise<Certificate[]> => {
    const given = args.roots.length
      ? args.roots.flatMap((path) => {
        try {
          return parseCertificates(readFile(path).bytes, path);
        } catch (e) {
          // The caller's trust anchor, not the evidence: unusable input, not a rejection.
          throw new UsageError(`--root ${path}: ${e instanceof Error ? e.message : e}`);
        }
      })
      : productionRoots(platform);
    if (args.trustEmulated === undefined) return given;
    try {
      return [...given, await loadEmulatedRoot(args.trustEmulated)];
    } catch (e) {
      throw new UsageError(`--trust-emulated: ${e instanceof Error ? e.message : e}`);
    }
  };
  let input: EvidenceInput | undefined;
  try {
    let verified: Verified;
    if (kind.bundle) {
      if (rest.length) {
        throw new UsageError(
          "a bundle carries its own certificates and collateral: give no other files",
        );
      }
      // Decoded here only to pick the roots and show fields; verifyBundle decodes it again.
      let peek: EvidenceBundle | undefined;
      try {
        peek = decodeEvidenceBundle(evidenceFile.bytes);
      } catch { /* verifyBundle reports it as malformed */ }
      outcome.platform = peek?.platform;
      if (peek) input = { platform: peek.platform, evidence: peek.evidence };
      const v = await verifyBundle(evidenceFile.bytes, policy, {
        now: args.at,
        roots: peek ? await roots(peek.platform) : [],
        check: args.check,
        onStep,
      });
      outcome.claims = {
        key_config: toHex(v.claims.keyConfig),
        epoch_start: new Date(v.claims.epochStart * 1000).toISOString(),
        epoch_end: new Date(v.claims.epochEnd * 1000).toISOString(),
        ...(v.claims.nonce ? { nonce: toHex(v.claims.nonce) } : {}),
      };
      verified = v;
    } else {
      outcome.platform = kind.platform;
      input = {
        platform: kind.platform,
        evidence: evidenceFile.bytes,
        ...sortFiles(kind.platform, rest),
      };
      verified = await verifyEvidence(input, policy, {
        now: args.at,
        roots: args.check === "parse" ? [] : await roots(kind.platform),
        check: args.check,
        onStep,
      });
    }
    Object.assign(outcome, {
      verdict: "accept",
      emulated: verified.emulated,
      fields: verified.fields,
      verified: verified.check !== "parse",
    });
  } catch (e) {
    if (!(e instanceof AttestationError)) throw e;
    Object.assign(outcome, { reason: e.reason, message: e.message, field: e.field });
    outcome.steps.push({ check: STEP_OF[e.reason], ok: false, detail: e.message });
    if (input) {
      outcome.fields = await verifyEvidence(input, policy, { now: args.at, check: "parse" })
        .then((v) => v.fields, () => undefined);
    }
  }
  return outcome;
}

function show(value: FieldValue): string {
  return typeof value === "object"
    ? Object.entries(value).map(([k, v]) => `${k} ${v}`).join(", ")
    : String(value);
}

function print(o: Outcome, evidence: string): void {
  const banner =
    "EMULATED: this evidence comes from the emulated secure processor, not from AMD hardware";
  if (o.emulated) console.log(banner);
  console.log(
    `${evidence}: ${o.platform ?? "evidence"}${o.check === "full" ? "" : `, check ${o.check}`}`,
  );
  const width = Math.max(...o.steps.map((s) => s.check.length));
  for (const s of o.steps) {
    console.log(`  ${s.ok ? "✓" : "✗"} ${s.check.padEnd(width)}  ${s.detail}`);
  }
  if (o.fields) {
    console.log(o.verified ? "fields:" : "fields (decoded only, NOT verified):");
    const w = Math.max(...Object.keys(o.fields).map((k) => k.length));
    for (const [k, v] of Object.entries(o.fields)) console.log(`  ${k.padEnd(w)}  ${show(v)}`);
  }
  if (o.claims) {
    console.log("claims:");
    for (const [k, v] of Object.entries(o.claims)) console.log(`  ${k.padEnd(11)}  ${v}`);
  }
  if (o.verdict === "accept") {
    console.log(
      o.check === "parse"
        ? "DECODED (nothing was verified: --check parse)"
        : o.emulated
        ? "ACCEPTED — EMULATED secure processor, not real hardware"
        : "ACCEPTED",
    );
  } else console.log(`REJECTED (${o.reason}): ${o.message}`);
}

/** Exit 2: the one line on stderr and, with `--json`, the verdict "error" on stdout. */
function unusable(message: string, json: boolean, usage = ""): number {
  console.error(`verify: ${message}${usage}`);
  if (json) console.log(JSON.stringify({ verdict: "error", message }, null, 2));
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError && e.message === USAGE) {
      console.error(USAGE);
      return 2;
    }
    return unusable((e as Error).message, argv.includes("--json"), `\n${USAGE.split("\n")[0]}`);
  }
  try {
    const outcome = await run(args);
    if (args.json) console.log(JSON.stringify(outcome, null, 2));
    else print(outcome, args.files[0]);
    return outcome.verdict === "accept" ? 0 : 1;
  } catch (e) {
    return unusable(e instanceof Error ? e.message : String(e), args.json);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
