/**
 * The extractive summariser's speed (issue 4: "< 5 ms for 200 messages"): one `summarize` call
 * on 200 real chat messages (consecutive SAMSum validation utterances, speakers kept), end to end
 * (parsing, features, the ORT graph, selection), against the same pipeline with the centrality
 * computed in plain JavaScript (tests/model/lexrank_reference.ts, sparse dot products) in place
 * of the ORT session, interleaved in the same run.
 *
 * Exported for bench/model.ts; ratio `extractive-vs-js` = plain-JS median / ORT median (> 1: the
 * ORT graph is faster).
 */
import { compare, type Ratio, ratio, type Result } from "./harness.ts";
import { loadSamsum } from "./quality.ts";
import { EXTRACTIVE_DEFAULTS, features, select } from "../model/extractive.ts";
import { loadSummarizer } from "../model/summarize.ts";
import { fromMessages, type Message, parseDialogue, unitsOf } from "../model/text.ts";
import { lexrank } from "../tests/model/lexrank_reference.ts";

export const GOAL_MS = 5;

/** The first `count` utterances of the split, as `{from, text}` messages. */
export async function chatMessages(count: number): Promise<Message[]> {
  const out: Message[] = [];
  for (const d of await loadSamsum()) {
    for (const u of parseDialogue(d.dialogue)) {
      if (out.length === count) return out;
      out.push({ from: u.speaker, text: u.text });
    }
  }
  return out;
}

export async function extractiveBench(): Promise<{ results: Result[]; ratios: Ratio[] }> {
  const messages = await chatMessages(200);
  const summarizer = await loadSummarizer();
  try {
    const expected = (await summarizer.summarize(messages)).units.map((u) => u.index);
    const plainJs = () => {
      const units = unitsOf(fromMessages(messages), 600);
      const f = features(units, EXTRACTIVE_DEFAULTS);
      const { scores, similarity } = lexrank(f, EXTRACTIVE_DEFAULTS, 1e-6);
      return select(
        Float32Array.from(scores),
        Float32Array.from(similarity),
        f.content,
        3,
        EXTRACTIVE_DEFAULTS.redundancy,
      );
    };
    // Both sides must do the same work: same picks.
    const js = plainJs().map((p) => p.index);
    if (js.join() !== expected.join()) throw new Error(`picks differ: ORT ${expected}, JS ${js}`);

    const [ours, baseline] = await compare([
      { name: "extractive, 200 messages", fn: () => summarizer.summarize(messages) },
      { name: "extractive, 200 messages, plain-JS centrality", fn: plainJs },
    ], { rounds: 60, warmup: 5 });
    console.log(
      `extractive, 200 messages: median ${ours.median.toFixed(2)} ms (goal < ${GOAL_MS} ms: ${
        ours.median < GOAL_MS ? "met" : "NOT met"
      })`,
    );
    return { results: [ours, baseline], ratios: [ratio("extractive-vs-js", baseline, ours)] };
  } finally {
    await summarizer.release();
  }
}

export default extractiveBench;
