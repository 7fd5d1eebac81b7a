/**
 * Privacy Pass token type 0x0002, publicly verifiable tokens over RSABSSA-SHA384-PSS-Deterministic
 * with 2048-bit keys (RFC 9578 §6, on `../rsabssa.ts`).
 *
 *   TokenRequest  = token_type(2) || truncated_token_key_id(1) || blinded_msg[Nk=256]
 *   TokenResponse = blind_sig[Nk=256]
 *
 * The issuer key travels as a DER SubjectPublicKeyInfo with the id-RSASSA-PSS algorithm and its
 * parameters (SHA-384, MGF1-SHA-384, salt 48; RFC 9578 §6.5), and token_key_id = SHA-256 of that
 * encoding. Anyone with the public key verifies a token (RSASSA-PSS over the authenticator input).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { concat, equalBytes, fromHex, i2osp } from "../bytes.ts";
import { DER, derInteger, tlv } from "../der.ts";
import {
  blind,
  blindSign,
  finalize,
  modulusBytes,
  os2ip,
  RSABSSA_SHA384_PSS_DETERMINISTIC,
  type RsaPrivateKey,
  type RsaPublicKey,
  verify,
} from "../rsabssa.ts";
import {
  authenticatorInput,
  BLIND_RSA_2048,
  challengeDigest,
  PrivacyPassError,
  StructReader,
  type Token,
  truncatedKeyId,
} from "./token.ts";

const VARIANT = RSABSSA_SHA384_PSS_DETERMINISTIC;
const TOKEN_TYPE = BLIND_RSA_2048.value;
const NK = BLIND_RSA_2048.nk;

/**
 * The DER prefix of the SubjectPublicKeyInfo up to the RSAPublicKey, for a 2048-bit modulus:
 * SEQUENCE { AlgorithmIdentifier { id-RSASSA-PSS, RSASSA-PSS-params { [0] sha384, [1] mgf1(sha384),
 * [2] 48 } }, BIT STRING { 0 unused bits, RSAPublicKey ... } } (RFC 4055 §3.1, RFC 9578 §6.5).
 */
const SPKI_ALGORITHM = fromHex(
  "303d06092a864886f70d01010a3030a00d300b0609608648016503040202a11a301806092a864886f70d010108" +
    "300b0609608648016503040202a203020130",
);

/** The RFC 9578 §6.5 public key encoding (SPKI with id-RSASSA-PSS). */
export function encodePublicKey(pk: RsaPublicKey): Uint8Array {
  const rsaPublicKey = tlv(DER.SEQUENCE, derInteger(pk.n), derInteger(pk.e));
  return tlv(DER.SEQUENCE, SPKI_ALGORITHM, tlv(DER.BIT_STRING, Uint8Array.of(0), rsaPublicKey));
}

/**
 * Decodes the RFC 9578 §6.5 encoding of a 2048-bit key; anything else (another algorithm or
 * parameters, another size, non-minimal DER) is refused — re-encoding must give the same bytes.
 */
export function decodePublicKey(spki: Uint8Array): RsaPublicKey {
  const r = new StructReader(spki, "issuer public key", "malformed-key");
  const header = (tag: number, field: string) => {
    if (r.u8(field) !== tag) r.fail(`${field} has the wrong DER tag`, r.at - 1);
    const first = r.u8(`${field} length`);
    if (first < 0x80) return first;
    const n = first & 0x7f;
    if (n < 1 || n > 2) r.fail(`${field} length is not supported`, r.at - 1);
    return Number(os2ip(r.take(n, `${field} length`)));
  };
  header(DER.SEQUENCE, "SubjectPublicKeyInfo");
  const alg = r.take(SPKI_ALGORITHM.length, "algorithm");
  if (!equalBytes(alg, SPKI_ALGORITHM)) {
    r.fail("algorithm is not RSASSA-PSS(SHA-384, MGF1-SHA-384, 48)", 2);
  }
  header(DER.BIT_STRING, "subjectPublicKey");
  if (r.u8("unused bits") !== 0) r.fail("subjectPublicKey has unused bits", r.at - 1);
  header(DER.SEQUENCE, "RSAPublicKey");
  const n = os2ip(r.take(header(DER.INTEGER, "modulus"), "modulus"));
  const e = os2ip(r.take(header(DER.INTEGER, "exponent"), "exponent"));
  r.end();
  const pk = { n, e };
  if (modulusBytes(pk) !== NK) r.fail(`modulus is ${modulusBytes(pk) * 8} bits, not 2048`, 0);
  // RFC 8017 §3.1: 3 ≤ e ≤ n − 1, and odd (gcd(e, λ(n)) = 1); e = 0 or 1 would make the client's
  // blinding (RFC 9474 §4.2, m · r^e) no blinding at all.
  if (e < 3n || e >= n || (e & 1n) === 0n) {
    r.fail(`public exponent ${e} is not an odd integer in 3..n−1`, 0);
  }
  if (!equalBytes(encodePublicKey(pk), spki)) r.fail("not the canonical DER encoding", 0);
  return pk;
}

/** token_key_id = SHA-256(SPKI encoding) (RFC 9578 §6.5). */
export function tokenKeyId(spki: Uint8Array): Uint8Array {
  return sha256(spki);
}

/** What the client keeps between request and response (inv is secret: it unlinks the token). */
export interface BlindRsaRequestState {
  tokenInput: Uint8Array;
  inv: Uint8Array;
  publicKey: RsaPublicKey;
}

/** RFC 9578 §6.1: the client's TokenRequest for a challenge and the issuer's SPKI key. */
export function createTokenRequest(
  challenge: Uint8Array,
  spki: Uint8Array,
  fixed: { nonce?: Uint8Array; salt?: Uint8Array; inv?: Uint8Array } = {},
): { request: Uint8Array; state: BlindRsaRequestState } {
  const publicKey = decodePublicKey(spki);
  const keyId = tokenKeyId(spki);
  const tokenInput = authenticatorInput({
    tokenType: TOKEN_TYPE,
    nonce: fixed.nonce ?? crypto.getRandomValues(new Uint8Array(32)),
    challengeDigest: challengeDigest(challenge),
    tokenKeyId: keyId,
  });
  const { blindedMsg, inv } = blind(VARIANT, publicKey, tokenInput, fixed);
  const request = concat(i2osp(TOKEN_TYPE, 2), Uint8Array.of(truncatedKeyId(keyId)), blindedMsg);
  return { request, state: { tokenInput, inv, publicKey } };
}

/** Decodes a type 0x0002 TokenRequest. */
export function decodeTokenRequest(
  bytes: Uint8Array,
): { truncatedTokenKeyId: number; blindedMsg: Uint8Array } {
  const r = new StructReader(bytes, "TokenRequest", "malformed-request");
  const type = r.u16("token_type");
  if (type !== TOKEN_TYPE) {
    r.fail(`token_type 0x${type.toString(16).padStart(4, "0")} is not 0x0002`, 0);
  }
  const truncatedTokenKeyId = r.u8("truncated_token_key_id");
  const blindedMsg = r.take(NK, "blinded_msg");
  r.end();
  return { truncatedTokenKeyId, blindedMsg };
}

export interface BlindRsaIssuerKey {
  secretKey: RsaPrivateKey;
  /** The SPKI encoding (the token-key). */
  publicKey: Uint8Array;
  tokenKeyId: Uint8Array;
}

/** RFC 9578 §6.2: the issuer's TokenResponse (blind_sig). */
export function issueTokenResponse(key: BlindRsaIssuerKey, request: Uint8Array): Uint8Array {
  const { truncatedTokenKeyId, blindedMsg } = decodeTokenRequest(request);
  if (truncatedTokenKeyId !== truncatedKeyId(key.tokenKeyId)) {
    throw new PrivacyPassError("unknown-key", "truncated_token_key_id names no current key");
  }
  try {
    return blindSign(key.secretKey, blindedMsg);
  } catch (e) {
    throw new PrivacyPassError("malformed-request", (e as Error).message);
  }
}

/** RFC 9578 §6.3: unblinds and verifies the signature, giving the Token. */
export async function finalizeToken(
  state: BlindRsaRequestState,
  response: Uint8Array,
): Promise<Token> {
  if (response.length !== NK) {
    throw new PrivacyPassError(
      "invalid-response",
      `TokenResponse is ${response.length} bytes, not ${NK}`,
    );
  }
  let authenticator: Uint8Array;
  try {
    authenticator = await finalize(VARIANT, state.publicKey, state.tokenInput, response, state.inv);
  } catch (e) {
    throw new PrivacyPassError(
      "invalid-response",
      `issuer response refused: ${(e as Error).message}`,
    );
  }
  return {
    tokenType: TOKEN_TYPE,
    nonce: state.tokenInput.slice(2, 34),
    challengeDigest: state.tokenInput.slice(34, 66),
    tokenKeyId: state.tokenInput.slice(66, 98),
    authenticator,
  };
}

/** RFC 9578 §6.4: RSASSA-PSS verification of the authenticator under the issuer's public key. */
export async function verifyToken(publicKey: RsaPublicKey, token: Token): Promise<boolean> {
  if (token.tokenType !== TOKEN_TYPE || token.authenticator.length !== NK) return false;
  return await verify(VARIANT, publicKey, authenticatorInput(token), token.authenticator);
}
