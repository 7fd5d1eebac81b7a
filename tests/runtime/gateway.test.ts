/**
 * The runtime's HTTP surface against bad input of every kind (issue 5, "A request"): each gets its
 * status — outside the encryption before decapsulation (RFC 9458 §5.2, §5.3), inside it after —
 * with a one-line reason, and the server keeps serving. The real runtime process, with Privacy
 * Pass tokens from the real issuer key store and evidence from the emulated secure processor.
 * Then workers that crash or hang, through the real gateway and pool in this process.
 */
import assert from "node:assert/strict";
import { startRuntime } from "./process.ts";
import { keyConfig, openAnswer, sendBhttp, summarizeRequest } from "./send.ts";
import { TestIssuer } from "./issuer.ts";
import { denoScript, gatewayRequest, inProcessGateway } from "./inprocess.ts";
import { emulatedSp } from "../attestation/fixtures.ts";
import { EMULATED_STATE } from "../client/world.ts";
import { concat, equalBytes, toHex, utf8 } from "../../protocol/bytes.ts";
import { encodeRequest, field } from "../../protocol/bhttp.ts";
import {
  encapsulateRequest,
  type KeyConfig,
  MEDIA_TYPE_KEYS,
  PROBLEM_TYPE_OHTTP_KEY,
} from "../../protocol/ohttp.ts";
import { formatAuthorization, parseAuthorization } from "../../protocol/privacypass.ts";
import { loadEmulatedRoot } from "../../attestation/emulated.ts";
import { verifyBundle } from "../../attestation/verify.ts";
import { defaultPolicy } from "../../attestation/policy.ts";
import { AttestationError } from "../../attestation/errors.ts";

const GATEWAY = "/.well-known/ohttp-gateway";
const EVIDENCE = "/.well-known/cloister/evidence";
const MAX_BODY = 64 * 1024;

const MESSAGES = {
  messages: [
    { from: "Ann", text: "The storage unit opens at eight tomorrow morning." },
    { from: "Bob", text: "I will bring the van and the blue boxes." },
    { from: "Ann", text: "Great, the keys are with the caretaker downstairs." },
    { from: "Bob", text: "See you there, I will text when I am parking." },
  ],
};

interface Plain {
  status: number;
  type: string | null;
  text: string;
  headers: Headers;
}

async function plain(url: string, init: RequestInit = {}): Promise<Plain> {
  const res = await fetch(url, init);
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    text: await res.text(),
    headers: res.headers,
  };
}

function postOhttp(url: string, body: BodyInit, contentType = "message/ohttp-req") {
  return plain(`${url}${GATEWAY}`, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
  });
}

/** The same token with one bit of its authenticator flipped. */
function forged(authorization: string): string {
  const token = parseAuthorization(authorization);
  token.authenticator[0] ^= 1;
  return formatAuthorization(token);
}

Deno.test("bad input of every kind gets its status and reason, and the runtime keeps serving", async (t) => {
  await emulatedSp("genoa"); // the emulated secure processor's state, made once per checkout
  const issuer = await TestIssuer.open();
  const other = await TestIssuer.open();
  const runtime = await startRuntime([
    "--emulated",
    "--emulated-state",
    EMULATED_STATE,
    "--issuer-key",
    issuer.keyFile,
    "--max-body",
    String(MAX_BODY),
  ]);
  try {
    const { url } = runtime;
    const tokens = await issuer.tokens(12);
    let config: KeyConfig;
    let keysBody: Uint8Array;
    const send = (bhttp: Uint8Array) => sendBhttp(url, config, bhttp);

    await t.step("ohttp-keys: one key config, its media type", async () => {
      const res = await fetch(`${url}${GATEWAY}`);
      assert.equal(res.headers.get("content-type"), MEDIA_TYPE_KEYS);
      keysBody = new Uint8Array(await res.arrayBuffer());
      config = await keyConfig(url);
      assert.equal(keysBody.length, 2 + ((keysBody[0] << 8) | keysBody[1]), "one config only");
    });

    await t.step(
      "evidence verifies against the emulated root only, and binds the served key",
      async () => {
        const res = await fetch(`${url}${EVIDENCE}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get("content-type"), "application/cbor");
        const bundle = new Uint8Array(await res.arrayBuffer());
        const root = await loadEmulatedRoot(EMULATED_STATE);
        const verified = await verifyBundle(bundle, defaultPolicy(), {
          now: new Date(),
          roots: [root],
        });
        assert.equal(verified.emulated, true);
        assert.ok(equalBytes(verified.claims.keyConfig, keysBody.subarray(2)));
        assert.equal(toHex(verified.measurement), runtime.measurement);
        assert.equal(verified.claims.nonce, undefined);
        // Not trusted by default: the production roots alone refuse it.
        await assert.rejects(
          verifyBundle(bundle, defaultPolicy(), { now: new Date() }),
          AttestationError,
        );
      },
    );

    await t.step("evidence with a nonce: fresh, bound to the nonce; bad nonces 400", async () => {
      const nonce = crypto.getRandomValues(new Uint8Array(32));
      const res = await fetch(`${url}${EVIDENCE}?nonce=${toHex(nonce)}`);
      assert.equal(res.status, 200);
      const bundle = new Uint8Array(await res.arrayBuffer());
      const verified = await verifyBundle(bundle, defaultPolicy(), {
        now: new Date(),
        roots: [await loadEmulatedRoot(EMULATED_STATE)],
      });
      assert.ok(verified.claims.nonce && equalBytes(verified.claims.nonce, nonce));
      assert.ok(equalBytes(verified.claims.keyConfig, keysBody.subarray(2)));
      for (
        const [query, reason] of [
          ["nonce=xyz", /hex/],
          ["nonce=", /1 to 64 bytes, not 0/],
          [`nonce=${"ab".repeat(65)}`, /1 to 64 bytes, not 65/],
        ] as const
      ) {
        const r = await plain(`${url}${EVIDENCE}?${query}`);
        assert.equal(r.status, 400, query);
        assert.match(r.text, reason);
        assert.equal(r.text.trim().split("\n").length, 1, "one line");
      }
    });

    await t.step(
      "fresh evidence is rate-limited (429, retry-after), then served again",
      async () => {
        const burst = await Promise.all(
          Array.from({ length: 8 }, () => plain(`${url}${EVIDENCE}?nonce=${toHex(utf8("n"))}`)),
        );
        const limited = burst.filter((r) => r.status === 429);
        assert.ok(limited.length >= 1, `statuses ${burst.map((r) => r.status)}`);
        assert.ok(burst.every((r) => r.status === 200 || r.status === 429));
        assert.equal(limited[0].headers.get("retry-after"), "1");
        assert.match(limited[0].text, /too many fresh-evidence requests/);
        await new Promise((r) => setTimeout(r, 1100));
        assert.equal((await plain(`${url}${EVIDENCE}?nonce=01`)).status, 200);
      },
    );

    await t.step("outside the encryption: unknown paths 404, wrong methods 405", async () => {
      const missing = await plain(`${url}/admin`);
      assert.equal(missing.status, 404);
      assert.equal(missing.text, "not found\n");
      const put = await plain(`${url}${GATEWAY}`, { method: "PUT", body: "x" });
      assert.equal(put.status, 405);
      assert.equal(put.headers.get("allow"), "GET, POST");
      const post = await plain(`${url}${EVIDENCE}`, { method: "POST", body: "x" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET");
    });

    await t.step("wrong or missing media type: 415 (RFC 9458 §9)", async () => {
      const { encapsulatedRequest } = encapsulateRequest(config, summarizeRequest(MESSAGES));
      const body = encapsulatedRequest as Uint8Array<ArrayBuffer>;
      assert.equal((await postOhttp(url, body, "application/octet-stream")).status, 415);
      assert.equal((await postOhttp(url, body, "message/ohttp-res")).status, 415);
      const none = await plain(`${url}${GATEWAY}`, { method: "POST", body: new Blob([body]) });
      assert.equal(none.status, 415);
    });

    await t.step("oversized body: 413, declared or streamed", async () => {
      const big = new Uint8Array(MAX_BODY + 1);
      const declared = await postOhttp(url, big);
      assert.equal(declared.status, 413);
      assert.match(declared.text, new RegExp(`over ${MAX_BODY} bytes`));
      // No Content-Length: the body is counted as it streams in.
      const chunks = [new Uint8Array(MAX_BODY / 2), new Uint8Array(MAX_BODY / 2), Uint8Array.of(1)];
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          const next = chunks.shift();
          if (next) c.enqueue(next);
          else c.close();
        },
      });
      const streamed = await postOhttp(url, stream);
      assert.equal(streamed.status, 413);
    });

    await t.step("a client that hangs up mid-body costs nothing and logs nothing", async () => {
      const { hostname, port } = new URL(url);
      for (let i = 0; i < 3; i++) {
        const conn = await Deno.connect({ hostname, port: Number(port) });
        await conn.write(new TextEncoder().encode(
          `POST ${GATEWAY} HTTP/1.1\r\nhost: x\r\ncontent-type: message/ohttp-req\r\n` +
            "content-length: 1000\r\n\r\n" + "x".repeat(10),
        ));
        await new Promise((r) => setTimeout(r, 50));
        conn.close();
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.doesNotMatch(runtime.stderr(), /internal error/);
    });

    await t.step("malformed OHTTP: 400 with no body (§5.2)", async () => {
      const { encapsulatedRequest: good } = encapsulateRequest(config, summarizeRequest(MESSAGES));
      const tampered = good.slice();
      tampered[tampered.length - 1] ^= 1;
      const cases: [string, Uint8Array][] = [
        ["empty", new Uint8Array(0)],
        ["header only", good.slice(0, 5)],
        ["no ciphertext", good.slice(0, 7 + 32)],
        ["shorter than the tag", good.slice(0, 7 + 32 + 15)],
        ["tampered ciphertext", tampered],
        // The right header, then random bytes: reaches the decryption.
        ["random", concat(good.subarray(0, 7), crypto.getRandomValues(new Uint8Array(200)))],
      ];
      for (const [name, body] of cases) {
        const r = await postOhttp(url, body as Uint8Array<ArrayBuffer>);
        assert.equal(r.status, 400, name);
        assert.equal(r.text, "", name);
      }
    });

    await t.step("unknown key id or suite: 400 with the ohttp-key problem (§5.3)", async () => {
      const otherId = { ...config, keyId: (config.keyId + 128) % 256 };
      const otherAead = { ...config, algorithms: [{ kdfId: 1, aeadId: 2 }] };
      for (const [name, c] of [["key id", otherId], ["AEAD", otherAead]] as const) {
        const { encapsulatedRequest } = encapsulateRequest(c, summarizeRequest(MESSAGES));
        const r = await postOhttp(url, encapsulatedRequest as Uint8Array<ArrayBuffer>);
        assert.equal(r.status, 400, name);
        assert.equal(r.type, "application/problem+json", name);
        assert.equal(JSON.parse(r.text).type, PROBLEM_TYPE_OHTTP_KEY, name);
      }
    });

    await t.step("bad Binary HTTP inside valid encryption: encrypted 400", async () => {
      for (const bhttp of [Uint8Array.of(0, 4, 80), Uint8Array.of(1, 0), new Uint8Array(0)]) {
        const a = await send(bhttp);
        assert.equal(a.outer, 200);
        assert.equal(a.status, 400);
        assert.match(a.json!.error!, /^malformed Binary HTTP request: /);
      }
    });

    await t.step("unknown path 404, wrong method 405 (allow: POST), encrypted", async () => {
      const notFound = await send(summarizeRequest(MESSAGES, tokens[0], { path: "/v1/admin" }));
      assert.equal(notFound.status, 404);
      assert.match(notFound.json!.error!, /no such endpoint/);
      const get = await send(summarizeRequest(MESSAGES, tokens[0], { method: "GET" }));
      assert.equal(get.status, 405);
      assert.equal(get.allow, "POST");
    });

    await t.step(
      "tokens: missing, forged, of another issuer, spent: encrypted 401 naming why",
      async () => {
        const missing = await send(summarizeRequest(MESSAGES));
        assert.equal(missing.status, 401);
        assert.match(missing.json!.error!, /^token refused: missing Authorization/);
        const bad = await send(summarizeRequest(MESSAGES, forged(tokens[1])));
        assert.equal(bad.status, 401);
        assert.match(bad.json!.error!, /^token refused: invalid-token: /);
        const foreign = await send(summarizeRequest(MESSAGES, await other.token()));
        assert.equal(foreign.status, 401);
        assert.match(foreign.json!.error!, /^token refused: unknown-key: /);
        const garbled = await send(summarizeRequest(MESSAGES, "PrivateToken token=@@"));
        assert.equal(garbled.status, 401);
        assert.match(garbled.json!.error!, /^token refused: /);
        const first = await send(summarizeRequest(MESSAGES, tokens[1]));
        assert.equal(first.status, 200, "the forged copy must not have spent the real token");
        const again = await send(summarizeRequest(MESSAGES, tokens[1]));
        assert.equal(again.status, 401);
        assert.match(again.json!.error!, /^token refused: double-spend: /);
      },
    );

    await t.step(
      "with a good token: wrong body type 415, bad JSON 400, bad input 400/413",
      async () => {
        const typed = await send(
          summarizeRequest(undefined, undefined, {
            headers: [field("content-type", "text/plain"), field("authorization", tokens[2])],
            body: utf8("hello"),
          }),
        );
        assert.equal(typed.status, 415);
        const secret = "my-bank-pin-4711";
        const json = await send(
          summarizeRequest(undefined, undefined, {
            headers: [field("content-type", "application/json"), field("authorization", tokens[3])],
            body: utf8(`{"text": "${secret}"`),
          }),
        );
        assert.equal(json.status, 400);
        assert.match(json.json!.error!, /not UTF-8 JSON \(SyntaxError\)/);
        assert.ok(!json.json!.error!.includes(secret), "the reason quotes the request");
        const cases: [unknown, number, RegExp][] = [
          [{ messages: [] }, 400, /nothing to summarise/],
          [{ text: "   \n " }, 400, /nothing to summarise/],
          [{ messages: "hello" }, 400, /messages must be an array/],
          [{ text: "a", messages: ["b"] }, 400, /give only one/],
          [[1, 2], 400, /must be a JSON object/],
          [{ messages: Array.from({ length: 2001 }, (_, i) => `m${i}`) }, 413, /2001 units/],
        ];
        for (const [i, [body, status, reason]] of cases.entries()) {
          const a = await send(summarizeRequest(body, tokens[4 + i]));
          assert.equal(a.status, status, JSON.stringify(a.json));
          assert.match(a.json!.error!, reason);
        }
      },
    );

    await t.step("after all of that, a good request is answered", async () => {
      const a = await send(summarizeRequest(MESSAGES, tokens[11]));
      assert.equal(a.status, 200, JSON.stringify(a));
      // The extractive summary is made of the input's own utterances.
      const lines = MESSAGES.messages.map((m) => `${m.from}: ${m.text}`);
      const summary = a.json!.summary!.split("\n");
      assert.ok(summary.length >= 1 && summary.length < lines.length, a.json!.summary);
      for (const line of summary) assert.ok(lines.includes(line), line);
      assert.doesNotMatch(runtime.stderr(), /internal error/);
    });
  } finally {
    await runtime.stop();
    await issuer.close();
    await other.close();
  }
});

Deno.test("type 0x0002 tokens: the runtime verifies them with the issuer's public key alone, once each", async () => {
  const issuer = await TestIssuer.open({ tokenType: 2 });
  const type1 = await TestIssuer.open();
  const keyFile = await Deno.readTextFile(issuer.keyFile);
  assert.doesNotMatch(keyFile, /secretKey/, "an origin's type 2 key file holds no secret");
  const runtime = await startRuntime(["--emulated", "--issuer-key", issuer.keyFile, "--pool", "1"]);
  try {
    const config = await keyConfig(runtime.url);
    const send = (authorization: string) =>
      sendBhttp(runtime.url, config, summarizeRequest(MESSAGES, authorization));
    const [token] = await issuer.tokens(1);
    const bad = await send(forged(token));
    assert.equal(bad.status, 401);
    assert.match(bad.json!.error!, /^token refused: invalid-token: /);
    const good = await send(token);
    assert.equal(good.status, 200, JSON.stringify(good.json));
    assert.ok(good.json!.summary!.length > 0);
    const again = await send(token);
    assert.equal(again.status, 401);
    assert.match(again.json!.error!, /^token refused: double-spend: /);
    const other = await send(await type1.token());
    assert.equal(other.status, 401);
    assert.match(other.json!.error!, /^token refused: unknown-key: /);
  } finally {
    await runtime.stop();
    await issuer.close();
    await type1.close();
  }
});

/** Sends one good request through an in-process gateway and opens the answer. */
async function roundTrip(handler: (r: Request) => Promise<Response>, config: KeyConfig) {
  const { encapsulatedRequest, context } = encapsulateRequest(
    config,
    encodeRequest({
      method: "POST",
      scheme: "https",
      authority: "cloister.test",
      path: "/v1/summarize",
      headers: [field("content-type", "application/json")],
      content: utf8(JSON.stringify(MESSAGES)),
      trailers: [],
    }),
  );
  const res = await handler(gatewayRequest(encapsulatedRequest));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "message/ohttp-res");
  return openAnswer(new Uint8Array(await res.arrayBuffer()), context);
}

const MISBEHAVING = new URL("./misbehaving_worker.ts", import.meta.url);

async function waitFor(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("a worker that crashes, garbles or hangs gives a clean encrypted 5xx; the pool refills", async (t) => {
  const cases = [
    { how: "crash", status: 500, reason: /worker failed/, redeemed: 0 },
    { how: "garbage", status: 500, reason: /worker failed/, redeemed: 0 },
    { how: "torn", status: 500, reason: /worker failed/, redeemed: 0 },
    // The second token is refused unredeemed: one per request.
    { how: "twice", status: 500, reason: /worker failed/, redeemed: 3 },
    { how: "hang", status: 504, reason: /took longer than 400 ms/, redeemed: 0 },
  ];
  for (const { how, status, reason, redeemed } of cases) {
    await t.step(how, async () => {
      let redemptions = 0;
      const g = await inProcessGateway({
        command: denoScript(MISBEHAVING, [how]),
        size: 2,
        workerTimeoutMs: 400,
        redeem: () => (redemptions++, Promise.resolve(undefined)),
      });
      try {
        const before = new Set(g.pool.pids());
        assert.equal(before.size, 2);
        for (let i = 0; i < 2; i++) {
          const a = await roundTrip(g.handler, g.epochs.current.key.config);
          assert.equal(a.status, status);
          assert.match(a.json.error!, reason);
        }
        // Both served workers are gone (killed, even the hung one) and two new ones are ready.
        await waitFor("the pool to refill", () => {
          const now = g.pool.pids();
          return now.length === 2 && now.every((p) => !before.has(p));
        });
        for (const pid of before) {
          await waitFor(`worker ${pid} to be gone`, () => {
            try {
              return Deno.readTextFileSync(`/proc/${pid}/stat`).split(" ")[2] === "Z";
            } catch {
              return true;
            }
          });
        }
        // A refilled worker takes the next request (and fails it the same way).
        const next = await roundTrip(g.handler, g.epochs.current.key.config);
        assert.equal(next.status, status);
        const counted = g.metrics.counts.get(status === 504 ? "worker-timeout" : "worker-failed");
        assert.equal(counted, 3);
        assert.equal(g.metrics.counts.get("answered"), 3, "each failure was answered, encrypted");
        assert.equal(redemptions, redeemed);
      } finally {
        await g.close();
      }
    });
  }
});
