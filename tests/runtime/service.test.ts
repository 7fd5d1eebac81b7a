/**
 * runtime/service.ts with fakes for the redemption and the summariser: the token's redemption
 * overlaps the text work, no model runs before its verdict, and a refused token is the answer
 * whatever else was wrong with the request.
 */
import assert from "node:assert/strict";
import { handle, type ServiceDeps } from "../../runtime/service.ts";
import { decodeResponse, field } from "../../protocol/bhttp.ts";
import { utf8 } from "../../protocol/bytes.ts";
import { summarizeRequest } from "./send.ts";

const BODY = { messages: [{ from: "Ann", text: "Hello there." }, { from: "Bob", text: "Hi!" }] };

/** A verdict the test settles: undefined (accepted) or a reason (refused). */
function deferredVerdict() {
  let settle!: (reason: string | undefined) => void;
  const promise = new Promise<string | undefined>((resolve) => settle = resolve);
  return { promise, settle };
}

async function answer(request: Uint8Array, deps: ServiceDeps) {
  const { status, content } = decodeResponse(await handle(request, deps));
  return { status, json: JSON.parse(new TextDecoder().decode(content)) };
}

/** A summariser that does its text work at once and its "model" once paid, counting runs. */
function gatedSummarizer() {
  const runs = { text: 0, model: 0 };
  return {
    runs,
    summarize: async (_input: unknown, paid: Promise<void>) => {
      runs.text++;
      await paid;
      runs.model++;
      return "the summary";
    },
  };
}

Deno.test("the redemption overlaps the text work; the model waits for the verdict", async () => {
  const verdict = deferredVerdict();
  const s = gatedSummarizer();
  const pending = answer(summarizeRequest(BODY, "PrivateToken token=x"), {
    redeem: () => verdict.promise,
    summarize: s.summarize,
  });
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(s.runs, { text: 1, model: 0 }, "parsed and handed on while being redeemed");
  verdict.settle(undefined);
  assert.deepEqual(await pending, { status: 200, json: { summary: "the summary" } });
  assert.deepEqual(s.runs, { text: 1, model: 1 });
});

Deno.test("a refused token is answered 401 whatever else was wrong, and no model runs", async () => {
  const refused = { redeem: () => Promise.resolve("invalid-token: forged") };
  const cases: [string, Uint8Array][] = [
    ["a good body", summarizeRequest(BODY, "PrivateToken token=x")],
    ["bad JSON", summarizeRequest(undefined, undefined, { body: utf8("{not json") })],
    [
      "a wrong media type",
      summarizeRequest(undefined, undefined, {
        headers: [field("content-type", "text/plain")],
        body: utf8("hello"),
      }),
    ],
    ["bad input", summarizeRequest({ messages: 3 })],
  ];
  // Two Authorization lines are refused without a redemption, whichever of them is good.
  const twice = summarizeRequest(BODY, undefined, {
    headers: [
      field("content-type", "application/json"),
      field("authorization", "PrivateToken token=a"),
      field("authorization", "PrivateToken token=b"),
    ],
  });
  const redeemed: string[] = [];
  const doubled = await answer(twice, {
    redeem: (a) => (redeemed.push(new TextDecoder().decode(a)), Promise.resolve(undefined)),
    summarize: gatedSummarizer().summarize,
  });
  assert.equal(doubled.status, 401);
  assert.match(doubled.json.error, /^token refused: 2 Authorization field lines; send one$/);
  assert.deepEqual(redeemed, []);
  for (const [what, request] of cases) {
    const s = gatedSummarizer();
    const a = await answer(request, { ...refused, summarize: s.summarize });
    assert.equal(a.status, 401, what);
    assert.match(a.json.error, /^token refused: invalid-token: forged$/, what);
    assert.equal(s.runs.model, 0, what);
  }
  // Even a summariser that ignores the verdict cannot answer before it.
  const a = await answer(summarizeRequest(BODY, "PrivateToken token=x"), {
    ...refused,
    summarize: () => Promise.resolve("unpaid summary"),
  });
  assert.equal(a.status, 401);
});

Deno.test("with an accepted token, the body's own errors are answered", async () => {
  const accepted = { redeem: () => Promise.resolve(undefined), ...gatedSummarizer() };
  const bad = await answer(summarizeRequest(undefined, undefined, { body: utf8("{") }), accepted);
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /not UTF-8 JSON \(SyntaxError\)/);
  const typed = await answer(
    summarizeRequest(undefined, undefined, { headers: [field("content-type", "text/plain")] }),
    accepted,
  );
  assert.equal(typed.status, 415);
  const empty = await answer(summarizeRequest({ messages: 3 }), accepted);
  assert.equal(empty.status, 400);
  assert.equal(accepted.runs.model, 0);
});
