/**
 * Project Wycheproof (testvectors_v1) on the primitives HPKE composes, run through Cloister's own
 * HPKE code: XdhComp (X25519, X448) through the DHKEM's DH, AeadTest (AES-GCM,
 * ChaCha20-Poly1305) through the HPKE AEADs, HkdfTest (HKDF-SHA256/384/512) through the HPKE
 * KDFs. `path` is a Wycheproof file or a folder whose manifest.json lists them.
 *
 * Results are honoured as Wycheproof defines them: "valid" must compute the stated output,
 * "invalid" must be refused, "acceptable" may do either, except that RFC 9180 §7.1.4 turns an
 * acceptable all-zero X25519/X448 shared secret into a required refusal. AEAD parameter sets
 * that RFC 9180 §7.3 never uses (AES-192, nonces other than 96 bits) must be refused by the HPKE
 * AEAD; a "valid" one is then also computed on the underlying @noble/ciphers AES-GCM where that
 * accepts the parameters, so every such vector still checks real output.
 *
 * Test groups of other types (ECDSA, RSA-PSS: signature schemes, not HPKE primitives) fail with
 * a message saying so; a handler for them belongs with the code that verifies those signatures.
 */
import { gcm } from "@noble/ciphers/aes.js";
import { equalBytes, fromHex, isZero, toHex } from "../../protocol/bytes.ts";
import {
  type Aead,
  AES_128_GCM,
  AES_256_GCM,
  CHACHA20_POLY1305,
  DHKEM_X25519_HKDF_SHA256,
  DHKEM_X448_HKDF_SHA512,
  HKDF_SHA256,
  HKDF_SHA384,
  HKDF_SHA512,
  HpkeError,
  type Kdf,
  type Kem,
} from "../../protocol/hpke.ts";
import { type CaseResult, check, readJson, type Suite, vectorFiles } from "./harness.ts";

type Test = Record<string, string> & { tcId: number; flags: string[]; result: string };
interface Group {
  type: string;
  curve?: string;
  keySize?: number;
  ivSize?: number;
  tagSize?: number;
  tests: Test[];
}
interface File {
  algorithm: string;
  testGroups: Group[];
}

/** Runs `attempt`; `undefined` when it threw an error of the expected kind (a refusal). */
function refused<T>(attempt: () => T, isRefusal: (e: unknown) => boolean): T | undefined {
  try {
    return attempt();
  } catch (e) {
    if (isRefusal(e)) return undefined;
    throw e;
  }
}

const hpkeRefusal = (...codes: string[]) => (e: unknown) =>
  e instanceof HpkeError && codes.includes(e.code);

/** Checks one test of a group; returns the problem, or nothing when it passed. */
type Handler = (file: File, group: Group, test: Test) => string | undefined;

const XDH_KEMS: Record<string, Kem> = {
  curve25519: DHKEM_X25519_HKDF_SHA256,
  curve448: DHKEM_X448_HKDF_SHA512,
};

const xdh: Handler = (_file, group, t) => {
  const kem = XDH_KEMS[group.curve ?? ""];
  if (!kem) return `curve ${group.curve} is not an HPKE DHKEM curve`;
  const want = fromHex(t.shared);
  const got = refused(
    () => kem.dh(fromHex(t.private), fromHex(t.public)),
    hpkeRefusal("invalid-public-key", "invalid-private-key"),
  );
  if (got === undefined) {
    return t.result === "valid" ? "valid exchange refused" : undefined;
  }
  if (t.result === "invalid") return `invalid exchange accepted (shared ${toHex(got)})`;
  if (isZero(want)) return "all-zero shared secret accepted (RFC 9180 §7.1.4 requires refusal)";
  return equalBytes(got, want) ? undefined : `shared ${toHex(got)} != ${t.shared}`;
};

function aeadFor(algorithm: string, keyBytes: number): Aead | undefined {
  if (algorithm === "CHACHA20-POLY1305") return CHACHA20_POLY1305;
  if (algorithm !== "AES-GCM") return undefined;
  return keyBytes === 32 ? AES_256_GCM : AES_128_GCM;
}

const aead: Handler = (file, group, t) => {
  const [key, iv, aad, msg] = [t.key, t.iv, t.aad, t.msg].map(fromHex);
  const sealed = fromHex(t.ct + t.tag);
  const hpke = aeadFor(file.algorithm, key.length);
  if (!hpke) return `${file.algorithm} is not an HPKE AEAD`;
  const inHpke = key.length === hpke.Nk && iv.length === hpke.Nn && group.tagSize === 128;
  if (!inHpke) {
    // Not a parameter set of RFC 9180 §7.3: the HPKE AEAD must refuse it...
    const outcome = refused(() => hpke.open(key, iv, aad, sealed), hpkeRefusal("invalid-length"));
    if (outcome !== undefined) {
      return `${hpke.name} accepted a ${key.length}-byte key, ${iv.length}-byte nonce`;
    }
    // ...and a valid AES-GCM vector still checks noble's AES-GCM underneath, where it applies.
    if (t.result !== "valid" || file.algorithm !== "AES-GCM" || iv.length < 8) return;
    const ct = gcm(key, iv, aad).encrypt(msg);
    return equalBytes(ct, sealed) ? undefined : `noble AES-GCM ct ${toHex(ct)} != ${t.ct}${t.tag}`;
  }
  const opened = refused(() => hpke.open(key, iv, aad, sealed), hpkeRefusal("open-failed"));
  if (t.result === "invalid") {
    return opened === undefined ? undefined : `invalid ciphertext opened to ${toHex(opened)}`;
  }
  if (opened === undefined) return t.result === "valid" ? "valid ciphertext refused" : undefined;
  const ct = hpke.seal(key, iv, aad, msg);
  return equalBytes(opened, msg)
    ? (equalBytes(ct, sealed) ? undefined : `Seal gave ${toHex(ct)}, expected ${t.ct}${t.tag}`)
    : `Open gave ${toHex(opened)}, expected ${t.msg}`;
};

const KDFS: Record<string, Kdf> = {
  "HKDF-SHA-256": HKDF_SHA256,
  "HKDF-SHA-384": HKDF_SHA384,
  "HKDF-SHA-512": HKDF_SHA512,
};

const hkdf: Handler = (file, _group, t) => {
  const kdf = KDFS[file.algorithm];
  if (!kdf) return `${file.algorithm} is not an HPKE KDF`;
  const size = Number(t.size);
  const okm = refused(() => {
    const prk = kdf.extract(fromHex(t.salt), fromHex(t.ikm));
    return kdf.expand(prk, fromHex(t.info), size);
  }, hpkeRefusal("invalid-length"));
  if (okm === undefined) return t.result === "valid" ? `valid size ${size} refused` : undefined;
  if (t.result === "invalid") return `invalid size ${size} accepted`;
  return equalBytes(okm, fromHex(t.okm)) ? undefined : `okm ${toHex(okm)} != ${t.okm}`;
};

const HANDLERS: Record<string, Handler> = { XdhComp: xdh, AeadTest: aead, HkdfTest: hkdf };

function* runFile(path: string): Generator<CaseResult> {
  const file = readJson(path) as File;
  if (!Array.isArray(file?.testGroups)) throw new Error(`${path}: not a Wycheproof vectors file`);
  const base = path.split("/").pop();
  const notRun = new Map<string, number>();
  for (const group of file.testGroups) {
    const handler = HANDLERS[group.type];
    if (!handler) {
      notRun.set(group.type, (notRun.get(group.type) ?? 0) + group.tests.length);
      continue;
    }
    for (const t of group.tests) {
      const flags = t.flags.length ? ` [${t.flags.join(", ")}]` : "";
      yield check(`${base} tcId ${t.tcId} (${t.result}${flags})`, () => handler(file, group, t));
    }
  }
  if (notRun.size > 0) {
    const groups = [...notRun].map(([type, n]) => `${type} (${n} tests)`).join(", ");
    yield {
      name: base!,
      ok: false,
      detail: `${file.algorithm} ${groups}: not an HPKE primitive, not run (this suite runs ` +
        `${Object.keys(HANDLERS).join(", ")})`,
    };
  }
}

const suite: Suite = function* (path) {
  for (const file of vectorFiles(path)) yield* runFile(file);
};

export default suite;
