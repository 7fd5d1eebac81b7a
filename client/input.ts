/**
 * What the user asks to summarise, as the body of `/v1/summarize`: a JSON request
 * `{"messages": [{"from", "text"} or "text", …]}` or `{"text": "…"}`, or plain text (which
 * becomes `{"text": …}`). A `.json` file, or any input whose first non-blank character is `{`, is
 * read as JSON and must be one of the two shapes; anything else is text. Checked here so that a
 * malformed file is refused before any network traffic, with the field at fault; error messages
 * never quote the input (it is private).
 */
import { ClientInputError } from "./errors.ts";
import type { Message, SummarizeBody } from "./request.ts";

export function summarizeBody(input: string, source: string): SummarizeBody {
  if (input.trim() === "") throw new ClientInputError(`${source} is empty: nothing to summarise`);
  if (!source.endsWith(".json") && !input.trimStart().startsWith("{")) return { text: input };
  let doc: unknown;
  try {
    doc = JSON.parse(input);
  } catch (e) {
    throw new ClientInputError(`${source} is not JSON (${e instanceof Error ? e.name : "error"})`);
  }
  const bad = (why: string): never => {
    throw new ClientInputError(
      `${source}: ${why} (a request is {"messages": […]} or {"text": "…"})`,
    );
  };
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return bad("not an object");
  const keys = Object.keys(doc);
  if (keys.length !== 1 || !["messages", "text"].includes(keys[0])) {
    return bad(`has ${keys.length ? keys.map((k) => `"${k}"`).join(", ") : "no key"}`);
  }
  const r = doc as Record<string, unknown>;
  if ("text" in r) {
    if (typeof r.text !== "string" || r.text.trim() === "") {
      return bad("text must be a non-empty string");
    }
    return { text: r.text };
  }
  if (!Array.isArray(r.messages) || r.messages.length === 0) {
    return bad("messages must be a non-empty list");
  }
  const messages: Message[] = r.messages.map((m: unknown, i: number) => {
    if (typeof m === "string") return m;
    const o = m as Record<string, unknown>;
    if (
      typeof o !== "object" || o === null || Array.isArray(o) || typeof o.text !== "string" ||
      (o.from !== undefined && typeof o.from !== "string") ||
      Object.keys(o).some((k) => k !== "from" && k !== "text")
    ) {
      return bad(`messages[${i}] must be a string or {"from": "…", "text": "…"}`);
    }
    return o.from === undefined ? { text: o.text } : { from: o.from as string, text: o.text };
  });
  return { messages };
}
