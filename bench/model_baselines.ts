/**
 * The baselines of `deno task bench model`, kept out of the runtime's dependency closure:
 *
 * - transformers.js (@huggingface/transformers 4.3.1, its summarization pipeline), installed on
 *   the benchmark's first run with npm into `.cache/baselines/transformers` (never package.json,
 *   never the image), loaded from there with remote models off: it reads the same local folder
 *   (`encoder_model.onnx` + `decoder_model_merged.onnx`, or their `_quantized` files for q8).
 * - a naive loop: the merged decoder under ORT's default session options, fetching every output
 *   each step and feeding the presents back, as a first implementation would.
 */
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import type { Seq2SeqTokenizer } from "../model/tokenizer.ts";

const VERSION = "4.3.1";
const HOME = new URL("../.cache/baselines/transformers/", import.meta.url);
const ENTRY = new URL("node_modules/@huggingface/transformers/dist/transformers.node.mjs", HOME);

async function installed(): Promise<boolean> {
  try {
    const pkg = new URL("node_modules/@huggingface/transformers/package.json", HOME);
    return JSON.parse(await Deno.readTextFile(pkg)).version === VERSION;
  } catch {
    return false;
  }
}

/** Installs transformers.js into the cache folder unless it is there; returns its module. */
async function transformersJs(log: (line: string) => void) {
  if (!await installed()) {
    log(
      `installing @huggingface/transformers@${VERSION} into ${
        fileURLToPath(HOME)
      } (first run only)`,
    );
    await Deno.mkdir(HOME, { recursive: true });
    await Deno.writeTextFile(new URL("package.json", HOME), '{ "private": true }\n');
    const out = await new Deno.Command("npm", {
      args: [
        "install",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--save-exact",
        `@huggingface/transformers@${VERSION}`,
      ],
      cwd: HOME,
      // onnxruntime-node's install script would fetch CUDA libraries; the CPU build ships in the tarball
      env: { ONNXRUNTIME_NODE_INSTALL_CUDA: "skip" },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
      throw new Error(
        `npm install of transformers.js failed: ${
          lines.find((l) => /error/i.test(l)) ?? lines.at(-1)
        }`,
      );
    }
  }
  return await import(ENTRY.href);
}

export interface TransformersJsSummarizer {
  /** The summarization pipeline: `text` to exactly `tokens` new tokens, greedy. */
  summarize(text: string, tokens: number): Promise<string>;
  /** The same generation's output ids (for checking both sides do the same work). */
  ids(text: string, tokens: number): Promise<number[]>;
}

/** transformers.js's summarization pipeline on the model folder `dir`, local files only. */
export async function loadTransformersJs(
  dir: string,
  dtype: "fp32" | "q8",
  threads: number,
  log: (line: string) => void,
): Promise<TransformersJsSummarizer> {
  const tjs = await transformersJs(log);
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = dir.slice(0, dir.lastIndexOf("/") + 1);
  const name = dir.slice(dir.lastIndexOf("/") + 1);
  const pipe = await tjs.pipeline("summarization", name, {
    dtype,
    device: "cpu",
    session_options: { intraOpNumThreads: threads },
  });
  const options = (tokens: number) => ({
    max_new_tokens: tokens,
    min_new_tokens: tokens,
    num_beams: 1,
    do_sample: false,
    no_repeat_ngram_size: 0,
  });
  return {
    summarize: async (text, tokens) => (await pipe(text, options(tokens)))[0].summary_text,
    ids: async (text, tokens) => {
      const prefix = pipe.model.config.task_specific_params?.summarization?.prefix ?? "";
      const out = await pipe.model.generate({
        ...pipe.tokenizer(prefix + text),
        ...options(tokens),
      });
      return (out.tolist()[0] as bigint[]).slice(1).map(Number);
    },
  };
}

/** The naive loop over the merged decoder; `run` returns the new token ids. */
export async function loadNaive(dir: string, tokenizer: Seq2SeqTokenizer, prefix: string) {
  const encoder = await ort.InferenceSession.create(`${dir}/onnx/encoder_model.onnx`);
  const merged = await ort.InferenceSession.create(`${dir}/onnx/decoder_model_merged.onnx`);
  const pastNames = merged.inputNames.filter((n) => n.startsWith("past_key_values."));
  const meta = merged.inputMetadata.find((m) => m.name === pastNames[0]);
  const [heads, headDim] = meta && meta.isTensor
    ? [meta.shape[1] as number, meta.shape[3] as number]
    : [0, 0];
  return {
    release: () => Promise.all([encoder.release(), merged.release()]),
    run: async (text: string, tokens: number, eos: number, start: number): Promise<number[]> => {
      const ids = tokenizer.encode(prefix + text);
      const S = ids.length;
      const inputIds = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, S]);
      const mask = new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]);
      const hidden =
        (await encoder.run({ input_ids: inputIds, attention_mask: mask })).last_hidden_state;
      const empty = new ort.Tensor("float32", new Float32Array(0), [1, heads, 0, headDim]);
      let past: Record<string, ort.Tensor> = Object.fromEntries(pastNames.map((n) => [n, empty]));
      const out: number[] = [];
      let last = start;
      for (let step = 0; step < tokens; step++) {
        const r = await merged.run({
          input_ids: new ort.Tensor("int64", BigInt64Array.of(BigInt(last)), [1, 1]),
          encoder_attention_mask: mask,
          encoder_hidden_states: hidden,
          use_cache_branch: new ort.Tensor("bool", [step > 0], [1]),
          ...past,
        });
        const logits = r.logits.data as Float32Array;
        let best = -1;
        for (let v = 0; v < logits.length; v++) {
          if (v === eos && out.length < tokens) continue; // forced length: no eos
          if (best < 0 || logits[v] > logits[best]) best = v;
        }
        out.push(last = best);
        const next: Record<string, ort.Tensor> = {};
        for (const n of pastNames) {
          const present = n.replace("past_key_values", "present");
          // the cache branch's encoder presents are empty: the first step's stay valid
          next[n] = step > 0 && n.includes(".encoder.") ? past[n] : r[present] as ort.Tensor;
        }
        past = next;
      }
      tokenizer.decode(out);
      return out;
    },
  };
}
