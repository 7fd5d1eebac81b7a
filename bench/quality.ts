/**
 * `deno task bench quality`: summary quality of the default (extractive) summariser on the SAMSum
 * validation split (`../shared/vectors/summarization`, 818 chat dialogues with one human
 * reference each), scored by bench/rouge.ts against the Lead-3 and Longest-3 baselines (first
 * three / three longest utterances, in dialogue order) computed by the same scorer in the same
 * run. Two ablations show what each half of the model brings: LexRank centrality alone (priors
 * off) and the position/length priors alone (damping 0, so centrality is uniform).
 *
 * A score is one number per system, the macro average over the dialogues: in the JSON report its
 * `median` and `p95` fields both carry it (unit `F1x100`). Ratios are ours / baseline, so > 1
 * means the summariser scores higher. The run also checks the two properties the goal asks of
 * the output: made of the input's own utterances (whole lines of the dialogue, up to spacing),
 * and shorter than the input.
 */
import { type Ratio, ratio, type Result } from "./harness.ts";
import { mean, type Rouge, rouge } from "./rouge.ts";
import { type LoadOptions, loadSummarizer } from "../model/summarize.ts";
import { vectorPath } from "../tests/vectors.ts";

export interface Dialogue {
  id: string;
  dialogue: string;
  summary: string;
}

/** The split, checked against its manifest (count and SHA-256). */
export async function loadSamsum(): Promise<Dialogue[]> {
  const dir = vectorPath("summarization");
  const manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
  const entry = manifest.files.find((f: { split: string }) => f.split === "validation");
  const bytes = await Deno.readFile(`${dir}/${entry.file}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  if (hex !== entry.sha256) throw new Error(`${entry.file}: SHA-256 ${hex} ≠ manifest`);
  const rows = new TextDecoder().decode(bytes).trim().split("\n").map((l) => JSON.parse(l));
  if (rows.length !== entry.expected_count) {
    throw new Error(`${entry.file}: ${rows.length} dialogues, manifest says ${entry.count}`);
  }
  return rows;
}

/** The manifest's reference scores of the baselines (tools/rouge.py), in F1 × 100. */
export async function referenceScores(): Promise<Record<"lead3" | "longest3", Rouge>> {
  const manifest = JSON.parse(
    await Deno.readTextFile(vectorPath("summarization/manifest.json")),
  );
  return manifest.files[0].reference_scores_tools_rouge_py;
}

export function lead3(dialogue: string): string {
  return dialogue.split("\n").slice(0, 3).join("\n");
}

/** Three longest utterances (code points of the trimmed line; earlier wins a tie), in order. */
export function longest3(dialogue: string): string {
  const lines = dialogue.split("\n");
  const length = lines.map((l) => [...l.trim()].length);
  const top = lines.map((_, i) => i).sort((a, b) => length[b] - length[a] || a - b).slice(0, 3);
  return top.sort((a, b) => a - b).map((i) => lines[i]).join("\n");
}

export interface SystemScore {
  name: string;
  rouge: Rouge;
  /** Mean summary length in words. */
  words: number;
  /** Summaries whose every line is a line of the input, and that are shorter than it. */
  own: number;
  shorter: number;
}

/** Whitespace runs as one space, ends trimmed, `Name : text` as `Name: text`: the summariser
 * tidies spacing. */
const squash = (line: string) => line.replace(/\s+/g, " ").trim().replace(/^([^:]*?) ?: ?/, "$1: ");

function score(name: string, data: Dialogue[], outputs: string[]): SystemScore {
  let own = 0;
  let shorter = 0;
  let words = 0;
  outputs.forEach((out, i) => {
    const input = data[i].dialogue;
    const lines = new Set(input.split("\n").map(squash));
    if (out.split("\n").every((l) => lines.has(squash(l)))) own++;
    if (out.length < input.length) shorter++;
    words += out.split(/\s+/).filter(Boolean).length;
  });
  return {
    name,
    rouge: mean(outputs.map((out, i) => rouge(out, data[i].summary))),
    words: words / data.length,
    own,
    shorter,
  };
}

async function summarizeAll(data: Dialogue[], options: LoadOptions): Promise<string[]> {
  const summarizer = await loadSummarizer(options);
  try {
    const out: string[] = [];
    for (const d of data) {
      out.push((await summarizer.summarize(d.dialogue, { format: "dialogue" })).text);
    }
    return out;
  } finally {
    await summarizer.release();
  }
}

/** Every system's scores; the default summariser first. */
export async function evaluate(data: Dialogue[]): Promise<SystemScore[]> {
  return [
    score("extractive", data, await summarizeAll(data, {})),
    score("Lead-3", data, data.map((d) => lead3(d.dialogue))),
    score("Longest-3", data, data.map((d) => longest3(d.dialogue))),
    score(
      "centrality only",
      data,
      await summarizeAll(data, { extractive: { lengthExponent: 0, positionWeight: 0 } }),
    ),
    score("priors only", data, await summarizeAll(data, { extractive: { damping: 0 } })),
  ];
}

const pct = (x: number) => (100 * x).toFixed(2).padStart(6);

export default async function quality(): Promise<{ results: Result[]; ratios: Ratio[] }> {
  const data = await loadSamsum();
  const systems = await evaluate(data);
  const ref = await referenceScores();

  console.log(
    `\nSAMSum validation, ${data.length} dialogues: ROUGE F1 × 100 (lower-cased [a-z0-9]+ ` +
      `tokens, no stemming, macro average)`,
  );
  console.log(`${"system".padEnd(16)}  R-1     R-2     R-L    words  own utterances  shorter`);
  for (const s of systems) {
    console.log(
      `${s.name.padEnd(16)} ${pct(s.rouge.rouge1)}  ${pct(s.rouge.rouge2)}  ${
        pct(s.rouge.rougeL)
      }  ${s.words.toFixed(1).padStart(5)}  ${`${s.own}/${data.length}`.padStart(14)}  ${
        `${s.shorter}/${data.length}`.padStart(7)
      }`,
    );
  }
  for (const [name, key] of [["Lead-3", "lead3"], ["Longest-3", "longest3"]] as const) {
    const ours = systems.find((s) => s.name === name)!.rouge;
    const theirs = ref[key];
    console.log(
      `${name} per the manifest (tools/rouge.py): ${theirs.rouge1} / ${theirs.rouge2} / ` +
        `${theirs.rougeL}; this scorer: ${(100 * ours.rouge1).toFixed(2)} / ` +
        `${(100 * ours.rouge2).toFixed(2)} / ${(100 * ours.rougeL).toFixed(2)}`,
    );
  }

  const n = data.length;
  const one = (name: string, unit: string, value: number): Result => ({
    name,
    unit,
    median: value,
    p95: value,
    n,
  });
  const results: Result[] = systems.flatMap((s) =>
    (["rouge1", "rouge2", "rougeL"] as const).map((m) =>
      one(`${s.name} ${m}`, "F1x100", 100 * s.rouge[m])
    )
  );
  const ext = systems[0];
  results.push(
    one("extractive own utterances", "%", (100 * ext.own) / n),
    one("extractive shorter than input", "%", (100 * ext.shorter) / n),
  );
  const get = (name: string) => results.find((r) => r.name === name)!;
  const versus = (metric: string, baseline: string, label: string) =>
    ratio(label, get(`extractive ${metric}`), get(`${baseline} ${metric}`));
  const ratios = [
    versus("rouge1", "Longest-3", "rouge1-vs-longest3"),
    versus("rouge2", "Longest-3", "rouge2-vs-longest3"),
    versus("rougeL", "Longest-3", "rougeL-vs-longest3"),
    versus("rouge1", "Lead-3", "rouge1-vs-lead3"),
  ];
  return { results, ratios };
}
