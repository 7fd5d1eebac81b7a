/**
 * The one-shot worker (DESIGN.md "Forward security and wiping"): loads the summariser, connects
 * to the pool's socket to say it is ready (`channel.ts`), serves exactly one request in frames
 * over it (`exchange.ts`) and exits, taking every string of request text with it. Started by the
 * runtime's pool with only the permissions it needs: read (the code, the model), FFI (ONNX
 * Runtime), the pool's socket and, for a seq2seq model, the model process's socket; no network,
 * no environment, no subprocesses.
 *
 *   deno run --allow-read --allow-write=CHANNEL --allow-ffi runtime/worker.ts --channel CHANNEL \
 *     [--model-socket PATH --model DIR]
 */
import { readOwnedFrame, writeOwnedFrame } from "./frames.ts";
import { connectToPool } from "./channel.ts";
import { expect, TAG, tagged } from "./exchange.ts";
import { handle, SUMMARIZE_PATH } from "./service.ts";
import { utf8, wipe } from "../protocol/bytes.ts";
import { decodeResponse, encodeRequest, field } from "../protocol/bhttp.ts";
import { loadSummarizer, type Summarizer } from "../model/summarize.ts";

/** Warm-up requests: public text, never a client's. */
function warmUp(
  body: { messages: { from: string; text: string }[] } | { text: string },
): Uint8Array {
  return encodeRequest({
    method: "POST",
    scheme: "https",
    authority: "warm-up",
    path: SUMMARIZE_PATH,
    headers: [field("content-type", "application/json")],
    content: utf8(JSON.stringify(body)),
    trailers: [],
  });
}

const conversation = (messages: [string, string][]) =>
  warmUp({ messages: messages.map(([from, text]) => ({ from, text })) });

const WARM_UP_SHORT = conversation([
  ["A", "The build is green again after the fix."],
  ["B", "Great, then we can release the image this afternoon."],
  ["A", "I will publish the measurement to the log after lunch."],
]);

const LONG: [string, string][] = [
  ["Ann", "Morning all! Quick update before the planning meeting at ten."],
  ["Ann", "The storage unit is booked from Saturday, and the van from nine until noon."],
  ["Bob", "Thanks. I can pick up the keys from the caretaker on Friday evening."],
  ["Cy", "Do we still need the blue boxes, or did the shop deliver new ones?"],
  ["Ann", "The new ones arrived yesterday, so the blue boxes can go to recycling."],
  ["Bob", "Also, the invoice for the electrician came in; it is a bit higher than quoted."],
  ["Cy", "How much higher? We agreed on a fixed price for the kitchen wiring."],
  ["Bob", "About fifteen percent. He says the old junction box had to be replaced."],
  ["Ann", "That sounds fair, but let us ask him for photos of the old box first."],
  ["Cy", "Agreed. I will call him after lunch and ask for an itemised invoice."],
  ["Bob", "Great. Separately, my sister's birthday dinner moved to Thursday at seven."],
  ["Ann", "Noted, I will change the booking at the Italian place near the station."],
  ["Cy", "Remember that the parking there is closed for repairs until next month."],
  ["Ann", "Good point, we will take the tram and walk the last few minutes."],
];
const WARM_UP_LONG = conversation(LONG);

/** The same words as one text (about 300 tokens of t5-small): a seq2seq tokenizer's long inputs. */
const WARM_UP_PROSE = warmUp({ text: LONG.map(([, text]) => text).join(" ") });

/** Runs of the longer warm-up requests (see main). */
const WARM_UP_RUNS = 20;

async function send(
  conn: Deno.UnixConn,
  tag: typeof TAG[keyof typeof TAG],
  payload: Uint8Array,
): Promise<void> {
  const message = tagged(tag, payload);
  try {
    await writeOwnedFrame(conn, message);
  } finally {
    wipe(message);
  }
}

async function main(args: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const channel = arg("--channel");
  if (!channel) {
    throw new Error("usage: worker.ts --channel PATH [--model-socket PATH --model DIR]");
  }
  const modelSocket = arg("--model-socket");
  let summarizer: Summarizer;
  let warm: Summarizer; // what the longer warm-up runs on
  if (modelSocket) {
    const remote = await import("./model_client.ts");
    ({ summarizer, dry: warm } = await remote.remoteSummarizer(modelSocket, arg("--model")!));
  } else warm = summarizer = await loadSummarizer({ memArena: false, threads: 1 });
  // A first run costs more than the rest (ORT allocates, V8 compiles every function on the
  // path), V8 optimises a function only once it has run a number of times, and the tokenizer
  // fills its caches: pay for all of it before "ready", on public text, so no request waits.
  // Once end to end (a seq2seq model: through the model process), then WARM_UP_RUNS times a
  // longer conversation (a seq2seq model: everything but the generation, which the model
  // process does not need warmed), and for a seq2seq model WARM_UP_RUNS times the same words as
  // one text: measured here, a tokenizer warmed on short texts only took 20–36 ms over its first
  // long text, 5–7 ms after 20 runs of a 300-token one (8 runs: 31 ms).
  for (
    const [request, summarizing, runs] of [
      [WARM_UP_SHORT, summarizer, 1],
      [WARM_UP_LONG, warm, WARM_UP_RUNS],
      [WARM_UP_PROSE, warm, modelSocket ? WARM_UP_RUNS : 0],
    ] as const
  ) {
    for (let i = 0; i < runs; i++) {
      // A copy each run: handle() wipes the request it was given, as it must a client's.
      const copy = request.slice();
      let answer: Uint8Array | undefined;
      try {
        answer = await handle(copy, {
          redeem: () => Promise.resolve(undefined),
          summarize: async (input, paid) =>
            (await summarizing.summarize(input, { gate: paid })).text,
        });
        // 413: a model whose context is shorter than the prose; anything else is a bug.
        const { status } = decodeResponse(answer);
        if (status !== 200 && status !== 413) {
          throw new Error(`a warm-up request was answered ${status}`);
        }
      } finally {
        wipe(copy, answer);
      }
    }
  }
  // Collect the warm-up's garbage now, while no request waits: left to V8, that full collection
  // (20–30 ms here, once a seq2seq worker had tokenised a long input) fell inside the request.
  (globalThis as { gc?: () => void }).gc?.();
  const conn = await connectToPool(channel);
  const frame = await readOwnedFrame(conn);
  if (!frame) return;
  let response: Uint8Array | undefined;
  try {
    response = await handle(expect(frame, TAG.REQUEST), {
      async redeem(authorization) {
        await send(conn, TAG.TOKEN, authorization);
        const verdict = expect(await readOwnedFrame(conn), TAG.VERDICT);
        return verdict.length === 0 ? undefined : new TextDecoder().decode(verdict);
      },
      summarize: async (input, paid) => (await summarizer.summarize(input, { gate: paid })).text,
    });
    await send(conn, TAG.RESPONSE, response);
  } finally {
    wipe(frame, response);
  }
}

try {
  await main(Deno.args);
  Deno.exit(0);
} catch (e) {
  // Never the request: only what failed, for the runtime's counters.
  console.error(`worker: ${e instanceof Error ? e.name : "error"}`);
  Deno.exit(1);
}
