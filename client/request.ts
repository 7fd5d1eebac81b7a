/**
 * One summarisation request to a verified node (DESIGN.md "Commands and endpoints"): Binary HTTP
 * (RFC 9292) `POST /v1/summarize` with the JSON body and `Authorization: PrivateToken token=…`
 * (RFC 9577 §2.2), encapsulated with Oblivious HTTP (RFC 9458 §4.3) to the node's attested
 * KeyConfig only, posted through the route the fleet gives (the relay, or directly), and the
 * `message/ohttp-res` answer decapsulated (§4.4) and read as JSON `{"summary"}` or `{"error"}`.
 *
 * The Binary HTTP request names no authority (the node needs none, and the relay cannot read it
 * anyway). The request and answer plaintext buffers are wiped as soon as they are encoded or
 * read; what remains are JS strings (the input text and the summary) the caller holds.
 */
import { wipe } from "../protocol/bytes.ts";
import {
  BhttpError,
  type BhttpResponse,
  decodeResponse,
  encodeRequest,
  field,
  wipeMessage,
} from "../protocol/bhttp.ts";
import {
  encapsulateRequest,
  MEDIA_TYPE_REQUEST,
  MEDIA_TYPE_RESPONSE,
  OhttpError,
  PROBLEM_TYPE_OHTTP_KEY,
} from "../protocol/ohttp.ts";
import { ClientError } from "./errors.ts";
import { blameNode } from "./fleet.ts";
import { exchange, type Fetch, summaryLine } from "./http.ts";
import type { VerifiedNode } from "./verify.ts";

export const SUMMARIZE_PATH = "/v1/summarize";

/** A message: its text, or its sender and text. */
export type Message = string | { from?: string; text: string };

/** What `/v1/summarize` takes (model/summarize.ts `requestInput`). */
export type SummarizeBody = { messages: Message[] } | { text: string };

export interface Answered {
  summary: string;
  /** The whole JSON answer (the runtime may add fields beside `summary`). */
  answer: Record<string, unknown>;
}

const encoder = new TextEncoder();

/** Encodes, encapsulates to `target.keyConfig`, sends, decapsulates and reads the answer. */
export async function sendSummarize(
  target: VerifiedNode,
  body: SummarizeBody,
  authorization: string | undefined,
  fetch: Fetch,
): Promise<Answered> {
  const node = target.node.name;
  const content = encoder.encode(JSON.stringify(body));
  const auth = authorization === undefined ? undefined : encoder.encode(authorization);
  const bhttp = encodeRequest({
    method: "POST",
    scheme: "https",
    authority: "",
    path: SUMMARIZE_PATH,
    headers: [
      field("content-type", "application/json"),
      ...(auth ? [field("authorization", auth)] : []),
    ],
    content,
    trailers: [],
  });
  let sealed;
  try {
    sealed = encapsulateRequest(target.keyConfig, bhttp);
  } finally {
    wipe(content, auth, bhttp);
  }
  const { encapsulatedRequest, context } = sealed;
  try {
    const answer = await exchange(fetch, target.node.gatewayUrl, {
      method: "POST",
      headers: { "content-type": MEDIA_TYPE_REQUEST },
      body: encapsulatedRequest as Uint8Array<ArrayBuffer>,
    }, blameNode(target.node, "sending the request"));
    if (answer.status !== 200 || answer.mediaType !== MEDIA_TYPE_RESPONSE) {
      throw outerFailure(target, answer.status, answer.mediaType, answer.body);
    }
    let plaintext: Uint8Array;
    try {
      plaintext = context.decapsulateResponse(answer.body);
    } catch (e) {
      if (!(e instanceof OhttpError)) throw e;
      throw new ClientError("response", e.message, node);
    }
    try {
      return read(plaintext, node);
    } finally {
      wipe(plaintext);
    }
  } finally {
    context.dispose();
  }
}

/** A failure outside the encryption: the relay's, or the gateway's RFC 9458 §5 errors. */
function outerFailure(
  target: VerifiedNode,
  status: number,
  mediaType: string,
  body: Uint8Array,
): ClientError {
  const node = target.node.name;
  if (status === 200) {
    return new ClientError(
      "node-error",
      `answer of media type "${mediaType}", not ${MEDIA_TYPE_RESPONSE}`,
      node,
    );
  }
  if (
    mediaType === "application/problem+json" && summaryLine(body).includes(PROBLEM_TYPE_OHTTP_KEY)
  ) {
    return new ClientError(
      "stale-key",
      `the node refuses key id ${target.keyConfig.keyId} (it rotated since its evidence was fetched); try again`,
      node,
    );
  }
  const said = summaryLine(body);
  const detail = `HTTP ${status}${said ? ` (${said})` : ""}`;
  if (status === 502 || status === 503 || status === 504) {
    return new ClientError("unreachable", detail, node);
  }
  return new ClientError(target.node.relayed ? "relay" : "node-error", detail, node);
}

/** Reads the Binary HTTP answer: the summary, or the node's refusal. */
function read(plaintext: Uint8Array, node: string): Answered {
  let res: BhttpResponse | undefined;
  let json: Record<string, unknown> | undefined;
  try {
    res = decodeResponse(plaintext);
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(res.content));
  } catch (e) {
    const why = e instanceof BhttpError ? `not Binary HTTP: ${e.message}` : "the body is not JSON";
    throw new ClientError("node-error", `answer ${why}`, node);
  } finally {
    if (res) wipeMessage(res);
  }
  const status = res!.status;
  const error = typeof json?.error === "string" ? json.error : undefined;
  if (status === 200 && typeof json?.summary === "string") {
    return { summary: json.summary, answer: json };
  }
  if (status === 401) {
    // The runtime says "token refused: <why>"; the reason already says the first part.
    throw new ClientError(
      "token-refused",
      error?.replace(/^token refused: /, "") ?? "HTTP 401",
      node,
    );
  }
  throw new ClientError(
    "node-error",
    `HTTP ${status}${error ? `: ${error}` : status === 200 ? ": no summary in the answer" : ""}`,
    node,
  );
}
