/**
 * The issuer's VOPRF keys (token type 0x0001) and their rotation, persisted in `DIR/keys.json`
 * in the issuer key file format of protocol/privacypass/redeem.ts (with secret keys, mode 0600).
 *
 * Epochs: epoch k is issued with from notBefore_k until notBefore_{k+1} = notBefore_k + rotate;
 * its tokens stay redeemable until notAfter_k = notBefore_{k+1} + accept. The next epoch's key is
 * made one rotation ahead, so origins reading `DIR/origin-keys.json` (written at every change)
 * know a key before any token of it exists. Keys past notAfter are dropped and wiped.
 */
import { equalBytes, wipe } from "../../protocol/bytes.ts";
import {
  formatIssuerKeys,
  type IssuerKey,
  type IssuerKeys,
  parseIssuerKeys,
  voprf,
} from "../../protocol/privacypass.ts";
import { readIfExists, writeAtomic } from "../common/files.ts";

export interface RotationPolicy {
  /** Seconds each key is issued with. */
  rotate: number;
  /** Seconds its tokens stay redeemable after the next key takes over. */
  accept: number;
}

export class IssuerKeyStore {
  #keys: IssuerKeys;
  /** The files lag the keys in memory: a write failed (or never happened) and must be redone. */
  #dirty = false;

  private constructor(
    readonly dir: string,
    readonly policy: RotationPolicy,
    keys: IssuerKeys,
  ) {
    this.#keys = keys;
  }

  /** Loads `DIR/keys.json` (or starts empty) and brings the keys up to date for `now`. */
  static async open(
    dir: string,
    issuerName: string,
    policy: RotationPolicy,
    now: number,
  ): Promise<IssuerKeyStore> {
    const bytes = await readIfExists(`${dir}/keys.json`);
    const keys = bytes
      ? parseIssuerKeys(new TextDecoder().decode(bytes))
      : { issuerName, keys: [] };
    if (keys.issuerName !== issuerName) {
      throw new Error(
        `${dir}/keys.json belongs to issuer "${keys.issuerName}", not "${issuerName}"`,
      );
    }
    const store = new IssuerKeyStore(dir, policy, keys);
    // A crash between the two writes, or before the first, left origin-keys.json behind
    // keys.json; nothing may change on this refresh, so compare rather than wait for a change.
    const origin = await readIfExists(`${dir}/origin-keys.json`);
    store.#dirty = !bytes || !origin || !equalBytes(origin, bytes);
    await store.refresh(now);
    return store;
  }

  get issuerName(): string {
    return this.#keys.issuerName;
  }

  /** The key to issue with at `now`: the newest whose notBefore has passed. */
  current(now: number): IssuerKey {
    const k = this.#keys.keys
      .filter((k) => k.notBefore <= now && now < k.notBefore + this.policy.rotate)
      .sort((a, b) => b.notBefore - a.notBefore)[0];
    if (!k) throw new Error("no issuing key for now: refresh() was not called");
    return k;
  }

  /** Keys for the directory, newest first (the next epoch's included, with its not-before). */
  published(now: number): IssuerKey[] {
    return this.#keys.keys.filter((k) => now <= k.notAfter).sort((a, b) =>
      b.notBefore - a.notBefore
    );
  }

  /**
   * Rotates as `now` requires: makes the current and next epoch keys if missing, drops (and wipes)
   * expired ones, and persists `keys.json` and `origin-keys.json` when anything changed.
   */
  async refresh(now: number): Promise<boolean> {
    const { rotate, accept } = this.policy;
    let changed = false;
    const kept = this.#keys.keys.filter((k) => {
      if (now <= k.notAfter) return true;
      wipe(k.secretKey);
      changed = true;
      return false;
    });
    const covering = (t: number) => kept.find((k) => k.notBefore <= t && t < k.notBefore + rotate);
    let epoch = kept.reduce((m, k) => Math.max(m, k.epoch), 0);
    let current = covering(now);
    if (!current) {
      current = makeKey(++epoch, now, rotate, accept);
      kept.push(current);
      changed = true;
    }
    const next = current.notBefore + rotate;
    if (!covering(next)) {
      kept.push(makeKey(++epoch, next, rotate, accept));
      changed = true;
    }
    this.#keys = { issuerName: this.#keys.issuerName, keys: kept };
    if (changed) this.#dirty = true;
    if (this.#dirty) await this.#persist();
    return changed;
  }

  /** Writes both files; only when both are written do they stop lagging (a failure retries). */
  async #persist(): Promise<void> {
    const text = new TextEncoder().encode(formatIssuerKeys(this.#keys));
    await writeAtomic(`${this.dir}/keys.json`, text, 0o600);
    await writeAtomic(`${this.dir}/origin-keys.json`, text, 0o600);
    this.#dirty = false;
  }
}

function makeKey(epoch: number, notBefore: number, rotate: number, accept: number): IssuerKey {
  const { secretKey, publicKey } = voprf.generateKeyPair();
  return {
    tokenType: 1,
    epoch,
    keyId: voprf.tokenKeyId(publicKey),
    publicKey,
    secretKey,
    notBefore,
    notAfter: notBefore + rotate + accept,
  };
}
