/**
 * `deno task summarize`: the model alone, no privacy layers (DESIGN.md "Commands").
 *
 *   deno task summarize [options] FILE            prints the summary of FILE
 *   deno task summarize [options] --jsonl IN OUT  one {"id","summary"} line per input line
 *
 * FILE is a text (prose, or a dialogue of `Name: message` lines), a `.json` file holding one
 * request object, or `-` for standard input. A JSONL input line is an object with `id` (string or
 * number) and one of `text`, `dialogue` or `messages` (model/summarize.ts `requestInput`). A bad
 * line is skipped and reported on stderr as `line N: reason`; the other lines are still
 * summarised, and the exit status is 1 if any line failed. Progress goes to stderr. The model is
 * loaded once.
 *
 * Options: `--model DIR` an Optimum seq2seq export instead of the extractive default; `--count N`
 * units in an extractive summary (default 3); `--truncate` cut over-long input (to the leading
 * units, or to the model's context) with a warning instead of refusing it.
 *
 * Exit status: 0 done, 1 failed (bad input, unreadable file, unusable model folder), 2 bad usage.
 * Errors are one line on stderr, never a stack trace, and never quote the input's text.
 */
import { InputError, ModelError } from "./errors.ts";
import {
  loadSummarizer,
  requestInput,
  type SummarizeInput,
  type SummarizeOptions,
  type Summarizer,
} from "./summarize.ts";

const USAGE = "usage: deno task summarize [--model DIR] [--count N] [--truncate] " +
  "(FILE | --jsonl IN OUT)";

/** A failure the CLI reports as one line, with its exit status. */
class CliError extends Error {
  constructor(message: string, readonly status = 1) {
    super(message);
  }
}

interface Args {
  model?: string;
  options: SummarizeOptions;
  file?: string;
  jsonl?: [string, string];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { options: {} };
  const rest: string[] = [];
  const value = (i: number, flag: string) => {
    if (argv[i] === undefined) throw new CliError(`${flag} needs a value; ${USAGE}`, 2);
    return argv[i];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--model") args.model = value(++i, a);
    else if (a === "--count") {
      const n = Number(value(++i, a));
      if (!Number.isInteger(n) || n < 1) {
        throw new CliError(`--count must be a positive integer`, 2);
      }
      args.options.count = n;
    } else if (a === "--truncate") args.options.overflow = "truncate";
    else if (a === "--jsonl") args.jsonl = [value(++i, a), value(++i, a)];
    else if (a === "-h" || a === "--help") throw new CliError(USAGE, 0);
    else if (a.startsWith("-") && a !== "-") throw new CliError(`unknown option ${a}; ${USAGE}`, 2);
    else rest.push(a);
  }
  if (args.jsonl ? rest.length !== 0 : rest.length !== 1) throw new CliError(USAGE, 2);
  args.file = rest[0];
  return args;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** JSON.parse, failing without V8's message, which quotes the (private) input. */
function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = message(e).match(/position (\d+)/)?.[1];
    throw new CliError(`${what} is not valid JSON${at ? ` (at character ${at})` : ""}`);
  }
}

async function readInput(file: string): Promise<SummarizeInput> {
  let text: string;
  try {
    text = file === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await Deno.readTextFile(file);
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${message(e)}`);
  }
  text = text.replace(/^\uFEFF/, ""); // a byte order mark, as editors on Windows write (JSONL's stream drops it too)
  if (!file.endsWith(".json")) return text;
  return requestInput(parseJson(text, file));
}

/** Lines of a byte stream, decoded as UTF-8, without their line ends. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, nl).replace(/\r$/, "");
      pending = pending.slice(nl + 1);
    }
  }
  if (pending) yield pending.replace(/\r$/, "");
}

async function source(path: string): Promise<ReadableStream<Uint8Array>> {
  try {
    return path === "-" ? Deno.stdin.readable : (await Deno.open(path)).readable;
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${message(e)}`);
  }
}

async function sink(path: string): Promise<WritableStream<Uint8Array>> {
  try {
    return path === "-"
      ? Deno.stdout.writable
      : (await Deno.open(path, { write: true, create: true, truncate: true })).writable;
  } catch (e) {
    throw new CliError(`cannot write ${path}: ${message(e)}`);
  }
}

/** Summarises one JSONL line; a string is the reason it failed. */
async function summarizeLine(
  summarizer: Summarizer,
  line: string,
  options: SummarizeOptions,
): Promise<string | { id: string | number; summary: string }> {
  let request: unknown;
  try {
    request = parseJson(line, "the line");
  } catch (e) {
    return message(e);
  }
  const id = (request as { id?: unknown } | null)?.id;
  if (typeof id !== "string" && typeof id !== "number") {
    return "id must be a string or a number";
  }
  try {
    const { text, warnings } = await summarizer.summarize(requestInput(request), options);
    for (const w of warnings) console.error(`summarize: id ${JSON.stringify(id)}: warning: ${w}`);
    return { id, summary: text };
  } catch (e) {
    if (e instanceof InputError) return e.message;
    throw e;
  }
}

/** Whether two paths name one file (a hard link or another spelling included). */
async function sameFile(a: string, b: string): Promise<boolean> {
  if (a === "-" || b === "-") return false;
  try {
    const [x, y] = await Promise.all([Deno.stat(a), Deno.stat(b)]);
    return x.dev === y.dev && x.ino !== null && x.ino === y.ino;
  } catch {
    return false; // the output does not exist yet (or the input fails in source())
  }
}

async function jsonl(summarizer: Summarizer, [inPath, outPath]: [string, string], args: Args) {
  // Opening the output truncates it: the input would be gone before its first line is read.
  if (await sameFile(inPath, outPath)) {
    throw new CliError(`${outPath} is the input file too; write the summaries elsewhere`);
  }
  const input = await source(inPath);
  const writer = (await sink(outPath)).getWriter();
  const encoder = new TextEncoder();
  let done = 0;
  const failed: number[] = [];
  let lineNo = 0;
  let lastReport = performance.now();
  try {
    for await (const line of lines(input)) {
      lineNo++;
      if (!line.trim()) continue;
      const result = await summarizeLine(summarizer, line, args.options);
      if (typeof result === "string") {
        failed.push(lineNo);
        console.error(`summarize: ${inPath} line ${lineNo}: ${result}`);
      } else {
        await writer.write(encoder.encode(JSON.stringify(result) + "\n")).catch((e) => {
          throw new CliError(`cannot write ${outPath}: ${message(e)}`);
        });
        done++;
      }
      if (performance.now() - lastReport > 2000) {
        console.error(`summarize: ${done} summarised, ${failed.length} failed`);
        lastReport = performance.now();
      }
    }
  } catch (e) {
    if (e instanceof CliError || e instanceof ModelError) throw e;
    throw new CliError(`cannot read ${inPath} (line ${lineNo + 1}): ${message(e)}`);
  } finally {
    await writer.close().catch(() => {});
  }
  console.error(`summarize: ${done} summarised, ${failed.length} failed`);
  if (failed.length > 0) {
    const shown = failed.slice(0, 10).join(", ") + (failed.length > 10 ? ", …" : "");
    throw new CliError(`${failed.length} of ${done + failed.length} lines failed (lines ${shown})`);
  }
}

async function main(argv: string[]): Promise<number> {
  let summarizer: Summarizer | undefined;
  try {
    const args = parseArgs(argv);
    const input = args.file === undefined ? undefined : await readInput(args.file);
    summarizer = await loadSummarizer({ model: args.model });
    if (args.jsonl) await jsonl(summarizer, args.jsonl, args);
    else {
      const { text, warnings } = await summarizer.summarize(input!, args.options);
      for (const w of warnings) console.error(`summarize: warning: ${w}`);
      console.log(text);
    }
    return 0;
  } catch (e) {
    if (e instanceof CliError) {
      (e.status === 0 ? console.log : console.error)(
        e.status === 0 ? e.message : `summarize: ${e.message}`,
      );
      return e.status;
    }
    if (e instanceof ModelError) {
      console.error(`summarize: ${e.message} (${e.code})`);
      return 1;
    }
    console.error(`summarize: internal error: ${message(e)}`);
    return 1;
  } finally {
    await summarizer?.release();
  }
}

Deno.exit(await main(Deno.args));
