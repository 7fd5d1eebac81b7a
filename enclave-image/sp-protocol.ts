/**
 * The line protocol between the guest and the emulated secure processor (a host process, reached
 * over the virtio-serial port `org.cloister.sp.0`), relayed unchanged by the guest's evidence
 * broker from its unix socket. One JSON object per line, UTF-8, at most `MAX_LINE` bytes:
 *
 *   request   {"v":1,"op":"snp-report","report_data":"<128 hex digits>","vmpl":0}
 *   response  {"v":1,"report":"<hex, the 1184-byte ATTESTATION_REPORT>",
 *              "certs":{"ark":"<base64 DER>","ask":"<base64 DER>","vcek":"<base64 DER>"}}
 *          or {"v":1,"error":{"code":"<stable code>","message":"<one line>"}}
 *
 * It mirrors what SNP_GET_EXT_REPORT gives a real guest (report + VCEK chain) so the runtime's
 * evidence bundle has the same shape either way. Requests are validated where they enter (the
 * broker, and again the host), so neither side parses anything else.
 */

export const MAX_LINE = 64 * 1024;

export interface ReportRequest {
  v: 1;
  op: "snp-report";
  /** 64 bytes as 128 lowercase hex digits (the runtime's key binding). */
  report_data: string;
  vmpl: number;
}

export interface ReportResponse {
  v: 1;
  report: string;
  certs: { ark: string; ask: string; vcek: string };
}

export interface ErrorResponse {
  v: 1;
  error: { code: string; message: string };
}

export class SpProtocolError extends Error {
  constructor(readonly code: "bad-request" | "too-long" | "bad-response", message: string) {
    super(message);
    this.name = "SpProtocolError";
  }
}

/** Parses and validates one request line (without its newline). */
export function parseRequest(line: string): ReportRequest {
  if (line.length > MAX_LINE) {
    throw new SpProtocolError("too-long", `request over ${MAX_LINE} bytes`);
  }
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    throw new SpProtocolError("bad-request", "request is not JSON");
  }
  const r = o as Partial<ReportRequest>;
  if (typeof o !== "object" || o === null || r.v !== 1) {
    throw new SpProtocolError("bad-request", 'request needs "v": 1');
  }
  if (r.op !== "snp-report") {
    throw new SpProtocolError("bad-request", `unknown op ${JSON.stringify(r.op)}`);
  }
  if (typeof r.report_data !== "string" || !/^[0-9a-f]{128}$/.test(r.report_data)) {
    throw new SpProtocolError(
      "bad-request",
      "report_data must be 128 lowercase hex digits (64 bytes)",
    );
  }
  const vmpl = r.vmpl ?? 0;
  if (!Number.isInteger(vmpl) || vmpl < 0 || vmpl > 3) {
    throw new SpProtocolError("bad-request", `vmpl must be 0..3, got ${JSON.stringify(r.vmpl)}`);
  }
  return { v: 1, op: "snp-report", report_data: r.report_data, vmpl };
}

export function errorLine(code: string, message: string): string {
  return JSON.stringify({ v: 1, error: { code, message } } satisfies ErrorResponse);
}

/**
 * Splits a byte stream into lines: `push` returns the complete lines so far; a line longer than
 * `MAX_LINE` throws (the peer is broken or hostile; the caller drops the connection).
 */
export class LineReader {
  #buf = "";
  #decoder = new TextDecoder();

  push(chunk: Uint8Array): string[] {
    this.#buf += this.#decoder.decode(chunk, { stream: true });
    const lines = this.#buf.split("\n");
    this.#buf = lines.pop()!;
    if (this.#buf.length > MAX_LINE) {
      throw new SpProtocolError("too-long", `line over ${MAX_LINE} bytes`);
    }
    return lines;
  }
}
