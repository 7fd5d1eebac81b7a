/**
 * The one endpoint inside OHTTP (DESIGN.md "Commands and endpoints"): Binary HTTP
 * `POST /v1/summarize` with `Authorization: PrivateToken token=…` and a JSON body
 * `{"messages": […]}` or `{"text": "…"}`, answered `{"summary": "…"}`. Runs in the one-shot worker:
 * this is the only code that reads request text. Every refusal is an encrypted Binary HTTP
 * response with its status and a one-line JSON reason that never quotes the request.
 *
 * Order of checks: Binary HTTP (400), route (404, 405), token (401), media type (415), JSON and
 * input (400, 413), summary (500). The token's redemption (at the runtime, across a frame and
 * back) overlaps the parsing of the body and the summariser's text work (splitting, tokenising),
 * but no model runs before the token is accepted, and a refused token is answered 401 whatever
 * else was wrong: an unpaid request costs at most a parse of its (size-limited) text.
 */
import {
  type BhttpRequest,
  type BhttpResponse,
  decodeRequest,
  encodeResponse,
  fieldValue,
  wipeMessage,
} from "../protocol/bhttp.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { wipe } from "../protocol/bytes.ts";
import { jsonResponse as json } from "./answers.ts";
import { InputError } from "../model/errors.ts";
import { requestInput, type SummarizeInput } from "../model/summarize.ts";

export const SUMMARIZE_PATH = "/v1/summarize";

export interface ServiceDeps {
  /**
   * Redeems the Authorization field value (empty when the request has none); resolves to
   * undefined when accepted, else why not.
   */
  redeem(authorization: Uint8Array): Promise<string | undefined>;
  /** Summarises; the model must not run before `paid` resolves (it rejects when refused). */
  summarize(input: SummarizeInput, paid: Promise<void>): Promise<string>;
}

/** A refusal with its HTTP status: becomes the encrypted error response. */
export class ServiceError extends Error {
  constructor(readonly status: number, message: string, readonly headers: [string, string][] = []) {
    super(message);
    this.name = "ServiceError";
  }
}

function mediaType(req: BhttpRequest): string {
  const v = fieldValue(req.headers, "content-type");
  return v ? new TextDecoder().decode(v).split(";")[0].trim().toLowerCase() : "";
}

const INPUT_STATUS: Record<string, number> = {
  "empty-input": 400,
  "bad-input": 400,
  "input-too-long": 413,
};

async function answer(req: BhttpRequest, deps: ServiceDeps): Promise<BhttpResponse> {
  if (req.path.split("?")[0] !== SUMMARIZE_PATH) {
    throw new ServiceError(404, `no such endpoint; the only one is POST ${SUMMARIZE_PATH}`);
  }
  if (req.method !== "POST") {
    throw new ServiceError(405, `${SUMMARIZE_PATH} takes POST, not ${req.method}`, [[
      "allow",
      "POST",
    ]]);
  }
  const authorization = fieldValue(req.headers, "authorization") ?? new Uint8Array(0);
  // Authorization is a singleton field (RFC 9110 §11.6.2): a second line would go unchecked.
  const lines = req.headers.filter((f) => f.name === "authorization").length;
  const redeeming = lines > 1
    ? Promise.resolve(`${lines} Authorization field lines; send one`)
    : deps.redeem(authorization);
  const verdict = redeeming.then((refused) => {
    if (refused !== undefined) throw new ServiceError(401, `token refused: ${refused}`);
  });
  verdict.catch(() => {}); // awaited below on every path; this only keeps it handled meanwhile
  let summary: string;
  try {
    summary = await summarizeBody(req, deps, verdict);
  } catch (e) {
    await verdict; // a refused token is the answer, whatever else failed
    throw e;
  }
  await verdict;
  return json(200, { summary });
}

async function summarizeBody(
  req: BhttpRequest,
  deps: ServiceDeps,
  paid: Promise<void>,
): Promise<string> {
  if (mediaType(req) !== "application/json") {
    throw new ServiceError(415, `the body must be application/json, not "${mediaType(req)}"`);
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(req.content));
  } catch (e) {
    // The parser's message can quote the input: say only what kind of error it was.
    throw new ServiceError(
      400,
      `the body is not UTF-8 JSON (${e instanceof Error ? e.name : "error"})`,
    );
  }
  return await deps.summarize(requestInput(body), paid);
}

/**
 * Answers one decrypted Binary HTTP request with the Binary HTTP response to encapsulate. The
 * request's bytes are the caller's to wipe; the message views into them are dropped here.
 */
export async function handle(request: Uint8Array, deps: ServiceDeps): Promise<Uint8Array> {
  let req: BhttpRequest | undefined;
  let res: BhttpResponse;
  try {
    req = decodeRequest(request);
    res = await answer(req, deps);
  } catch (e) {
    if (e instanceof ServiceError) res = json(e.status, { error: e.message }, e.headers);
    else if (e instanceof ProtocolError) {
      res = json(400, { error: `malformed Binary HTTP request: ${e.message}` });
    } else if (e instanceof InputError) {
      res = json(INPUT_STATUS[e.code] ?? 400, { error: e.message });
    } else res = json(500, { error: "the summariser failed" });
  } finally {
    if (req) wipeMessage(req);
  }
  try {
    return encodeResponse(res);
  } finally {
    wipe(res.content);
  }
}
