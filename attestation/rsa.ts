/**
 * RSA signature verification (RFC 8017): RSASSA-PSS (§8.1.2, EMSA-PSS-VERIFY §9.1.2, MGF1
 * Appendix B.2.1) and RSASSA-PKCS1-v1_5 (§8.2.2, EMSA-PKCS1-v1_5 §9.2), for the certificate
 * chains of attestation (AMD signs ASK, ASVK, VCEK, VLEK and its CRLs with RSASSA-PSS SHA-384).
 *
 * Why not WebCrypto: Deno's RSA verification costs about 1 ms for a 4096-bit key, ten times
 * OpenSSL's; with e = 65537 the public operation is 17 modular multiplications, which V8's BigInt
 * does in about 0.1 ms. Hashes are node:crypto's (native). Verification only, on public data:
 * variable time is fine here and nothing here may ever touch a private key.
 */
import { createHash } from "node:crypto";
import { modPow } from "../protocol/rsabssa.ts";
import { equalBytes, toHex } from "../protocol/bytes.ts";

export type RsaHash = "SHA-256" | "SHA-384" | "SHA-512";
const NODE_NAME: Record<RsaHash, string> = {
  "SHA-256": "sha256",
  "SHA-384": "sha384",
  "SHA-512": "sha512",
};
const H_LEN: Record<RsaHash, number> = { "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 };
/** DER of DigestInfo up to the digest (RFC 8017 §9.2, note 1). */
const DIGEST_INFO: Record<RsaHash, string> = {
  "SHA-256": "3031300d060960864801650304020105000420",
  "SHA-384": "3041300d060960864801650304020205000430",
  "SHA-512": "3051300d060960864801650304020305000440",
};

export interface RsaPublicKey {
  n: bigint;
  e: bigint;
  /** modBits of RFC 8017. */
  bits: number;
}

function digest(hash: RsaHash, ...parts: Uint8Array[]): Uint8Array {
  const h = createHash(NODE_NAME[hash]);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

const toInt = (b: Uint8Array): bigint => (b.length ? BigInt(`0x${toHex(b)}`) : 0n);

/** From the big-endian modulus and exponent bytes of an RSAPublicKey (RFC 8017 A.1.1). */
export function rsaPublicKey(modulus: Uint8Array, exponent: Uint8Array): RsaPublicKey {
  const n = toInt(modulus);
  return { n, e: toInt(exponent), bits: n.toString(2).length };
}

/** RSAVP1 (§5.2.2) with the length checks of §8.1.2/§8.2.2 step 1; `undefined` if invalid. */
function rsavp1(key: RsaPublicKey, signature: Uint8Array, outLen: number): Uint8Array | undefined {
  if (signature.length !== Math.ceil(key.bits / 8)) return undefined;
  const s = toInt(signature);
  if (s >= key.n) return undefined;
  const m = modPow(s, key.e, key.n);
  const hex = m.toString(16);
  if (hex.length > 2 * outLen) return undefined; // I2OSP: integer too large
  return Uint8Array.fromHex(hex.padStart(2 * outLen, "0"));
}

/** MGF1 (Appendix B.2.1). */
function mgf1(hash: RsaHash, seed: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const counter = new Uint8Array(4);
  for (let c = 0, at = 0; at < length; c++, at += H_LEN[hash]) {
    new DataView(counter.buffer).setUint32(0, c);
    out.set(digest(hash, seed, counter).subarray(0, Math.min(H_LEN[hash], length - at)), at);
  }
  return out;
}

/** RSASSA-PSS-VERIFY (§8.1.2) with MGF1 over the same hash and the given salt length. */
export function verifyPss(
  key: RsaPublicKey,
  hash: RsaHash,
  saltLength: number,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const emBits = key.bits - 1;
  const emLen = Math.ceil(emBits / 8);
  const em = rsavp1(key, signature, emLen);
  if (!em) return false;
  // EMSA-PSS-VERIFY (§9.1.2) steps 3-14.
  const hLen = H_LEN[hash];
  if (emLen < hLen + saltLength + 2 || em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - hLen - 1);
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  const zeroBits = 8 * emLen - emBits;
  if (maskedDb[0] >> (8 - zeroBits)) return false;
  const db = mgf1(hash, h, emLen - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i] ^= maskedDb[i];
  db[0] &= 0xff >> zeroBits;
  const psLen = emLen - hLen - saltLength - 2;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(db.length - saltLength);
  const hPrime = digest(hash, new Uint8Array(8), digest(hash, message), salt);
  return equalBytes(h, hPrime);
}

/** RSASSA-PKCS1-V1_5-VERIFY (§8.2.2): compares the full encoding, as §8.2.2 step 4 says. */
export function verifyPkcs1(
  key: RsaPublicKey,
  hash: RsaHash,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const k = Math.ceil(key.bits / 8);
  const em = rsavp1(key, signature, k);
  if (!em) return false;
  const t = Uint8Array.fromHex(DIGEST_INFO[hash] + toHex(digest(hash, message)));
  if (k < t.length + 11) return false;
  const expected = new Uint8Array(k).fill(0xff);
  expected[0] = 0x00;
  expected[1] = 0x01;
  expected[k - t.length - 1] = 0x00;
  expected.set(t, k - t.length);
  return equalBytes(em, expected);
}
