/**
 * HTTP at the client's edge, over an injected `fetch`: one exchange, bounded in size, never
 * following a redirect (a relay, node or issuer that redirects could send the request, or the
 * account secret, elsewhere), every failure a `ClientError` with the code its caller names.
 */
import { concat } from "../protocol/bytes.ts";
import { ClientError, type ClientErrorCode } from "./errors.ts";

export type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface Answer {
  status: number;
  /** The media type, lowercased, without parameters ("" when absent). */
  mediaType: string;
  body: Uint8Array;
}

/** Whom a failure is blamed on: its code, what was being done, and the node if any. */
export interface Blame {
  code: ClientErrorCode;
  /** The code when no answer came at all (default `code`). */
  unreachable?: ClientErrorCode;
  what: string;
  node?: string;
}

const MAX_ANSWER = 4 * 1024 * 1024;

/** One request; rejects only when no answer came (or it was too large), never on a status. */
export async function exchange(
  fetch: Fetch,
  url: string | URL,
  init: RequestInit,
  blame: Blame,
  maxBytes = MAX_ANSWER,
): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: "manual" });
  } catch (e) {
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new ClientError(
      blame.unreachable ?? blame.code,
      `${blame.what}: cannot reach ${origin(url)} (${why})`,
      blame.node,
    );
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.length;
      if (size > maxBytes) {
        await res.body.cancel().catch(() => {});
        throw new ClientError(
          blame.code,
          `${blame.what}: answer over ${maxBytes} bytes`,
          blame.node,
        );
      }
      chunks.push(chunk);
    }
  }
  const body = concat(...chunks);
  const mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  return { status: res.status, mediaType, body };
}

/** The body of a 2xx answer of `mediaType`, or the failure it is. */
export function expectOk(answer: Answer, mediaType: string | undefined, blame: Blame): Uint8Array {
  if (answer.status < 200 || answer.status > 299) {
    const said = summaryLine(answer.body);
    throw new ClientError(
      blame.code,
      `${blame.what}: HTTP ${answer.status}${said ? ` (${said})` : ""}`,
      blame.node,
    );
  }
  if (mediaType !== undefined && answer.mediaType !== mediaType) {
    throw new ClientError(
      blame.code,
      `${blame.what}: media type "${answer.mediaType}", expected ${mediaType}`,
      blame.node,
    );
  }
  return answer.body;
}

/** The first line of a (text) error body, printable and short; "" for anything else. */
export function summaryLine(body: Uint8Array): string {
  const text = new TextDecoder().decode(body.subarray(0, 400)).split("\n")[0].trim();
  return /^[\x20-\x7e\u00a0-\uffff]*$/.test(text) ? text.slice(0, 200) : "";
}

function origin(url: string | URL): string {
  try {
    return new URL(url).origin;
  } catch {
    return String(url);
  }
}
