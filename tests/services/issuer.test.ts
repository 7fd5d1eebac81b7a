import assert from "node:assert/strict";
import {
  cloisterChallenge,
  currentKey,
  DIRECTORY_PATH,
  formatIssuerKeys,
  MEDIA_BATCH_REQUEST,
  MEDIA_REQUEST,
  parseIssuerDirectory,
  parseIssuerKeys,
  redeem,
  SpentTokens,
  voprf,
} from "../../protocol/privacypass.ts";
import { startServer } from "../../services/common/http.ts";
import { expectUsageErrors } from "./cli.ts";
import { runScript } from "../task.ts";
import { RateLimiter } from "../../services/common/ratelimit.ts";
import { accountLine, bearerAccounts, parseAccounts } from "../../services/issuer/accounts.ts";
import { IssuerKeyStore } from "../../services/issuer/keys.ts";
import { issuerHandler, REQUEST_PATH } from "../../services/issuer/server.ts";

const NAME = "issuer.cloister.test";
const ALICE = { authorization: "Bearer alice:open-sesame" };

async function withIssuer(fn: (url: string, dir: string) => Promise<void>, rate = 100) {
  const dir = await Deno.makeTempDir();
  const keys = await IssuerKeyStore.open(
    dir,
    NAME,
    { rotate: 3600, accept: 3600 },
    Math.floor(Date.now() / 1000),
  );
  const server = startServer(
    issuerHandler({
      keys,
      accounts: bearerAccounts(parseAccounts(accountLine("alice", "open-sesame"))),
      limiter: new RateLimiter(rate / 60, rate),
    }),
    { hostname: "127.0.0.1", port: 0 },
  );
  const url = `http://127.0.0.1:${server.port}`;
  try {
    await fn(url, dir);
  } finally {
    await server.shutdown();
  }
}

async function post(
  url: string,
  body: Uint8Array,
  type = MEDIA_REQUEST,
  headers: Record<string, string> = ALICE,
) {
  const res = await fetch(`${url}${REQUEST_PATH}`, {
    method: "POST",
    headers: { "content-type": type, ...headers },
    body: body as Uint8Array<ArrayBuffer>,
  });
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    body: new Uint8Array(await res.arrayBuffer()),
  };
}

Deno.test("issuer: directory, single and batched issuance, tokens redeem once at the origin", async () => {
  await withIssuer(async (url, dir) => {
    const res = await fetch(`${url}${DIRECTORY_PATH}`);
    assert.equal(res.headers.get("content-type"), "application/private-token-issuer-directory");
    const directory = parseIssuerDirectory(await res.text());
    assert.equal(directory.issuerRequestUri, `${url}${REQUEST_PATH}`);
    assert.equal(directory.tokenKeys.length, 2); // current and next epoch
    const key = currentKey(directory, 1, Math.floor(Date.now() / 1000))!;
    const challenge = cloisterChallenge(NAME, 1);
    const { request, state } = voprf.createTokenRequest(challenge, key.tokenKey);
    const single = await post(url, request);
    assert.equal(single.status, 200);
    assert.equal(single.type, "application/private-token-response");
    const token = voprf.finalizeToken(state, single.body);
    const batch = voprf.createBatchTokenRequest(challenge, key.tokenKey, 4);
    // The scheme's case does not matter (RFC 9110 §11.1).
    const answer = await post(url, batch.request, MEDIA_BATCH_REQUEST, {
      authorization: "bearer alice:open-sesame",
    });
    assert.equal(answer.status, 200);
    const tokens = voprf.finalizeBatchTokens(batch.states, answer.body);
    const originKeys = parseIssuerKeys(await Deno.readTextFile(`${dir}/origin-keys.json`));
    const spent = new SpentTokens();
    for (const t of [token, ...tokens]) await redeem(t, originKeys, spent);
    await assert.rejects(redeem(token, originKeys, spent), { code: "double-spend" });
  });
});

Deno.test("issuer: bad requests get 401/413/415/422/429 and it keeps serving", async () => {
  await withIssuer(async (url) => {
    const directory = parseIssuerDirectory(await (await fetch(`${url}${DIRECTORY_PATH}`)).text());
    const pk = directory.tokenKeys[directory.tokenKeys.length - 1].tokenKey;
    const { request } = voprf.createTokenRequest(cloisterChallenge(NAME, 1), pk);
    assert.equal((await post(url, request, MEDIA_REQUEST, {})).status, 401);
    assert.equal(
      (await post(url, request, MEDIA_REQUEST, { authorization: "Bearer alice:wrong" })).status,
      401,
    );
    assert.equal((await post(url, request, "application/octet-stream")).status, 415);
    assert.equal((await post(url, request.subarray(0, 10))).status, 422);
    const wrongKey = request.slice();
    wrongKey[2] ^= 0xff;
    assert.equal((await post(url, wrongKey)).status, 422);
    assert.equal((await post(url, new Uint8Array(200_000))).status, 413);
    // The last call of the minute's budget (burst 3) passes, the next is refused.
    const results = [];
    for (let i = 0; i < 4; i++) {
      const fresh = voprf.createTokenRequest(
        cloisterChallenge(NAME, 1),
        directory.tokenKeys[1].tokenKey,
      );
      results.push((await post(url, fresh.request)).status);
    }
    assert.deepEqual(results, [200, 200, 200, 429]);
    // A batch larger than the burst can never be served: 422 saying so, not 429 (retry later).
    const big = voprf.createBatchTokenRequest(
      cloisterChallenge(NAME, 1),
      directory.tokenKeys[1].tokenKey,
      4,
    );
    const refused = await post(url, big.request, MEDIA_BATCH_REQUEST);
    assert.equal(refused.status, 422);
    assert.match(new TextDecoder().decode(refused.body), /batch of 4 tokens is over .* burst of 3/);
  }, 3);
});

Deno.test("rate limiter: a clock stepping back neither refills nor drains a bucket", () => {
  let t = 1000;
  const limiter = new RateLimiter(1, 2, 10, () => t);
  assert.equal(limiter.take("a", 2), true);
  t -= 3600; // an hour back: the bucket stays empty, not an hour in debt
  assert.equal(limiter.take("a"), false);
  t += 1;
  assert.equal(limiter.take("a"), true);
});

Deno.test("issuer keys rotate: next epoch made ahead, expired keys dropped from origin-keys.json", async () => {
  const dir = await Deno.makeTempDir();
  const store = await IssuerKeyStore.open(dir, NAME, { rotate: 10, accept: 5 }, 100);
  assert.equal(store.current(100).epoch, 1);
  const origin = async () =>
    parseIssuerKeys(await Deno.readTextFile(`${dir}/origin-keys.json`)).keys.map((k) => k.epoch);
  assert.deepEqual(await origin(), [1, 2]);
  await store.refresh(112);
  assert.equal(store.current(112).epoch, 2);
  assert.deepEqual(await origin(), [1, 2, 3]);
  await store.refresh(116);
  assert.deepEqual(await origin(), [2, 3]);
  // Reopening keeps the same keys; another issuer name is refused.
  const again = await IssuerKeyStore.open(dir, NAME, { rotate: 10, accept: 5 }, 116);
  assert.deepEqual(again.current(116).keyId, store.current(116).keyId);
  await assert.rejects(IssuerKeyStore.open(dir, "other.example", { rotate: 10, accept: 5 }, 116));
  // A crash after keys.json but before origin-keys.json: the next open writes what runtimes read,
  // though no key changes (it waited for the next rotation, a day by default).
  await Deno.remove(`${dir}/origin-keys.json`);
  await IssuerKeyStore.open(dir, NAME, { rotate: 10, accept: 5 }, 116);
  assert.deepEqual(await origin(), [2, 3]);
  await Deno.writeTextFile(
    `${dir}/origin-keys.json`,
    formatIssuerKeys({ issuerName: NAME, keys: [] }).replace("[]", "[ ]"),
  );
  await IssuerKeyStore.open(dir, NAME, { rotate: 10, accept: 5 }, 116);
  assert.deepEqual(await origin(), [2, 3]);
});

Deno.test("export-origin-keys reads a serving issuer's folder and never rotates it", async () => {
  const dir = await Deno.makeTempDir();
  // Keys of 1970 with 10-second epochs: opened now with export's one-day policy, the old export
  // rotated them and wrote both files beside the serving issuer.
  await IssuerKeyStore.open(dir, NAME, { rotate: 10, accept: 5 }, 100);
  const before = await Deno.readTextFile(`${dir}/keys.json`);
  const out = `${dir}/exported.json`;
  const run = await runScript("services/issuer/main.ts", [
    "export-origin-keys",
    "--dir",
    dir,
    "--name",
    NAME,
    "--out",
    out,
  ]);
  assert.equal(run.code, 0, run.err);
  assert.equal(await Deno.readTextFile(`${dir}/keys.json`), before, "keys.json untouched");
  assert.deepEqual(
    parseIssuerKeys(await Deno.readTextFile(out)).keys.map((k) => k.epoch),
    [1, 2],
  );
});

Deno.test("issuer CLI: one readable line and exit 2 on bad input", async () => {
  const dir = `${await Deno.makeTempDir()}/keys`;
  const accounts = await Deno.makeTempFile();
  await Deno.writeTextFile(accounts, `${accountLine("alice", "open-sesame")}\n`);
  const lines = await expectUsageErrors("services/issuer/main.ts", "issuer", [
    [
      "--listen",
      "127.0.0.1:0",
      "--dir",
      "/tmp/x",
      "--name",
      "bad name!",
      "--accounts",
      "/dev/null",
    ],
    [
      "--listen",
      "127.0.0.1:0",
      "--dir",
      "/tmp/x",
      "--name",
      "i.example",
      "--accounts",
      "/nonexistent",
    ],
    ["--listen", "127.0.0.1:0"],
    ["account", "--name", "no spaces allowed"],
    [
      "--listen",
      "127.0.0.1:0",
      "--dir",
      dir,
      "--name",
      "i.example",
      "--accounts",
      accounts,
      "--public-url",
      "nope",
    ],
  ]);
  assert.doesNotMatch(lines[1], /--accounts .*--accounts/, "the flag named once");
  assert.equal(await Deno.stat(dir).catch(() => undefined), undefined, "no keys made for nothing");
});
