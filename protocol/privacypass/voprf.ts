/**
 * Privacy Pass token type 0x0001, privately verifiable tokens over VOPRF(P-384, SHA-384)
 * (RFC 9578 §5, on RFC 9497 as implemented by @noble/curves' `p384_oprf.voprf`), and batched
 * issuance of such tokens with one DLEQ proof per batch (draft-ietf-privacypass-batched-tokens,
 * "Batched Token Issuance Protocol" for token type 0x0001).
 *
 *   TokenRequest  = token_type(2) || truncated_token_key_id(1) || blinded_msg[Ne=49]
 *   TokenResponse = evaluate_msg[Ne=49] || evaluate_proof[Ns+Ns=96]
 *   BatchTokenRequest  = token_type(2) || truncated_token_key_id(1) || blinded_elements<Ne..2^16-1>
 *   BatchTokenResponse = evaluated_elements<Ne..2^16-1> || evaluated_proof[96]
 *
 * Flow: the client `createTokenRequest(challenge, pkI)` keeps the returned state (blind, secret),
 * the issuer answers `issueTokenResponse(key, request)`, the client `finalizeToken(state,
 * response)` verifies the DLEQ proof and gets the Token; the origin, holding skI, checks it with
 * `verifyToken(skI, token)` (RFC 9578 §5.4: recompute the OPRF output and compare).
 *
 * token_key_id = SHA-256(SerializeElement(pkI)) (compressed SEC1, 49 bytes; RFC 9578 §5.5).
 * Limits: a batch holds at most 1337 elements here (65535 / 49), bounding the issuer's work.
 */
import type { RNG } from "@noble/curves/abstract/oprf.js";
import { p384, p384_hasher, p384_oprf } from "@noble/curves/nist.js";
import { sha256, sha384 } from "@noble/hashes/sha2.js";
import { concat, equalBytes, i2osp, utf8, wipe } from "../bytes.ts";
import {
  authenticatorInput,
  challengeDigest,
  PrivacyPassError,
  StructReader,
  type Token,
  truncatedKeyId,
  VOPRF_P384,
} from "./token.ts";

const voprf = p384_oprf.voprf;
/** Ne (SerializeElement) and Ns (SerializeScalar) of P-384 (RFC 9497 §4.4). */
export const NE = 49;
export const NS = 48;
const TOKEN_TYPE = VOPRF_P384.value;
const MAX_BATCH = Math.floor(0xffff / NE);

/** Random bytes source, injectable for known-answer tests (RFC 9497 RandomScalar). */
export type Rng = RNG;

export interface VoprfKeyPair {
  /** skI, SerializeScalar (48 bytes). Secret: wipe when done. */
  secretKey: Uint8Array;
  /** pkI, SerializeElement (49 bytes): the token-key of challenges and the issuer directory. */
  publicKey: Uint8Array;
}

/** A fresh issuer key pair (RFC 9578 §5.5). */
export function generateKeyPair(): VoprfKeyPair {
  return voprf.generateKeyPair();
}

/** token_key_id = SHA-256(SerializeElement(pkI)). */
export function tokenKeyId(publicKey: Uint8Array): Uint8Array {
  return sha256(publicKey);
}

/** What the client keeps between request and response. Holds the blind: wipe after use. */
export interface TokenRequestState {
  tokenInput: Uint8Array;
  blind: Uint8Array;
  blinded: Uint8Array;
  publicKey: Uint8Array;
}

function blindInput(tokenInput: Uint8Array, rng?: Rng): { blind: Uint8Array; blinded: Uint8Array } {
  return rng ? voprf.blind(tokenInput, rng) : voprf.blind(tokenInput);
}

/** The token input (RFC 9578 §5.1): a fresh nonce unless one is given (tests). */
function tokenInputFor(
  challenge: Uint8Array,
  publicKey: Uint8Array,
  nonce?: Uint8Array,
): Uint8Array {
  checkPublicKey(publicKey);
  return authenticatorInput({
    tokenType: TOKEN_TYPE,
    nonce: nonce ?? crypto.getRandomValues(new Uint8Array(32)),
    challengeDigest: challengeDigest(challenge),
    tokenKeyId: tokenKeyId(publicKey),
  });
}

function checkPublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== NE) {
    throw new PrivacyPassError(
      "malformed-key",
      `VOPRF public key is ${publicKey.length} bytes, not 49`,
    );
  }
}

/** RFC 9578 §5.1: the client's TokenRequest for a challenge (TokenChallenge bytes) and pkI. */
export function createTokenRequest(
  challenge: Uint8Array,
  publicKey: Uint8Array,
  opts: { nonce?: Uint8Array; rng?: Rng } = {},
): { request: Uint8Array; state: TokenRequestState } {
  const tokenInput = tokenInputFor(challenge, publicKey, opts.nonce);
  const { blind, blinded } = blindInput(tokenInput, opts.rng);
  const request = concat(
    i2osp(TOKEN_TYPE, 2),
    Uint8Array.of(truncatedKeyId(tokenKeyId(publicKey))),
    blinded,
  );
  return { request, state: { tokenInput, blind, blinded, publicKey } };
}

/** A decoded TokenRequest or BatchTokenRequest. */
export interface VoprfTokenRequest {
  truncatedTokenKeyId: number;
  blinded: Uint8Array[];
}

/** Decodes a TokenRequest (RFC 9578 §5.1); the issuer answers 400 to what this refuses. */
export function decodeTokenRequest(bytes: Uint8Array): VoprfTokenRequest {
  const r = new StructReader(bytes, "TokenRequest", "malformed-request");
  checkType(r);
  const truncatedTokenKeyId = r.u8("truncated_token_key_id");
  const blinded = r.take(NE, "blinded_msg");
  r.end();
  return { truncatedTokenKeyId, blinded: [blinded] };
}

function checkType(r: StructReader): void {
  const type = r.u16("token_type");
  if (type !== TOKEN_TYPE) {
    r.fail(`token_type 0x${type.toString(16).padStart(4, "0")} is not 0x0001`, 0);
  }
}

/** Decodes a BatchTokenRequest: one key, 1..1337 blinded elements. */
export function decodeBatchTokenRequest(bytes: Uint8Array): VoprfTokenRequest {
  const r = new StructReader(bytes, "BatchTokenRequest", "malformed-request");
  checkType(r);
  const truncatedTokenKeyId = r.u8("truncated_token_key_id");
  const length = r.u16("blinded_elements length");
  if (length < NE || length % NE !== 0) {
    r.fail(`blinded_elements length ${length} is not a multiple of 49`, 3);
  }
  const all = r.take(length, "blinded_elements");
  r.end();
  const blinded = [];
  for (let i = 0; i < length; i += NE) blinded.push(all.subarray(i, i + NE));
  return { truncatedTokenKeyId, blinded };
}

/** The issuer's key as issuance needs it. */
export interface VoprfIssuerKey extends VoprfKeyPair {
  tokenKeyId: Uint8Array;
}

/**
 * RFC 9578 §5.2 BlindEvaluate with a DLEQ proof over all elements (one for a single request).
 * Throws `malformed-request` for an element that is not a valid non-identity point and
 * `unknown-key` when the truncated key id is not this key's.
 */
export function evaluate(
  key: VoprfIssuerKey,
  request: VoprfTokenRequest,
  rng?: Rng,
): { evaluated: Uint8Array[]; proof: Uint8Array } {
  if (request.truncatedTokenKeyId !== truncatedKeyId(key.tokenKeyId)) {
    throw new PrivacyPassError("unknown-key", "truncated_token_key_id names no current key");
  }
  if (request.blinded.length === 0 || request.blinded.length > MAX_BATCH) {
    throw new PrivacyPassError("malformed-request", `a batch holds 1..${MAX_BATCH} elements`);
  }
  try {
    return rng
      ? voprf.blindEvaluateBatch(key.secretKey, key.publicKey, request.blinded, rng)
      : voprf.blindEvaluateBatch(key.secretKey, key.publicKey, request.blinded);
  } catch (e) {
    throw new PrivacyPassError(
      "malformed-request",
      `blinded element is not valid: ${(e as Error).message}`,
    );
  }
}

/** TokenResponse = evaluate_msg || evaluate_proof. */
export function encodeTokenResponse(evaluated: Uint8Array, proof: Uint8Array): Uint8Array {
  return concat(evaluated, proof);
}

/** BatchTokenResponse = evaluated_elements<Ne..2^16-1> || evaluated_proof. */
export function encodeBatchTokenResponse(evaluated: Uint8Array[], proof: Uint8Array): Uint8Array {
  return concat(i2osp(evaluated.length * NE, 2), ...evaluated, proof);
}

/** The issuer's TokenResponse to one TokenRequest. */
export function issueTokenResponse(
  key: VoprfIssuerKey,
  request: Uint8Array,
  rng?: Rng,
): Uint8Array {
  const { evaluated, proof } = evaluate(key, decodeTokenRequest(request), rng);
  return encodeTokenResponse(evaluated[0], proof);
}

/** The issuer's BatchTokenResponse to a BatchTokenRequest. */
export function issueBatchTokenResponse(
  key: VoprfIssuerKey,
  request: Uint8Array,
  rng?: Rng,
): Uint8Array {
  const { evaluated, proof } = evaluate(key, decodeBatchTokenRequest(request), rng);
  return encodeBatchTokenResponse(evaluated, proof);
}

function finalizeAll(
  states: TokenRequestState[],
  evaluated: Uint8Array[],
  proof: Uint8Array,
): Token[] {
  const publicKey = states[0].publicKey;
  if (states.some((s) => !equalBytes(s.publicKey, publicKey))) {
    throw new PrivacyPassError("malformed-request", "a batch is for one issuer key");
  }
  let outputs: Uint8Array[];
  try {
    outputs = voprf.finalizeBatch(
      states.map((s, i) => ({
        input: s.tokenInput,
        blind: s.blind,
        evaluated: evaluated[i],
        blinded: s.blinded,
      })),
      publicKey,
      proof,
    );
  } catch (e) {
    throw new PrivacyPassError(
      "invalid-response",
      `issuer response refused: ${(e as Error).message}`,
    );
  } finally {
    for (const s of states) wipe(s.blind);
  }
  return states.map((s, i) => ({
    tokenType: TOKEN_TYPE,
    nonce: s.tokenInput.slice(2, 34),
    challengeDigest: s.tokenInput.slice(34, 66),
    tokenKeyId: s.tokenInput.slice(66, 98),
    authenticator: outputs[i],
  }));
}

/** RFC 9578 §5.3: verifies the issuer's proof and returns the Token. Wipes the blind. */
export function finalizeToken(state: TokenRequestState, response: Uint8Array): Token {
  const r = new StructReader(response, "TokenResponse", "invalid-response");
  const evaluated = r.take(NE, "evaluate_msg");
  const proof = r.take(2 * NS, "evaluate_proof");
  r.end();
  return finalizeAll([state], [evaluated], proof)[0];
}

/** Client side of batched issuance: `count` token requests for one challenge and key. */
export function createBatchTokenRequest(
  challenge: Uint8Array,
  publicKey: Uint8Array,
  count: number,
  opts: { nonces?: Uint8Array[]; rng?: Rng } = {},
): { request: Uint8Array; states: TokenRequestState[] } {
  if (!Number.isInteger(count) || count < 1 || count > MAX_BATCH) {
    throw new PrivacyPassError("malformed-request", `a batch holds 1..${MAX_BATCH} tokens`);
  }
  const states: TokenRequestState[] = [];
  for (let i = 0; i < count; i++) {
    const tokenInput = tokenInputFor(challenge, publicKey, opts.nonces?.[i]);
    states.push({ tokenInput, ...blindInput(tokenInput, opts.rng), publicKey });
  }
  const request = concat(
    i2osp(TOKEN_TYPE, 2),
    Uint8Array.of(truncatedKeyId(tokenKeyId(publicKey))),
    i2osp(count * NE, 2),
    ...states.map((s) => s.blinded),
  );
  return { request, states };
}

/** Verifies the batch proof and returns one Token per state, in order. Wipes the blinds. */
export function finalizeBatchTokens(states: TokenRequestState[], response: Uint8Array): Token[] {
  const r = new StructReader(response, "BatchTokenResponse", "invalid-response");
  const length = r.u16("evaluated_elements length");
  if (length !== states.length * NE) {
    r.fail(`${length / NE} elements for ${states.length} requests`, 0);
  }
  const all = r.take(length, "evaluated_elements");
  const proof = r.take(2 * NS, "evaluated_proof");
  r.end();
  const evaluated = states.map((_, i) => all.subarray(i * NE, (i + 1) * NE));
  return finalizeAll(states, evaluated, proof);
}

/**
 * RFC 9578 §5.4: the origin's check with skI — recompute the OPRF output over the token's
 * authenticator input and compare in constant time. The caller checks key id, challenge and
 * double spending (`redeem.ts`).
 */
export function verifyToken(secretKey: Uint8Array, token: Token): boolean {
  if (token.tokenType !== TOKEN_TYPE || token.authenticator.length !== VOPRF_P384.nk) return false;
  const expected = evaluateOutput(secretKey, authenticatorInput(token));
  try {
    return equalBytes(expected, token.authenticator);
  } finally {
    wipe(expected);
  }
}

/** contextString of RFC 9497 §3.1 for mode 0x01 (VOPRF), suite P384-SHA384. */
const CONTEXT = concat(utf8("OPRFV1-"), Uint8Array.of(0x01), utf8("-P384-SHA384"));
const HASH_TO_GROUP_DST = concat(utf8("HashToGroup-"), CONTEXT);

/**
 * RFC 9497 §3.3.2 Evaluate(skS, input): Hash(I2OSP(len(input), 2) || input ||
 * I2OSP(len(issuedElement), 2) || issuedElement || "Finalize"), issuedElement =
 * SerializeElement(skS * HashToGroup(input)).
 */
export function evaluateOutput(secretKey: Uint8Array, input: Uint8Array): Uint8Array {
  const k = p384.Point.Fn.fromBytes(secretKey);
  const element = p384_hasher.hashToCurve(input, { DST: HASH_TO_GROUP_DST });
  if (element.equals(p384.Point.ZERO)) {
    throw new PrivacyPassError("invalid-token", "input maps to identity");
  }
  const issued = element.multiply(k).toBytes(true);
  return sha384(
    concat(i2osp(input.length, 2), input, i2osp(issued.length, 2), issued, utf8("Finalize")),
  );
}
