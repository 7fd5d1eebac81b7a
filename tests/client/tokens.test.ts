import assert from "node:assert/strict";
import { type ClientError, ClientInputError } from "../../client/errors.ts";
import { memoryStorage } from "../../client/storage.ts";
import { parseAccount, TokenWallet } from "../../client/tokens.ts";
import { DIRECTORY_PATH, formatIssuerDirectory } from "../../protocol/privacypass.ts";
import { toHex } from "../../protocol/bytes.ts";
import { ACCOUNT, ISSUER_NAME, World } from "./world.ts";

Deno.test("tokens: a batch is issued once, each token handed out once, none reused across wallets on one store", async () => {
  const world = await World.start();
  try {
    const storage = memoryStorage();
    const opts = {
      issuer: world.issuerUrl,
      account: ACCOUNT,
      issuerName: ISSUER_NAME,
      batch: 3,
      fetch,
      storage,
      now: () => Math.floor(Date.now() / 1000),
    };
    // Two wallets on one store, as two processes sharing a state folder.
    const [w1, w2] = [new TokenWallet(opts), new TokenWallet(opts)];
    const taken = [await w1.take(), await w2.take(), await w1.take(), await w2.take()];
    assert.deepEqual(taken.map((t) => [t.fetched, t.left]), [[3, 2], [0, 1], [0, 0], [3, 2]]);
    const nonces = new Set(taken.map((t) => toHex(t.token.nonce)));
    assert.equal(nonces.size, 4);
    assert.match(taken[0].authorization, /^PrivateToken token="[A-Za-z0-9_-]+=*"$/);
    assert.equal(await w1.count(), 2);
    // Tokens past the next key's not-before are dropped, not used.
    const later = new TokenWallet({ ...opts, now: () => Math.floor(Date.now() / 1000) + 7200 });
    assert.equal(await later.count(), 0);
    // Unknown account.
    const stranger = new TokenWallet({
      ...opts,
      account: { name: "mallory", secret: "guess" },
      storage: memoryStorage(),
    });
    await assert.rejects(stranger.take(), (e: ClientError) => {
      assert.equal(e.code, "issuer");
      assert.match(e.message, /^issuer refused to issue tokens: .*"mallory"/);
      return true;
    });
  } finally {
    await world.close();
  }
});

Deno.test("tokens: a directory sending token requests to another origin never gets the account secret", async () => {
  let secretSeen = false;
  const evil = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (req.headers.get("authorization")) secretSeen = true;
    if (new URL(req.url).pathname !== DIRECTORY_PATH) return new Response("", { status: 404 });
    return new Response(
      formatIssuerDirectory({
        issuerRequestUri: "http://127.0.0.1:9/token-request",
        tokenKeys: [{ tokenType: 1, tokenKey: new Uint8Array(49).fill(2), notBefore: 0 }],
      }),
      { headers: { "content-type": "application/private-token-issuer-directory" } },
    );
  });
  try {
    const wallet = new TokenWallet({
      issuer: `http://127.0.0.1:${evil.addr.port}`,
      account: ACCOUNT,
      fetch,
      storage: memoryStorage(),
      now: () => Math.floor(Date.now() / 1000),
    });
    assert.equal(wallet.issuerName, `127.0.0.1:${evil.addr.port}`);
    await assert.rejects(wallet.take(), /sends token requests to http:\/\/127\.0\.0\.1:9/);
    assert.equal(secretSeen, false);
  } finally {
    await evil.shutdown();
  }
  assert.deepEqual(parseAccount("alice:s3cr:et"), { name: "alice", secret: "s3cr:et" });
  for (const bad of ["alice", ":x", "al ice:x", "alice:"]) {
    assert.throws(() => parseAccount(bad), ClientInputError);
  }
});
