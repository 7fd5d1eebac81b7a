/**
 * HPKE key derivation functions (RFC 9180 §4, §7.2): HKDF (RFC 5869) over SHA-256, SHA-384 and
 * SHA-512 from @noble/hashes, and the labeled forms HPKE builds everything else on:
 *
 *   LabeledExtract(salt, label, ikm)   = Extract(salt, "HPKE-v1" || suite_id || label || ikm)
 *   LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L)
 *
 * `suite_id` is "KEM" || I2OSP(kem_id, 2) inside a DHKEM and "HPKE" || kem_id || kdf_id || aead_id
 * in the key schedule; callers pass it in. LabeledExtract streams its parts into HMAC instead of
 * concatenating them, so the secret `ikm` (a Diffie-Hellman output, a PSK) is never copied.
 * Outputs are fresh buffers the caller owns and wipes. Limit: L <= 255 * Nh (RFC 5869 §2.3).
 */
import { hmac } from "@noble/hashes/hmac.js";
import { expand as hkdfExpand, extract as hkdfExtract } from "@noble/hashes/hkdf.js";
import { sha256, sha384, sha512 } from "@noble/hashes/sha2.js";
import type { CHash } from "@noble/hashes/utils.js";
import { concat, i2osp, utf8 } from "../bytes.ts";
import { HpkeError, idHex } from "./errors.ts";

export interface Kdf {
  /** RFC 9180 §7.2 identifier: 0x0001, 0x0002, 0x0003. */
  readonly id: number;
  readonly name: string;
  /** Output length of Extract, in bytes. */
  readonly Nh: number;
  /** HKDF-Extract (RFC 5869 §2.2); an empty salt stands for Nh zero bytes. */
  extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  /** HKDF-Expand (RFC 5869 §2.3). */
  expand(prk: Uint8Array, info: Uint8Array, L: number): Uint8Array;
  labeledExtract(
    suiteId: Uint8Array,
    salt: Uint8Array,
    label: Uint8Array,
    ikm: Uint8Array,
  ): Uint8Array;
  labeledExpand(
    suiteId: Uint8Array,
    prk: Uint8Array,
    label: Uint8Array,
    info: Uint8Array,
    L: number,
  ): Uint8Array;
}

const HPKE_V1 = utf8("HPKE-v1");

function hkdf(id: number, name: string, hash: CHash): Kdf {
  const Nh = hash.outputLen;
  const checkLength = (L: number) => {
    if (!Number.isInteger(L) || L < 0 || L > 255 * Nh) {
      throw new HpkeError(
        "invalid-length",
        `${name} cannot expand to ${L} bytes (max ${255 * Nh})`,
      );
    }
  };
  const kdf: Kdf = {
    id,
    name,
    Nh,
    extract: (salt, ikm) => hkdfExtract(hash, ikm, salt),
    expand(prk, info, L) {
      checkLength(L);
      return L === 0 ? new Uint8Array(0) : hkdfExpand(hash, prk, info, L);
    },
    labeledExtract: (suiteId, salt, label, ikm) =>
      hmac.create(hash, salt).update(HPKE_V1).update(suiteId).update(label).update(ikm).digest(),
    labeledExpand(suiteId, prk, label, info, L) {
      checkLength(L);
      if (L === 0) return new Uint8Array(0);
      return hkdfExpand(hash, prk, concat(i2osp(L, 2), HPKE_V1, suiteId, label, info), L);
    },
  };
  return Object.freeze(kdf);
}

export const HKDF_SHA256: Kdf = hkdf(0x0001, "HKDF-SHA256", sha256);
export const HKDF_SHA384: Kdf = hkdf(0x0002, "HKDF-SHA384", sha384);
export const HKDF_SHA512: Kdf = hkdf(0x0003, "HKDF-SHA512", sha512);

const KDFS: ReadonlyMap<number, Kdf> = new Map(
  [HKDF_SHA256, HKDF_SHA384, HKDF_SHA512].map((k) => [k.id, k]),
);

/** The KDF for an RFC 9180 identifier; `unsupported-kdf` for any other. */
export function kdfById(id: number): Kdf {
  const kdf = KDFS.get(id);
  if (!kdf) throw new HpkeError("unsupported-kdf", `unsupported HPKE KDF ${idHex(id)}`);
  return kdf;
}
