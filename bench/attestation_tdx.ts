/**
 * TDX quote verification with collateral, against @phala/dcap-qvl 0.3.9 on the same evidence in
 * the same process, interleaved (bench/harness.ts `compare`).
 *
 * Evidence: the dcap-qvl sample quote (v4, Emerald Rapids) and its collateral bundle from
 * `shared/vectors/attestation/tdx/dcap-qvl/`, at 2025-07-01 (inside every collateral window).
 * Both sides get the raw quote and the collateral and do the whole job: PCK chain to the Intel
 * SGX Root CA with both CRLs, QE report and quote signatures, TCB info and QE identity signatures
 * and chains, TCB status. Ours runs through `verifyEvidence` from the raw files (the entry point
 * of the client and runtime), default policy included; the peer gets its bundle already parsed.
 * - `cold`: with every cache empty (certificates, CRLs, verified signatures; `withColdCaches`,
 *   which puts the warm ones back afterwards), the root parsed again: what a verifier pays for a
 *   platform it has never seen. dcap-qvl keeps no caches, so this is the like-for-like
 *   comparison, and the one `tdx-vs-dcap-qvl` reports.
 * - `warm`: the platform's chain and collateral seen before; the quote signature, the QE binding
 *   and parsing are still done on every call.
 * Each is timed on the wall clock (`tdx-vs-dcap-qvl`, `tdx-warm-vs-dcap-qvl`) and on the process
 * CPU clock (the same names with `-cpu`: all threads' work, steadier on a shared machine; our
 * wall time also gains from running independent signature checks on WebCrypto's thread pool).
 * The peer is installed on first run into `.cache/bench/dcap-qvl-0.3.9/` (not a dependency).
 */
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { compare, type Ratio, ratio, type Result } from "./harness.ts";
import { verifyEvidence } from "../attestation/verify.ts";
import { parseCertificates, withColdCaches } from "../attestation/x509.ts";
import { defaultPolicy } from "../attestation/policy.ts";
import { vectorPath } from "../tests/vectors.ts";

const PEER = "@phala/dcap-qvl@0.3.9";
/** Wall time (the named ratios) and process CPU time (`-cpu`), which other load barely moves. */
const CLOCKS = [{ clock: "wall", suffix: "" }, { clock: "cpu", suffix: "-cpu" }] as const;
const PEER_DIR = fileURLToPath(new URL("../.cache/bench/dcap-qvl-0.3.9/", import.meta.url));

interface DcapQvl {
  QuoteVerifier: {
    newWithRootCa(root: Buffer): {
      verify(quote: Buffer, collateral: unknown, nowSecs: number): { status: string };
    };
  };
}

/** Loads the peer, installing it with npm into `.cache/` on first use. */
async function loadPeer(): Promise<DcapQvl> {
  const entry = `${PEER_DIR}node_modules/@phala/dcap-qvl/src/index.js`;
  try {
    Deno.statSync(entry);
  } catch {
    Deno.mkdirSync(PEER_DIR, { recursive: true });
    const args = ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund"];
    const out = await new Deno.Command("npm", { args: [...args, "--prefix", PEER_DIR, PEER] })
      .output();
    if (!out.success) {
      throw new Error(`npm install ${PEER} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
    }
  }
  return createRequire(import.meta.url)(entry) as DcapQvl;
}

/** Runs the comparison; `bench/attestation.ts` includes these results and ratios. */
export async function benchTdx(): Promise<{ results: Result[]; ratios: Ratio[] }> {
  const read = (f: string) => Deno.readFileSync(vectorPath(`attestation/tdx/${f}`));
  const quote = read("dcap-qvl/tdx_quote");
  const bundle = read("dcap-qvl/tdx_quote_collateral.json");
  const rootPem = read("tinfoil-verifier/sgx_root_ca.pem");
  const now = new Date("2025-07-01T00:00:00Z");
  const policy = defaultPolicy();

  // The entry point the client and runtime use, from raw files: quote, collateral, root.
  const input = {
    platform: "tdx" as const,
    evidence: quote,
    collateral: [{ name: "tdx_quote_collateral.json", bytes: bundle }],
  };
  const roots = [{ name: "sgx_root_ca.pem", bytes: rootPem }];
  const ours = async () => (await verifyEvidence(input, policy, { now, roots })).fields.tcb_status;
  // Empty caches for the cold run only: the warm one keeps what earlier warm runs cached.
  const coldRun = () => withColdCaches(ours);

  const qvl = await loadPeer();
  const [rootDer] = parseCertificates(rootPem).map((c) => Buffer.from(c.der));
  const peerCollateral = JSON.parse(new TextDecoder().decode(bundle));
  const peerQuote = Buffer.from(quote);
  const nowSecs = now.getTime() / 1000;
  const peer = () =>
    qvl.QuoteVerifier.newWithRootCa(rootDer).verify(peerQuote, peerCollateral, nowSecs);

  // Both must reach the same verdict before their speed means anything.
  const mine = await coldRun();
  const theirs = peer().status;
  if (mine !== "UpToDate" || theirs !== "UpToDate") {
    throw new Error(
      `verdicts differ from the expected UpToDate: cloister ${mine}, dcap-qvl ${theirs}`,
    );
  }

  const results: Result[] = [];
  const ratios: Ratio[] = [];
  for (const { clock, suffix } of CLOCKS) {
    const [cold, warm, dcap] = await compare([
      { name: `tdx verify, cold (cloister)${suffix}`, fn: coldRun },
      { name: `tdx verify, warm (cloister)${suffix}`, fn: ours },
      { name: `tdx verify (@phala/dcap-qvl 0.3.9)${suffix}`, fn: peer },
    ], { rounds: 30, warmup: 5, clock });
    results.push(cold, warm, dcap);
    ratios.push(
      ratio(`tdx-vs-dcap-qvl${suffix}`, dcap, cold),
      ratio(`tdx-warm-vs-dcap-qvl${suffix}`, dcap, warm),
    );
  }
  return { results, ratios };
}
