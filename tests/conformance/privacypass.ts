/**
 * Conformance suite "privacypass": RFC 9577 TokenChallenge/authenticator-input and
 * WWW-Authenticate vectors, RFC 9578 type 0x0001 (VOPRF P-384) and type 0x0002 (blind RSA)
 * issuance vectors (the RFC's and the privacypass-ts/Rust cross-implementation ones), and the
 * RFC 9474 blind RSA vectors. The path is the privacypass folder (manifest.json), or one file of
 * it, or the blindrsa vectors file; a file's kind is told by its content.
 *
 * Issuance: the client request is rebuilt from the vector's nonce and blind and must match byte
 * for byte; the issuer's answer must match (type 2: whole blind signature; type 1: the evaluated
 * element — the DLEQ proof's randomness is not in the vectors, so our proof is checked by the
 * client instead); the client finalizes the vector's response into the vector's token (verifying
 * the vector's proof or signature); the origin redeems the token once and refuses it twice.
 */
import { p384 } from "@noble/curves/nist.js";
import { type CaseResult, checkAsync, readJson, type Suite, vectorFiles } from "./harness.ts";
import { scalarRng } from "./oprf.ts";
import { fromBase64 } from "../../protocol/base64.ts";
import { equalBytes, fromHex, i2osp, toHex } from "../../protocol/bytes.ts";
import {
  authenticatorInput,
  blindrsa,
  challengeDigest,
  decodeToken,
  decodeTokenChallenge,
  encodeToken,
  encodeTokenChallenge,
  type IssuerKeys,
  parseWwwAuthenticate,
  redeem,
  SpentTokens,
  supported,
  tokenTypeInfo,
  voprf,
} from "../../protocol/privacypass.ts";
import {
  blind,
  blindSign,
  finalize,
  modInverse,
  os2ip,
  prepare,
  privateKeyFromPkcs8,
  RSABSSA_SHA384_PSS_DETERMINISTIC,
  RSABSSA_SHA384_PSS_RANDOMIZED,
  RSABSSA_SHA384_PSSZERO_DETERMINISTIC,
  RSABSSA_SHA384_PSSZERO_RANDOMIZED,
  type Variant,
  verify,
} from "../../protocol/rsabssa.ts";

type Json = Record<string, string>;

const hex = (s: string | undefined) => fromHex(s ?? "");
const text = new TextDecoder();

function* challengeCases(cases: Json[]): Iterable<Promise<CaseResult>> {
  for (const [i, c] of cases.entries()) {
    yield checkAsync(`TokenChallenge ${i + 1} (${c.comment ?? `type ${c.token_type}`})`, () => {
      const tokenType = Number(`0x${c.token_type}`);
      const want = c.token_authenticator_input;
      if (c.issuer_name === undefined) {
        // Greasing (RFC 9577 §A.1 vector 6): an unknown type is not a token we may accept.
        try {
          tokenTypeInfo(tokenType);
          return Promise.resolve("grease token type was accepted as known");
        } catch { /* refused, as it must be */ }
        try {
          decodeToken(fromHex(want));
          return Promise.resolve("a token of the grease type decoded");
        } catch {
          return Promise.resolve(undefined);
        }
      }
      const originText = text.decode(hex(c.origin_info));
      const challenge = {
        tokenType,
        issuerName: text.decode(hex(c.issuer_name)),
        redemptionContext: hex(c.redemption_context),
        originInfo: originText === "" ? [] : originText.split(","),
      };
      const bytes = encodeTokenChallenge(challenge);
      const back = decodeTokenChallenge(bytes);
      if (toHex(encodeTokenChallenge(back)) !== toHex(bytes)) {
        return Promise.resolve("challenge does not round-trip");
      }
      const input = authenticatorInput({
        tokenType,
        nonce: hex(c.nonce),
        challengeDigest: challengeDigest(bytes),
        tokenKeyId: hex(c.token_key_id),
      });
      return Promise.resolve(toHex(input) === want ? undefined : "authenticator input differs");
    });
  }
}

function* headerCases(cases: Record<string, unknown>[]): Iterable<Promise<CaseResult>> {
  for (const [i, c] of cases.entries()) {
    yield checkAsync(`WWW-Authenticate ${i + 1}`, () => {
      const want: { type: number; key: string; maxAge: number; challenge: string }[] = [];
      for (let n = 0; `token-type-${n}` in c; n++) {
        want.push({
          type: c[`token-type-${n}`] as number,
          key: c[`token-key-${n}`] as string,
          maxAge: c[`max-age-${n}`] as number,
          challenge: c[`token-challenge-${n}`] as string,
        });
      }
      let got = parseWwwAuthenticate(c["WWW-Authenticate"] as string);
      if (got.length !== want.length) got = supported(got, [1, 2]);
      if (got.length !== want.length) {
        return Promise.resolve(`${got.length} challenges, want ${want.length}`);
      }
      for (const [n, w] of want.entries()) {
        const g = got[n];
        if (g.challenge.tokenType !== w.type) return Promise.resolve(`challenge ${n}: token type`);
        if (toHex(g.tokenKey) !== w.key) return Promise.resolve(`challenge ${n}: token-key`);
        if (g.maxAge !== w.maxAge) return Promise.resolve(`challenge ${n}: max-age ${g.maxAge}`);
        if (toHex(g.challengeBytes) !== w.challenge) {
          return Promise.resolve(`challenge ${n}: bytes`);
        }
      }
      return Promise.resolve(undefined);
    });
  }
}

/** Redeems once (must pass) and twice (must be refused as spent). */
async function redeemTwice(token: Uint8Array, issuer: IssuerKeys, challenge: Uint8Array) {
  const spent = new SpentTokens(16);
  const opts = { challenges: [challenge], now: 1 };
  await redeem(decodeToken(token), issuer, spent, opts);
  try {
    await redeem(decodeToken(token), issuer, spent, opts);
  } catch (e) {
    if ((e as { code?: string }).code === "double-spend") return undefined;
    throw e;
  }
  return "a spent token was redeemed twice";
}

function* type1Cases(cases: Json[], file: string): Iterable<Promise<CaseResult>> {
  for (const [i, c] of cases.entries()) {
    yield checkAsync(`${file} type 1 vector ${i + 1}`, async () => {
      const sk = hex(c.skS);
      const pk = hex(c.pkS);
      if (toHex(p384.Point.BASE.multiply(p384.Point.Fn.fromBytes(sk)).toBytes(true)) !== c.pkS) {
        return "pkS is not skS·G";
      }
      const challenge = hex(c.token_challenge);
      const { request, state } = voprf.createTokenRequest(challenge, pk, {
        nonce: hex(c.nonce),
        rng: scalarRng(p384.Point.Fn, [hex(c.blind)]),
      });
      if (toHex(request) !== c.token_request) return "TokenRequest differs";
      const key = { secretKey: sk, publicKey: pk, tokenKeyId: voprf.tokenKeyId(pk) };
      const ours = voprf.issueTokenResponse(key, request);
      if (toHex(ours.subarray(0, voprf.NE)) !== c.token_response.slice(0, 2 * voprf.NE)) {
        return "evaluated element differs";
      }
      const theirs = voprf.finalizeToken(
        { ...state, blind: state.blind.slice() },
        hex(c.token_response),
      );
      if (toHex(encodeToken(theirs)) !== c.token) return "Token differs";
      const again = voprf.finalizeToken(state, ours);
      if (toHex(encodeToken(again)) !== c.token) return "Token from our own response differs";
      const issuer: IssuerKeys = {
        issuerName: decodeTokenChallenge(challenge).issuerName,
        keys: [{
          tokenType: 1,
          epoch: 0,
          keyId: key.tokenKeyId,
          publicKey: pk,
          secretKey: sk,
          notBefore: 0,
          notAfter: 2,
        }],
      };
      const forged = hex(c.token);
      forged[forged.length - 1] ^= 1;
      if (voprf.verifyToken(sk, decodeToken(forged))) return "a forged authenticator verified";
      return await redeemTwice(hex(c.token), issuer, challenge);
    });
  }
}

function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, "");
  return fromBase64(body);
}

function* type2Cases(cases: Json[], file: string): Iterable<Promise<CaseResult>> {
  for (const [i, c] of cases.entries()) {
    yield checkAsync(`${file} type 2 vector ${i + 1}`, async () => {
      const sk = await privateKeyFromPkcs8(pemToDer(text.decode(hex(c.skS))));
      const spki = hex(c.pkS);
      if (toHex(blindrsa.encodePublicKey(sk)) !== c.pkS) return "pkS is not the key's SPKI";
      const pk = blindrsa.decodePublicKey(spki);
      const challenge = hex(c.token_challenge);
      // The vectors' `blind` is RFC 9474's r (the manifest calls it inv): the request matches only
      // with inv = r^-1 mod n.
      const inv = i2osp(modInverse(os2ip(hex(c.blind)), pk.n), 256);
      const { request, state } = blindrsa.createTokenRequest(challenge, spki, {
        nonce: hex(c.nonce),
        salt: hex(c.salt),
        inv,
      });
      if (toHex(request) !== c.token_request) return "TokenRequest differs";
      const key = { secretKey: sk, publicKey: spki, tokenKeyId: blindrsa.tokenKeyId(spki) };
      const response = blindrsa.issueTokenResponse(key, request);
      if (toHex(response) !== c.token_response) return "TokenResponse differs";
      const token = await blindrsa.finalizeToken(state, hex(c.token_response));
      if (toHex(encodeToken(token)) !== c.token) return "Token differs";
      if (!(await blindrsa.verifyToken(pk, decodeToken(hex(c.token))))) {
        return "token does not verify";
      }
      const issuer: IssuerKeys = {
        issuerName: decodeTokenChallenge(challenge).issuerName,
        keys: [{
          tokenType: 2,
          epoch: 0,
          keyId: key.tokenKeyId,
          publicKey: spki,
          notBefore: 0,
          notAfter: 2,
        }],
      };
      return await redeemTwice(hex(c.token), issuer, challenge);
    });
  }
}

const VARIANTS: Variant[] = [
  RSABSSA_SHA384_PSS_RANDOMIZED,
  RSABSSA_SHA384_PSSZERO_RANDOMIZED,
  RSABSSA_SHA384_PSS_DETERMINISTIC,
  RSABSSA_SHA384_PSSZERO_DETERMINISTIC,
];

const big = (s: string) =>
  os2ip(fromHex(s.replace(/^0x/, "").padStart(2 * Math.ceil((s.length - 2) / 2), "0")));

function* rfc9474Cases(cases: Json[]): Iterable<Promise<CaseResult>> {
  for (const c of cases) {
    yield checkAsync(`RFC 9474 ${c.name}`, async () => {
      const variant = VARIANTS.find((v) => v.name === c.name);
      if (!variant) return `unknown variant ${c.name}`;
      if ((Number(c.sLen) || 0) !== variant.saltLength) return "sLen differs from the variant";
      const sk = { n: big(c.n), e: big(c.e), d: big(c.d), p: big(c.p), q: big(c.q) };
      const msg = hex(c.msg);
      const input = prepare(variant, msg, variant.randomized ? hex(c.msg_prefix) : undefined);
      if (toHex(input) !== c.input_msg) return "prepared message differs";
      const inv = fromHex(c.inv.slice(2).padStart(512, "0"));
      const { blindedMsg, inv: invOut } = blind(variant, sk, input, { salt: hex(c.salt), inv });
      if (toHex(blindedMsg) !== c.blinded_msg) return "blinded_msg differs";
      if (!equalBytes(invOut, inv)) return "inv differs";
      const blindSig = blindSign(sk, blindedMsg);
      if (toHex(blindSig) !== c.blind_sig) return "blind_sig differs";
      const sig = await finalize(variant, sk, input, blindSig, invOut);
      if (toHex(sig) !== c.sig) return "sig differs";
      if (!(await verify(variant, sk, input, sig))) return "sig does not verify";
      const bad = sig.slice();
      bad[0] ^= 1;
      if (await verify(variant, sk, input, bad)) return "a modified signature verified";
    });
  }
}

function runFile(path: string): Iterable<Promise<CaseResult>> {
  const doc = readJson(path) as Json[];
  const file = path.replace(/^.*\//, "");
  const first = Array.isArray(doc) ? doc[0] ?? {} : {};
  if ("token_authenticator_input" in first) return challengeCases(doc);
  if ("WWW-Authenticate" in first) return headerCases(doc as unknown as Record<string, unknown>[]);
  if ("skS" in first) return "salt" in first ? type2Cases(doc, file) : type1Cases(doc, file);
  if ("blinded_msg" in first && "d" in first) return rfc9474Cases(doc);
  throw new Error(`${path}: not a Privacy Pass or blind RSA vectors file this suite knows`);
}

const suite: Suite = async function* (path) {
  for (const file of vectorFiles(path)) {
    for (const result of runFile(file)) yield await result;
  }
};

export default suite;
