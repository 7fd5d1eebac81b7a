/**
 * A worker's seq2seq summariser when the model lives in the model process (`model_server.ts`):
 * the worker holds only the tokenizer and the config, turns text into ids and ids into text,
 * and sends ids (never text) over the model process's socket. Every id buffer is wiped.
 *
 * With it comes a dry summariser on the same tokenizer whose "model" answers every input with
 * end-of-sequence at once, without the model process: the worker warms its text path with it
 * (sentence splitting, tokenisation, the tokenizer's caches, V8's optimised code) on public text
 * at boot, at no cost to the model process, which serves every worker.
 */
import { readOwnedFrame, writeOwnedFrame } from "./frames.ts";
import { decodeModelAnswer, encodeModelRequest } from "./model_server.ts";
import { wipe } from "../protocol/bytes.ts";
import { loadSeq2SeqConfig } from "../model/seq2seq.ts";
import { Seq2SeqTokenizer } from "../model/tokenizer.ts";
import { seq2seqSummarizer, type Summarizer } from "../model/summarize.ts";
import { emptyStats } from "../model/generate.ts";

export async function remoteSummarizer(
  socket: string,
  modelDir: string,
): Promise<{ summarizer: Summarizer; dry: Summarizer }> {
  const { config } = await loadSeq2SeqConfig(modelDir);
  const tokenizer = await Seq2SeqTokenizer.load(modelDir, config);
  const dry = seq2seqSummarizer(tokenizer, {
    config,
    generate: (ids) =>
      Promise.resolve({
        ids: Int32Array.of(config.eosTokenIds[0]),
        warnings: [],
        stats: { ...emptyStats(ids.length), newTokens: 1 },
      }),
  });
  const summarizer = seq2seqSummarizer(tokenizer, {
    config,
    async generate(ids, options) {
      const request = encodeModelRequest(ids, options);
      let conn: Deno.UnixConn | undefined;
      let answer: Uint8Array | null = null;
      try {
        conn = await Deno.connect({ transport: "unix", path: socket });
        await writeOwnedFrame(conn, request);
        answer = await readOwnedFrame(conn);
        if (!answer) throw new Error("the model process closed the connection");
        return decodeModelAnswer(answer);
      } finally {
        wipe(request, answer ?? undefined); // token ids, even when the connect failed
        conn?.close();
      }
    },
  });
  return { summarizer, dry };
}
