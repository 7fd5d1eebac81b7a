/**
 * Native arithmetic for HPKE through `node:crypto`, where the platform has it: Diffie-Hellman
 * and key generation on X25519, X448 (RFC 7748), P-256, P-384 and P-521 (SEC 1), and the AEADs
 * AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305 (RFC 5116, RFC 8439), all synchronous.
 * protocol/hpke/kem.ts and aead.ts use it when it is present and @noble otherwise.
 *
 *   const curve = nativeCurve("X25519");   // undefined without node:crypto
 *   const pk = curve?.publicKey(sk);       // sk and pk already validated by the caller
 *
 * node:crypto is found with `process.getBuiltinModule` (Deno, Node >= 22.3), so nothing is
 * imported where it is absent (a browser, an older Node) and the module answers `undefined`.
 * @noble stays the source of truth: callers validate every key with the noble-side checks of
 * RFC 9180 §7.1.4 before it comes here, refuse degenerate outputs themselves, keep
 * DeriveKeyPair (§7.1.3) on noble, and the tests check that both give the same bytes.
 *
 * Keys enter as DER assembled here from their raw RFC 9180 serialisations: PKCS #8 (RFC 5958)
 * around an RFC 5915 ECPrivateKey (NIST) or an RFC 8410 CurvePrivateKey (X25519/X448), and
 * SubjectPublicKeyInfo (RFC 5480, RFC 8410) around the point. The raw key is always the last
 * field, so each template is a fixed prefix.
 *
 * Wiping: the DER copy of a private key is wiped as soon as node:crypto has imported it, a
 * plaintext the AEAD refused is wiped before the error is thrown, and every result is a buffer
 * the caller owns. What this module cannot wipe: node:crypto's own copies of what it is given
 * (the private key inside a KeyObject, the DH output before it is copied out, the AEAD key and
 * state inside a Cipher); they live in native memory until the objects are collected. The
 * ephemeral private keys of Encap are generated natively and never reach JavaScript at all.
 */
import type { Buffer } from "node:buffer";
import type * as NodeCrypto from "node:crypto";
import { concat, wipe } from "../bytes.ts";
import { DER, derInteger, tlv } from "../der.ts";
import type { Ephemeral, KeyArithmetic } from "./kem.ts";

type NodeCryptoModule = typeof NodeCrypto;

/** node:crypto, if this runtime has it; never a static import (see above). */
const node: NodeCryptoModule | undefined = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
    .process;
  try {
    const mod = proc?.getBuiltinModule?.("node:crypto") as NodeCryptoModule | undefined;
    return typeof mod?.diffieHellman === "function" ? mod : undefined;
  } catch {
    return undefined;
  }
})();

/** node:crypto reads keys from any Uint8Array at run time; its types ask for a Buffer. */
const asBuffer = (b: Uint8Array) => b as unknown as Buffer;
/** A node:crypto Buffer as a plain Uint8Array over the same bytes (wiping one wipes both). */
const plain = (b: Uint8Array) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

// ---- DER templates ----

const { SEQUENCE, BIT_STRING, OCTET_STRING, OBJECT_IDENTIFIER } = DER;
const oid = (...bytes: number[]) => tlv(OBJECT_IDENTIFIER, Uint8Array.from(bytes));

/** id-ecPublicKey, 1.2.840.10045.2.1 (RFC 5480 §2.1.1) */
const EC_PUBLIC_KEY = oid(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01);

/** The DER bytes that precede a `keyLength`-byte key placed last by `template`. */
function prefixOf(template: (key: Uint8Array) => Uint8Array, keyLength: number): Uint8Array {
  const der = template(new Uint8Array(keyLength));
  return der.slice(0, der.length - keyLength);
}

interface Params {
  /** What node:crypto's generateKeyPairSync calls the key type. */
  type: "ec" | "x25519" | "x448";
  namedCurve?: string;
  algorithm: Uint8Array;
  Nsk: number;
  Npk: number;
}

const ec = (namedCurve: string, curveOid: Uint8Array, Nsk: number, Npk: number): Params => ({
  type: "ec",
  namedCurve,
  algorithm: tlv(SEQUENCE, EC_PUBLIC_KEY, curveOid),
  Nsk,
  Npk,
});
const xdh = (type: "x25519" | "x448", curveOid: Uint8Array, N: number): Params => ({
  type,
  algorithm: tlv(SEQUENCE, curveOid),
  Nsk: N,
  Npk: N,
});

export type CurveName = "P-256" | "P-384" | "P-521" | "X25519" | "X448";

const CURVES: Record<CurveName, Params> = {
  // prime256v1 1.2.840.10045.3.1.7, secp384r1 1.3.132.0.34, secp521r1 1.3.132.0.35 (RFC 5480)
  "P-256": ec("prime256v1", oid(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07), 32, 65),
  "P-384": ec("secp384r1", oid(0x2b, 0x81, 0x04, 0x00, 0x22), 48, 97),
  "P-521": ec("secp521r1", oid(0x2b, 0x81, 0x04, 0x00, 0x23), 66, 133),
  // id-X25519 1.3.101.110, id-X448 1.3.101.111 (RFC 8410 §3)
  X25519: xdh("x25519", oid(0x2b, 0x65, 0x6e), 32),
  X448: xdh("x448", oid(0x2b, 0x65, 0x6f), 56),
};

/**
 * X25519, X448, P-256, P-384 or P-521 on node:crypto, or `undefined` where node:crypto is
 * missing or refuses the curve. Inputs must already be validated (RFC 9180 §7.1.4); outputs are
 * fresh buffers the caller owns.
 */
export function nativeCurve(name: CurveName): KeyArithmetic | undefined {
  if (!node) return undefined;
  const crypto = node;
  const { type, namedCurve, algorithm, Nsk, Npk } = CURVES[name];
  // OneAsymmetricKey { version 0, algorithm, privateKey OCTET STRING { ... } } (RFC 5958 §2)
  const pkcs8 = prefixOf(
    (sk) =>
      tlv(
        SEQUENCE,
        derInteger(0),
        algorithm,
        tlv(
          OCTET_STRING,
          type === "ec"
            ? tlv(SEQUENCE, derInteger(1), tlv(OCTET_STRING, sk)) // ECPrivateKey (RFC 5915 §3)
            : tlv(OCTET_STRING, sk), // CurvePrivateKey (RFC 8410 §7)
        ),
      ),
    Nsk,
  );
  // SubjectPublicKeyInfo { algorithm, subjectPublicKey BIT STRING (no unused bits) }
  const spki = prefixOf(
    (pk) => tlv(SEQUENCE, algorithm, tlv(BIT_STRING, Uint8Array.of(0), pk)),
    Npk,
  );

  const importPrivate = (sk: Uint8Array) => {
    const der = new Uint8Array(pkcs8.length + Nsk);
    der.set(pkcs8);
    der.set(sk, pkcs8.length);
    try {
      return crypto.createPrivateKey({
        key: asBuffer(der),
        format: "der",
        type: "pkcs8",
      });
    } finally {
      wipe(der);
    }
  };
  const importPublic = (pk: Uint8Array) =>
    crypto.createPublicKey({
      key: asBuffer(concat(spki, pk)),
      format: "der",
      type: "spki",
    });
  const exportPublic = (key: NodeCrypto.KeyObject) =>
    plain(key.export({ format: "der", type: "spki" })).slice(-Npk);
  const exchange = (privateKey: NodeCrypto.KeyObject, pk: Uint8Array) =>
    plain(crypto.diffieHellman({ privateKey, publicKey: importPublic(pk) }));
  const generate = () =>
    type === "ec"
      ? crypto.generateKeyPairSync("ec", { namedCurve: namedCurve! })
      : type === "x25519"
      ? crypto.generateKeyPairSync("x25519")
      : crypto.generateKeyPairSync("x448");

  try {
    generate(); // the runtime may lack a curve (an OpenSSL build without X448, say)
  } catch {
    return undefined;
  }
  return Object.freeze({
    publicKey: (sk: Uint8Array) => exportPublic(crypto.createPublicKey(importPrivate(sk))),
    dh: (sk: Uint8Array, pk: Uint8Array) => exchange(importPrivate(sk), pk),
    ephemeral(): Ephemeral {
      const { privateKey, publicKey } = generate();
      return {
        publicKey: exportPublic(publicKey),
        dh: (pk) => exchange(privateKey, pk),
        dispose() {}, // nothing of it in JavaScript memory
      };
    },
  });
}

/** An AEAD on node:crypto: `seal` returns ct || tag, `open` the plaintext or throws. */
export interface NativeAead {
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array;
  /** Throws (anything) when the tag does not verify; the caller names the error. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array;
}

const TAG = 16;

/**
 * AES-GCM or ChaCha20-Poly1305 with a 16-byte tag on node:crypto, or `undefined` where it is
 * missing. Key and nonce sizes are the caller's to check.
 */
export function nativeAead(
  cipher: "aes-128-gcm" | "aes-256-gcm" | "chacha20-poly1305",
): NativeAead | undefined {
  if (!node || !node.getCiphers().includes(cipher)) return undefined;
  const crypto = node;
  const options = { authTagLength: TAG } as NodeCrypto.CipherGCMOptions;
  // One overload types all three: AEAD modes that take authTagLength, setAAD and an auth tag.
  const name = cipher as "aes-128-gcm";
  return Object.freeze({
    seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array) {
      const c = crypto.createCipheriv(name, key, nonce, options);
      c.setAAD(aad);
      const out = new Uint8Array(pt.length + TAG);
      out.set(c.update(pt));
      c.final(); // a stream mode: nothing is held back
      out.set(c.getAuthTag(), pt.length);
      return out;
    },
    open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array) {
      const body = ct.subarray(0, ct.length - TAG);
      const d = crypto.createDecipheriv(name, key, nonce, options);
      d.setAAD(aad);
      d.setAuthTag(ct.subarray(body.length));
      const pt = plain(d.update(body));
      try {
        d.final(); // verifies the tag; update() has already written unauthenticated plaintext
      } catch (e) {
        wipe(pt);
        throw e;
      }
      // Small outputs may sit in Buffer's shared pool: hand back a buffer of its own.
      if (pt.byteLength === pt.buffer.byteLength) return pt;
      const own = pt.slice();
      wipe(pt);
      return own;
    },
  });
}
