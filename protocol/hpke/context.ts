/**
 * The HPKE key schedule and encryption contexts (RFC 9180 §5.1 – §5.3).
 *
 *   psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id)
 *   info_hash   = LabeledExtract("", "info_hash", info)
 *   ksc         = mode || psk_id_hash || info_hash
 *   secret      = LabeledExtract(shared_secret, "secret", psk)
 *   key = LabeledExpand(secret, "key", ksc, Nk); base_nonce = ... "base_nonce" ... Nn;
 *   exporter_secret = ... "exp" ... Nh
 *
 * A context owns four secret buffers (shared secret, key, base nonce, exporter secret); they are
 * readable for conformance checks and wiped by `dispose()` / `[Symbol.dispose]`, after which every
 * call fails with `disposed`. Each Seal/Open uses nonce = base_nonce XOR I2OSP(seq, Nn) and then
 * increments seq; the last sequence number 2^(8*Nn) - 1 is never used (`message-limit`, §5.2).
 * A failed Open leaves seq unchanged.
 *
 * Contexts come from `CipherSuite.setupSender` / `setupRecipient` (protocol/hpke.ts); their
 * constructor, which also takes a starting sequence number, is for that module and tests only.
 */
import { concat, i2osp, utf8, wipe } from "../bytes.ts";
import type { Aead } from "./aead.ts";
import { HpkeError } from "./errors.ts";
import type { Kdf } from "./kdf.ts";

/** RFC 9180 §5 modes. */
export const Mode = { Base: 0x00, Psk: 0x01, Auth: 0x02, AuthPsk: 0x03 } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];

/** What a context needs to know about its suite. */
export interface SuiteParams {
  /** "HPKE" || kem_id || kdf_id || aead_id */
  readonly id: Uint8Array;
  readonly kdf: Kdf;
  readonly aead: Aead;
}

/** The key schedule's inputs besides the shared secret, after VerifyPSKInputs (§5.1). */
export interface ScheduleInputs {
  mode: Mode;
  info: Uint8Array;
  psk: Uint8Array;
  pskId: Uint8Array;
}

export interface ScheduleSecrets {
  sharedSecret: Uint8Array;
  key: Uint8Array;
  baseNonce: Uint8Array;
  exporterSecret: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const LABEL = {
  pskIdHash: utf8("psk_id_hash"),
  infoHash: utf8("info_hash"),
  secret: utf8("secret"),
  key: utf8("key"),
  baseNonce: utf8("base_nonce"),
  exp: utf8("exp"),
  sec: utf8("sec"),
};

/**
 * KeySchedule<ROLE>() of §5.1. Takes ownership of `sharedSecret` (it ends up in the returned
 * secrets, or wiped on failure); wipes the intermediate `secret`.
 */
export function keySchedule(
  suite: SuiteParams,
  { mode, info, psk, pskId }: ScheduleInputs,
  sharedSecret: Uint8Array,
): ScheduleSecrets {
  const { id, kdf, aead } = suite;
  const pskIdHash = kdf.labeledExtract(id, EMPTY, LABEL.pskIdHash, pskId);
  const infoHash = kdf.labeledExtract(id, EMPTY, LABEL.infoHash, info);
  const ksc = concat(Uint8Array.of(mode), pskIdHash, infoHash);
  const secret = kdf.labeledExtract(id, sharedSecret, LABEL.secret, psk);
  const out: Partial<ScheduleSecrets> = { sharedSecret };
  try {
    out.key = kdf.labeledExpand(id, secret, LABEL.key, ksc, aead.Nk);
    out.baseNonce = kdf.labeledExpand(id, secret, LABEL.baseNonce, ksc, aead.Nn);
    out.exporterSecret = kdf.labeledExpand(id, secret, LABEL.exp, ksc, kdf.Nh);
    return out as ScheduleSecrets;
  } catch (e) {
    wipe(sharedSecret, out.key, out.baseNonce, out.exporterSecret);
    throw e;
  } finally {
    wipe(secret);
  }
}

/** Shared by sender and recipient contexts: secrets, sequence numbers, Export, disposal. */
export class Context implements Disposable {
  readonly #suite: SuiteParams;
  readonly #secrets: ScheduleSecrets;
  /** The sequence number of the next message; 2^(8*Nn) - 1 is never used. */
  #seq: bigint;
  readonly #limit: bigint;
  #disposed = false;

  constructor(suite: SuiteParams, readonly mode: Mode, secrets: ScheduleSecrets, sequence = 0n) {
    this.#suite = suite;
    this.#secrets = secrets;
    this.#limit = (1n << BigInt(8 * suite.aead.Nn)) - 1n;
    if (sequence < 0n || sequence > this.#limit) {
      throw new RangeError(`sequence number ${sequence} outside [0, 2^${8 * suite.aead.Nn} - 1]`);
    }
    this.#seq = sequence;
  }

  /** The shared secret the KEM produced (§4). Owned by the context: zero after dispose. */
  get sharedSecret(): Uint8Array {
    return this.#secrets.sharedSecret;
  }
  /** The AEAD key (Nk bytes). Owned by the context: zero after dispose. */
  get key(): Uint8Array {
    return this.#secrets.key;
  }
  /** The base nonce (Nn bytes). Owned by the context: zero after dispose. */
  get baseNonce(): Uint8Array {
    return this.#secrets.baseNonce;
  }
  /** The exporter secret (Nh bytes). Owned by the context: zero after dispose. */
  get exporterSecret(): Uint8Array {
    return this.#secrets.exporterSecret;
  }
  /** The sequence number the next Seal or Open will use. */
  get sequence(): bigint {
    return this.#seq;
  }
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Export(exporter_context, L) of §5.3: LabeledExpand(exporter_secret, "sec", ctx, L). */
  export(exporterContext: Uint8Array, L: number): Uint8Array {
    this.#live();
    const { id, kdf } = this.#suite;
    return kdf.labeledExpand(id, this.#secrets.exporterSecret, LABEL.sec, exporterContext, L);
  }

  /** Wipes every secret the context holds; idempotent. */
  dispose(): void {
    const s = this.#secrets;
    wipe(s.sharedSecret, s.key, s.baseNonce, s.exporterSecret);
    this.#disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * Reserves the current sequence number and returns its nonce (ComputeNonce, §5.2). The
   * reservation is taken before any await, so concurrent async calls never share a nonce.
   */
  protected reserveNonce(): { nonce: Uint8Array; seq: bigint } {
    this.#live();
    const { aead } = this.#suite;
    if (aead.Nn === 0) {
      throw new HpkeError(
        "export-only",
        "an export-only context (AEAD 0xFFFF) cannot seal or open",
      );
    }
    const seq = this.#seq;
    if (seq >= this.#limit) {
      throw new HpkeError("message-limit", `sequence number limit 2^${8 * aead.Nn} - 1 reached`);
    }
    this.#seq = seq + 1n;
    const nonce = i2osp(seq, aead.Nn);
    const base = this.#secrets.baseNonce;
    for (let i = 0; i < nonce.length; i++) nonce[i] ^= base[i];
    return { nonce, seq };
  }

  /** Gives a reservation back after a failed Open, unless a later call already took the next. */
  protected release(seq: bigint): void {
    if (this.#seq === seq + 1n) this.#seq = seq;
  }

  protected get aead(): Aead {
    return this.#suite.aead;
  }

  #live(): void {
    if (this.#disposed) throw new HpkeError("disposed", "HPKE context used after dispose()");
  }
}

export class SenderContext extends Context {
  /** ContextS.Seal(aad, pt) of §5.2. */
  seal(plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    const { nonce } = this.reserveNonce();
    try {
      return this.aead.seal(this.key, nonce, aad, plaintext);
    } finally {
      wipe(nonce);
    }
  }

  /** Seal with bulk AES-GCM on WebCrypto (see protocol/hpke/aead.ts for the trade-off). */
  async sealAsync(plaintext: Uint8Array, aad: Uint8Array = EMPTY): Promise<Uint8Array> {
    const { nonce } = this.reserveNonce();
    try {
      return await this.aead.sealAsync(this.key, nonce, aad, plaintext);
    } finally {
      wipe(nonce);
    }
  }
}

export class RecipientContext extends Context {
  /** ContextR.Open(aad, ct) of §5.2: `open-failed` leaves the sequence number unchanged. */
  open(ciphertext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    const { nonce, seq } = this.reserveNonce();
    try {
      return this.aead.open(this.key, nonce, aad, ciphertext);
    } catch (e) {
      this.release(seq);
      throw e;
    } finally {
      wipe(nonce);
    }
  }

  /** Open with bulk AES-GCM on WebCrypto (see protocol/hpke/aead.ts for the trade-off). */
  async openAsync(ciphertext: Uint8Array, aad: Uint8Array = EMPTY): Promise<Uint8Array> {
    const { nonce, seq } = this.reserveNonce();
    try {
      return await this.aead.openAsync(this.key, nonce, aad, ciphertext);
    } catch (e) {
      this.release(seq);
      throw e;
    } finally {
      wipe(nonce);
    }
  }
}
