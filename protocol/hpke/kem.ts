/**
 * DHKEM (RFC 9180 §4.1) over @noble/curves: DHKEM(P-256, HKDF-SHA256) 0x0010, DHKEM(P-384,
 * HKDF-SHA384) 0x0011, DHKEM(P-521, HKDF-SHA512) 0x0012, DHKEM(X25519, HKDF-SHA256) 0x0020 and
 * DHKEM(X448, HKDF-SHA512) 0x0021, with AuthEncap/AuthDecap, DeriveKeyPair (§7.1.3) and the
 * key (de)serialisation and validation of §7.1.1, §7.1.2 and §7.1.4.
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
 * Intermediates (DH outputs, PRKs, generated ephemeral private keys) are wiped before return; the
 * returned shared secret belongs to the caller. Limit: noble computes on BigInt, which this module
 * cannot wipe; the scalars it derives live until the garbage collector reclaims them.
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

/** The Diffie-Hellman group under a DHKEM: what differs between NIST curves and X25519/X448. */
interface DhGroup {
  readonly name: string;
  readonly Nsk: number;
  readonly Npk: number;
  randomPrivateKey(): Uint8Array;
  publicKey(sk: Uint8Array): Uint8Array;
  checkPublicKey(pk: Uint8Array): void;
  checkPrivateKey(sk: Uint8Array): void;
  /** DH(sk, pk): validates pk, refuses a degenerate shared secret. */
  dh(sk: Uint8Array, pk: Uint8Array): Uint8Array;
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

/**
 * The candidate loop of DeriveKeyPair for NIST curves (§7.1.3): expand "candidate" || counter,
 * mask the top byte, keep the first value in [1, order-1]; 256 rejections are a
 * DeriveKeyPairError. Exported for the test that drives the loop with a small order.
 */
export function deriveNistScalar(
  derive: LabeledExpand,
  dkpPrk: Uint8Array,
  Nsk: number,
  bitmask: number,
  order: bigint,
): Uint8Array {
  const counter = new Uint8Array(1);
  for (let i = 0; i <= 255; i++) {
    counter[0] = i;
    const bytes = derive(dkpPrk, LABEL.candidate, counter, Nsk);
    bytes[0] &= bitmask;
    let sk = 0n;
    for (const b of bytes) sk = (sk << 8n) | BigInt(b);
    if (sk !== 0n && sk < order) return bytes;
    wipe(bytes);
  }
  throw new HpkeError("derive-key-pair-failed", "DeriveKeyPair: no valid scalar in 256 candidates");
}

/** P-256, P-384, P-521: uncompressed points, x-coordinate shared secrets (§7.1.1). */
function nist(name: string, curve: ECDH, bitmask: number): DhGroup {
  const { Point } = curve;
  const Nsk = Point.Fn.BYTES;
  const Npk = 1 + 2 * Point.Fp.BYTES;
  const parsePublicKey = (pk: Uint8Array) => {
    if (pk.length !== Npk) throw invalidPublicKey(name, `${pk.length} bytes, expected ${Npk}`);
    if (pk[0] !== 0x04) throw invalidPublicKey(name, "not an uncompressed point (0x04 prefix)");
    try {
      // Range of both coordinates and the curve equation (partial validation, §7.1.4).
      return Point.fromBytes(pk);
    } catch (e) {
      throw invalidPublicKey(name, "not a point on the curve", e);
    }
  };
  const parsePrivateKey = (sk: Uint8Array) => {
    if (sk.length !== Nsk) throw invalidPrivateKey(name, `${sk.length} bytes, expected ${Nsk}`);
    let scalar: bigint;
    try {
      scalar = Point.Fn.fromBytes(sk);
    } catch (e) {
      throw invalidPrivateKey(name, "scalar not below the group order", e);
    }
    if (scalar === 0n) throw invalidPrivateKey(name, "zero scalar");
    return scalar;
  };
  return {
    name,
    Nsk,
    Npk,
    randomPrivateKey: () => curve.utils.randomSecretKey(),
    publicKey: (sk) => Point.BASE.multiply(parsePrivateKey(sk)).toBytes(false),
    checkPublicKey: (pk) => void parsePublicKey(pk),
    checkPrivateKey: (sk) => void parsePrivateKey(sk),
    dh(sk, pk) {
      const point = parsePublicKey(pk).multiply(parsePrivateKey(sk));
      // Unreachable for a prime-order point and a scalar in [1, n-1]; §7.1.4 asks for the check.
      if (point.is0()) throw invalidPublicKey(name, "shared secret is the point at infinity");
      return Point.Fp.toBytes(point.toAffine().x);
    },
    derivePrivateKey: (derive, dkpPrk) =>
      deriveNistScalar(derive, dkpPrk, Nsk, bitmask, Point.Fn.ORDER),
  };
}

/** X25519, X448 (RFC 7748): raw u-coordinates; an all-zero shared secret is refused (§7.1.4). */
function montgomery(name: string, curve: MontgomeryECDH): DhGroup {
  const N = curve.lengths.secretKey!;
  const checkPublicKey = (pk: Uint8Array) => {
    if (pk.length !== N) throw invalidPublicKey(name, `${pk.length} bytes, expected ${N}`);
  };
  const checkPrivateKey = (sk: Uint8Array) => {
    if (sk.length !== N) throw invalidPrivateKey(name, `${sk.length} bytes, expected ${N}`);
  };
  return {
    name,
    Nsk: N,
    Npk: N,
    randomPrivateKey: () => randomBytes(N),
    publicKey(sk) {
      checkPrivateKey(sk);
      return curve.getPublicKey(sk);
    },
    checkPublicKey,
    checkPrivateKey,
    dh(sk, pk) {
      checkPublicKey(pk);
      checkPrivateKey(sk);
      let shared: Uint8Array;
      try {
        // noble refuses the low-order u-coordinates before running the ladder.
        shared = curve.scalarMult(sk, pk);
      } catch (e) {
        throw invalidPublicKey(name, "low-order point (all-zero shared secret)", e);
      }
      if (isZero(shared)) throw invalidPublicKey(name, "all-zero shared secret");
      return shared;
    },
    derivePrivateKey: (derive, dkpPrk) => derive(dkpPrk, LABEL.sk, EMPTY, N),
  };
}

function dhkem(id: number, group: DhGroup, kdf: Kdf, Nsecret: number): Kem {
  const name = `DHKEM(${group.name}, ${kdf.name})`;
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
  const keyPair = (privateKey: Uint8Array): KeyPair => ({
    privateKey,
    publicKey: group.publicKey(privateKey),
  });
  /** DH(sk1, pk1) || DH(sk2, pk2) (§4.1 AuthEncap), leaving neither half behind on failure. */
  const dhOf = (...pairs: [Uint8Array, Uint8Array][]) => {
    const parts: Uint8Array[] = [];
    try {
      for (const [sk, pk] of pairs) parts.push(group.dh(sk, pk));
      return concat(...parts);
    } finally {
      wipe(...parts);
    }
  };
  return Object.freeze({
    id,
    name,
    Nsecret,
    Nenc: group.Npk,
    Npk: group.Npk,
    Nsk: group.Nsk,
    generateKeyPair: () => keyPair(group.randomPrivateKey()),
    deriveKeyPair(ikm: Uint8Array) {
      if (ikm.length < group.Nsk) {
        throw new HpkeError(
          "derive-key-pair-failed",
          `DeriveKeyPair needs at least Nsk = ${group.Nsk} bytes of ikm, got ${ikm.length}`,
        );
      }
      const dkpPrk = kdf.labeledExtract(suiteId, EMPTY, LABEL.dkpPrk, ikm);
      try {
        return keyPair(group.derivePrivateKey(labeledExpand, dkpPrk));
      } finally {
        wipe(dkpPrk);
      }
    },
    publicKey: (privateKey: Uint8Array) => group.publicKey(privateKey),
    checkPublicKey: (publicKey: Uint8Array) => group.checkPublicKey(publicKey),
    checkPrivateKey: (privateKey: Uint8Array) => group.checkPrivateKey(privateKey),
    dh: (privateKey: Uint8Array, publicKey: Uint8Array) => group.dh(privateKey, publicKey),
    encap(pkR: Uint8Array, options: EncapOptions = {}): Encapsulation {
      const { sender, ephemeral } = options;
      const eph = ephemeral ?? keyPair(group.randomPrivateKey());
      let dh: Uint8Array | undefined;
      try {
        if (sender) group.checkPublicKey(sender.publicKey);
        dh = sender
          ? dhOf([eph.privateKey, pkR], [sender.privateKey, pkR])
          : dhOf([eph.privateKey, pkR]);
        const enc = ephemeral ? eph.publicKey.slice() : eph.publicKey;
        const kemContext = concat(enc, pkR, sender?.publicKey ?? EMPTY);
        return { sharedSecret: extractAndExpand(dh, kemContext), enc };
      } finally {
        wipe(dh);
        if (!ephemeral) wipe(eph.privateKey);
      }
    },
    decap(enc: Uint8Array, recipient: KeyPair, pkS?: Uint8Array): Uint8Array {
      group.checkPublicKey(recipient.publicKey);
      let dh: Uint8Array | undefined;
      try {
        dh = pkS
          ? dhOf([recipient.privateKey, enc], [recipient.privateKey, pkS])
          : dhOf([recipient.privateKey, enc]);
        const kemContext = concat(enc, recipient.publicKey, pkS ?? EMPTY);
        return extractAndExpand(dh, kemContext);
      } finally {
        wipe(dh);
      }
    },
  });
}

export const DHKEM_P256_HKDF_SHA256 = dhkem(0x0010, nist("P-256", p256, 0xff), HKDF_SHA256, 32);
export const DHKEM_P384_HKDF_SHA384 = dhkem(0x0011, nist("P-384", p384, 0xff), HKDF_SHA384, 48);
export const DHKEM_P521_HKDF_SHA512 = dhkem(0x0012, nist("P-521", p521, 0x01), HKDF_SHA512, 64);
export const DHKEM_X25519_HKDF_SHA256 = dhkem(
  0x0020,
  montgomery("X25519", x25519),
  HKDF_SHA256,
  32,
);
export const DHKEM_X448_HKDF_SHA512 = dhkem(0x0021, montgomery("X448", x448), HKDF_SHA512, 64);

const KEMS: ReadonlyMap<number, Kem> = new Map(
  [
    DHKEM_P256_HKDF_SHA256,
    DHKEM_P384_HKDF_SHA384,
    DHKEM_P521_HKDF_SHA512,
    DHKEM_X25519_HKDF_SHA256,
    DHKEM_X448_HKDF_SHA512,
  ].map((k) => [k.id, k]),
);

/** The KEM for an RFC 9180 identifier; `unsupported-kem` for any other. */
export function kemById(id: number): Kem {
  const kem = KEMS.get(id);
  if (!kem) throw new HpkeError("unsupported-kem", `unsupported HPKE KEM ${idHex(id)}`);
  return kem;
}
