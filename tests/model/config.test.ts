import assert from "node:assert/strict";
import { BART_TINY, bartConfigJson, bartGenerationConfigJson } from "../../model/builders/bart.ts";
import { T5_SMALL, t5ConfigJson } from "../../model/builders/t5.ts";
import { parseConfig } from "../../model/config.ts";
import { ModelFolderError } from "../../model/errors.ts";

Deno.test("T5 and BART configs read into sizes, ids and generation settings", () => {
  const t5 = parseConfig(t5ConfigJson(T5_SMALL), undefined);
  assert.deepEqual(
    [t5.family, t5.dModel, t5.heads, t5.headDim, t5.decoderLayers, t5.vocabSize, t5.contextLength],
    ["t5", 512, 8, 64, 6, 32128, 512],
  );
  assert.deepEqual([t5.decoderStartTokenId, t5.eosTokenIds, t5.padTokenId], [0, [1], 0]);
  assert.equal(t5.summarizationPrefix, "summarize: ");
  assert.deepEqual(t5.summarization, {
    maxLength: 200,
    minLength: 30,
    numBeams: 4,
    noRepeatNgramSize: 3,
    lengthPenalty: 2,
    earlyStopping: true,
  });

  const bart = parseConfig(bartConfigJson(BART_TINY), {
    ...bartGenerationConfigJson(),
    eos_token_id: [2, 3],
    num_beams: 3,
  });
  assert.deepEqual([bart.family, bart.headDim, bart.contextLength], ["bart", 16, 256]);
  assert.deepEqual([bart.decoderStartTokenId, bart.eosTokenIds, bart.forcedBosTokenId], [
    2,
    [2, 3],
    0,
  ]);
  assert.deepEqual(bart.generation, { numBeams: 3 });
  assert.equal(bart.summarizationPrefix, "");
});

Deno.test("generation_config.json overrides config.json; its bad fields are named", () => {
  const c = parseConfig({ ...t5ConfigJson(T5_SMALL), eos_token_id: 5 }, { eos_token_id: 1 });
  assert.deepEqual(c.eosTokenIds, [1]);
  const bad = (gen: unknown, pattern: RegExp) =>
    assert.throws(() => parseConfig(t5ConfigJson(T5_SMALL), gen), (e: unknown) => {
      assert.ok(e instanceof ModelFolderError && e.code === "bad-config", String(e));
      assert.match(e.message, pattern);
      return true;
    });
  bad(
    { num_beams: 0 },
    /generation_config\.json: field "num_beams" must be a positive integer, got 0/,
  );
  bad({ early_stopping: "yes" }, /"early_stopping" must be true, false or "never"/);
  bad({ decoder_start_token_id: -1 }, /generation_config\.json: field "decoder_start_token_id"/);
  bad([], /generation_config\.json: not a JSON object/);
  // Special ids name rows of the vocabulary (32128 rows here).
  bad(
    { forced_bos_token_id: 40000 },
    /generation_config\.json: forced_bos_token_id 40000 is not below vocab_size 32128/,
  );
  bad({ decoder_start_token_id: 32128 }, /decoder_start_token_id 32128 is not below vocab_size/);
  bad({ eos_token_id: [1, 99999] }, /eos_token_id\[1\] 99999 is not below vocab_size/);
  bad({ eos_token_id: [1, "x"] }, /field "eos_token_id\[1\]" must be a non-negative integer/);
  bad({ eos_token_id: [] }, /field "eos_token_id" is an empty list/);
  bad({ max_length: 1 }, /field "max_length" must be an integer ≥ 2, got 1/);
});

Deno.test("BART: no generation default past the decoder's learned positions", () => {
  assert.throws(
    () =>
      parseConfig(bartConfigJson(BART_TINY), {
        ...bartGenerationConfigJson(),
        max_new_tokens: 256,
      }),
    /generation_config\.json: generation of 256 tokens is past the decoder's 256 positions/,
  );
  assert.equal(
    parseConfig(bartConfigJson(BART_TINY), { ...bartGenerationConfigJson(), max_new_tokens: 255 })
      .generation.maxNewTokens,
    255,
  );
});
