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
import { encodeRequest, field } from "../protocol/bhttp.ts";
import { loadSummarizer, type Summarizer } from "../model/summarize.ts";

const WARM_UP_RUNS = 20;
const WARM_UP = encodeRequest({
  method: "POST",
  scheme: "https",
  authority: "warm-up",
  path: SUMMARIZE_PATH,
  headers: [field("content-type", "application/json")],
  content: utf8(JSON.stringify({
    messages: [
      { from: "A", text: "The build is green again after the fix." },
      { from: "B", text: "Great, then we can release the image this afternoon." },
      { from: "A", text: "I will publish the measurement to the log after lunch." },
    ],
  })),
  trailers: [],
});

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
  const summarizer: Summarizer = modelSocket
    ? await (await import("./model_client.ts")).remoteSummarizer(modelSocket, arg("--model")!)
    : await loadSummarizer({ memArena: false, threads: 1 });
  // A first run costs more than the rest (ORT allocates, V8 compiles every function on the
  // path), and V8 optimises a function only once it has run a number of times: pay for both
  // before "ready", on public text, so no request waits for them. One run left the request path
  // in V8's interpreter, about 1.4 ms slower per request here; more than WARM_UP_RUNS gained
  // nothing measurable; the runs cost a few tens of milliseconds at boot, which the pool hides.
  for (let i = 0; i < WARM_UP_RUNS; i++) {
    wipe(
      await handle(WARM_UP, {
        redeem: () => Promise.resolve(undefined),
        summarize: async (input) => (await summarizer.summarize(input)).text,
      }),
    );
  }
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
      summarize: async (input) => (await summarizer.summarize(input)).text,
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
