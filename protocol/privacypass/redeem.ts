/**
 * Redemption at the origin (RFC 9577 §2.2.2, RFC 9578 §5.4 and §6.4) and the issuer key file that
 * hands an origin — Cloister's runtime — what it needs to redeem.
 *
 * Issuer key file (JSON, UTF-8), written by services/issuer (`export-origin-keys`):
 *
 *   {"format": "cloister-privacypass-keys/1",
 *    "issuerName": "issuer.example",
 *    "keys": [{"tokenType": 1, "epoch": 7, "keyId": "<hex SHA-256 of publicKey>",
 *              "publicKey": "<base64url token-key>", "secretKey": "<hex skI>",
 *              "notBefore": 1767225600, "notAfter": 1767312000}, ...]}
 *
 * - type 1 (VOPRF): `secretKey` is skI, SerializeScalar, hex — the origin recomputes the
 *   authenticator with it (privately verifiable: the origin holds the issuer's key);
 * - type 2 (blind RSA): no `secretKey` in an origin's file; `publicKey` is the SPKI;
 * - `notBefore`/`notAfter` (Unix seconds): the issuer issues with a key from notBefore until the
 *   next epoch's notBefore; origins accept its tokens until notAfter.
 *
 * Double spending: each key epoch has its own bounded set of spent tokens (keyed by nonce, which
 * the authenticator binds); a token is recorded only after it verified, so forgeries cannot fill
 * the set; a full set refuses every new token (`spent-set-full`) rather than forget one; a set is
 * dropped with its key once notAfter has passed, as that key's tokens are refused from then on.
 *
 * The challenge: the client cannot fetch a per-request WWW-Authenticate through OHTTP without a
 * round trip, so Cloister's origin accepts the fixed challenge `cloisterChallenge(issuerName,
 * tokenType)` (empty redemption_context, empty origin_info: RFC 9577 §2.1.1 "cross-origin") unless
 * the caller passes its own list.
 */
import { p384 } from "@noble/curves/nist.js";
import { equalBytes, fromHex, toHex } from "../bytes.ts";
import { fromBase64Url, toBase64Url } from "../base64.ts";
import type { RsaPublicKey } from "../rsabssa.ts";
import { decodePublicKey, tokenKeyId as rsaKeyId, verifyToken as verifyRsa } from "./blindrsa.ts";
import { challengeDigest, encodeTokenChallenge, PrivacyPassError, type Token } from "./token.ts";
import { tokenKeyId as voprfKeyId, verifyToken as verifyVoprf } from "./voprf.ts";

export const KEY_FILE_FORMAT = "cloister-privacypass-keys/1";

export interface IssuerKey {
  tokenType: 1 | 2;
  epoch: number;
  keyId: Uint8Array;
  /** The token-key encoding: SerializeElement(pkI) for type 1, the SPKI for type 2. */
  publicKey: Uint8Array;
  /** Type 1: skI. Absent for type 2 at an origin. Secret: never log. */
  secretKey?: Uint8Array;
  notBefore: number;
  notAfter: number;
}

export interface IssuerKeys {
  issuerName: string;
  keys: IssuerKey[];
}

const fail = (msg: string): never => {
  throw new PrivacyPassError("malformed-key-file", `issuer key file: ${msg}`);
};

/** Parses and checks an issuer key file: key ids match, secret keys match public keys. */
export function parseIssuerKeys(text: string): IssuerKeys {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    return fail("not JSON");
  }
  if (typeof doc !== "object" || doc === null) return fail("not an object");
  if (doc.format !== KEY_FILE_FORMAT) return fail(`format is not "${KEY_FILE_FORMAT}"`);
  if (typeof doc.issuerName !== "string" || doc.issuerName === "") return fail("no issuerName");
  if (!Array.isArray(doc.keys) || doc.keys.length === 0) return fail("no keys");
  const keys = doc.keys.map((k: Record<string, unknown>, i: number): IssuerKey => {
    const where = `keys[${i}]`;
    if (typeof k !== "object" || k === null || Array.isArray(k)) {
      return fail(`${where} is not an object`);
    }
    if (k.tokenType !== 1 && k.tokenType !== 2) return fail(`${where}.tokenType must be 1 or 2`);
    for (const f of ["epoch", "notBefore", "notAfter"]) {
      if (!Number.isSafeInteger(k[f]) || (k[f] as number) < 0) {
        return fail(`${where}.${f} must be an integer`);
      }
    }
    const bytes = (f: string, decode: (s: string) => Uint8Array) => {
      try {
        return decode(k[f] as string);
      } catch {
        return fail(`${where}.${f} is not valid`);
      }
    };
    const publicKey = bytes("publicKey", fromBase64Url);
    const keyId = bytes("keyId", fromHex);
    const key: IssuerKey = {
      tokenType: k.tokenType,
      epoch: k.epoch as number,
      keyId,
      publicKey,
      notBefore: k.notBefore as number,
      notAfter: k.notAfter as number,
    };
    if (k.tokenType === 1) {
      if (!equalBytes(voprfKeyId(publicKey), keyId)) {
        fail(`${where}.keyId is not SHA-256(publicKey)`);
      }
      if (k.secretKey !== undefined) {
        key.secretKey = bytes("secretKey", fromHex);
        if (!matchesVoprf(key.secretKey, publicKey)) {
          fail(`${where}.secretKey does not match publicKey`);
        }
      }
    } else {
      try {
        decodePublicKey(publicKey);
      } catch (e) {
        fail(`${where}.publicKey: ${(e as Error).message}`);
      }
      if (!equalBytes(rsaKeyId(publicKey), keyId)) fail(`${where}.keyId is not SHA-256(publicKey)`);
    }
    return key;
  });
  return { issuerName: doc.issuerName, keys };
}

function matchesVoprf(secretKey: Uint8Array, publicKey: Uint8Array): boolean {
  try {
    const k = p384.Point.Fn.fromBytes(secretKey);
    return equalBytes(p384.Point.BASE.multiply(k).toBytes(true), publicKey);
  } catch {
    return false;
  }
}

/** Formats a key file; `withSecrets` false drops every secretKey (for type 2 origins). */
export function formatIssuerKeys(keys: IssuerKeys, withSecrets = true): string {
  return JSON.stringify(
    {
      format: KEY_FILE_FORMAT,
      issuerName: keys.issuerName,
      keys: keys.keys.map((k) => ({
        tokenType: k.tokenType,
        epoch: k.epoch,
        keyId: toHex(k.keyId),
        publicKey: toBase64Url(k.publicKey),
        ...(withSecrets && k.secretKey ? { secretKey: toHex(k.secretKey) } : {}),
        notBefore: k.notBefore,
        notAfter: k.notAfter,
      })),
    },
    null,
    2,
  ) + "\n";
}

/** Cloister's fixed TokenChallenge: no redemption context, no origin info (cross-origin). */
export function cloisterChallenge(issuerName: string, tokenType: number): Uint8Array {
  return encodeTokenChallenge({
    tokenType,
    issuerName,
    redemptionContext: new Uint8Array(0),
    originInfo: [],
  });
}

/** The spent tokens of one key epoch, bounded: full means every new token is refused. */
export class SpentSet {
  readonly #seen = new Set<string>();
  constructor(readonly capacity: number) {}

  get size(): number {
    return this.#seen.size;
  }

  /** Records a nonce; false when it was already spent. Throws `spent-set-full` when full. */
  add(nonce: Uint8Array): boolean {
    const id = toHex(nonce);
    if (this.#seen.has(id)) return false;
    if (this.#seen.size >= this.capacity) {
      throw new PrivacyPassError("spent-set-full", "this key epoch's spent-token set is full");
    }
    this.#seen.add(id);
    return true;
  }
}

/** One SpentSet per key epoch, created on first use and dropped when the key expires. */
export class SpentTokens {
  readonly #sets = new Map<string, { set: SpentSet; notAfter: number }>();
  constructor(readonly capacityPerKey = 1 << 18) {}

  for(key: IssuerKey): SpentSet {
    const id = toHex(key.keyId);
    let entry = this.#sets.get(id);
    if (!entry) {
      entry = { set: new SpentSet(this.capacityPerKey), notAfter: key.notAfter };
      this.#sets.set(id, entry);
    }
    return entry.set;
  }

  /** Forgets the sets of keys past notAfter (their tokens are refused by time from then on). */
  prune(now: number): void {
    for (const [id, e] of this.#sets) if (e.notAfter < now) this.#sets.delete(id);
  }
}

export interface RedeemOptions {
  /** Unix seconds; default now. */
  now?: number;
  /** Accepted TokenChallenges (bytes); default `[cloisterChallenge(issuerName, type)]`. */
  challenges?: Uint8Array[];
}

/**
 * Redeems a token at the origin: finds its key by token_key_id, checks the key's validity window
 * and the challenge digest, verifies the authenticator (type 1 with skI, type 2 with the public
 * key), then records it as spent. Throws `PrivacyPassError` with code `unknown-key`,
 * `expired-key`, `wrong-challenge`, `invalid-token`, `double-spend` or `spent-set-full`; returns
 * the key it was redeemed under.
 */
export async function redeem(
  token: Token,
  issuer: IssuerKeys,
  spent: SpentTokens,
  opts: RedeemOptions = {},
): Promise<IssuerKey> {
  const key = issuer.keys.find((k) =>
    k.tokenType === token.tokenType && equalBytes(k.keyId, token.tokenKeyId)
  );
  if (!key) throw new PrivacyPassError("unknown-key", "token_key_id names no key of this issuer");
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  spent.prune(now);
  if (now < key.notBefore || now > key.notAfter) {
    throw new PrivacyPassError("expired-key", `key epoch ${key.epoch} is not valid now`);
  }
  const challenges = opts.challenges ?? [cloisterChallenge(issuer.issuerName, key.tokenType)];
  if (!challenges.some((c) => equalBytes(challengeDigest(c), token.challengeDigest))) {
    throw new PrivacyPassError("wrong-challenge", "token is for another challenge");
  }
  if (!(await verifyAuthenticator(key, token))) {
    throw new PrivacyPassError("invalid-token", "token authenticator does not verify");
  }
  if (!spent.for(key).add(token.nonce)) {
    throw new PrivacyPassError("double-spend", "token was already redeemed");
  }
  return key;
}

async function verifyAuthenticator(key: IssuerKey, token: Token): Promise<boolean> {
  if (key.tokenType === 1) {
    if (!key.secretKey) throw new PrivacyPassError("unknown-key", "no secret key for a type 1 key");
    return verifyVoprf(key.secretKey, token);
  }
  const pk: RsaPublicKey = decodePublicKey(key.publicKey);
  return await verifyRsa(pk, token);
}
