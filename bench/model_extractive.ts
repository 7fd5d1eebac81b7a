/**
 * The extractive summariser's speed (issue 4: "< 5 ms for 200 messages"): one `summarize` call
 * on 200 real chat messages (consecutive SAMSum validation utterances, speakers kept), end to end
 * (parsing, features, the ORT graph, selection), against the same pipeline with the centrality
 * computed in plain JavaScript (tests/model/lexrank_reference.ts, sparse dot products) in place
 * of the ORT session, interleaved in the same run.
 *
 * Exported for bench/model.ts; ratio `extractive-vs-js` = plain-JS median / ORT median (> 1: the
 * ORT graph is faster). Also sentence splitting of the worst inputs a request can send (one word
 * of 262 144 characters, "Dr. " repeated) against prose of the same length: ratios
 * `split-long-word-vs-prose` and `split-titles-vs-prose` (≈ 1: linear, as it must be).
 */
import { compare, type Ratio, ratio, type Result } from "./harness.ts";
import { loadSamsum } from "./quality.ts";
import { EXTRACTIVE_DEFAULTS, features, select } from "../model/extractive.ts";
import { LIMITS, loadSummarizer } from "../model/summarize.ts";
import {
  fromMessages,
  type Message,
  parseDialogue,
  splitSentences,
  unitsOf,
} from "../model/text.ts";
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
    // Splitting's worst inputs at the body limit against ordinary prose of the same length: a
    // regex tried from every position made these quadratic (minutes), which a request could ask.
    const prose = messages.map((m) => m.text).join(" ").repeat(400).slice(0, LIMITS.maxChars);
    const word = "0123456789abcdef".repeat(LIMITS.maxChars / 16);
    const titles = "Dr. ".repeat(LIMITS.maxChars / 4);
    const split = await compare([
      { name: "sentence splitting, 262 144 characters of chat", fn: () => splitSentences(prose) },
      { name: "sentence splitting, one 262 144-character word", fn: () => splitSentences(word) },
      { name: 'sentence splitting, 65 536 × "Dr. "', fn: () => splitSentences(titles) },
    ], { rounds: 10, warmup: 2 });
    return {
      results: [ours, baseline, ...split],
      ratios: [
        ratio("extractive-vs-js", baseline, ours),
        // ≈ 1 or below: the worst inputs split in linear time, like prose.
        ratio("split-long-word-vs-prose", split[1], split[0]),
        ratio("split-titles-vs-prose", split[2], split[0]),
      ],
    };
  } finally {
    await summarizer.release();
  }
}

export default extractiveBench;
