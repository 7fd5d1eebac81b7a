/**
 * HPKE AEADs (RFC 9180 §7.3): AES-128-GCM (0x0001), AES-256-GCM (0x0002) and ChaCha20-Poly1305
 * (0x0003), and the export-only marker 0xFFFF, whose contexts only export.
 *
 * `seal(key, nonce, aad, pt)` returns ct || tag in a fresh buffer; `open` returns the plaintext or
 * throws `open-failed` (never a partial plaintext). Each runs on node:crypto where the platform
 * has it (protocol/hpke/native.ts: 3-10x faster, and keeps its own copy of the key and cipher
 * state in native memory until the object is collected) and on @noble/ciphers otherwise, which
 * wipes its expanded keys after each call; `aead.arithmetic` says which.
 *
 * `sealAsync` / `openAsync` hand AES-GCM messages of BULK_THRESHOLD bytes or more to WebCrypto,
 * which is faster still on large inputs; smaller messages and ChaCha20-Poly1305 take the
 * synchronous path. Limit: WebCrypto keeps its own copy of the key inside a CryptoKey this module
 * cannot wipe (it is released with the object).
 */
import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import type { Cipher } from "@noble/ciphers/utils.js";
import { HpkeError, idHex } from "./errors.ts";
import { type NativeAead, nativeAead } from "./native.ts";

export interface Aead {
  /** RFC 9180 §7.3 identifier. */
  readonly id: number;
  readonly name: string;
  /** What computes it: node:crypto where the platform has it, else @noble (none: export-only). */
  readonly arithmetic: "node:crypto" | "@noble" | "none";
  /** Key, nonce and tag lengths in bytes (all 0 for export-only). */
  readonly Nk: number;
  readonly Nn: number;
  readonly Nt: number;
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array;
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array;
  sealAsync(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    pt: Uint8Array,
  ): Promise<Uint8Array>;
  openAsync(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    ct: Uint8Array,
  ): Promise<Uint8Array>;
}

/** Messages at least this long go to WebCrypto in the async AES-GCM path. */
export const BULK_THRESHOLD = 4096;

/** WebCrypto's types want ArrayBuffer-backed views; ours always are (never SharedArrayBuffer). */
const view = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;

type CipherFactory = (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) => Cipher;

function openFailed(name: string, cause?: unknown): HpkeError {
  return new HpkeError("open-failed", `${name} authentication failed`, { cause });
}

function aead(
  id: number,
  name: string,
  Nk: number,
  cipher: CipherFactory,
  native: NativeAead | undefined,
  subtle: boolean,
): Aead {
  // §7.3 fixes Nk and Nn: no AES-192 through a 128-bit suite, no GHASH-derived counter blocks.
  const checkSizes = (key: Uint8Array, nonce: Uint8Array) => {
    if (key.length !== Nk || nonce.length !== 12) {
      throw new HpkeError(
        "invalid-length",
        `${name} takes a ${Nk}-byte key and a 12-byte nonce, not ${key.length} and ${nonce.length}`,
      );
    }
  };
  const seal = (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array) => {
    checkSizes(key, nonce);
    return native ? native.seal(key, nonce, aad, pt) : cipher(key, nonce, aad).encrypt(pt);
  };
  const open = (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array) => {
    checkSizes(key, nonce);
    if (ct.length < 16) throw openFailed(name);
    try {
      return native ? native.open(key, nonce, aad, ct) : cipher(key, nonce, aad).decrypt(ct);
    } catch (e) {
      throw openFailed(name, e);
    }
  };
  const importKey = (key: Uint8Array, usage: KeyUsage) =>
    crypto.subtle.importKey("raw", view(key), "AES-GCM", false, [usage]);
  return Object.freeze({
    id,
    name,
    arithmetic: native ? "node:crypto" : "@noble",
    Nk,
    Nn: 12,
    Nt: 16,
    seal,
    open,
    async sealAsync(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array) {
      if (!subtle || pt.length < BULK_THRESHOLD) return seal(key, nonce, aad, pt);
      checkSizes(key, nonce);
      const params = { name: "AES-GCM", iv: view(nonce), additionalData: view(aad) };
      return new Uint8Array(
        await crypto.subtle.encrypt(params, await importKey(key, "encrypt"), view(pt)),
      );
    },
    async openAsync(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array) {
      if (!subtle || ct.length < BULK_THRESHOLD) return open(key, nonce, aad, ct);
      checkSizes(key, nonce);
      const params = { name: "AES-GCM", iv: view(nonce), additionalData: view(aad) };
      const cryptoKey = await importKey(key, "decrypt");
      try {
        return new Uint8Array(await crypto.subtle.decrypt(params, cryptoKey, view(ct)));
      } catch (e) {
        throw openFailed(name, e);
      }
    },
  });
}

export const AES_128_GCM: Aead = aead(
  0x0001,
  "AES-128-GCM",
  16,
  gcm,
  nativeAead("aes-128-gcm"),
  true,
);
export const AES_256_GCM: Aead = aead(
  0x0002,
  "AES-256-GCM",
  32,
  gcm,
  nativeAead("aes-256-gcm"),
  true,
);
export const CHACHA20_POLY1305: Aead = aead(
  0x0003,
  "ChaCha20-Poly1305",
  32,
  chacha20poly1305,
  nativeAead("chacha20-poly1305"),
  false,
);

const exportOnlyError = () =>
  new HpkeError("export-only", "the export-only AEAD (0xFFFF) cannot seal or open");
const exportOnly = (): never => {
  throw exportOnlyError();
};

/** RFC 9180 §7.3 "Export-only": contexts of this suite only export secrets. */
export const EXPORT_ONLY: Aead = Object.freeze({
  id: 0xffff,
  name: "Export-only",
  arithmetic: "none",
  Nk: 0,
  Nn: 0,
  Nt: 0,
  seal: exportOnly,
  open: exportOnly,
  sealAsync: () => Promise.reject(exportOnlyError()),
  openAsync: () => Promise.reject(exportOnlyError()),
});

const AEADS: ReadonlyMap<number, Aead> = new Map(
  [AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305, EXPORT_ONLY].map((a) => [a.id, a]),
);

/** The AEAD for an RFC 9180 identifier; `unsupported-aead` for any other. */
export function aeadById(id: number): Aead {
  const aead = AEADS.get(id);
  if (!aead) throw new HpkeError("unsupported-aead", `unsupported HPKE AEAD ${idHex(id)}`);
  return aead;
}
