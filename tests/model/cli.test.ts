import assert from "node:assert/strict";
import { runTask } from "../task.ts";
import { tinyModel } from "./fixtures.ts";

const task = (args: string[], stdin?: string) => runTask("summarize", args, stdin);

/** One readable line per problem, no stack trace. */
function assertReadable(err: string) {
  assert.ok(err.trim().length > 0, "no error message");
  assert.doesNotMatch(err, /^\s+at |Error:|Stack|\.ts:\d+/m, err);
}

const DIALOGUE = [
  "Ann: shall we go hiking on Saturday at the lake?",
  "Bob: sure, which trail at the lake?",
  "Ann: the long lake trail, it is 12 km around the lake",
  "Bob: ok",
  "Ann: I will bring sandwiches for the hike on Saturday",
].join("\n");

Deno.test("cli: FILE prints a summary made of the file's own lines", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/chat.txt`, DIALOGUE);
    const { code, out, err } = await task(["--count", "2", `${dir}/chat.txt`]);
    assert.equal(code, 0, err);
    const lines = out.trimEnd().split("\n");
    assert.equal(lines.length, 2);
    for (const l of lines) assert.ok(DIALOGUE.split("\n").includes(l), l);

    await Deno.writeTextFile(`${dir}/req.json`, JSON.stringify({ messages: ["a b c", "d e f"] }));
    const json = await task([`${dir}/req.json`]);
    assert.equal(json.code, 0, json.err);
    assert.ok(["a b c\n", "d e f\n"].includes(json.out), json.out);

    const stdin = await task(["-"], "One sentence. Another sentence about cats. Cats again.");
    assert.equal(stdin.code, 0, stdin.err);
    assert.ok(stdin.out.length > 0 && stdin.out.length < 50);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --jsonl summarises each line, skips and reports bad ones by number", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const input = [
      JSON.stringify({ id: "d", dialogue: DIALOGUE }),
      JSON.stringify({ id: 2, messages: [{ from: "Ann", text: "hi there" }, "second message"] }),
      "{broken",
      "",
      JSON.stringify({ id: "t", text: "The cat sat. The dog ran. The cat and the dog met." }),
      JSON.stringify({ id: "x", messages: [{ from: "Ann", text: 5 }] }),
      JSON.stringify({ text: "no id here" }),
    ].join("\n");
    await Deno.writeTextFile(`${dir}/in.jsonl`, input);
    const { code, out, err } = await task(["--jsonl", `${dir}/in.jsonl`, `${dir}/out.jsonl`]);
    assert.equal(code, 1);
    assert.equal(out, "");
    const rows = (await Deno.readTextFile(`${dir}/out.jsonl`)).trimEnd().split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => r.id), ["d", 2, "t"]);
    for (const r of rows) assert.deepEqual(Object.keys(r), ["id", "summary"]);
    for (const l of rows[0].summary.split("\n")) assert.ok(DIALOGUE.split("\n").includes(l));
    assert.ok(rows[0].summary.length < DIALOGUE.length);
    assert.match(err, /in\.jsonl line 3: the line is not valid JSON/);
    assert.match(err, /line 6: messages\[0\]\.text must be a string/);
    assert.match(err, /line 7: id must be a string or a number/);
    assert.match(err, /3 summarised, 3 failed/);
    assert.match(err, /3 of 6 lines failed \(lines 3, 6, 7\)/);
    assertReadable(err);

    await Deno.writeTextFile(`${dir}/good.jsonl`, input.split("\n")[1] + "\n");
    const good = await task(["--jsonl", `${dir}/good.jsonl`, "-"]);
    assert.equal(good.code, 0, good.err);
    assert.equal(JSON.parse(good.out).id, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: --model DIR summarises with an Optimum seq2seq export", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/chat.txt`, DIALOGUE);
    const { code, err } = await task(["--model", await tinyModel("t5-tiny"), `${dir}/chat.txt`]);
    assert.equal(code, 0, err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: a file with a byte order mark reads like one without", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/chat.json`, "\uFEFF" + JSON.stringify({ dialogue: DIALOGUE }));
    const { code, out, err } = await task([`${dir}/chat.json`]);
    assert.equal(code, 0, err);
    assert.ok(out.trim().length > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli: errors are one line and a non-zero exit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/empty.txt`, "  \n");
    await Deno.writeTextFile(`${dir}/chat.txt`, DIALOGUE);
    const cases: [string[], number, RegExp][] = [
      [[`${dir}/empty.txt`], 1, /nothing to summarise.*\(empty-input\)/],
      [[`${dir}/missing.txt`], 1, /cannot read .*missing\.txt/],
      [[], 2, /usage: deno task summarize/],
      [["--count", "0", "x"], 2, /--count must be a positive integer/],
      [["--bogus", "x"], 2, /unknown option --bogus/],
      [["--model", dir, `${dir}/chat.txt`], 1, /config\.json: not found \(missing-file\)$/m],
      // A file given as the model folder: its config.json is not found, no internal error.
      [["--model", `${dir}/chat.txt`, `${dir}/chat.txt`], 1, /chat\.txt\/config\.json: not found/],
      // The output would be truncated before the input is read: refused, the input kept.
      [["--jsonl", `${dir}/chat.txt`, `${dir}/./chat.txt`], 1, /chat\.txt is the input file too/],
    ];
    for (const [args, status, pattern] of cases) {
      const { code, err } = await task(args);
      assert.equal(code, status, `${args}: ${err}`);
      assert.match(err, pattern);
      assert.equal(err.trim().split("\n").length, 1, err);
      assertReadable(err);
    }
    assert.equal(await Deno.readTextFile(`${dir}/chat.txt`), DIALOGUE);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
