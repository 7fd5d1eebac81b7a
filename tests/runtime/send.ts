/**
 * Test-side requests to a running runtime through OHTTP (protocol/ohttp.ts, protocol/bhttp.ts):
 * the key config from the gateway, one Binary HTTP request encapsulated, the answer opened.
 */
import { decodeKeyConfigs, encapsulateRequest, type KeyConfig } from "../../protocol/ohttp.ts";
import {
  decodeResponse,
  encodeRequest,
  type Field,
  field,
  fieldText,
} from "../../protocol/bhttp.ts";
import { utf8 } from "../../protocol/bytes.ts";

export async function keyConfig(url: string): Promise<KeyConfig> {
  const res = await fetch(`${url}/.well-known/ohttp-gateway`);
  return decodeKeyConfigs(new Uint8Array(await res.arrayBuffer()))[0];
}

export interface Inner {
  method?: string;
  path?: string;
  headers?: Field[];
  body?: Uint8Array;
}

/** A summarize request's Binary HTTP bytes. */
export function summarizeRequest(
  body: unknown,
  authorization?: string,
  inner: Inner = {},
): Uint8Array {
  return encodeRequest({
    method: inner.method ?? "POST",
    scheme: "https",
    authority: "cloister.test",
    path: inner.path ?? "/v1/summarize",
    headers: inner.headers ?? [
      field("content-type", "application/json"),
      ...(authorization ? [field("authorization", authorization)] : []),
    ],
    content: inner.body ?? utf8(JSON.stringify(body)),
    trailers: [],
  });
}

export interface Answer {
  /** The outer HTTP status (200 when the runtime encapsulated an answer). */
  outer: number;
  /** The inner (Binary HTTP) status and JSON body, when there was an encapsulated answer. */
  status?: number;
  json?: { summary?: string; error?: string };
  /** The inner response's `allow` field, when it has one. */
  allow?: string;
  outerBody?: string;
  /** The outer Content-Type. */
  outerType?: string | null;
}

/** Sends Binary HTTP bytes through the gateway and opens the answer. */
export async function sendBhttp(
  url: string,
  config: KeyConfig,
  bhttp: Uint8Array,
): Promise<Answer> {
  const { encapsulatedRequest, context } = encapsulateRequest(config, bhttp);
  const res = await fetch(`${url}/.well-known/ohttp-gateway`, {
    method: "POST",
    headers: { "content-type": "message/ohttp-req" },
    body: encapsulatedRequest as Uint8Array<ArrayBuffer>,
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) {
    context.dispose();
    return {
      outer: res.status,
      outerBody: new TextDecoder().decode(bytes),
      outerType: res.headers.get("content-type"),
    };
  }
  return { outer: 200, outerType: res.headers.get("content-type"), ...openAnswer(bytes, context) };
}

/** The inner status, JSON and `allow` of an encapsulated response opened with its context. */
export function openAnswer(
  encapsulated: Uint8Array,
  context: { decapsulateResponse(r: Uint8Array): Uint8Array },
): { status: number; json: { summary?: string; error?: string }; allow?: string } {
  const inner = decodeResponse(context.decapsulateResponse(encapsulated));
  const allow = fieldText(inner.headers, "allow");
  return {
    status: inner.status,
    json: JSON.parse(new TextDecoder().decode(inner.content)),
    ...(allow === undefined ? {} : { allow }),
  };
}

export async function summarize(
  url: string,
  body: unknown,
  authorization?: string,
): Promise<Answer> {
  return sendBhttp(url, await keyConfig(url), summarizeRequest(body, authorization));
}
