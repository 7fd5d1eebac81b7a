/**
 * Privacy Pass structures shared by every token type (RFC 9577 §2.1.1 TokenChallenge, §2.2
 * Token) and the token types Cloister knows (RFC 9578 §8.2 registry).
 *
 *   struct {                                   struct {
 *     uint16_t token_type;                       uint16_t token_type;
 *     opaque issuer_name<1..2^16-1>;             uint8_t nonce[32];
 *     opaque redemption_context<0..32>;          uint8_t challenge_digest[32];
 *     opaque origin_info<0..2^16-1>;             uint8_t token_key_id[Nid];
 *   } TokenChallenge;                            uint8_t authenticator[Nk];
 *                                              } Token;
 *
 * redemption_context is empty or exactly 32 bytes; origin_info is empty or a comma-separated list
 * of origin names. The authenticator input is the Token without its authenticator, and
 * challenge_digest = SHA-256(TokenChallenge).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { ProtocolError } from "../errors.ts";
import { concat, i2osp, utf8 } from "../bytes.ts";
import { Reader } from "../reader.ts";

/**
 * Every refusal of Privacy Pass input: malformed structures and headers, unknown keys, invalid or
 * spent tokens. `code` is stable (`malformed-challenge`, `malformed-token`, `unknown-token-type`,
 * `unknown-key`, `invalid-token`, `double-spend`, …).
 */
export class PrivacyPassError extends ProtocolError {}

/** Token type parameters: Nid (key id size) and Nk (authenticator size), RFC 9578 §8.2. */
export interface TokenTypeInfo {
  value: number;
  name: string;
  nid: number;
  nk: number;
}

/** Type 0x0001, VOPRF(P-384, SHA-384), privately verifiable (RFC 9578 §5). */
export const VOPRF_P384: TokenTypeInfo = {
  value: 0x0001,
  name: "VOPRF(P-384, SHA-384)",
  nid: 32,
  nk: 48,
};
/** Type 0x0002, Blind RSA (2048-bit), publicly verifiable (RFC 9578 §6). */
export const BLIND_RSA_2048: TokenTypeInfo = {
  value: 0x0002,
  name: "Blind RSA (2048-bit)",
  nid: 32,
  nk: 256,
};

export const TOKEN_TYPES: ReadonlyMap<number, TokenTypeInfo> = new Map(
  [VOPRF_P384, BLIND_RSA_2048].map((t) => [t.value, t]),
);

export function tokenTypeInfo(value: number): TokenTypeInfo {
  const t = TOKEN_TYPES.get(value);
  if (!t) {
    throw new PrivacyPassError(
      "unknown-token-type",
      `token type 0x${value.toString(16).padStart(4, "0")} is not supported`,
    );
  }
  return t;
}

export interface TokenChallenge {
  tokenType: number;
  /** The issuer's name (a host name), as bytes on the wire. */
  issuerName: string;
  /** Empty, or 32 bytes binding the token to one redemption context. */
  redemptionContext: Uint8Array;
  /** Origin names the token may be redeemed at; empty means any (cross-origin). */
  originInfo: string[];
}

function u16(n: number): Uint8Array {
  return i2osp(n, 2);
}

/** Encodes a TokenChallenge (RFC 9577 §2.1.1). */
export function encodeTokenChallenge(c: TokenChallenge): Uint8Array {
  const issuer = utf8(c.issuerName);
  const origins = utf8(c.originInfo.join(","));
  if (issuer.length < 1 || issuer.length > 0xffff) {
    throw new PrivacyPassError("malformed-challenge", "issuer_name must be 1..65535 bytes");
  }
  if (c.redemptionContext.length !== 0 && c.redemptionContext.length !== 32) {
    throw new PrivacyPassError("malformed-challenge", "redemption_context must be 0 or 32 bytes");
  }
  if (origins.length > 0xffff) {
    throw new PrivacyPassError("malformed-challenge", "origin_info is over 65535 bytes");
  }
  if (c.originInfo.some((o) => o === "" || o.includes(","))) {
    throw new PrivacyPassError("malformed-challenge", "origin_info names must be non-empty");
  }
  return concat(
    u16(c.tokenType),
    u16(issuer.length),
    issuer,
    Uint8Array.of(c.redemptionContext.length),
    c.redemptionContext,
    u16(origins.length),
    origins,
  );
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The shared Reader (protocol/reader.ts) with every error a PrivacyPassError of one `code`. */
export class StructReader extends Reader {
  constructor(bytes: Uint8Array, what: string, readonly code: string) {
    super(bytes, what, (_failure, message, at) => new PrivacyPassError(code, message, at));
  }

  /** Refuses the structure for a reason of its own, at `at` (default: the next byte). */
  fail(message: string, at = this.at): never {
    throw new PrivacyPassError(this.code, `${this.what}: ${message}`, at);
  }
}

/** Decodes a TokenChallenge, refusing bad lengths, invalid UTF-8 and trailing bytes. */
export function decodeTokenChallenge(bytes: Uint8Array): TokenChallenge {
  const r = new StructReader(bytes, "TokenChallenge", "malformed-challenge");
  const tokenType = r.u16("token_type");
  const issuerLength = r.u16("issuer_name length");
  if (issuerLength === 0) r.fail("issuer_name is empty", r.at - 2);
  const issuerAt = r.at;
  const issuer = r.take(issuerLength, "issuer_name");
  const contextLength = r.u8("redemption_context length");
  if (contextLength !== 0 && contextLength !== 32) {
    r.fail(`redemption_context is ${contextLength} bytes, not 0 or 32`, r.at - 1);
  }
  const redemptionContext = r.take(contextLength, "redemption_context").slice();
  const originLength = r.u16("origin_info length");
  const originAt = r.at;
  const origins = r.take(originLength, "origin_info");
  r.end();
  const text = (b: Uint8Array, field: string, at: number): string => {
    try {
      return strictUtf8.decode(b);
    } catch {
      return r.fail(`${field} is not UTF-8`, at);
    }
  };
  const issuerName = text(issuer, "issuer_name", issuerAt);
  const originText = text(origins, "origin_info", originAt);
  const originInfo = originText === "" ? [] : originText.split(",");
  if (originInfo.some((o) => o === "")) r.fail("origin_info has an empty name", originAt);
  return { tokenType, issuerName, redemptionContext, originInfo };
}

/** challenge_digest = SHA-256(TokenChallenge bytes) (RFC 9577 §2.2). */
export function challengeDigest(challenge: Uint8Array): Uint8Array {
  return sha256(challenge);
}

export interface Token {
  tokenType: number;
  nonce: Uint8Array;
  challengeDigest: Uint8Array;
  tokenKeyId: Uint8Array;
  authenticator: Uint8Array;
}

/** token_type || nonce || challenge_digest || token_key_id: what the authenticator covers. */
export function authenticatorInput(t: Omit<Token, "authenticator">): Uint8Array {
  const info = tokenTypeInfo(t.tokenType);
  if (
    t.nonce.length !== 32 || t.challengeDigest.length !== 32 || t.tokenKeyId.length !== info.nid
  ) {
    throw new PrivacyPassError("malformed-token", "nonce, challenge_digest or token_key_id size");
  }
  return concat(u16(t.tokenType), t.nonce, t.challengeDigest, t.tokenKeyId);
}

export function encodeToken(t: Token): Uint8Array {
  const info = tokenTypeInfo(t.tokenType);
  if (t.authenticator.length !== info.nk) {
    throw new PrivacyPassError("malformed-token", `authenticator must be ${info.nk} bytes`);
  }
  return concat(authenticatorInput(t), t.authenticator);
}

/** Decodes a Token of a known type, refusing any other length. */
export function decodeToken(bytes: Uint8Array): Token {
  const r = new StructReader(bytes, "Token", "malformed-token");
  const tokenType = r.u16("token_type");
  const info = tokenTypeInfo(tokenType);
  const nonce = r.take(32, "nonce").slice();
  const digest = r.take(32, "challenge_digest").slice();
  const tokenKeyId = r.take(info.nid, "token_key_id").slice();
  const authenticator = r.take(info.nk, "authenticator").slice();
  r.end();
  return { tokenType, nonce, challengeDigest: digest, tokenKeyId, authenticator };
}

/** truncated_token_key_id: the last byte of token_key_id (RFC 9578 §5.1, §6.1). */
export function truncatedKeyId(tokenKeyId: Uint8Array): number {
  return tokenKeyId[tokenKeyId.length - 1];
}
