/**
 * Hybrid Public Key Encryption, RFC 9180: every mode (base, psk, auth, auth_psk),
 * the KEMs DHKEM(P-256 | P-384 | P-521 | X25519 | X448), the KDFs HKDF-SHA256/384/512 and the
 * AEADs AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 and export-only; synchronous throughout.
 *
 *   const suite = new CipherSuite(0x0020, 0x0001, 0x0001);   // X25519, HKDF-SHA256, AES-128-GCM
 *   const kp = suite.kem.generateKeyPair();
 *   const { enc, ciphertext } = suite.seal(kp.publicKey, pt, { info, aad });        // §6.1
 *   const pt2 = suite.open(enc, kp, ciphertext, { info, aad });
 *
 *   const { enc, context } = suite.setupSender(pkR, { info });  // SetupBaseS (§5.1.1)
 *   using ctx = context; ctx.seal(m1); ctx.seal(m2); ctx.export(label, 32);
 *
 * The mode follows from the options: `psk` selects psk mode, `sender` (setupSender) or
 * `senderPublicKey` (setupRecipient) selects auth, both select auth_psk (§5.1.2 – §5.1.4).
 * Contexts own their secrets and wipe them on `dispose()` (§5.2 message limits enforced); the
 * single-shot calls dispose theirs before returning. Recipients pass their whole key pair: pkR
 * enters kem_context (§4.1) and recomputing it would cost a scalar multiplication per request.
 * Every failure is an `HpkeError` with a stable code (protocol/hpke/errors.ts).
 *
 * The curve and AEAD arithmetic runs on node:crypto where the platform has it (Deno, Node >= 22.3)
 * and on @noble otherwise; validation, the key schedule and DeriveKeyPair are the same code either
 * way (protocol/hpke/native.ts; `nobleKem(id)` for a KEM on @noble alone).
 * `sealAsync`/`openAsync` differ only in handing bulk AES-GCM to WebCrypto (protocol/hpke/aead.ts).
 * Limits: the PSK must be at least 32 bytes (§5.1.2 asks for 32 bytes of entropy); copies this
 * module cannot wipe are node:crypto's and WebCrypto's internal key copies (protocol/hpke/native.ts)
 * and, on @noble, its BigInt scalars (protocol/hpke/kem.ts).
 */
import { concat, i2osp, utf8 } from "./bytes.ts";
import { type Aead, aeadById } from "./hpke/aead.ts";
import {
  keySchedule,
  Mode,
  RecipientContext,
  type ScheduleInputs,
  SenderContext,
  type SuiteParams,
} from "./hpke/context.ts";
import { HpkeError } from "./hpke/errors.ts";
import { type Kdf, kdfById } from "./hpke/kdf.ts";
import { type Kem, kemById, type KeyPair } from "./hpke/kem.ts";

export { AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305, EXPORT_ONLY } from "./hpke/aead.ts";
export type { Aead } from "./hpke/aead.ts";
export { Mode } from "./hpke/context.ts";
// Types only: contexts come from CipherSuite.setupSender/setupRecipient, never from raw secrets.
export type { Context, RecipientContext, SenderContext } from "./hpke/context.ts";
export { HpkeError, type HpkeErrorCode } from "./hpke/errors.ts";
export { HKDF_SHA256, HKDF_SHA384, HKDF_SHA512 } from "./hpke/kdf.ts";
export type { Kdf } from "./hpke/kdf.ts";
export {
  DHKEM_P256_HKDF_SHA256,
  DHKEM_P384_HKDF_SHA384,
  DHKEM_P521_HKDF_SHA512,
  DHKEM_X25519_HKDF_SHA256,
  DHKEM_X448_HKDF_SHA512,
  nobleKem,
} from "./hpke/kem.ts";
export type { Encapsulation, Kem, KeyPair } from "./hpke/kem.ts";

/** A pre-shared key and its identifier (§5.1.2); both or neither. */
export interface PreSharedKey {
  key: Uint8Array;
  id: Uint8Array;
}

export interface SenderOptions {
  /** Application-supplied info bound into the key schedule (default empty). */
  info?: Uint8Array;
  /** PSK mode. */
  psk?: PreSharedKey;
  /** Auth mode: the sender's static key pair. */
  sender?: KeyPair;
  /** A fixed ephemeral key pair, for test vectors only: reusing one breaks HPKE's security. */
  ephemeral?: KeyPair;
}

export interface RecipientOptions {
  info?: Uint8Array;
  psk?: PreSharedKey;
  /** Auth mode: the sender's static public key. */
  senderPublicKey?: Uint8Array;
}

export interface SealOptions extends SenderOptions {
  aad?: Uint8Array;
}

export interface OpenOptions extends RecipientOptions {
  aad?: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** VerifyPSKInputs (§5.1), with the mode chosen by the options themselves. */
function scheduleInputs(
  options: { info?: Uint8Array; psk?: PreSharedKey },
  auth: boolean,
): ScheduleInputs {
  const { info = EMPTY, psk } = options;
  if (!psk) return { mode: auth ? Mode.Auth : Mode.Base, info, psk: EMPTY, pskId: EMPTY };
  if (psk.key.length === 0 || psk.id.length === 0) {
    throw new HpkeError("invalid-psk", "inconsistent PSK inputs: a PSK needs both key and id");
  }
  if (psk.key.length < 32) {
    throw new HpkeError("invalid-psk", `PSK of ${psk.key.length} bytes; at least 32 are required`);
  }
  return { mode: auth ? Mode.AuthPsk : Mode.Psk, info, psk: psk.key, pskId: psk.id };
}

/** One KEM, KDF and AEAD: the suite_id of §5.1 and every RFC 9180 operation over it. */
export class CipherSuite {
  readonly kem: Kem;
  readonly kdf: Kdf;
  readonly aead: Aead;
  readonly #params: SuiteParams;

  /** Takes the algorithm objects or their RFC 9180 identifiers (`unsupported-*` otherwise). */
  constructor(kem: Kem | number, kdf: Kdf | number, aead: Aead | number) {
    this.kem = typeof kem === "number" ? kemById(kem) : kem;
    this.kdf = typeof kdf === "number" ? kdfById(kdf) : kdf;
    this.aead = typeof aead === "number" ? aeadById(aead) : aead;
    const id = concat(
      utf8("HPKE"),
      i2osp(this.kem.id, 2),
      i2osp(this.kdf.id, 2),
      i2osp(this.aead.id, 2),
    );
    this.#params = { id, kdf: this.kdf, aead: this.aead };
  }

  get name(): string {
    return `${this.kem.name}, ${this.kdf.name}, ${this.aead.name}`;
  }

  /** SetupBaseS / SetupPSKS / SetupAuthS / SetupAuthPSKS (§5.1). */
  setupSender(
    recipientPublicKey: Uint8Array,
    options: SenderOptions = {},
  ): { enc: Uint8Array; context: SenderContext } {
    const inputs = scheduleInputs(options, options.sender !== undefined);
    const { sharedSecret, enc } = this.kem.encap(recipientPublicKey, options);
    const secrets = keySchedule(this.#params, inputs, sharedSecret);
    return { enc, context: new SenderContext(this.#params, inputs.mode, secrets) };
  }

  /** SetupBaseR / SetupPSKR / SetupAuthR / SetupAuthPSKR (§5.1). */
  setupRecipient(
    enc: Uint8Array,
    recipient: KeyPair,
    options: RecipientOptions = {},
  ): RecipientContext {
    const inputs = scheduleInputs(options, options.senderPublicKey !== undefined);
    const sharedSecret = this.kem.decap(enc, recipient, options.senderPublicKey);
    const secrets = keySchedule(this.#params, inputs, sharedSecret);
    return new RecipientContext(this.#params, inputs.mode, secrets);
  }

  /** Single-shot Seal<MODE> (§6.1). */
  seal(
    recipientPublicKey: Uint8Array,
    plaintext: Uint8Array,
    options: SealOptions = {},
  ): { enc: Uint8Array; ciphertext: Uint8Array } {
    const { enc, context } = this.setupSender(recipientPublicKey, options);
    using ctx = context;
    return { enc, ciphertext: ctx.seal(plaintext, options.aad) };
  }

  /** Single-shot Open<MODE> (§6.1). */
  open(
    enc: Uint8Array,
    recipient: KeyPair,
    ciphertext: Uint8Array,
    options: OpenOptions = {},
  ): Uint8Array {
    using ctx = this.setupRecipient(enc, recipient, options);
    return ctx.open(ciphertext, options.aad);
  }

  /** `seal` with bulk AES-GCM on WebCrypto. */
  async sealAsync(
    recipientPublicKey: Uint8Array,
    plaintext: Uint8Array,
    options: SealOptions = {},
  ): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
    const { enc, context } = this.setupSender(recipientPublicKey, options);
    using ctx = context;
    return { enc, ciphertext: await ctx.sealAsync(plaintext, options.aad) };
  }

  /** `open` with bulk AES-GCM on WebCrypto. */
  async openAsync(
    enc: Uint8Array,
    recipient: KeyPair,
    ciphertext: Uint8Array,
    options: OpenOptions = {},
  ): Promise<Uint8Array> {
    using ctx = this.setupRecipient(enc, recipient, options);
    return await ctx.openAsync(ciphertext, options.aad);
  }

  /** Single-shot SendExport<MODE> (§6.2). */
  sendExport(
    recipientPublicKey: Uint8Array,
    exporterContext: Uint8Array,
    L: number,
    options: SenderOptions = {},
  ): { enc: Uint8Array; secret: Uint8Array } {
    const { enc, context } = this.setupSender(recipientPublicKey, options);
    using ctx = context;
    return { enc, secret: ctx.export(exporterContext, L) };
  }

  /** Single-shot ReceiveExport<MODE> (§6.2). */
  receiveExport(
    enc: Uint8Array,
    recipient: KeyPair,
    exporterContext: Uint8Array,
    L: number,
    options: RecipientOptions = {},
  ): Uint8Array {
    using ctx = this.setupRecipient(enc, recipient, options);
    return ctx.export(exporterContext, L);
  }
}
