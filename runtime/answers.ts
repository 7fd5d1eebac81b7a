/**
 * The JSON answers inside OHTTP (DESIGN.md "Commands and endpoints"): a Binary HTTP response
 * (RFC 9292) whose content is one JSON object, `{"summary": …}` or `{"error": …}`. Its own module
 * so the runtime process, which answers a crashed or late worker, loads no model code.
 */
import { type BhttpResponse, encodeResponse, field } from "../protocol/bhttp.ts";
import { utf8 } from "../protocol/bytes.ts";

export function jsonResponse(
  status: number,
  body: unknown,
  headers: [string, string][] = [],
): BhttpResponse {
  return {
    informational: [],
    status,
    headers: [
      field("content-type", "application/json"),
      ...headers.map(([n, v]) => field(n, v)),
    ],
    content: utf8(JSON.stringify(body)),
    trailers: [],
  };
}

/** The Binary HTTP response for an error the runtime itself raises (worker crash, timeout). */
export function errorResponse(status: number, reason: string): Uint8Array {
  return encodeResponse(jsonResponse(status, { error: reason }));
}
