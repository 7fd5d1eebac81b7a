/**
 * `deno task bench attestation`: SEV-SNP verification through the entry points the client and
 * runtime use, against OpenSSL's cost for the same signatures and against @tinfoilsh/verifier
 * 1.1.0 on the same evidence; then the TDX comparison of `attestation_tdx.ts`.
 *
 * What is timed (all in one process, interleaved round by round so machine drift hits every
 * side alike; wall clock for the named ratios, process CPU clock for the `-cpu` ones):
 * - `snp bundle … cold`: `verifyBundle` of an evidence bundle from the emulated secure processor
 *   (Genoa product, RSA-4096 ARK/ASK with RSASSA-PSS SHA-384 and a P-384 VCEK: AMD's algorithms
 *   and key sizes) with empty caches (`withColdCaches`, which restores the warm ones afterwards) —
 *   certificates parsed again, both chain signatures and the report signature verified, the VCEK
 *   key imported again. Only P-384's generator table survives: a constant of the curve, built
 *   once per process.
 * - `… warm`: the same bundle again: a chip seen before, whose chain signatures are remembered and
 *   whose VCEK has a fixed-base table; parsing, the report signature, key match, policy and the
 *   key binding are still done on every call.
 * - `snp report …`: `verifyEvidence` of the real Azure Genoa v3 report with AMD's chain
 *   (`trustee/azure-genoa-v3`), cold and warm, and @tinfoilsh/verifier on exactly those bytes:
 *   report parse, certificate parse, chain + signature (`verifyAttestation`) and `validateReport`
 *   with debug forbidden — the peer keeps no caches, so `snp-vs-tinfoil` compares it with our
 *   cold path.
 * - OpenSSL: `openssl speed` (ECDSA P-384 and RSA-4096 verify) runs OpenSSL's own loop for a
 *   second per algorithm, so process start-up is not in the figure; it reports CPU time
 *   (the `-cpu` baseline) and, with `-elapsed`, wall time. Its keys are its own, but a verify
 *   costs the same for any key of the curve or size (RSA: one 4096-bit modexp with e = 65537;
 *   PSS adds a hash and MGF1, negligible). That the same signatures do verify under OpenSSL is
 *   checked first (`openssl dgst -verify` on the report signature, `openssl verify` on the
 *   chain). Baselines: warm = one P-384 verify; cold = P-384 + 2 RSA-4096 (ASK→VCEK, ARK→ASK;
 *   the trusted ARK is matched by bytes, its self-signature is not checked, as `openssl verify`
 *   does not either). For reference, `openssl verify` on the real chain is also timed by
 *   difference (one process verifying N copies of the VCEK minus one verifying one), which adds
 *   OpenSSL's X.509 parsing and path building to the two RSA verifies.
 * Ratios: `snp-warm-vs-openssl`, `snp-cold-vs-openssl` (OpenSSL's time / ours, bundle),
 * `snp-vs-tinfoil` (peer / ours cold, same report), `snp-warm-vs-tinfoil`; `-cpu` variants.
 * The peer is installed on first run into `.cache/bench/tinfoil-verifier-1.1.0/` with the npm
 * override its dependency tree needs here (never into package.json).
 */
import { fileURLToPath } from "node:url";
import { compare, type Ratio, ratio, type Result, summarize } from "./harness.ts";
import { benchTdx } from "./attestation_tdx.ts";
import { EmulatedSecureProcessor } from "../attestation/emulated.ts";
import { defaultPolicy } from "../attestation/policy.ts";
import { type EvidenceInput, verifyBundle, verifyEvidence } from "../attestation/verify.ts";
import { iso, parseCertificates, withColdCaches } from "../attestation/x509.ts";
import { parseReport } from "../attestation/snp/abi.ts";
import { reportData } from "../protocol/evidence.ts";
import { EmulatedProvider } from "../attestation/providers/emulated.ts";
import { evidenceBundle } from "../attestation/providers/provider.ts";
import { vectorPath } from "../tests/vectors.ts";

const ROUNDS = 6;
const CACHE = fileURLToPath(new URL("../.cache/bench/", import.meta.url));
const PEER_DIR = `${CACHE}tinfoil-verifier-1.1.0/`;
const snp = (f: string) => Deno.readFileSync(vectorPath(`attestation/snp/${f}`));

// ---- @tinfoilsh/verifier ----------------------------------------------------------------------

interface Tinfoil {
  Report: new (bytes: Uint8Array) => { policyParsed: Record<string, unknown> };
  CertificateChain: new (ark: unknown, ask: unknown, vcek: unknown) => unknown;
  verifyAttestation(chain: unknown, report: unknown): Promise<unknown>;
  validateReport(report: unknown, chain: unknown, options: unknown): void;
  X509Certificate: { parse(der: Uint8Array): unknown };
}

/** Loads the peer's lowest layer (the only one that takes an injected chain), installing it once. */
async function loadTinfoil(): Promise<Tinfoil> {
  const dist = `${PEER_DIR}node_modules/@tinfoilsh/verifier/dist/sev/`;
  try {
    Deno.statSync(`${dist}verify.js`);
  } catch {
    Deno.mkdirSync(PEER_DIR, { recursive: true });
    // sigstore-browser 0.1.14 needs a tuf-browser that this registry lacks (shared/specs/peers.md).
    Deno.writeTextFileSync(
      `${PEER_DIR}package.json`,
      JSON.stringify({
        private: true,
        dependencies: { "@tinfoilsh/verifier": "1.1.0" },
        overrides: { "@freedomofpress/sigstore-browser": "0.1.11" },
      }),
    );
    const out = await new Deno.Command("npm", {
      args: ["install", "--no-audit", "--no-fund", "--prefix", PEER_DIR],
    }).output();
    if (!out.success) {
      throw new Error(
        `npm install @tinfoilsh/verifier failed: ${new TextDecoder().decode(out.stderr).trim()}`,
      );
    }
  }
  const load = (f: string) => import(`file://${dist}${f}`);
  const sigstore = `file://${PEER_DIR}node_modules/@freedomofpress/sigstore-browser/dist/index.js`;
  return {
    ...(await load("report.js")),
    ...(await load("cert-chain.js")),
    ...(await load("verify.js")),
    ...(await load("validation.js")),
    X509Certificate: (await import(sigstore)).X509Certificate,
  };
}

// ---- OpenSSL ------------------------------------------------------------------------------------

async function openssl(args: string[], what: string): Promise<string> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`openssl ${what} failed: ${text.trim().split("\n")[0]}`);
  return text;
}

/** Per-operation verify times (ms) from `openssl speed -mr`: CPU time, or wall with `-elapsed`. */
async function opensslSpeed(clock: "cpu" | "wall"): Promise<{ p384: number; rsa4096: number }> {
  const text = await openssl(
    [
      "speed",
      "-seconds",
      "1",
      "-mr",
      ...(clock === "wall" ? ["-elapsed"] : []),
      "ecdsap384",
      "rsa4096",
    ],
    "speed",
  );
  const perOp = (re: RegExp) => {
    const m = text.match(re);
    if (!m) throw new Error(`openssl speed printed no ${re} line`);
    return 1000 / Number(m[1]);
  };
  // `+F4:<n>:384:<sign/s>:<verify/s>` (ECDSA) and `+F2:<n>:4096:<sign/s>:<verify/s>` (RSA).
  return {
    p384: perOp(/^\+F4:\d+:384:[\d.]+:([\d.]+)$/m),
    rsa4096: perOp(/^\+F2:\d+:4096:[\d.]+:([\d.]+)$/m),
  };
}

function pem(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${
    der.toBase64().replace(/(.{64})/g, "$1\n")
  }\n-----END CERTIFICATE-----\n`;
}

/** ECDSA-Sig-Value DER of the report's little-endian r and s. */
function signatureDer(report: Uint8Array): Uint8Array {
  const int = (le: Uint8Array) => {
    const be = Array.from(le.subarray(0, 48)).reverse();
    while (be.length > 1 && be[0] === 0 && !(be[1] & 0x80)) be.shift();
    return be[0] & 0x80 ? [0x02, be.length + 1, 0, ...be] : [0x02, be.length, ...be];
  };
  const body = [...int(report.subarray(0x2a0, 0x2e8)), ...int(report.subarray(0x2e8, 0x330))];
  return new Uint8Array([0x30, body.length, ...body]);
}

/**
 * Checks that OpenSSL verifies the very signatures we time (the report's, the chain's), and
 * returns a function timing `openssl verify` on the chain by difference (ms per chain).
 */
async function opensslSameSignatures(
  report: Uint8Array,
  vcekDer: Uint8Array,
  askDer: Uint8Array,
  arkDer: Uint8Array,
  at: Date,
): Promise<() => Promise<number>> {
  const dir = await Deno.makeTempDir({ prefix: "cloister-bench-openssl-" });
  const f = (name: string) => `${dir}/${name}`;
  await Deno.writeTextFile(f("vcek.pem"), pem(vcekDer));
  await Deno.writeTextFile(f("ask.pem"), pem(askDer));
  await Deno.writeTextFile(f("ark.pem"), pem(arkDer));
  await Deno.writeFile(f("signed.bin"), report.subarray(0, 0x2a0));
  await Deno.writeFile(f("sig.der"), signatureDer(report));
  await Deno.writeTextFile(
    f("vcek.pub"),
    await openssl(["x509", "-in", f("vcek.pem"), "-pubkey", "-noout"], "x509"),
  );
  const ok = await openssl(
    ["dgst", "-sha384", "-verify", f("vcek.pub"), "-signature", f("sig.der"), f("signed.bin")],
    "dgst -verify (report signature)",
  );
  if (!ok.includes("Verified OK")) {
    throw new Error(`openssl does not verify the report signature: ${ok}`);
  }
  const attime = String(Math.floor(at.getTime() / 1000));
  const chain = (
    n: number,
  ) => [
    "verify",
    "-attime",
    attime,
    "-CAfile",
    f("ark.pem"),
    "-untrusted",
    f("ask.pem"),
    ...Array(n).fill(f("vcek.pem")),
  ];
  if (!(await openssl(chain(1), "verify (chain)")).includes(": OK")) {
    throw new Error("openssl does not verify the chain");
  }
  const N = 300;
  return async () => {
    const t0 = performance.now();
    await openssl(chain(1), "verify");
    const t1 = performance.now();
    await openssl(chain(N), "verify");
    const t2 = performance.now();
    return Math.max(0, (t2 - t1) - (t1 - t0)) / (N - 1);
  };
}

// ---- the suite ----------------------------------------------------------------------------------

export default async function attestation(): Promise<{ results: Result[]; ratios: Ratio[] }> {
  const policy = defaultPolicy();

  // A bundle from the emulated secure processor (its state persists in .cache/bench/).
  const sp = await EmulatedSecureProcessor.open(`${CACHE}emulated-sp-genoa`, { product: "Genoa" });
  sp.launch({ measurement: new Uint8Array(48).fill(0x42) });
  const start = Math.floor(Date.now() / 1000);
  const claims = {
    keyConfig: new Uint8Array([1, 0, 32, ...new Uint8Array(32).fill(9), 0, 4, 0, 1, 0, 1]),
    epochStart: start,
    epochEnd: start + 3600,
  };
  const bundle = evidenceBundle(
    await new EmulatedProvider(sp).getEvidence(reportData(claims)),
    claims,
  );
  const spRoot = sp.root.der;
  const bundleOnce = () => verifyBundle(bundle, policy, { now: new Date(), roots: [spRoot] });

  // The real Azure Genoa v3 report with AMD's chain, for us, OpenSSL and tinfoil alike.
  const report = snp("trustee/azure-genoa-v3.snp.bin");
  const vcek = snp("trustee/azure-genoa-v3.vcek.der");
  const chainPem = snp("go-sev-guest/ask_ark_genoa.pem");
  const [ask, ark] = parseCertificates(chainPem).map((c) => c.der);
  const at = new Date("2025-10-01T08:00:00Z");
  const input: EvidenceInput = { platform: "sev-snp", evidence: report, certs: [vcek, chainPem] };
  const reportOnce = () => verifyEvidence(input, policy, { now: at, roots: [ark] });
  const cold = <T>(fn: () => Promise<T>) => () => withColdCaches(fn);

  const tinfoil = await loadTinfoil();
  const peer = async () => {
    const r = new tinfoil.Report(report);
    const chain = new tinfoil.CertificateChain(
      tinfoil.X509Certificate.parse(ark),
      tinfoil.X509Certificate.parse(ask),
      tinfoil.X509Certificate.parse(vcek),
    );
    await tinfoil.verifyAttestation(chain, r);
    tinfoil.validateReport(r, chain, { guestPolicy: { ...r.policyParsed, debug: false } });
  };

  // Every side must accept before its speed means anything.
  const mine = await reportOnce();
  await bundleOnce();
  await peer();
  if (mine.fields.product !== "Genoa" || parseReport(report).version !== 3) {
    throw new Error("unexpected evidence");
  }
  const chainByDifference = await opensslSameSignatures(report, vcek, ask, ark, at);

  const cases = [
    { name: "snp bundle verify, cold (cloister)", fn: cold(bundleOnce) },
    { name: "snp bundle verify, warm (cloister)", fn: bundleOnce },
    { name: "snp report verify, cold (cloister; azure-genoa-v3)", fn: cold(reportOnce) },
    { name: "snp report verify, warm (cloister; azure-genoa-v3)", fn: reportOnce },
    { name: "snp report verify (@tinfoilsh/verifier 1.1.0; azure-genoa-v3)", fn: peer },
  ];
  const clocks = ["wall", "cpu"] as const;
  const ours: Record<string, number[]> = {};
  const base: Record<string, number[]> = {};
  const push = (into: Record<string, number[]>, key: string, v: number) =>
    (into[key] ??= []).push(v);
  for (let round = 0; round < ROUNDS; round++) {
    for (const clock of clocks) {
      const order = cases.map((_, k) => cases[(k + round) % cases.length]);
      const results = await compare(order, {
        rounds: 1,
        warmup: round === 0 ? 3 : 0,
        minSampleMs: 20,
        clock,
      });
      results.forEach((r) => push(ours, `${r.name}|${clock}`, r.median));
      const speed = await opensslSpeed(clock);
      push(base, `p384|${clock}`, speed.p384);
      push(base, `rsa|${clock}`, speed.rsa4096);
      push(base, `floor|${clock}`, speed.p384 + 2 * speed.rsa4096);
    }
    push(base, "cli", await chainByDifference());
  }

  const results: Result[] = [];
  const ratios: Ratio[] = [];
  for (const clock of clocks) {
    const suffix = clock === "cpu" ? "-cpu" : "";
    const unit = clock === "cpu" ? "ms cpu" : "ms";
    const get = (name: string) => summarize(`${name}${suffix}`, ours[`${name}|${clock}`], unit);
    const [bCold, bWarm, rCold, rWarm, tf] = cases.map((c) => get(c.name));
    const what = clock === "cpu" ? "speed, CPU time" : "speed -elapsed";
    const p384 = summarize(
      `openssl ECDSA P-384 verify (${what})${suffix}`,
      base[`p384|${clock}`],
      unit,
    );
    const rsa = summarize(`openssl RSA-4096 verify (${what})${suffix}`, base[`rsa|${clock}`], unit);
    const floor = summarize(
      `openssl P-384 + 2 x RSA-4096 verify (${what})${suffix}`,
      base[`floor|${clock}`],
      unit,
    );
    results.push(bCold, bWarm, rCold, rWarm, tf, p384, rsa, floor);
    ratios.push(
      ratio(`snp-warm-vs-openssl${suffix}`, p384, bWarm),
      ratio(`snp-cold-vs-openssl${suffix}`, floor, bCold),
      ratio(`snp-vs-tinfoil${suffix}`, tf, rCold),
      ratio(`snp-warm-vs-tinfoil${suffix}`, tf, rWarm),
    );
  }
  results.push(
    summarize(
      `openssl verify CLI, VCEK→ASK→ARK incl. X.509 parsing (by difference, at ${iso(at)})`,
      base.cli,
    ),
  );

  const tdx = await benchTdx();
  return { results: [...results, ...tdx.results], ratios: [...ratios, ...tdx.ratios] };
}
