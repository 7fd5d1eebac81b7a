/**
 * The device's Privacy Pass tokens (RFC 9576 architecture, RFC 9578 §5 type 0x0001 VOPRF(P-384),
 * batched issuance per draft-ietf-privacypass-batched-tokens; services/issuer): a wallet that
 * gets a batch of tokens for an account, keeps the unused ones, and hands out each exactly once.
 *
 *   const wallet = new TokenWallet({ issuer, account, fetch, storage, now });
 *   const { authorization } = await wallet.take();   // "PrivateToken token=…" (RFC 9577 §2.2)
 *
 * - Issuance: the issuer directory (RFC 9578 §4) gives the current key; tokens are bound to
 *   Cloister's fixed challenge `cloisterChallenge(issuerName, 1)` (protocol/privacypass/redeem.ts:
 *   the runtime redeems against it), `issuerName` being the issuer's `--name` (default: the
 *   issuer URL's host). The DLEQ proof over the batch is verified before any token is kept. The
 *   account secret goes only to the issuer's own origin: a directory that points token requests
 *   elsewhere is refused.
 * - Never reused: `take()` removes the token from storage (atomically, storage.ts) before it
 *   returns it, whatever becomes of the request; spending a token twice would link two requests.
 * - Kept while surely valid: a token is dropped once the key after its own takes over (the next
 *   key's not-before in the directory; one hour when none is listed); origins accept a key's
 *   tokens at least that long.
 * - The issuer is contacted only when the wallet is empty, so its traffic does not time each use.
 * Limits: no key-consistency check (RFC 9576 §6.2): an issuer could give one account its own key
 * and so recognise its tokens at redemption; a consistency service would close that.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { fromBase64Url, toBase64Url } from "../protocol/base64.ts";
import { toHex, utf8, wipe } from "../protocol/bytes.ts";
import {
  cloisterChallenge,
  currentKey,
  decodeToken,
  DIRECTORY_PATH,
  encodeToken,
  formatAuthorization,
  type IssuerDirectory,
  MEDIA_BATCH_REQUEST,
  MEDIA_BATCH_RESPONSE,
  MEDIA_DIRECTORY,
  parseIssuerDirectory,
  PrivacyPassError,
  type Token,
  voprf,
  VOPRF_P384,
} from "../protocol/privacypass.ts";
import { ClientError, ClientInputError } from "./errors.ts";
import { baseUrl } from "./fleet.ts";
import { exchange, expectOk, type Fetch } from "./http.ts";
import type { Storage } from "./storage.ts";

export interface Account {
  name: string;
  secret: string;
}

export interface WalletOptions {
  /** The issuer's base URL. */
  issuer: string | URL;
  account: Account;
  /** The issuer_name of the token challenge (the issuer's `--name`); default the URL's host. */
  issuerName?: string;
  /** Tokens asked for when the wallet is empty (default 10; each costs one of the rate). */
  batch?: number;
  fetch: Fetch;
  storage: Storage;
  /** Unix seconds. */
  now: () => number;
}

export interface Taken {
  token: Token;
  /** The `Authorization` field value for the request. */
  authorization: string;
  /** Tokens fetched from the issuer for this take (0 when one was kept from before). */
  fetched: number;
  /** Unused tokens left in the wallet. */
  left: number;
}

const FORMAT = "cloister-client-tokens/1";
const UNKNOWN_NEXT_KEY = 3600;
const ACCOUNT = /^[A-Za-z0-9._-]{1,64}$/;

interface Stored {
  token: string;
  /** Unix seconds: dropped from then on. */
  until: number;
}

/** `NAME:SECRET` as the issuer's accounts take it (services/issuer/accounts.ts). */
export function parseAccount(value: string): Account {
  const colon = value.indexOf(":");
  const name = value.slice(0, colon);
  const secret = value.slice(colon + 1);
  if (colon < 1 || !ACCOUNT.test(name) || !/^\S{1,256}$/.test(secret)) {
    throw new ClientInputError("an account is NAME:SECRET (NAME of [A-Za-z0-9._-], no spaces)");
  }
  return { name, secret };
}

export class TokenWallet {
  readonly issuer: URL;
  readonly issuerName: string;
  readonly #o: WalletOptions;
  readonly #name: string;

  constructor(o: WalletOptions) {
    this.issuer = baseUrl(o.issuer, "issuer");
    this.issuerName = o.issuerName ?? this.issuer.host;
    const batch = o.batch ?? 10;
    if (!Number.isInteger(batch) || batch < 1 || batch > 1000) {
      throw new ClientInputError(`a token batch is 1..1000, not ${batch}`);
    }
    this.#o = { ...o, batch };
    this.#name = `tokens-${
      toHex(sha256(utf8(`${this.issuer.origin}\n${this.issuerName}`))).slice(0, 16)
    }`;
  }

  /** Unused tokens kept (expired ones not counted). */
  async count(): Promise<number> {
    const now = this.#o.now();
    return this.#parse(await this.#o.storage.get(this.#name)).filter((t) => t.until > now).length;
  }

  /** One token, never handed out before: a kept one, else the first of a fresh batch. */
  async take(): Promise<Taken> {
    const now = this.#o.now();
    let kept: Stored | undefined;
    let left = 0;
    await this.#o.storage.update(this.#name, (current) => {
      const valid = this.#parse(current).filter((t) => t.until > now);
      kept = valid.shift();
      left = valid.length;
      return this.#format(valid);
    });
    if (kept) return this.#taken(decodeToken(fromBase64Url(kept.token)), 0, left);
    const { tokens, until } = await this.#issue();
    const [token, ...rest] = tokens;
    await this.#o.storage.update(this.#name, (current) => {
      const all = this.#parse(current).filter((t) => t.until > now);
      all.push(...rest.map((t) => ({ token: toBase64Url(encodeToken(t), false), until })));
      left = all.length;
      return this.#format(all);
    });
    return this.#taken(token, tokens.length, left);
  }

  #taken(token: Token, fetched: number, left: number): Taken {
    return { token, authorization: formatAuthorization(token), fetched, left };
  }

  async #issue(): Promise<{ tokens: Token[]; until: number }> {
    const { fetch, account, now } = this.#o;
    const directory = await this.#directory();
    const key = currentKey(directory, VOPRF_P384.value, now());
    if (!key) {
      throw new ClientError("issuer", "the issuer lists no current key of token type 1 (VOPRF)");
    }
    const target = new URL(directory.issuerRequestUri, this.issuer);
    if (target.origin !== this.issuer.origin) {
      throw new ClientError(
        "issuer",
        `the directory sends token requests to ${target.origin}, not to the issuer's origin ` +
          `${this.issuer.origin}: refused, the account secret goes to the issuer only`,
      );
    }
    const challenge = cloisterChallenge(this.issuerName, VOPRF_P384.value);
    const { request, states } = voprf.createBatchTokenRequest(
      challenge,
      key.tokenKey,
      this.#o.batch!,
    );
    try {
      const blame = { code: "issuer" as const, what: `asking ${this.issuer.host} for tokens` };
      const answer = await exchange(fetch, target, {
        method: "POST",
        headers: {
          "content-type": MEDIA_BATCH_REQUEST,
          authorization: `Bearer ${account.name}:${account.secret}`,
        },
        body: request as Uint8Array<ArrayBuffer>,
      }, blame);
      if (answer.status === 401) {
        throw new ClientError("issuer", `the issuer does not accept account "${account.name}"`);
      }
      const body = expectOk(answer, MEDIA_BATCH_RESPONSE, blame);
      const tokens = voprf.finalizeBatchTokens(states, body);
      const later = directory.tokenKeys
        .filter((k) =>
          k.tokenType === VOPRF_P384.value && (k.notBefore ?? 0) > (key.notBefore ?? 0)
        )
        .map((k) => k.notBefore!);
      const until = later.length ? Math.min(...later) : now() + UNKNOWN_NEXT_KEY;
      return { tokens, until };
    } catch (e) {
      if (e instanceof PrivacyPassError) {
        throw new ClientError("issuer", `the issuer's answer does not verify: ${e.message}`);
      }
      throw e;
    } finally {
      for (const s of states) wipe(s.blind);
    }
  }

  async #directory(): Promise<IssuerDirectory> {
    const blame = { code: "issuer" as const, what: "fetching the issuer directory" };
    const url = new URL(DIRECTORY_PATH, this.issuer);
    const body = expectOk(
      await exchange(this.#o.fetch, url, {}, blame, 1 << 20),
      MEDIA_DIRECTORY,
      blame,
    );
    try {
      return parseIssuerDirectory(new TextDecoder().decode(body));
    } catch (e) {
      throw new ClientError("issuer", (e as Error).message);
    }
  }

  #parse(text: string | undefined): Stored[] {
    if (text === undefined) return [];
    try {
      const doc = JSON.parse(text);
      if (doc.format !== FORMAT || !Array.isArray(doc.tokens)) throw new Error();
      return doc.tokens.map((t: Stored) => {
        if (typeof t.token !== "string" || !Number.isSafeInteger(t.until)) throw new Error();
        return { token: t.token, until: t.until };
      });
    } catch {
      throw new ClientInputError(
        `the stored tokens "${this.#name}" are not ${FORMAT}; remove the file to start over`,
      );
    }
  }

  #format(tokens: Stored[]): string | undefined {
    return tokens.length ? JSON.stringify({ format: FORMAT, tokens }) + "\n" : undefined;
  }
}
