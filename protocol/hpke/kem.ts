/**
 * DHKEM (RFC 9180 §4.1): DHKEM(P-256, HKDF-SHA256) 0x0010, DHKEM(P-384, HKDF-SHA384) 0x0011,
 * DHKEM(P-521, HKDF-SHA512) 0x0012, DHKEM(X25519, HKDF-SHA256) 0x0020 and DHKEM(X448,
 * HKDF-SHA512) 0x0021, with AuthEncap/AuthDecap, DeriveKeyPair (§7.1.3) and the key
 * (de)serialisation and validation of §7.1.1, §7.1.2 and §7.1.4.
 *
 * Keys are bytes in their RFC serialisation: public keys are the uncompressed SEC1 point
 * (0x04 || x || y) for NIST curves and the 32/56-byte u-coordinate for X25519/X448; private keys
 * are the big-endian scalar (NIST) or the raw unclamped string (X25519/X448). Every public key
 * input is validated where it is used; a bad one is refused with `invalid-public-key`, never turned
 * into a weak shared secret.
 *
 *   const { sharedSecret, enc } = kem.encap(pkR);          // sender
 *   const sharedSecret = kem.decap(enc, recipientKeyPair); // recipient
 *
 * Each KEM is its curve's checks, always these (on @noble/curves and plain bytes), over the
 * curve's arithmetic: node:crypto's where the platform has it (protocol/hpke/native.ts, several
 * times faster than BigInt), @noble's otherwise; `kem.arithmetic` says which, and
 * `nobleKem(id)` gives the same KEM on @noble alone. DeriveKeyPair's scalar always comes from the
 * HKDF code here; only its public key is computed by the arithmetic.
 *
 * Intermediates (DH outputs, PRKs, ephemeral private keys JavaScript holds) are wiped before
 * return; the returned shared secret belongs to the caller. Limits: @noble computes on BigInt,
 * which this module cannot wipe (its scalars live until the garbage collector reclaims them);
 * node:crypto keeps copies of private keys and DH outputs in native memory, listed in
 * protocol/hpke/native.ts.
 */
import { x25519 } from "@noble/curves/ed25519.js";
import { x448 } from "@noble/curves/ed448.js";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import type { ECDH } from "@noble/curves/abstract/weierstrass.js";
import type { MontgomeryECDH } from "@noble/curves/abstract/montgomery.js";
import { randomBytes } from "@noble/hashes/utils.js";
import { concat, i2osp, isZero, utf8, wipe } from "../bytes.ts";
import { HpkeError, idHex } from "./errors.ts";
import { HKDF_SHA256, HKDF_SHA384, HKDF_SHA512, type Kdf } from "./kdf.ts";
import { type CurveName, nativeCurve } from "./native.ts";

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface Encapsulation {
  /** Nsecret bytes, owned by the caller. */
  sharedSecret: Uint8Array;
  /** The serialised ephemeral public key to send with the ciphertext. */
  enc: Uint8Array;
}

export interface EncapOptions {
  /** AuthEncap (§4.1): the sender's static key pair. */
  sender?: KeyPair;
  /** A fixed ephemeral key pair, for test vectors only: reusing one breaks HPKE's security. */
  ephemeral?: KeyPair;
}

export interface Kem {
  /** RFC 9180 §7.1 identifier. */
  readonly id: number;
  readonly name: string;
  /** What computes its curve arithmetic: node:crypto where the platform has it, else @noble. */
  readonly arithmetic: "node:crypto" | "@noble";
  /** Lengths in bytes of the shared secret, enc, a public key and a private key (§7.1). */
  readonly Nsecret: number;
  readonly Nenc: number;
  readonly Npk: number;
  readonly Nsk: number;
  generateKeyPair(): KeyPair;
  /** DeriveKeyPair(ikm) of §7.1.3; `ikm` must carry at least Nsk bytes. */
  deriveKeyPair(ikm: Uint8Array): KeyPair;
  /** The public key of a private key (refuses an invalid private key). */
  publicKey(privateKey: Uint8Array): Uint8Array;
  /** DeserializePublicKey's checks (§7.1.1, §7.1.4); throws `invalid-public-key`. */
  checkPublicKey(publicKey: Uint8Array): void;
  /** DeserializePrivateKey's checks (§7.1.2); throws `invalid-private-key`. */
  checkPrivateKey(privateKey: Uint8Array): void;
  /** DH(skX, pkY) of §4.1 with the checks of §7.1.4; the caller owns (and wipes) the result. */
  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** Encap(pkR), or AuthEncap(pkR, skS) when `options.sender` is given. */
  encap(recipientPublicKey: Uint8Array, options?: EncapOptions): Encapsulation;
  /** Decap(enc, skR), or AuthDecap(enc, skR, pkS) when `senderPublicKey` is given. */
  decap(enc: Uint8Array, recipient: KeyPair, senderPublicKey?: Uint8Array): Uint8Array;
}

/** The arithmetic under a DHKEM, on node:crypto or @noble; every input is validated first. */
export interface KeyArithmetic {
  /** sk·G in the RFC 9180 serialisation. */
  publicKey(sk: Uint8Array): Uint8Array;
  /** The raw DH output: the x-coordinate (NIST) or the u-coordinate (X25519/X448). */
  dh(sk: Uint8Array, pk: Uint8Array): Uint8Array;
  /** A fresh key pair for one Encap. */
  ephemeral(): Ephemeral;
}

/** A single-use key pair: its public key, DH with its private key, and wiping. */
export interface Ephemeral {
  readonly publicKey: Uint8Array;
  dh(pk: Uint8Array): Uint8Array;
  /** Wipes the private key where JavaScript holds it. */
  dispose(): void;
}

/**
 * What a DHKEM checks of its curve (RFC 9180 §7.1), the same whichever arithmetic computes, and
 * the curve's @noble arithmetic.
 */
interface Curve {
  readonly name: CurveName;
  readonly Nsk: number;
  readonly Npk: number;
  readonly noble: KeyArithmetic;
  randomPrivateKey(): Uint8Array;
  checkPublicKey(pk: Uint8Array): void;
  checkPrivateKey(sk: Uint8Array): void;
  /** A DH output §7.1.4 refuses (all-zero X25519/X448), and why a DH of checked keys can fail. */
  isDegenerate(shared: Uint8Array): boolean;
  readonly degenerate: string;
  /** The private-key step of DeriveKeyPair (§7.1.3) from dkp_prk. */
  derivePrivateKey(derive: LabeledExpand, dkpPrk: Uint8Array): Uint8Array;
}

type LabeledExpand = (
  prk: Uint8Array,
  label: Uint8Array,
  info: Uint8Array,
  L: number,
) => Uint8Array;

const EMPTY = new Uint8Array(0);
const LABEL = {
  eaePrk: utf8("eae_prk"),
  sharedSecret: utf8("shared_secret"),
  dkpPrk: utf8("dkp_prk"),
  candidate: utf8("candidate"),
  sk: utf8("sk"),
};

function invalidPublicKey(name: string, why: string, cause?: unknown): HpkeError {
  return new HpkeError("invalid-public-key", `invalid ${name} public key: ${why}`, { cause });
}

function invalidPrivateKey(name: string, why: string, cause?: unknown): HpkeError {
  return new HpkeError("invalid-private-key", `invalid ${name} private key: ${why}`, { cause });
}

/** a < b for big-endian byte strings of one length, without branching on their bytes. */
function lessThan(a: Uint8Array, b: Uint8Array): boolean {
  let less = 0;
  let equal = 1;
  for (let i = 0; i < a.length; i++) {
    less |= equal & ((a[i] - b[i]) >>> 31);
    equal &= ((a[i] ^ b[i]) - 1) >>> 31;
  }
  return less === 1;
}

/** An Ephemeral over a private key JavaScript holds (and wipes on dispose). */
function ephemeralOf(math: KeyArithmetic, sk: Uint8Array): Ephemeral {
  return { publicKey: math.publicKey(sk), dh: (pk) => math.dh(sk, pk), dispose: () => wipe(sk) };
}

/**
 * The candidate loop of DeriveKeyPair for NIST curves (§7.1.3): expand "candidate" || counter,
 * mask the top byte, keep the first value in [1, order-1]; 256 rejections are a
 * DeriveKeyPairError. Compares bytes, so no BigInt copy of a candidate is made. Exported for the
 * test that drives the loop with a small order.
 */
export function deriveNistScalar(
  derive: LabeledExpand,
  dkpPrk: Uint8Array,
  Nsk: number,
  bitmask: number,
  order: bigint,
): Uint8Array {
  const max = i2osp(order, Nsk);
  const counter = new Uint8Array(1);
  for (let i = 0; i <= 255; i++) {
    counter[0] = i;
    const bytes = derive(dkpPrk, LABEL.candidate, counter, Nsk);
    bytes[0] &= bitmask;
    if (!isZero(bytes) && lessThan(bytes, max)) return bytes;
    wipe(bytes);
  }
  throw new HpkeError("derive-key-pair-failed", "DeriveKeyPair: no valid scalar in 256 candidates");
}

/** P-256, P-384, P-521: uncompressed points, x-coordinate shared secrets (§7.1.1). */
function nist(name: CurveName, curve: ECDH, bitmask: number): Curve {
  const { Point } = curve;
  const Nsk = Point.Fn.BYTES;
  const Npk = 1 + 2 * Point.Fp.BYTES;
  const order = i2osp(Point.Fn.ORDER, Nsk);
  const noble: KeyArithmetic = {
    publicKey: (sk) => Point.BASE.multiply(Point.Fn.fromBytes(sk)).toBytes(false),
    dh(sk, pk) {
      const point = Point.fromBytes(pk).multiply(Point.Fn.fromBytes(sk));
      // Unreachable for a prime-order point and a scalar in [1, n-1]; §7.1.4 asks for the check.
      if (point.is0()) throw new RangeError("point at infinity");
      return Point.Fp.toBytes(point.toAffine().x);
    },
    ephemeral: () => ephemeralOf(noble, curve.utils.randomSecretKey()),
  };
  return {
    name,
    Nsk,
    Npk,
    noble,
    randomPrivateKey: () => curve.utils.randomSecretKey(),
    checkPublicKey(pk) {
      if (pk.length !== Npk) throw invalidPublicKey(name, `${pk.length} bytes, expected ${Npk}`);
      if (pk[0] !== 0x04) throw invalidPublicKey(name, "not an uncompressed point (0x04 prefix)");
      try {
        // Range of both coordinates and the curve equation (partial validation, §7.1.4).
        Point.fromBytes(pk);
      } catch (e) {
        throw invalidPublicKey(name, "not a point on the curve", e);
      }
    },
    checkPrivateKey(sk) {
      if (sk.length !== Nsk) throw invalidPrivateKey(name, `${sk.length} bytes, expected ${Nsk}`);
      if (isZero(sk)) throw invalidPrivateKey(name, "zero scalar");
      if (!lessThan(sk, order)) throw invalidPrivateKey(name, "scalar not below the group order");
    },
    isDegenerate: () => false,
    degenerate: "shared secret is the point at infinity",
    derivePrivateKey: (derive, dkpPrk) =>
      deriveNistScalar(derive, dkpPrk, Nsk, bitmask, Point.Fn.ORDER),
  };
}

/** X25519, X448 (RFC 7748): raw u-coordinates; an all-zero shared secret is refused (§7.1.4). */
function montgomery(name: CurveName, curve: MontgomeryECDH): Curve {
  const N = curve.lengths.secretKey!;
  const noble: KeyArithmetic = {
    publicKey: (sk) => curve.getPublicKey(sk),
    // noble refuses the low-order u-coordinates before running the ladder.
    dh: (sk, pk) => curve.scalarMult(sk, pk),
    ephemeral: () => ephemeralOf(noble, randomBytes(N)),
  };
  return {
    name,
    Nsk: N,
    Npk: N,
    noble,
    randomPrivateKey: () => randomBytes(N),
    checkPublicKey(pk) {
      if (pk.length !== N) throw invalidPublicKey(name, `${pk.length} bytes, expected ${N}`);
    },
    checkPrivateKey(sk) {
      if (sk.length !== N) throw invalidPrivateKey(name, `${sk.length} bytes, expected ${N}`);
    },
    isDegenerate: isZero,
    degenerate: "low-order point (all-zero shared secret)",
    derivePrivateKey: (derive, dkpPrk) => derive(dkpPrk, LABEL.sk, EMPTY, N),
  };
}

function dhkem(
  id: number,
  curve: Curve,
  math: KeyArithmetic,
  arithmetic: Kem["arithmetic"],
  kdf: Kdf,
  Nsecret: number,
): Kem {
  const name = `DHKEM(${curve.name}, ${kdf.name})`;
  const suiteId = concat(utf8("KEM"), i2osp(id, 2));
  const labeledExpand: LabeledExpand = (prk, label, info, L) =>
    kdf.labeledExpand(suiteId, prk, label, info, L);
  const extractAndExpand = (dh: Uint8Array, kemContext: Uint8Array) => {
    const eaePrk = kdf.labeledExtract(suiteId, EMPTY, LABEL.eaePrk, dh);
    try {
      return labeledExpand(eaePrk, LABEL.sharedSecret, kemContext, Nsecret);
    } finally {
      wipe(eaePrk);
    }
  };
  const publicKey = (sk: Uint8Array) => {
    curve.checkPrivateKey(sk);
    return math.publicKey(sk);
  };
  const keyPair = (privateKey: Uint8Array): KeyPair => ({
    privateKey,
    publicKey: publicKey(privateKey),
  });
  /** `compute(pk)` once pk is checked (§7.1.4), refusing a degenerate result. */
  const exchange = (pk: Uint8Array, compute: (pk: Uint8Array) => Uint8Array) => {
    curve.checkPublicKey(pk);
    let shared: Uint8Array;
    try {
      shared = compute(pk);
    } catch (e) {
      throw invalidPublicKey(curve.name, curve.degenerate, e);
    }
    if (curve.isDegenerate(shared)) {
      wipe(shared);
      throw invalidPublicKey(curve.name, curve.degenerate);
    }
    return shared;
  };
  /** DH(skX, pkY) of §4.1. */
  const dh = (sk: Uint8Array, pk: Uint8Array) => {
    curve.checkPrivateKey(sk);
    return exchange(pk, (p) => math.dh(sk, p));
  };
  /** DH(...) || DH(...) (§4.1 AuthEncap, AuthDecap), leaving neither half behind on failure. */
  const dhOf = (...exchanges: (() => Uint8Array)[]) => {
    const parts: Uint8Array[] = [];
    try {
      for (const x of exchanges) parts.push(x());
      return concat(...parts);
    } finally {
      wipe(...parts);
    }
  };
  return Object.freeze({
    id,
    name,
    arithmetic,
    Nsecret,
    Nenc: curve.Npk,
    Npk: curve.Npk,
    Nsk: curve.Nsk,
    generateKeyPair: () => keyPair(curve.randomPrivateKey()),
    deriveKeyPair(ikm: Uint8Array) {
      if (ikm.length < curve.Nsk) {
        throw new HpkeError(
          "derive-key-pair-failed",
          `DeriveKeyPair needs at least Nsk = ${curve.Nsk} bytes of ikm, got ${ikm.length}`,
        );
      }
      const dkpPrk = kdf.labeledExtract(suiteId, EMPTY, LABEL.dkpPrk, ikm);
      try {
        return keyPair(curve.derivePrivateKey(labeledExpand, dkpPrk));
      } finally {
        wipe(dkpPrk);
      }
    },
    publicKey,
    checkPublicKey: (publicKey: Uint8Array) => curve.checkPublicKey(publicKey),
    checkPrivateKey: (privateKey: Uint8Array) => curve.checkPrivateKey(privateKey),
    dh,
    encap(pkR: Uint8Array, options: EncapOptions = {}): Encapsulation {
      const { sender, ephemeral } = options;
      if (ephemeral) curve.checkPrivateKey(ephemeral.privateKey);
      if (sender) {
        curve.checkPublicKey(sender.publicKey);
        curve.checkPrivateKey(sender.privateKey);
      }
      const eph: Ephemeral = ephemeral
        ? {
          publicKey: ephemeral.publicKey.slice(),
          dh: (pk) => math.dh(ephemeral.privateKey, pk),
          dispose() {}, // the caller's key
        }
        : math.ephemeral();
      let shared: Uint8Array | undefined;
      try {
        shared = sender
          ? dhOf(() => exchange(pkR, eph.dh), () => dh(sender.privateKey, pkR))
          : exchange(pkR, eph.dh);
        const enc = eph.publicKey;
        const kemContext = concat(enc, pkR, sender?.publicKey ?? EMPTY);
        return { sharedSecret: extractAndExpand(shared, kemContext), enc };
      } finally {
        wipe(shared);
        eph.dispose();
      }
    },
    decap(enc: Uint8Array, recipient: KeyPair, pkS?: Uint8Array): Uint8Array {
      curve.checkPublicKey(recipient.publicKey);
      const skR = recipient.privateKey;
      let shared: Uint8Array | undefined;
      try {
        shared = pkS ? dhOf(() => dh(skR, enc), () => dh(skR, pkS)) : dh(skR, enc);
        const kemContext = concat(enc, recipient.publicKey, pkS ?? EMPTY);
        return extractAndExpand(shared, kemContext);
      } finally {
        wipe(shared);
      }
    },
  });
}

/** A DHKEM on node:crypto's arithmetic where the platform has it, and its @noble twin. */
function define(id: number, curve: Curve, kdf: Kdf, Nsecret: number): [Kem, Kem] {
  const noble = dhkem(id, curve, curve.noble, "@noble", kdf, Nsecret);
  const native = nativeCurve(curve.name);
  return [native ? dhkem(id, curve, native, "node:crypto", kdf, Nsecret) : noble, noble];
}

const P256 = define(0x0010, nist("P-256", p256, 0xff), HKDF_SHA256, 32);
const P384 = define(0x0011, nist("P-384", p384, 0xff), HKDF_SHA384, 48);
const P521 = define(0x0012, nist("P-521", p521, 0x01), HKDF_SHA512, 64);
const X25519 = define(0x0020, montgomery("X25519", x25519), HKDF_SHA256, 32);
const X448 = define(0x0021, montgomery("X448", x448), HKDF_SHA512, 64);
const DEFINED = [P256, P384, P521, X25519, X448];

export const DHKEM_P256_HKDF_SHA256: Kem = P256[0];
export const DHKEM_P384_HKDF_SHA384: Kem = P384[0];
export const DHKEM_P521_HKDF_SHA512: Kem = P521[0];
export const DHKEM_X25519_HKDF_SHA256: Kem = X25519[0];
export const DHKEM_X448_HKDF_SHA512: Kem = X448[0];

const KEMS: ReadonlyMap<number, Kem> = new Map(DEFINED.map(([kem]) => [kem.id, kem]));
const NOBLE_KEMS: ReadonlyMap<number, Kem> = new Map(DEFINED.map(([, kem]) => [kem.id, kem]));

/** The KEM for an RFC 9180 identifier; `unsupported-kem` for any other. */
export function kemById(id: number): Kem {
  const kem = KEMS.get(id);
  if (!kem) throw new HpkeError("unsupported-kem", `unsupported HPKE KEM ${idHex(id)}`);
  return kem;
}

/**
 * The same KEM computed by @noble alone: the portable reference the node:crypto arithmetic is
 * checked against, for callers that want no key material in native memory.
 */
export function nobleKem(id: number): Kem {
  const kem = NOBLE_KEMS.get(id);
  if (!kem) throw new HpkeError("unsupported-kem", `unsupported HPKE KEM ${idHex(id)}`);
  return kem;
}
