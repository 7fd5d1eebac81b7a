/**
 * The long-lived model process (issue 5, "A request"): holds the seq2seq ONNX sessions so weights
 * are loaded once, not per request (a t5-small-shaped model takes seconds and hundreds of MB to
 * load), and receives only token ids, never text, from the one-shot workers over a Unix socket.
 * ORT's memory arena is off and the parent starts this process with glibc's MALLOC_PERTURB_ and
 * V8's --clear-free-memory, so freed tensors and buffers are overwritten; every id buffer and
 * tensor this process fills is zeroed once its answer is sent.
 *
 *   deno run --allow-read --allow-ffi --allow-write=SOCKET --v8-flags=--clear-free-memory \
 *     runtime/model_server.ts --model DIR --socket PATH [--int8]
 *
 * Messages (frames of `frames.ts`), one request per connection:
 *   worker → model   u32 n ‖ n bytes of JSON generation options ‖ int32 LE input ids
 *   model  → worker  0x00 ‖ u32 n ‖ n int32 LE output ids ‖ JSON {warnings, stats}
 *                  | 0x01 ‖ UTF-8 "code: reason"
 * Options, warnings and stats are settings and counts, never text.
 * Generation runs one request at a time (ORT already uses every core for one).
 */
import { readOwnedFrame, writeOwnedFrame } from "./frames.ts";
import { READY } from "./channel.ts";
import { wipe } from "../protocol/bytes.ts";
import { Seq2SeqModel } from "../model/seq2seq.ts";
import { generate, type GenerateOptions, type GenerateResult } from "../model/generate.ts";
import { InputError, type InputErrorCode, ModelError } from "../model/errors.ts";

export const MODEL_OK = 0;
export const MODEL_ERROR = 1;
const INPUT_CODES = ["empty-input", "input-too-long", "bad-input"];

/** Encodes a model request: the caller wipes the result after sending. */
export function encodeModelRequest(ids: Int32Array, options: GenerateOptions): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(options));
  const out = new Uint8Array(4 + json.length + ids.length * 4);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length);
  out.set(json, 4);
  for (let i = 0; i < ids.length; i++) view.setInt32(4 + json.length + 4 * i, ids[i], true);
  return out;
}

function decodeModelRequest(frame: Uint8Array): { ids: Int32Array; options: GenerateOptions } {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const n = view.getUint32(0);
  const options = JSON.parse(new TextDecoder().decode(frame.subarray(4, 4 + n)));
  return { ids: decodeIds(frame.subarray(4 + n)), options };
}

function decodeIds(bytes: Uint8Array): Int32Array {
  if (bytes.length % 4 !== 0) throw new RangeError(`${bytes.length} bytes is not a list of int32`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const ids = new Int32Array(bytes.length / 4);
  for (let i = 0; i < ids.length; i++) ids[i] = view.getInt32(4 * i, true);
  return ids;
}

function encodeAnswer(result: GenerateResult): Uint8Array {
  const { ids } = result;
  const json = new TextEncoder().encode(
    JSON.stringify({ warnings: result.warnings, stats: result.stats }),
  );
  const out = new Uint8Array(5 + ids.length * 4 + json.length);
  const view = new DataView(out.buffer);
  out[0] = MODEL_OK;
  view.setUint32(1, ids.length);
  for (let i = 0; i < ids.length; i++) view.setInt32(5 + 4 * i, ids[i], true);
  out.set(json, 5 + ids.length * 4);
  return out;
}

/** Decodes a model answer (the caller wipes its ids) or throws the model's refusal. */
export function decodeModelAnswer(frame: Uint8Array): GenerateResult {
  if (frame[0] === MODEL_OK) {
    try {
      const n = new DataView(frame.buffer, frame.byteOffset, frame.length).getUint32(1);
      if (5 + 4 * n > frame.length) throw new RangeError("ids past the end");
      const { warnings, stats } = JSON.parse(new TextDecoder().decode(frame.subarray(5 + 4 * n)));
      return { ids: decodeIds(frame.subarray(5, 5 + 4 * n)), warnings, stats };
    } catch (e) {
      throw new ModelError(
        "inference-failed",
        `malformed answer from the model process (${(e as Error).name})`,
      );
    }
  }
  const reason = new TextDecoder().decode(frame.subarray(1));
  const colon = reason.indexOf(": ");
  const [code, message] = [reason.slice(0, colon), reason.slice(colon + 2)];
  if (INPUT_CODES.includes(code)) throw new InputError(code as InputErrorCode, message);
  throw new ModelError(code, message);
}

/** How long a worker may take to send its request: it has its ids ready when it connects. */
const REQUEST_DEADLINE_MS = 5_000;

/** The connection's one request, or null when it sends none in time (then it is closed). */
async function readRequest(conn: Deno.UnixConn): Promise<Uint8Array | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      conn.close(); // ends the read below, whose partial frame readOwnedFrame wipes
      resolve(null);
    }, REQUEST_DEADLINE_MS);
  });
  try {
    return await Promise.race([readOwnedFrame(conn).catch(() => null), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function serveOne(
  model: Seq2SeqModel,
  conn: Deno.UnixConn,
  request: Uint8Array,
): Promise<void> {
  let ids: Int32Array | undefined;
  let result: GenerateResult | undefined;
  let answer: Uint8Array | undefined;
  try {
    try {
      const decoded = decodeModelRequest(request);
      ids = decoded.ids;
      // The model's own summarisation settings, whatever the worker asks: a worker handles
      // untrusted text, and 64 beams × 4096 tokens would hold this process (and every other
      // worker's request) for minutes. Only the overflow policy is the request's own.
      // No speculative decoding here: its time per token depends on how much the summary copies
      // the input, which anyone who can time responses (the operator) would learn about.
      result = await generate(model, ids, {
        ...model.config.summarization,
        overflow: decoded.options?.overflow === "truncate" ? "truncate" : "refuse",
        promptLookupNumTokens: 0,
      });
      answer = encodeAnswer(result);
    } catch (e) {
      const reason = e instanceof ModelError
        ? `${e.code}: ${e.message}`
        : "inference-failed: the model process failed";
      answer = Uint8Array.of(MODEL_ERROR, ...new TextEncoder().encode(reason));
    }
    await writeOwnedFrame(conn, answer);
  } finally {
    wipe(request, answer);
    ids?.fill(0);
    result?.ids.fill(0);
  }
}

async function main(args: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const dir = arg("--model");
  const socket = arg("--socket");
  if (!dir || !socket) throw new Error("usage: model_server.ts --model DIR --socket PATH [--int8]");
  const model = await Seq2SeqModel.load(dir, {
    memArena: false,
    dtype: args.includes("--int8") ? "int8" : "fp32",
  });
  const listener = Deno.listen({ transport: "unix", path: socket });
  await writeOwnedFrame(Deno.stdout, READY);
  let queue = Promise.resolve();
  const close = (conn: Deno.UnixConn) => {
    try {
      conn.close();
    } catch { /* closed already */ }
  };
  for await (const conn of listener) {
    // Requests are read as they come and generated one at a time: a connection that sends
    // nothing (or half a frame) is dropped after its deadline without holding up the others.
    readRequest(conn).then((request) => {
      if (!request) return close(conn);
      queue = queue.then(() => serveOne(model, conn, request)).catch(() => {}).finally(() =>
        close(conn)
      );
    });
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`model process: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
