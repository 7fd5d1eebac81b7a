import assert from "node:assert/strict";
import { InputError, ModelError, ModelFolderError } from "../../model/errors.ts";
import {
  LIMITS,
  loadSummarizer,
  requestInput,
  seq2seqSummarizer,
  summarize,
  type Summarizer,
} from "../../model/summarize.ts";
import { loadSeq2SeqConfig } from "../../model/seq2seq.ts";
import { Seq2SeqTokenizer } from "../../model/tokenizer.ts";
import { emptyStats } from "../../model/generate.ts";
import { tinyModel } from "./fixtures.ts";

const CHAT = [
  { from: "Ann", text: "Are we still meeting at the cafe tomorrow at 10?" },
  { from: "Bob", text: "yes" },
  { from: "Ann", text: "Great, I will bring the cafe voucher for tomorrow." },
  { from: "Carl", text: "can I join you two at the cafe tomorrow?" },
  { from: "Bob", text: "sure" },
  { from: "Ann", text: "of course, see you all at 10 at the cafe" },
];

async function withSummarizer(fn: (s: Summarizer) => Promise<void>) {
  const s = await loadSummarizer();
  try {
    await fn(s);
  } finally {
    await s.release();
  }
}

function assertInputError(code: string, pattern?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof InputError, `not an InputError: ${e}`);
    assert.ok(e instanceof ModelError);
    assert.equal(e.code, code);
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

Deno.test("summarize on messages keeps speakers and picks the input's own utterances", async () => {
  await withSummarizer(async (s) => {
    const summary = await s.summarize(CHAT);
    assert.equal(summary.total, CHAT.length);
    assert.equal(summary.units.length, 3);
    assert.deepEqual(summary.warnings, []);
    for (const u of summary.units) {
      assert.deepEqual({ from: u.speaker, text: u.text }, CHAT[u.index]);
    }
    assert.equal(summary.text, summary.units.map((u) => `${u.speaker}: ${u.text}`).join("\n"));
    assert.ok(summary.text.length < CHAT.map((m) => `${m.from}: ${m.text}`).join("\n").length);
    // Low-content replies ("yes", "sure") are never chosen over the plan itself.
    assert.ok(!summary.units.some((u) => u.text === "yes" || u.text === "sure"));
  });
});

Deno.test("summarize on a dialogue string, prose, bare strings and short inputs", async () => {
  await withSummarizer(async (s) => {
    const dialogue = CHAT.map((m) => `${m.from}: ${m.text}`).join("\n");
    const fromText = await s.summarize(dialogue);
    assert.equal(fromText.text, (await s.summarize(CHAT)).text);

    const prose = "The river flooded the town after rain. Officials closed the bridge over the " +
      "river. A bakery sold out of bread. The mayor thanked volunteers at the river.";
    const p = await s.summarize(prose, { count: 2 });
    assert.equal(p.total, 4);
    assert.equal(p.units.length, 2);
    assert.ok(p.units.every((u) => u.speaker === undefined && prose.includes(u.text)));
    assert.equal(p.text, p.units.map((u) => u.text).join(" "));

    const bare = await s.summarize(["first message here", "second one about the plan"]);
    assert.equal(bare.units.length, 1, "never all units of a two-unit input");
    assert.ok(!bare.text.includes(":"));

    // A lone message is summarised by its own sentences, keeping its speaker.
    const lone = await s.summarize([{ from: "Ann", text: prose }], { count: 1 });
    assert.equal(lone.total, 4);
    assert.equal(lone.units[0].speaker, "Ann");
    assert.ok(lone.text.startsWith("Ann: ") && lone.text.length < prose.length);

    const one = await s.summarize("Just one sentence.");
    assert.deepEqual([one.text, one.total], ["Just one sentence.", 1]);

    // format: "prose" reads a transcript as sentences, "dialogue" forces the Name: reading.
    assert.equal(
      (await s.summarize("Ann: hi there.", { format: "dialogue" })).units[0].speaker,
      "Ann",
    );
    assert.equal((await s.summarize(dialogue, { format: "prose" })).units[0].speaker, undefined);
  });
});

Deno.test("empty input is a typed error", async () => {
  await withSummarizer(async (s) => {
    for (const input of ["", "  \n\t", [], [{ from: "Ann", text: "  " }], ["", " "]]) {
      await assert.rejects(s.summarize(input), assertInputError("empty-input"));
    }
  });
});

Deno.test("over-long input: refused by default, truncated with a warning on request", async () => {
  await withSummarizer(async (s) => {
    const long = "word ".repeat(LIMITS.maxChars / 5 + 1);
    await assert.rejects(
      s.summarize(long),
      assertInputError("input-too-long", /262145 characters, more than the limit of 262144/),
    );
    const many = Array.from({ length: 30 }, (_, i) => ({ from: "Ann", text: `message ${i} x` }));
    await assert.rejects(
      s.summarize(many, { maxUnits: 20 }),
      assertInputError("input-too-long", /30 units .* limit of 20/),
    );
    await assert.rejects(
      s.summarize(many, { maxChars: 100 }),
      assertInputError("input-too-long", /more than the limit of 100/),
    );
    const cut = await s.summarize(many, { maxUnits: 20, overflow: "truncate" });
    assert.equal(cut.total, 20);
    assert.match(cut.warnings[0], /truncated to its first 20 units/);
    assert.ok(cut.units.every((u) => u.index < 20));

    // A text cut at maxChars drops the sentence the cut falls in.
    const text = "One sentence here. Another sentence there. A third sentence now.";
    const t = await s.summarize(text, { maxChars: 50, overflow: "truncate" });
    assert.equal(t.total, 2);
    assert.equal(t.warnings.length, 1);
  });
});

Deno.test("bad shapes and bad options are typed errors", async () => {
  await withSummarizer(async (s) => {
    await assert.rejects(
      s.summarize(42 as unknown as string),
      assertInputError("bad-input", /string or a list of messages/),
    );
    await assert.rejects(
      s.summarize([{ from: "Ann", text: 3 }] as unknown as string[]),
      assertInputError("bad-input", /messages\[0\]\.text must be a string/),
    );
    for (const count of [0, -1, 1.5, NaN]) {
      await assert.rejects(s.summarize(CHAT, { count }), assertInputError("bad-input", /count/));
    }
  });
});

Deno.test("requestInput reads text, dialogue or messages and names the bad field", () => {
  assert.equal(requestInput({ id: "1", text: "hello" }), "hello");
  assert.deepEqual(requestInput({ dialogue: "Ann: hi\nBob: yo" }), [
    { from: "Ann", text: "hi" },
    { from: "Bob", text: "yo" },
  ]);
  assert.deepEqual(requestInput({ messages: ["a", { from: "Ann", text: "b" }] }), [
    { from: undefined, text: "a" },
    { from: "Ann", text: "b" },
  ]);
  const bad: [unknown, RegExp][] = [
    [[], /must be a JSON object/],
    [null, /must be a JSON object/],
    [{ id: "1" }, /needs one of text, dialogue or messages/],
    [{ text: "a", messages: [] }, /has text and messages; give only one/],
    [{ text: 5 }, /text must be a string/],
    [{ dialogue: ["Ann: hi"] }, /dialogue must be a string/],
    [{ messages: [{ text: null }] }, /messages\[0\]\.text must be a string/],
  ];
  for (const [request, pattern] of bad) {
    assert.throws(() => requestInput(request), assertInputError("bad-input", pattern));
  }
});

Deno.test("a model folder: an Optimum export generates, a broken one is a typed error", async () => {
  await assert.rejects(loadSummarizer({ model: "/nonexistent" }), (e) => {
    assert.ok(e instanceof ModelFolderError);
    assert.equal(e.code, "missing-file");
    return true;
  });
  const s = await loadSummarizer({ model: await tinyModel("t5-tiny") });
  try {
    assert.equal(s.kind, "seq2seq");
    const out = await s.summarize(CHAT, { generation: { maxNewTokens: 4 } });
    assert.equal(typeof out.text, "string");
    assert.deepEqual([out.units, out.total, out.warnings], [[], CHAT.length, []]);
    await assert.rejects(s.summarize([]), assertInputError("empty-input"));
    const long = "word ".repeat(2000);
    await assert.rejects(s.summarize(long), assertInputError("input-too-long", /tokens/));
    const cut = await s.summarize(long, { overflow: "truncate", generation: { maxNewTokens: 2 } });
    assert.match(cut.warnings.join(), /truncated/);
  } finally {
    await s.release();
  }
});

Deno.test("summarize() uses a process-wide default summariser", async () => {
  const a = await summarize(CHAT);
  const b = await summarize(CHAT, { count: 1 });
  assert.equal(a.units.length, 3);
  assert.equal(b.units.length, 1);
  assert.ok(a.units.some((u) => u.index === b.units[0].index));
});

Deno.test("gate: the text work goes ahead, the model runs only once it resolves", async () => {
  const dir = await tinyModel("t5-tiny");
  const { config } = await loadSeq2SeqConfig(dir);
  const tokenizer = await Seq2SeqTokenizer.load(dir, config);
  const calls: number[] = [];
  const s = seq2seqSummarizer(tokenizer, {
    config,
    generate: (ids) => {
      calls.push(ids.length);
      return Promise.resolve({
        ids: Int32Array.of(config.eosTokenIds[0]),
        warnings: [],
        stats: { ...emptyStats(ids.length), newTokens: 1 },
      });
    },
  });
  let open!: () => void;
  const pending = s.summarize(CHAT, { gate: new Promise<void>((r) => open = r) });
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(calls, [], "no generation before the gate");
  open();
  await pending;
  assert.equal(calls.length, 1);
  assert.ok(calls[0] > CHAT.length, "the generator got the tokenised input");
  // Refused: the gate's reason, and still no model run.
  const refused = new Error("token refused");
  await assert.rejects(s.summarize(CHAT, { gate: Promise.reject(refused) }), refused);
  assert.equal(calls.length, 1);
  // Input errors come from the text work, ahead of the gate.
  await assert.rejects(
    s.summarize([], { gate: new Promise(() => {}) }),
    assertInputError("empty-input"),
  );
  await withSummarizer(async (extractive) => {
    await assert.rejects(extractive.summarize(CHAT, { gate: Promise.reject(refused) }), refused);
    const open = extractive.summarize(CHAT, { gate: Promise.resolve() });
    assert.equal((await open).units.length, 3);
  });
});
