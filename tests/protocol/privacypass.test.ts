import assert from "node:assert/strict";
import {
  blindrsa,
  cloisterChallenge,
  decodeToken,
  decodeTokenChallenge,
  encodeToken,
  formatAuthorization,
  formatIssuerDirectory,
  formatIssuerKeys,
  formatWwwAuthenticate,
  type IssuerKeys,
  parseAuthChallenges,
  parseAuthorization,
  parseIssuerDirectory,
  parseIssuerKeys,
  parseWwwAuthenticate,
  PrivacyPassError,
  redeem,
  SpentSet,
  SpentTokens,
  voprf,
} from "../../protocol/privacypass.ts";
import {
  blindSign,
  generateRsaKey,
  modInverse,
  modPow,
  modulusBytes,
  os2ip,
  rsasp1,
} from "../../protocol/rsabssa.ts";
import { i2osp } from "../../protocol/bytes.ts";

const ISSUER = "issuer.cloister.test";

function type1Issuer(): { keys: IssuerKeys; key: voprf.VoprfIssuerKey } {
  const pair = voprf.generateKeyPair();
  const key = { ...pair, tokenKeyId: voprf.tokenKeyId(pair.publicKey) };
  return {
    key,
    keys: {
      issuerName: ISSUER,
      keys: [{
        tokenType: 1,
        epoch: 1,
        keyId: key.tokenKeyId,
        publicKey: key.publicKey,
        secretKey: key.secretKey,
        notBefore: 100,
        notAfter: 200,
      }],
    },
  };
}

const rejects = (code: string) => (e: unknown) => e instanceof PrivacyPassError && e.code === code;

Deno.test("type 1: issue, finalize, redeem once; every refusal has its code", async () => {
  const { key, keys } = type1Issuer();
  const challenge = cloisterChallenge(ISSUER, 1);
  const { request, state } = voprf.createTokenRequest(challenge, key.publicKey);
  const token = voprf.finalizeToken(state, voprf.issueTokenResponse(key, request));
  const spent = new SpentTokens(4);
  await redeem(token, keys, spent, { now: 150 });
  await assert.rejects(redeem(token, keys, spent, { now: 150 }), rejects("double-spend"));
  await assert.rejects(
    redeem(token, keys, new SpentTokens(), { now: 201 }),
    rejects("expired-key"),
  );
  const other = cloisterChallenge("other.example", 1);
  await assert.rejects(
    redeem(token, keys, new SpentTokens(), { now: 150, challenges: [other] }),
    rejects("wrong-challenge"),
  );
  const forged = { ...token, authenticator: token.authenticator.slice() };
  forged.authenticator[0] ^= 1;
  await assert.rejects(
    redeem(forged, keys, new SpentTokens(), { now: 150 }),
    rejects("invalid-token"),
  );
  const { keys: otherKeys } = type1Issuer();
  await assert.rejects(
    redeem(token, otherKeys, new SpentTokens(), { now: 150 }),
    rejects("unknown-key"),
  );
});

Deno.test("type 1: a response from another key, or altered, is refused by the client", () => {
  const { key } = type1Issuer();
  const { key: other } = type1Issuer();
  const challenge = cloisterChallenge(ISSUER, 1);
  const { request, state } = voprf.createTokenRequest(challenge, key.publicKey);
  const wrongKey = { ...other, tokenKeyId: key.tokenKeyId };
  assert.throws(
    () => voprf.finalizeToken(state, voprf.issueTokenResponse(wrongKey, request)),
    rejects("invalid-response"),
  );
  assert.throws(() => voprf.issueTokenResponse(other, request), rejects("unknown-key"));
  assert.throws(
    () => voprf.issueTokenResponse(key, request.subarray(0, 20)),
    rejects("malformed-request"),
  );
  const badPoint = request.slice();
  badPoint[3] = 0x05;
  assert.throws(() => voprf.issueTokenResponse(key, badPoint), rejects("malformed-request"));
});

Deno.test("type 1 batched issuance: one proof for many tokens, each redeemable once", async () => {
  const { key, keys } = type1Issuer();
  const challenge = cloisterChallenge(ISSUER, 1);
  const { request, states } = voprf.createBatchTokenRequest(challenge, key.publicKey, 5);
  const response = voprf.issueBatchTokenResponse(key, request);
  assert.equal(response.length, 2 + 5 * voprf.NE + 2 * voprf.NS);
  const tokens = voprf.finalizeBatchTokens(states, response);
  assert.equal(new Set(tokens.map((t) => encodeToken(t).join())).size, 5);
  const spent = new SpentTokens();
  for (const t of tokens) await redeem(t, keys, spent, { now: 150 });
  // A batch whose elements were swapped fails the batch proof.
  const { request: r2, states: s2 } = voprf.createBatchTokenRequest(challenge, key.publicKey, 2);
  const resp = voprf.issueBatchTokenResponse(key, r2);
  const swapped = resp.slice();
  swapped.set(resp.subarray(2 + voprf.NE, 2 + 2 * voprf.NE), 2);
  swapped.set(resp.subarray(2, 2 + voprf.NE), 2 + voprf.NE);
  assert.throws(() => voprf.finalizeBatchTokens(s2, swapped), rejects("invalid-response"));
  assert.throws(
    () => voprf.decodeBatchTokenRequest(request.subarray(0, 10)),
    rejects("malformed-request"),
  );
});

Deno.test("type 2: issue, finalize, verify publicly, redeem once", async () => {
  const sk = await generateRsaKey();
  const spki = blindrsa.encodePublicKey(sk);
  const key = { secretKey: sk, publicKey: spki, tokenKeyId: blindrsa.tokenKeyId(spki) };
  const challenge = cloisterChallenge(ISSUER, 2);
  const { request, state } = blindrsa.createTokenRequest(challenge, spki);
  const token = await blindrsa.finalizeToken(state, blindrsa.issueTokenResponse(key, request));
  assert.equal(await blindrsa.verifyToken(blindrsa.decodePublicKey(spki), token), true);
  const keys: IssuerKeys = {
    issuerName: ISSUER,
    keys: [{
      tokenType: 2,
      epoch: 1,
      keyId: key.tokenKeyId,
      publicKey: spki,
      notBefore: 0,
      notAfter: 10,
    }],
  };
  const spent = new SpentTokens();
  await redeem(token, keys, spent, { now: 5 });
  await assert.rejects(redeem(token, keys, spent, { now: 5 }), rejects("double-spend"));
  const bad = spki.slice();
  bad[5] ^= 1;
  assert.throws(() => blindrsa.decodePublicKey(bad), rejects("malformed-key"));
  await assert.rejects(
    blindrsa.finalizeToken(state, new Uint8Array(256)),
    rejects("invalid-response"),
  );
});

Deno.test("RSASP1 recombines the CRT halves in range when q > p (RFC 8017 §5.2.1)", async () => {
  const generated = await generateRsaKey(1024);
  // The same key with its primes named so that q > p.
  const [p, q] = generated.p < generated.q
    ? [generated.p, generated.q]
    : [generated.q, generated.p];
  const sk = { ...generated, p, q };
  // m ≡ 1 (mod p) and m ≡ −1 (mod q): s1 = 1 and s2 = q − 1 (d is odd), so s1 − s2 + p < 0 —
  // the case that, with a key whose q > p, refused a few percent of token requests before the
  // reduction was fixed ("signature check failed").
  const m = 1n + p * (((q - 2n) * modInverse(p, q)) % q);
  assert.equal(m % p, 1n);
  assert.equal(m % q, q - 1n);
  assert.equal(rsasp1(sk, m), modPow(m, sk.d, sk.n));
  // blindSign blinds m first (RFC 9474 §7.1): the same signature, whatever r it drew.
  const blindSig = blindSign(sk, i2osp(m, modulusBytes(sk)));
  assert.equal(os2ip(blindSig), modPow(m, sk.d, sk.n));
});

Deno.test("type 2 keys: the public exponent is odd and in 3..n−1 (RFC 8017 §3.1), any length", async () => {
  const { n } = await generateRsaKey();
  for (const e of [0n, 1n, 2n, 65536n, n, n + 2n]) {
    assert.throws(
      () => blindrsa.decodePublicKey(blindrsa.encodePublicKey({ n, e })),
      rejects("malformed-key"),
      `e = ${e}`,
    );
  }
  // An exponent wider than 3 bytes: verification answers (false), it does not throw.
  const wide = blindrsa.decodePublicKey(blindrsa.encodePublicKey({ n, e: 2n ** 32n + 1n }));
  const token = {
    tokenType: 2,
    nonce: new Uint8Array(32),
    challengeDigest: new Uint8Array(32),
    tokenKeyId: new Uint8Array(32),
    authenticator: new Uint8Array(256),
  };
  assert.equal(await blindrsa.verifyToken(wide, token), false);
});

Deno.test("headers: WWW-Authenticate and Authorization round-trip; other schemes skipped", () => {
  const challengeBytes = cloisterChallenge(ISSUER, 1);
  const tokenKey = new Uint8Array(49).fill(2);
  const header = `Basic realm="x", ${
    formatWwwAuthenticate([{ challengeBytes, tokenKey, maxAge: 30 }])
  }`;
  const [c] = parseWwwAuthenticate(header);
  assert.deepEqual(c.challengeBytes, challengeBytes);
  assert.deepEqual(c.tokenKey, tokenKey);
  assert.equal(c.maxAge, 30);
  assert.equal(decodeTokenChallenge(c.challengeBytes).issuerName, ISSUER);
  const token = {
    tokenType: 1,
    nonce: new Uint8Array(32).fill(1),
    challengeDigest: new Uint8Array(32).fill(2),
    tokenKeyId: new Uint8Array(32).fill(3),
    authenticator: new Uint8Array(48).fill(4),
  };
  assert.deepEqual(parseAuthorization(formatAuthorization(token)), token);
  // Unpadded and unquoted (seen in deployments) parse too.
  const unquoted = formatAuthorization(token).replace(/"/g, "");
  assert.deepEqual(parseAuthorization(unquoted), token);
  assert.deepEqual(parseAuthChallenges("Negotiate abc==, Basic realm=x").map((a) => a.scheme), [
    "Negotiate",
    "Basic",
  ]);
});

Deno.test("headers: malformed values are refused with typed errors", () => {
  for (
    const [header, code] of [
      ['PrivateToken challenge="AAE"', "malformed-header"],
      ['PrivateToken challenge="a b", token-key="AA"', "malformed-header"],
      ['PrivateToken challenge="AAEAAA", token-key="AA", challenge="AA"', "malformed-header"],
      ['PrivateToken challenge="!!", token-key="AA"', "malformed-header"],
      ['PrivateToken challenge="AAEAAA==", token-key="AA"', "malformed-challenge"],
      ['PrivateToken challenge="AAE', "malformed-header"],
    ]
  ) assert.throws(() => parseWwwAuthenticate(header), rejects(code), header);
  assert.throws(() => parseAuthorization("Bearer abc"), rejects("malformed-header"));
  assert.throws(() => parseAuthorization('PrivateToken token="AAEA"'), rejects("malformed-token"));
  assert.throws(
    () => parseAuthorization('PrivateToken token="AAMA"'),
    rejects("unknown-token-type"),
  );
  const long = new Uint8Array(2 + 32 + 32 + 32 + 48 + 1);
  long[1] = 1; // type 0x0001 with one trailing byte
  assert.throws(() => decodeToken(long), rejects("malformed-token"));
});

Deno.test("issuer key file: round trip, secrets optional, mismatches refused", () => {
  const { keys } = type1Issuer();
  const text = formatIssuerKeys(keys);
  assert.deepEqual(parseIssuerKeys(text), keys);
  assert.equal(parseIssuerKeys(formatIssuerKeys(keys, false)).keys[0].secretKey, undefined);
  const doc = JSON.parse(text);
  doc.keys[0].keyId = "00".repeat(32);
  assert.throws(() => parseIssuerKeys(JSON.stringify(doc)), rejects("malformed-key-file"));
  const { keys: other } = type1Issuer();
  const swapped = JSON.parse(text);
  swapped.keys[0].secretKey = JSON.parse(formatIssuerKeys(other)).keys[0].secretKey;
  assert.throws(() => parseIssuerKeys(JSON.stringify(swapped)), /does not match/);
  assert.throws(() => parseIssuerKeys("{}"), rejects("malformed-key-file"));
  for (const entry of [null, 5, "x", []]) {
    const odd = JSON.parse(text);
    odd.keys = [entry];
    assert.throws(() => parseIssuerKeys(JSON.stringify(odd)), rejects("malformed-key-file"));
  }
});

Deno.test("spent set is bounded and fails closed", () => {
  const set = new SpentSet(2);
  assert.equal(set.add(Uint8Array.of(1)), true);
  assert.equal(set.add(Uint8Array.of(1)), false);
  assert.equal(set.add(Uint8Array.of(2)), true);
  assert.throws(() => set.add(Uint8Array.of(3)), rejects("spent-set-full"));
  assert.equal(set.add(Uint8Array.of(2)), false);
});

Deno.test("issuer directory round-trips and refuses malformed keys", () => {
  const d = {
    issuerRequestUri: "https://issuer.example/token-request",
    tokenKeys: [{ tokenType: 1, tokenKey: new Uint8Array(49).fill(9), notBefore: 5 }],
  };
  assert.deepEqual(parseIssuerDirectory(formatIssuerDirectory(d)), d);
  assert.throws(
    () => parseIssuerDirectory('{"issuer-request-uri":"x","token-keys":[{"token-type":1}]}'),
    rejects("malformed-directory"),
  );
});
