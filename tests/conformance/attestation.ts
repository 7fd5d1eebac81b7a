/**
 * The attestation conformance runner (schema `cloister-attestation-cases/v1`,
 * shared/vectors/attestation/README.md): reads `<folder>/cases.json` (or a cases file), resolves
 * every path against its folder, runs each case of one platform through `verifyEvidence` — the
 * entry point the runtime and client use — and compares the verdict, the reason code and every
 * listed field; then applies each mutation (`evidence[offset] ^= xor`) to a fresh copy and
 * expects a rejection with the mutation's reason. A case passes only if all of that matches.
 * `attestationSuite("sev-snp")` and `attestationSuite("tdx")` are the `snp` and `tdx` suites.
 */
import { type CaseResult, checkAsync, errorLine, readJson, type Suite } from "./harness.ts";
import { AttestationError } from "../../attestation/errors.ts";
import { parsePolicy } from "../../attestation/policy.ts";
import {
  type Check,
  type EvidenceInput,
  type NamedFile,
  type Platform,
  verifyEvidence,
} from "../../attestation/verify.ts";

export interface AttestationCase {
  id: string;
  platform: Platform;
  check: Check;
  evidence: string;
  certs?: string[];
  collateral?: string[];
  roots?: string[];
  at: string;
  policy?: unknown;
  expect: "accept" | "reject";
  reason: string | null;
  fields?: Record<string, unknown>;
  mutations?: { offset: number; xor: number; reason: string }[];
  note?: string;
}

/** The cases of a folder (its `cases.json`) or of a cases file, and the folder paths resolve against. */
export function loadCases(path: string): { folder: string; cases: AttestationCase[] } {
  const isDir = Deno.statSync(path).isDirectory;
  const file = isDir ? `${path}/cases.json` : path;
  const folder = isDir ? path : path.replace(/\/[^/]*$/, "") || ".";
  const doc = readJson(file) as { schema?: string; cases?: AttestationCase[] };
  if (doc.schema !== "cloister-attestation-cases/v1" || !Array.isArray(doc.cases)) {
    throw new Error(`${file} is not a cloister-attestation-cases/v1 document`);
  }
  return { folder, cases: doc.cases };
}

const read = (folder: string, rel: string): NamedFile => ({
  name: rel,
  bytes: Deno.readFileSync(`${folder}/${rel}`),
});

/** The outcome of one run: accepted with fields, or the refusal's reason and message. */
type Outcome = { fields: Record<string, unknown> } | { reason: string; message: string };

async function run(
  c: AttestationCase,
  folder: string,
  evidence: Uint8Array,
): Promise<Outcome> {
  const input: EvidenceInput = {
    platform: c.platform,
    evidence,
    certs: (c.certs ?? []).map((p) => read(folder, p)),
    collateral: (c.collateral ?? []).map((p) => read(folder, p)),
  };
  try {
    const v = await verifyEvidence(input, parsePolicy(c.policy), {
      now: new Date(c.at),
      roots: (c.roots ?? []).map((p) => read(folder, p)),
      check: c.check,
    });
    return { fields: v.fields };
  } catch (e) {
    if (e instanceof AttestationError) return { reason: e.reason, message: e.message };
    throw e;
  }
}

function describe(o: Outcome): string {
  return "fields" in o ? "accept" : `reject/${o.reason} (${o.message})`;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return a === b;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length &&
    ka.every((k) =>
      sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
    );
}

/** Every disagreement of one case, as sentences (empty when it passes). */
export async function runCase(c: AttestationCase, folder: string): Promise<string[]> {
  const problems: string[] = [];
  const evidence = Deno.readFileSync(`${folder}/${c.evidence}`);
  const got = await run(c, folder, evidence.slice());
  if (c.expect === "accept") {
    if (!("fields" in got)) problems.push(`expected accept, got ${describe(got)}`);
    else {
      for (const [name, want] of Object.entries(c.fields ?? {})) {
        if (!sameValue(got.fields[name], want)) {
          problems.push(
            `field ${name}: expected ${JSON.stringify(want)}, got ${
              JSON.stringify(got.fields[name])
            }`,
          );
        }
      }
    }
  } else if ("fields" in got || got.reason !== c.reason) {
    problems.push(`expected reject/${c.reason}, got ${describe(got)}`);
  }
  for (const m of c.mutations ?? []) {
    const mutated = evidence.slice();
    if (m.offset >= mutated.length) {
      problems.push(`mutation @${m.offset} is past the end of the evidence`);
      continue;
    }
    mutated[m.offset] ^= m.xor;
    const out = await run(c, folder, mutated);
    if ("fields" in out || out.reason !== m.reason) {
      problems.push(
        `mutation @0x${m.offset.toString(16)} ^0x${
          m.xor.toString(16)
        }: expected reject/${m.reason}, got ${describe(out)}`,
      );
    }
  }
  return problems;
}

/** The conformance suite of one platform. */
export function attestationSuite(platform: Platform): Suite {
  return async function* (path: string): AsyncIterable<CaseResult> {
    const { folder, cases } = loadCases(path);
    for (const c of cases) {
      if (c.platform !== platform) continue;
      yield await checkAsync(c.id, async () => {
        try {
          const problems = await runCase(c, folder);
          return problems.length ? problems.join("; ") : undefined;
        } catch (e) {
          return `crashed: ${errorLine(e)}`;
        }
      });
    }
  };
}
