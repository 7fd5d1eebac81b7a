import assert from "node:assert/strict";
import { Seq2SeqModel } from "../../model/seq2seq.ts";
import { Seq2SeqTokenizer } from "../../model/tokenizer.ts";
import { ModelFolderError } from "../../model/errors.ts";
import { tinyModel } from "./fixtures.ts";

async function load(kind: "t5-tiny" | "bart-tiny"): Promise<Seq2SeqTokenizer> {
  const dir = await tinyModel(kind);
  const m = await Seq2SeqModel.load(dir);
  await m.release();
  return Seq2SeqTokenizer.load(dir, m.config);
}

Deno.test("T5 Unigram tokenizer: its whole vocabulary round-trips as text; </s> is appended", async () => {
  const tok = await load("t5-tiny");
  const pieces = [...tok.vocabulary().keys()].filter((p) => !/^<.*>$/.test(p));
  assert.equal(pieces.length, tok.size - 3);
  // every piece as a word (▁ is sentencepiece's space)
  const text = pieces.join(" ").replaceAll("\u2581", " ").replace(/\s+/g, " ").trim();
  const ids = tok.encode(text);
  assert.equal(ids.at(-1), 1);
  assert.ok(!ids.includes(2), "no <unk> for the tokenizer's own pieces");
  assert.equal(tok.decode(ids, { cleanUp: false }), text);
  for (const p of pieces.slice(0, 300)) {
    const word = p.replaceAll("\u2581", " ").trim();
    if (word) assert.equal(tok.decode(tok.encode(word), { cleanUp: false }), word);
  }
  // a word made of one piece is that piece
  const the = tok.vocabulary().get("\u2581the")!;
  assert.deepEqual([...tok.encode("the")], [the, 1]);
});

Deno.test("BART byte-level BPE tokenizer: its vocabulary round-trips; any text encodes without <unk>", async () => {
  const tok = await load("bart-tiny");
  const vocab = [...tok.vocabulary().keys()];
  assert.equal(vocab.length, 1024);
  const ids = vocab.map((t) => tok.vocabulary().get(t)!).filter((id) => id > 3 && id < 1023);
  const text = tok.decode(ids, { cleanUp: false });
  const again = tok.encode(text);
  assert.equal(again[0], 0); // <s>
  assert.equal(again.at(-1), 2); // </s>
  assert.equal(tok.decode(again, { cleanUp: false }), text);
  const odd = "Zürich → 東京 🙂 tabs\tand\nlines";
  const e = tok.encode(odd);
  assert.ok(!e.includes(3));
  assert.equal(tok.decode(e, { cleanUp: false }), odd);
});

Deno.test("tokenizer faults that show only when used are found at load, named by file", async () => {
  const files = async (kind: "t5-tiny" | "bart-tiny") => {
    const dir = await tinyModel(kind);
    const m = await Seq2SeqModel.load(dir);
    await m.release();
    const json = JSON.parse(await Deno.readTextFile(`${dir}/tokenizer.json`));
    return { json, config: m.config };
  };
  const refused = (f: () => unknown, pattern: RegExp) =>
    assert.throws(f, (e) => {
      assert.ok(e instanceof ModelFolderError && e.code === "bad-tokenizer", String(e));
      assert.match(e.message, pattern);
      return true;
    });
  const t5 = await files("t5-tiny");
  refused(
    () => Seq2SeqTokenizer.from(t5.json, 5, t5.config, "m/tokenizer.json"),
    /^m\/tokenizer_config\.json: not a JSON object/,
  );
  // An unknown-token id past the vocabulary: met by any text with a character it lacks.
  const unk = structuredClone(t5.json);
  unk.model.unk_id = 99999;
  refused(
    () => Seq2SeqTokenizer.from(unk, {}, t5.config, "m/tokenizer.json"),
    /^m\/tokenizer\.json: encodes text to id 99999, outside config\.json's vocab_size/,
  );
  // A BART post-processor without its </s>: a TypeError inside the tokenizer at encode time.
  const bart = await files("bart-tiny");
  const noSep = structuredClone(bart.json);
  delete noSep.post_processor.sep;
  refused(
    () => Seq2SeqTokenizer.from(noSep, {}, bart.config, "m/tokenizer.json"),
    /^m\/tokenizer\.json: cannot encode text/,
  );
});
