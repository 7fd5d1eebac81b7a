import assert from "node:assert/strict";
import { ClientInputError } from "../../client/errors.ts";
import { summarizeBody } from "../../client/input.ts";

Deno.test("input: text, {messages} and {text} requests; malformed JSON refused without quoting it", () => {
  assert.deepEqual(summarizeBody("Hi there\n", "a.txt"), { text: "Hi there\n" });
  assert.deepEqual(
    summarizeBody('{"messages": ["plain", {"from": "Ana", "text": "hi"}, {"text": "x"}]}', "m"),
    { messages: ["plain", { from: "Ana", text: "hi" }, { text: "x" }] },
  );
  assert.deepEqual(summarizeBody('  {"text": "t"}', "-"), { text: "t" });
  const refusals: [string, string, RegExp][] = [
    ["   \n", "a.txt", /a\.txt is empty/],
    ["{secret", "b.txt", /^b\.txt is not JSON \(SyntaxError\)$/],
    ["plain text", "c.json", /^c\.json is not JSON/],
    ['{"messages": [], "x": 1}', "d", /has "messages", "x"/],
    ['{"messages": []}', "e", /messages must be a non-empty list/],
    ['{"messages": [{"text": 1}]}', "f", /messages\[0\] must be a string or/],
    ['{"messages": [{"text": "a", "to": "b"}]}', "g", /messages\[0\]/],
    ['{"text": ""}', "h", /text must be a non-empty string/],
    ["[1]", "i.json", /not an object/],
  ];
  for (const [text, source, message] of refusals) {
    assert.throws(() => summarizeBody(text, source), (e: Error) => {
      assert.ok(e instanceof ClientInputError);
      assert.match(e.message, message);
      assert.doesNotMatch(e.message, /secret/);
      return true;
    });
  }
});
