/**
 * Conformance suite "oprf": RFC 9497 Appendix A vectors for every suite @noble/curves implements
 * (ristretto255-SHA512, decaf448-SHAKE256, P256-SHA256, P384-SHA384, P521-SHA512) in the three
 * modes. Per vector: DeriveKeyPair (skSm, pkSm), Blind with the vector's blind, BlindEvaluate
 * (with the vector's proof randomness r in VOPRF/POPRF), Finalize with proof verification, and
 * the non-interactive Evaluate. P384-SHA384 VOPRF is the primitive of Privacy Pass type 0x0001;
 * its Evaluate runs through protocol/privacypass/voprf.ts's own RFC 9497 §3.3.2 code.
 */
import type { RNG } from "@noble/curves/abstract/oprf.js";
import { getMinHashLength } from "@noble/curves/abstract/modular.js";
import { ristretto255, ristretto255_oprf } from "@noble/curves/ed25519.js";
import { decaf448, decaf448_oprf } from "@noble/curves/ed448.js";
import { p256, p256_oprf, p384, p384_oprf, p521, p521_oprf } from "@noble/curves/nist.js";
import { type CaseResult, check, readJson, type Suite, vectorFiles } from "./harness.ts";
import { fromHex, toHex } from "../../protocol/bytes.ts";
import { evaluateOutput } from "../../protocol/privacypass/voprf.ts";

interface ScalarField {
  ORDER: bigint;
  isLE: boolean;
}

const SUITES = {
  "ristretto255-SHA512": { oprf: ristretto255_oprf, Fn: ristretto255.Point.Fn },
  "decaf448-SHAKE256": { oprf: decaf448_oprf, Fn: decaf448.Point.Fn },
  "P256-SHA256": { oprf: p256_oprf, Fn: p256.Point.Fn },
  "P384-SHA384": { oprf: p384_oprf, Fn: p384.Point.Fn },
  "P521-SHA512": { oprf: p521_oprf, Fn: p521.Point.Fn },
} as const;

function toNumber(b: Uint8Array, le: boolean): bigint {
  const hex = toHex(le ? b.slice().reverse() : b);
  return hex === "" ? 0n : BigInt(`0x${hex}`);
}

function fromNumber(n: bigint, length: number, le: boolean): Uint8Array<ArrayBuffer> {
  const be = new Uint8Array(fromHex(n.toString(16).padStart(length * 2, "0")));
  return le ? be.reverse() : be;
}

/**
 * An RNG that makes RFC 9497 RandomScalar return the given scalars in turn: noble maps its random
 * bytes to `x mod (n − 1) + 1`, so it is fed `scalar − 1`.
 */
export function scalarRng(Fn: ScalarField, scalars: Uint8Array[]): RNG {
  const queue = scalars.slice();
  return (n?: number) => {
    const s = queue.shift();
    if (!s) throw new Error("the vector has no more fixed scalars");
    const length = n ?? getMinHashLength(Fn.ORDER);
    return fromNumber(toNumber(s, Fn.isLE) - 1n, length, Fn.isLE);
  };
}

type Vector = Record<string, unknown> & { Proof?: { proof: string; r: string } };
type SuiteVectors = {
  identifier: keyof typeof SUITES;
  mode: number;
  seed: string;
  keyInfo: string;
  skSm: string;
  pkSm?: string;
  vectors: Vector[];
};

const list = (v: unknown) => String(v).split(",").map(fromHex);
const same = (a: Uint8Array[], b: Uint8Array[]) => a.map(toHex).join() === b.map(toHex).join();

function runVector(s: SuiteVectors, v: Vector): string | undefined {
  const suite = SUITES[s.identifier];
  if (!suite) return `suite ${s.identifier} is not implemented`;
  const { Fn } = suite;
  const mode =
    [suite.oprf.oprf, suite.oprf.voprf, suite.oprf.poprf(fromHex(String(v.Info ?? "")))][s.mode];
  const keys = mode.deriveKeyPair(fromHex(s.seed), fromHex(s.keyInfo));
  if (toHex(keys.secretKey) !== s.skSm) return "DeriveKeyPair: skSm differs";
  if (s.pkSm && toHex(keys.publicKey) !== s.pkSm) return "DeriveKeyPair: pkSm differs";
  const inputs = list(v.Input);
  const rng = scalarRng(Fn, list(v.Blind));
  const blinds = inputs.map((input) =>
    s.mode === 2
      ? suite.oprf.poprf(fromHex(String(v.Info))).blind(input, keys.publicKey, rng)
      : (mode as typeof suite.oprf.voprf).blind(input, rng)
  );
  const blinded = blinds.map((b) => b.blinded);
  if (!same(blinded, list(v.BlindedElement))) return "Blind: BlindedElement differs";
  let evaluated: Uint8Array[];
  if (s.mode === 0) {
    evaluated = blinded.map((b) => suite.oprf.oprf.blindEvaluate(keys.secretKey, b));
  } else {
    const r = scalarRng(Fn, [fromHex(v.Proof!.r)]);
    const out = s.mode === 1
      ? suite.oprf.voprf.blindEvaluateBatch(keys.secretKey, keys.publicKey, blinded, r)
      : suite.oprf.poprf(fromHex(String(v.Info))).blindEvaluateBatch(keys.secretKey, blinded, r);
    if (toHex(out.proof) !== v.Proof!.proof) return "BlindEvaluate: proof differs";
    evaluated = out.evaluated;
  }
  if (!same(evaluated, list(v.EvaluationElement))) {
    return "BlindEvaluate: EvaluationElement differs";
  }
  const items = inputs.map((input, i) => ({
    input,
    blind: blinds[i].blind,
    evaluated: evaluated[i],
    blinded: blinded[i],
  }));
  const proof = v.Proof ? fromHex(v.Proof.proof) : undefined;
  const outputs = s.mode === 0
    ? items.map((i) => suite.oprf.oprf.finalize(i.input, i.blind, i.evaluated))
    : s.mode === 1
    ? suite.oprf.voprf.finalizeBatch(items, keys.publicKey, proof!)
    : suite.oprf.poprf(fromHex(String(v.Info))).finalizeBatch(
      items,
      proof!,
      (blinds[0] as unknown as { tweakedKey: Uint8Array }).tweakedKey,
    );
  if (!same(outputs, list(v.Output))) return "Finalize: Output differs";
  // Non-interactive Evaluate: Privacy Pass's own code for P-384 VOPRF, noble's elsewhere.
  const direct = inputs.map((input) =>
    s.identifier === "P384-SHA384" && s.mode === 1
      ? evaluateOutput(keys.secretKey, input)
      : s.mode === 2
      ? suite.oprf.poprf(fromHex(String(v.Info))).evaluate(keys.secretKey, input)
      : (mode as unknown as { evaluate(k: Uint8Array, i: Uint8Array): Uint8Array }).evaluate(
        keys.secretKey,
        input,
      )
  );
  if (!same(direct, list(v.Output))) return "Evaluate: Output differs";
}

const modes = ["OPRF", "VOPRF", "POPRF"];

const suite: Suite = function* (path): Iterable<CaseResult> {
  for (const file of vectorFiles(path)) {
    const suites = readJson(file) as SuiteVectors[];
    for (const s of suites) {
      for (const [i, v] of s.vectors.entries()) {
        yield check(
          `${s.identifier}/${modes[s.mode]} vector ${i + 1} (batch ${v.Batch})`,
          () => runVector(s, v),
        );
      }
    }
  }
};

export default suite;
