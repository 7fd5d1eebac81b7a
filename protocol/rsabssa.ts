/**
 * RSA blind signatures, RFC 9474 (RSABSSA), the four SHA-384 variants: PSS or PSSZERO (salt of
 * 48 or 0 bytes), Randomized (a 32-byte random message prefix, §4.1 Prepare) or Deterministic.
 * Privacy Pass type 0x0002 uses RSABSSA-SHA384-PSS-Deterministic (RFC 9578 §6).
 *
 * Flow: client `blind(pk, msg)` → server `blindSign(sk, blinded)` → client `finalize(pk, msg,
 * blindSig, inv)`, which verifies the signature; anyone `verify(pk, msg, sig)`.
 *
 * Arithmetic is BigInt (signing with CRT, then the §4.3 check that s^e = m so a fault cannot leak
 * the key); PSS verification is WebCrypto's RSA-PSS (async). EMSA-PSS-ENCODE follows RFC 8017
 * §9.1.1 with MGF1-SHA-384. Limits: BigInt exponentiation is not constant-time — signing timing
 * may leak information about d to a local observer; the issuer runs on its own machine.
 */
import { sha384 } from "@noble/hashes/sha2.js";
import { ProtocolError } from "./errors.ts";
import { concat, i2osp } from "./bytes.ts";
import { fromBase64Url, toBase64Url } from "./base64.ts";

/** A refused input, key or signature of RSA blind signing. */
export class BlindRsaError extends ProtocolError {}

export interface RsaPublicKey {
  n: bigint;
  e: bigint;
}

export interface RsaPrivateKey extends RsaPublicKey {
  d: bigint;
  p: bigint;
  q: bigint;
}

export interface Variant {
  name: string;
  saltLength: 0 | 48;
  randomized: boolean;
}

export const RSABSSA_SHA384_PSS_RANDOMIZED: Variant = {
  name: "RSABSSA-SHA384-PSS-Randomized",
  saltLength: 48,
  randomized: true,
};
export const RSABSSA_SHA384_PSSZERO_RANDOMIZED: Variant = {
  name: "RSABSSA-SHA384-PSSZERO-Randomized",
  saltLength: 0,
  randomized: true,
};
export const RSABSSA_SHA384_PSS_DETERMINISTIC: Variant = {
  name: "RSABSSA-SHA384-PSS-Deterministic",
  saltLength: 48,
  randomized: false,
};
export const RSABSSA_SHA384_PSSZERO_DETERMINISTIC: Variant = {
  name: "RSABSSA-SHA384-PSSZERO-Deterministic",
  saltLength: 0,
  randomized: false,
};

const H_LEN = 48;

export function os2ip(b: Uint8Array): bigint {
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return n;
}

export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  base %= mod;
  for (; exp > 0n; exp >>= 1n) {
    if (exp & 1n) result = (result * base) % mod;
    base = (base * base) % mod;
  }
  return result;
}

/** a^-1 mod m by the extended Euclidean algorithm; throws when gcd(a, m) ≠ 1. */
export function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new BlindRsaError("not-invertible", "value is not invertible modulo n");
  return ((oldS % m) + m) % m;
}

function bitLength(n: bigint): number {
  return n.toString(2).length;
}

/** Modulus length in bytes (k of RFC 8017). */
export function modulusBytes(pk: RsaPublicKey): number {
  return Math.ceil(bitLength(pk.n) / 8);
}

function mgf1(seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let counter = 0, at = 0; at < length; counter++, at += H_LEN) {
    const block = sha384(concat(seed, i2osp(counter, 4)));
    out.set(block.subarray(0, Math.min(H_LEN, length - at)), at);
  }
  return out;
}

/** RFC 8017 §9.1.1 EMSA-PSS-ENCODE(M, emBits) with SHA-384 and MGF1-SHA-384. */
export function emsaPssEncode(msg: Uint8Array, emBits: number, salt: Uint8Array): Uint8Array {
  const emLen = Math.ceil(emBits / 8);
  if (emLen < H_LEN + salt.length + 2) {
    throw new BlindRsaError("encoding-error", "modulus too small");
  }
  const mHash = sha384(msg);
  const h = sha384(concat(new Uint8Array(8), mHash, salt));
  const db = concat(new Uint8Array(emLen - salt.length - H_LEN - 2), Uint8Array.of(0x01), salt);
  const mask = mgf1(h, emLen - H_LEN - 1);
  for (let i = 0; i < db.length; i++) db[i] ^= mask[i];
  db[0] &= 0xff >> (8 * emLen - emBits);
  return concat(db, h, Uint8Array.of(0xbc));
}

/** RFC 9474 §4.1 Prepare: the message itself, or a random 32-byte prefix and the message. */
export function prepare(variant: Variant, msg: Uint8Array, prefix?: Uint8Array): Uint8Array {
  if (!variant.randomized) return msg;
  return concat(prefix ?? crypto.getRandomValues(new Uint8Array(32)), msg);
}

function randomBelow(n: bigint): bigint {
  const bytes = modulusBytes({ n, e: 0n }) + 16;
  return os2ip(crypto.getRandomValues(new Uint8Array(bytes))) % n;
}

/**
 * RFC 9474 §4.2 Blind(pk, msg): `msg` is the prepared message. `salt` and `inv` may be fixed for
 * known-answer tests; otherwise they are random. Returns the blinded message and inv, the
 * client's secret for `finalize`.
 */
export function blind(
  variant: Variant,
  pk: RsaPublicKey,
  msg: Uint8Array,
  fixed: { salt?: Uint8Array; inv?: Uint8Array } = {},
): { blindedMsg: Uint8Array; inv: Uint8Array } {
  const k = modulusBytes(pk);
  const salt = fixed.salt ?? crypto.getRandomValues(new Uint8Array(variant.saltLength));
  if (salt.length !== variant.saltLength) {
    throw new BlindRsaError("bad-salt", `${variant.name} needs a ${variant.saltLength}-byte salt`);
  }
  const m = os2ip(emsaPssEncode(msg, bitLength(pk.n) - 1, salt));
  // §4.2 step 4: m must be invertible mod n, else it would reveal a factor.
  modInverse(m, pk.n);
  let r: bigint;
  let inv: bigint;
  if (fixed.inv) {
    inv = os2ip(fixed.inv);
    r = modInverse(inv, pk.n);
  } else {
    do r = randomBelow(pk.n); while (r < 2n);
    inv = modInverse(r, pk.n);
  }
  const z = (m * modPow(r, pk.e, pk.n)) % pk.n;
  return { blindedMsg: i2osp(z, k), inv: i2osp(inv, k) };
}

/** RFC 9474 §4.3 BlindSign(sk, blinded_msg), with the RSAVP1 check of the result. */
export function blindSign(sk: RsaPrivateKey, blindedMsg: Uint8Array): Uint8Array {
  const k = modulusBytes(sk);
  if (blindedMsg.length !== k) {
    throw new BlindRsaError(
      "bad-message",
      `blinded message is ${blindedMsg.length} bytes, not ${k}`,
    );
  }
  const m = os2ip(blindedMsg);
  if (m >= sk.n) throw new BlindRsaError("bad-message", "blinded message is not below n");
  // RFC 9474 §7.1: the private-key operation runs on a client-chosen value, so it is blinded
  // (Kocher 1996, §10): BigInt arithmetic is not constant-time, and its timing must depend on
  // a random r, not on m.
  let r: bigint;
  do r = randomBelow(sk.n); while (r < 2n);
  const rInverse = modInverse(r, sk.n);
  const s = (rsasp1(sk, (m * modPow(r, sk.e, sk.n)) % sk.n) * rInverse) % sk.n;
  if (modPow(s, sk.e, sk.n) !== m) {
    throw new BlindRsaError("signing-failure", "signature check failed");
  }
  return i2osp(s, k);
}

/** RFC 8017 §5.2.1 RSASP1, m^d mod n with the Chinese remainder theorem (2.b). */
export function rsasp1(sk: RsaPrivateKey, m: bigint): bigint {
  const s1 = modPow(m, sk.d % (sk.p - 1n), sk.p);
  const s2 = modPow(m, sk.d % (sk.q - 1n), sk.q);
  // h = qInv · (s1 − s2) mod p, reduced into [0, p): s2 < q may exceed s1 + p when q > p, and
  // BigInt's % keeps the sign of a negative dividend.
  const h = (modInverse(sk.q, sk.p) * (((s1 - s2) % sk.p) + sk.p)) % sk.p;
  return s2 + sk.q * h;
}

/** RFC 9474 §4.4 Finalize: unblinds and verifies; throws when the signature is invalid. */
export async function finalize(
  variant: Variant,
  pk: RsaPublicKey,
  msg: Uint8Array,
  blindSig: Uint8Array,
  inv: Uint8Array,
): Promise<Uint8Array> {
  const k = modulusBytes(pk);
  if (blindSig.length !== k) {
    throw new BlindRsaError(
      "bad-signature",
      `blind signature is ${blindSig.length} bytes, not ${k}`,
    );
  }
  const sig = i2osp((os2ip(blindSig) * os2ip(inv)) % pk.n, k);
  if (!(await verify(variant, pk, msg, sig))) {
    throw new BlindRsaError("bad-signature", "the unblinded signature does not verify");
  }
  return sig;
}

/** RSASSA-PSS-VERIFY with SHA-384 (RFC 8017 §8.1.2), by WebCrypto. */
export async function verify(
  variant: Variant,
  pk: RsaPublicKey,
  msg: Uint8Array,
  sig: Uint8Array,
): Promise<boolean> {
  if (sig.length !== modulusBytes(pk)) return false;
  const key = await crypto.subtle.importKey(
    "jwk",
    {
      kty: "RSA",
      n: toBase64Url(i2osp(pk.n, modulusBytes(pk)), false),
      e: toBase64Url(i2osp(pk.e, Math.ceil(bitLength(pk.e) / 8)), false),
    },
    { name: "RSA-PSS", hash: "SHA-384" },
    false,
    ["verify"],
  );
  return await crypto.subtle.verify(
    { name: "RSA-PSS", saltLength: variant.saltLength },
    key,
    new Uint8Array(sig),
    new Uint8Array(msg),
  );
}

/** A fresh RSA key pair of `bits` (e = 65537), generated by WebCrypto. */
export async function generateRsaKey(bits = 2048): Promise<RsaPrivateKey> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSA-PSS",
      modulusLength: bits,
      publicExponent: Uint8Array.of(1, 0, 1),
      hash: "SHA-384",
    },
    true,
    ["sign", "verify"],
  ) as CryptoKeyPair;
  return privateKeyFromJwk(await crypto.subtle.exportKey("jwk", pair.privateKey));
}

/** Reads n, e, d, p, q of an RSA private JWK (RFC 7518 §6.3), checking that they agree. */
export function privateKeyFromJwk(jwk: JsonWebKey): RsaPrivateKey {
  const field = (name: "n" | "e" | "d" | "p" | "q") => {
    const v = jwk[name];
    if (typeof v !== "string") {
      throw new BlindRsaError("bad-key", `RSA private key lacks "${name}"`);
    }
    return os2ip(fromBase64Url(v));
  };
  const key = { n: field("n"), e: field("e"), d: field("d"), p: field("p"), q: field("q") };
  if (key.p * key.q !== key.n) throw new BlindRsaError("bad-key", "RSA key: p·q ≠ n");
  return key;
}

/** The JWK of an RSA private key (n, e, d, p, q; the CRT values derived). */
export function privateKeyToJwk(sk: RsaPrivateKey): JsonWebKey {
  const b = (x: bigint) => toBase64Url(i2osp(x, Math.ceil(bitLength(x) / 8)), false);
  return {
    kty: "RSA",
    n: b(sk.n),
    e: b(sk.e),
    d: b(sk.d),
    p: b(sk.p),
    q: b(sk.q),
    dp: b(sk.d % (sk.p - 1n)),
    dq: b(sk.d % (sk.q - 1n)),
    qi: b(modInverse(sk.q, sk.p)),
  };
}

/** Imports an RSA private key from PKCS#8 DER (rsaEncryption) through WebCrypto. */
export async function privateKeyFromPkcs8(der: Uint8Array): Promise<RsaPrivateKey> {
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey(
      "pkcs8",
      new Uint8Array(der),
      { name: "RSA-PSS", hash: "SHA-384" },
      true,
      ["sign"],
    );
  } catch (e) {
    throw new BlindRsaError("bad-key", `not an RSA PKCS#8 private key: ${(e as Error).message}`);
  }
  return privateKeyFromJwk(await crypto.subtle.exportKey("jwk", key));
}
