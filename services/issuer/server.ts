/**
 * The Privacy Pass issuer over HTTP (RFC 9578 §4, §5.2; batched issuance per
 * draft-ietf-privacypass-batched-tokens), token type 0x0001.
 *
 *   GET  /.well-known/private-token-issuer-directory   application/private-token-issuer-directory
 *   POST /token-request   application/private-token-request        → application/private-token-response
 *                         application/private-token-batch-request  → application/private-token-batch-response
 *
 * Issuance needs an account (401 with `WWW-Authenticate: Bearer` otherwise) within its rate
 * (429 with Retry-After; a batch of n costs n). A request the issuer cannot evaluate — wrong
 * token type, a truncated key id of no current key, an invalid element — is 422 (RFC 9578 §5.2);
 * a wrong media type 415; an oversized body 413. Neither requests nor tokens nor accounts are
 * logged: the issuer sees blinded elements only, and keeps nothing of them.
 */
import {
  DIRECTORY_PATH,
  formatIssuerDirectory,
  MEDIA_BATCH_REQUEST,
  MEDIA_BATCH_RESPONSE,
  MEDIA_DIRECTORY,
  MEDIA_REQUEST,
  MEDIA_RESPONSE,
  PrivacyPassError,
  truncatedKeyId,
  voprf,
} from "../../protocol/privacypass.ts";
import { type Handler, isMediaType, readBody, text } from "../common/http.ts";
import type { RateLimiter } from "../common/ratelimit.ts";
import type { AccountCheck } from "./accounts.ts";
import type { IssuerKeyStore } from "./keys.ts";

export const REQUEST_PATH = "/token-request";
const MAX_BODY = 2 + 1 + 2 + 1337 * voprf.NE;

export interface IssuerOptions {
  keys: IssuerKeyStore;
  accounts: AccountCheck;
  limiter: RateLimiter;
  /** The public base URL clients reach the issuer at (issuer-request-uri); default: the request's. */
  publicUrl?: string;
  now?: () => number;
}

export function issuerHandler(o: IssuerOptions): Handler {
  const now = o.now ?? (() => Math.floor(Date.now() / 1000));
  return async (req) => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === DIRECTORY_PATH) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return text(405, "use GET", { allow: "GET, HEAD" });
      }
      await o.keys.refresh(now());
      const directory = formatIssuerDirectory({
        issuerRequestUri: new URL(REQUEST_PATH, o.publicUrl ?? url.origin).href,
        tokenKeys: o.keys.published(now()).map((k) => ({
          tokenType: k.tokenType,
          tokenKey: k.publicKey,
          notBefore: k.notBefore,
        })),
      });
      return new Response(directory, {
        headers: { "content-type": MEDIA_DIRECTORY, "cache-control": "max-age=60" },
      });
    }
    if (path !== REQUEST_PATH) return text(404, "not found");
    if (req.method !== "POST") return text(405, "use POST", { allow: "POST" });
    const type = req.headers.get("content-type");
    const batch = isMediaType(type, MEDIA_BATCH_REQUEST);
    if (!batch && !isMediaType(type, MEDIA_REQUEST)) {
      await req.body?.cancel();
      return text(415, `content-type must be ${MEDIA_REQUEST} or ${MEDIA_BATCH_REQUEST}`);
    }
    const account = await o.accounts(req);
    if (account === undefined) {
      await req.body?.cancel();
      return text(401, "an account is required", { "www-authenticate": 'Bearer realm="issuer"' });
    }
    const body = await readBody(req, MAX_BODY);
    if (!body) return text(413, `request over ${MAX_BODY} bytes`);
    let request: voprf.VoprfTokenRequest;
    try {
      request = batch ? voprf.decodeBatchTokenRequest(body) : voprf.decodeTokenRequest(body);
    } catch (e) {
      return text(422, (e as Error).message);
    }
    await o.keys.refresh(now());
    const k = o.keys.current(now());
    if (request.truncatedTokenKeyId !== truncatedKeyId(k.keyId)) {
      return text(422, "truncated_token_key_id names no current key");
    }
    if (request.blinded.length > o.limiter.burst) {
      // No wait would let it through: a 429 with Retry-After would be retried forever.
      return text(
        422,
        `a batch of ${request.blinded.length} tokens is over this account's burst of ` +
          `${o.limiter.burst}; ask in smaller batches`,
      );
    }
    if (!o.limiter.take(account, request.blinded.length)) {
      return text(429, "rate limit exceeded for this account", { "retry-after": "60" });
    }
    try {
      const { evaluated, proof } = voprf.evaluate(
        { secretKey: k.secretKey!, publicKey: k.publicKey, tokenKeyId: k.keyId },
        request,
      );
      const response = batch
        ? voprf.encodeBatchTokenResponse(evaluated, proof)
        : voprf.encodeTokenResponse(evaluated[0], proof);
      return new Response(response as Uint8Array<ArrayBuffer>, {
        headers: {
          "content-type": batch ? MEDIA_BATCH_RESPONSE : MEDIA_RESPONSE,
          "cache-control": "no-store",
        },
      });
    } catch (e) {
      if (e instanceof PrivacyPassError) return text(422, e.message);
      throw e;
    }
  };
}
