/**
 * The issuer directory and media types of Privacy Pass issuance (RFC 9578 §4, §8.1).
 *
 *   GET /.well-known/private-token-issuer-directory  (application/private-token-issuer-directory)
 *   {"issuer-request-uri": "https://issuer.example/token-request",
 *    "token-keys": [{"token-type": 1, "token-key": "<base64url>", "not-before": 1686913811}]}
 *
 * Keys are listed newest first; clients use the first key of the token type they want whose
 * not-before has passed. Batched issuance (draft-ietf-privacypass-batched-tokens) posts to the same
 * request URI with its own media types.
 */
import { fromBase64Url, toBase64Url } from "../base64.ts";
import { PrivacyPassError } from "./token.ts";

export const DIRECTORY_PATH = "/.well-known/private-token-issuer-directory";
export const MEDIA_DIRECTORY = "application/private-token-issuer-directory";
export const MEDIA_REQUEST = "application/private-token-request";
export const MEDIA_RESPONSE = "application/private-token-response";
export const MEDIA_BATCH_REQUEST = "application/private-token-batch-request";
export const MEDIA_BATCH_RESPONSE = "application/private-token-batch-response";

export interface DirectoryKey {
  tokenType: number;
  tokenKey: Uint8Array;
  notBefore?: number;
}

export interface IssuerDirectory {
  issuerRequestUri: string;
  tokenKeys: DirectoryKey[];
}

export function formatIssuerDirectory(d: IssuerDirectory): string {
  return JSON.stringify({
    "issuer-request-uri": d.issuerRequestUri,
    "token-keys": d.tokenKeys.map((k) => ({
      "token-type": k.tokenType,
      "token-key": toBase64Url(k.tokenKey),
      ...(k.notBefore === undefined ? {} : { "not-before": k.notBefore }),
    })),
  });
}

/** Parses a directory; unknown fields are ignored (RFC 9578 §4), malformed known ones refused. */
export function parseIssuerDirectory(text: string): IssuerDirectory {
  const fail = (msg: string): never => {
    throw new PrivacyPassError("malformed-directory", `issuer directory: ${msg}`);
  };
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    return fail("not JSON");
  }
  const uri = doc?.["issuer-request-uri"];
  if (typeof uri !== "string" || uri === "") return fail("no issuer-request-uri");
  const keys = doc["token-keys"];
  if (!Array.isArray(keys)) return fail("no token-keys list");
  const tokenKeys = keys.map((k: Record<string, unknown>, i: number) => {
    const type = k?.["token-type"];
    const key = k?.["token-key"];
    const notBefore = k?.["not-before"];
    if (!Number.isInteger(type) || (type as number) < 0 || (type as number) > 0xffff) {
      return fail(`token-keys[${i}] token-type is not a uint16`);
    }
    if (typeof key !== "string") return fail(`token-keys[${i}] has no token-key`);
    if (notBefore !== undefined && !Number.isSafeInteger(notBefore)) {
      return fail(`token-keys[${i}] not-before is not an integer`);
    }
    let tokenKey: Uint8Array;
    try {
      tokenKey = fromBase64Url(key);
    } catch {
      return fail(`token-keys[${i}] token-key is not base64url`);
    }
    return {
      tokenType: type as number,
      tokenKey,
      ...(notBefore === undefined ? {} : { notBefore: notBefore as number }),
    };
  });
  return { issuerRequestUri: uri, tokenKeys };
}

/** The key a client should use: the first of `tokenType` already valid at `now` (Unix seconds). */
export function currentKey(
  d: IssuerDirectory,
  tokenType: number,
  now: number,
): DirectoryKey | undefined {
  return d.tokenKeys.find((k) => k.tokenType === tokenType && (k.notBefore ?? 0) <= now);
}
