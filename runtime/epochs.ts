/**
 * Key epochs (DESIGN.md "Key binding and evidence"): a fresh HPKE key pair and OHTTP KeyConfig per
 * epoch, with evidence whose REPORT_DATA binds the KeyConfig and the epoch's span. The previous
 * epoch stays accepted for a grace period (clients that fetched its config just before rotation),
 * then its private key is zeroed: after that, nothing here can open a request sealed to it
 * (forward security).
 *
 * Key ids count up modulo 256 (RFC 9458 §3: one byte), so a rotation never reuses the id of a
 * config that is still accepted. Time is injected (`now`), so tests rotate without waiting.
 */
import { DHKEM_X25519_HKDF_SHA256 } from "../protocol/hpke.ts";
import { encodeKeyConfig, encodeKeyConfigs, type GatewayKey } from "../protocol/ohttp.ts";
import { type BindingClaims, reportData } from "../protocol/evidence.ts";
import { wipe } from "../protocol/bytes.ts";
import type { Evidence, EvidenceProvider } from "../attestation/providers/provider.ts";

/** HKDF-SHA256 with AES-128-GCM, then ChaCha20-Poly1305 (RFC 9180 §7.2, §7.3 ids). */
export const ALGORITHMS = [{ kdfId: 0x0001, aeadId: 0x0001 }, { kdfId: 0x0001, aeadId: 0x0003 }];

export interface Epoch {
  /** Monotonic epoch number; `keyId` is its low byte. */
  readonly number: number;
  readonly key: GatewayKey;
  /** The KeyConfig's encoding (RFC 9458 §3.1), as bound in the claims. */
  readonly keyConfig: Uint8Array;
  readonly claims: BindingClaims;
  readonly evidence: Evidence;
  /** Unix seconds after which the epoch's key is refused and wiped. */
  readonly retireAt: number;
}

/**
 * No key is current: none was made yet, or the last epoch ended while rotation kept failing (its
 * evidence vouches for it only until then, and its key must go). The gateway answers 503.
 */
export class NoEpochError extends Error {
  override readonly name = "NoEpochError";
}

export interface EpochOptions {
  provider: EvidenceProvider;
  /** Epoch length in seconds (default 600). */
  lengthSeconds?: number;
  /** How long a superseded key is still accepted, in seconds (default 60). */
  graceSeconds?: number;
  now?: () => number;
  /**
   * Run after a private key is wiped (default: V8's `gc()` when the process has it, i.e. runs
   * with --expose-gc, as the runtime does). node:crypto copies the key into a KeyObject at every
   * decapsulation (protocol/hpke/native.ts), and each request's DH output and AEAD key live in
   * native objects too; they are freed, and with MALLOC_PERTURB_ overwritten, only when the
   * collector finalises their wrappers — which a quiet runtime might not do for hours.
   */
  collect?: () => void;
}

const v8Collect = () => (globalThis as { gc?: () => void }).gc?.();

export class KeyEpochs {
  readonly #provider: EvidenceProvider;
  readonly #length: number;
  readonly #grace: number;
  readonly #now: () => number;
  readonly #collect: () => void;
  #current?: Epoch;
  #previous?: Epoch;
  #count = 0;

  constructor(options: EpochOptions) {
    this.#provider = options.provider;
    this.#length = options.lengthSeconds ?? 600;
    this.#grace = options.graceSeconds ?? 60;
    this.#now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.#collect = options.collect ?? v8Collect;
    if (!(this.#length >= 1) || !(this.#grace >= 0) || this.#grace > this.#length) {
      throw new RangeError(
        `epoch length ${this.#length}s and grace ${this.#grace}s: need length ≥ 1 and 0 ≤ grace ≤ length`,
      );
    }
  }

  get graceSeconds(): number {
    return this.#grace;
  }

  get lengthSeconds(): number {
    return this.#length;
  }

  /** The epoch new clients should use; NoEpochError when there is none (see there). */
  get current(): Epoch {
    this.expire();
    if (!this.#current) {
      throw new NoEpochError(
        this.#count === 0
          ? "no key epoch yet"
          : "no current key epoch: the last one ended and its successor could not be attested",
      );
    }
    return this.#current;
  }

  /** Keys a request may be sealed to now: the current one and a superseded one in its grace. */
  gatewayKeys(): GatewayKey[] {
    this.expire();
    return [this.#current, this.#previous].filter((e) => e !== undefined).map((e) => e.key);
  }

  /** `application/ohttp-keys` of the current epoch only: new clients never get a retiring key. */
  keyConfigs(): Uint8Array {
    return encodeKeyConfigs([this.current.key.config]);
  }

  /** Whether the current epoch is due for rotation. */
  due(): boolean {
    return !this.#current || this.#now() >= this.#current.claims.epochEnd - this.#grace;
  }

  /**
   * Starts a new epoch: generates its key, gets evidence bound to it, then retires the current
   * epoch into its grace period (wiping any older one). Evidence comes first, so a provider
   * failure leaves the running epoch untouched.
   */
  async rotate(): Promise<Epoch> {
    const number = this.#count;
    const pair = DHKEM_X25519_HKDF_SHA256.generateKeyPair();
    const config = {
      keyId: number & 0xff,
      kemId: DHKEM_X25519_HKDF_SHA256.id,
      publicKey: pair.publicKey,
      algorithms: ALGORITHMS,
    };
    const keyConfig = encodeKeyConfig(config);
    const start = this.#now();
    // The claims cover the grace period too: a key is advertised for `length` seconds and
    // accepted for `grace` more, and the evidence must vouch for it the whole time.
    const claims: BindingClaims = {
      keyConfig,
      epochStart: start,
      epochEnd: start + this.#length + this.#grace,
    };
    let evidence: Evidence;
    try {
      evidence = await this.#provider.getEvidence(reportData(claims));
    } catch (e) {
      wipe(pair.privateKey);
      throw e;
    }
    const epoch: Epoch = {
      number,
      key: { config, privateKey: pair.privateKey },
      keyConfig,
      claims,
      evidence,
      retireAt: start + this.#length + this.#grace,
    };
    this.#count++;
    if (this.#previous) this.#wipe(this.#previous);
    if (this.#current) {
      // Superseded now: accepted until `grace` seconds from now, never past its claims.
      const retireAt = Math.min(this.#current.claims.epochEnd, start + this.#grace);
      this.#previous = { ...this.#current, retireAt };
    }
    this.#current = epoch;
    return epoch;
  }

  /** Fresh evidence for the current epoch's key bound to a client nonce (1..64 bytes). */
  async evidenceWithNonce(
    nonce: Uint8Array,
  ): Promise<{ claims: BindingClaims; evidence: Evidence }> {
    const epoch = this.current;
    const claims: BindingClaims = { ...epoch.claims, nonce };
    return { claims, evidence: await this.#provider.getEvidence(reportData(claims)) };
  }

  /** Wipes every private key (shutdown). */
  close(): void {
    for (const e of [this.#current, this.#previous]) if (e) this.#wipe(e);
    this.#current = this.#previous = undefined;
  }

  /**
   * Wipes the superseded key once its grace is over, and the current one at the end of its
   * epoch if no rotation has replaced it (the provider failing all along): forward security
   * holds whether or not new evidence comes. Requests call it, and so must a timer: with no
   * traffic a key would otherwise stay in memory until the next rotation.
   */
  expire(): void {
    const now = this.#now();
    if (this.#previous && now >= this.#previous.retireAt) {
      this.#wipe(this.#previous);
      this.#previous = undefined;
    }
    if (this.#current && now >= this.#current.retireAt) {
      this.#wipe(this.#current);
      this.#current = undefined;
    }
  }

  /** Zeroes an epoch's private key, then has the native copies of it collected (`collect`). */
  #wipe(epoch: Epoch): void {
    wipe(epoch.key.privateKey);
    this.#collect();
  }
}
