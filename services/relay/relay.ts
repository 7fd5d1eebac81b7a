/**
 * The Oblivious HTTP relay resource (RFC 9458 §6.2 and §8.2): a stateless forwarder between
 * clients and the gateways it is configured for. It sees client addresses but only ciphertext;
 * the gateway sees plaintext but only the relay's address.
 *
 *   POST /gateway/<name>             message/ohttp-req → <gateway>/.well-known/ohttp-gateway
 *   GET  /gateway/<name>/ohttp-keys  → GET <gateway>/.well-known/ohttp-gateway  (application/ohttp-keys)
 *   GET  /gateway/<name>/evidence[?nonce=N]
 *                                    → GET <gateway>/.well-known/cloister/evidence (application/cbor)
 *   GET  /gateways                   application/json {"gateways": [<name>, ...]}: the fleet
 *
 * What it forwards: the body, and of the client's headers only content-type (POST); the
 * content-length is the body's. Every other header — X-Forwarded-For, Forwarded, Via,
 * User-Agent, Cookie, Authorization, … — is dropped and none is added (the upstream request is
 * made with node:http, which sends only Host, Connection and the two above). What it returns:
 * the gateway's status, content-type and body, unchanged; no other gateway header.
 *
 * Limits (bounded memory): request bodies up to `maxBody` (413), gateway answers up to
 * `maxResponse` (502), `maxInFlight` forwards at once (503), a token bucket per client address
 * (429), `timeoutMs` per forward (504). Nothing is logged: not bodies, not addresses, not names.
 */
import http from "node:http";
import https from "node:https";
import { concat } from "../../protocol/bytes.ts";
import { type Handler, isMediaType, json, readBody, text } from "../common/http.ts";
import type { RateLimiter } from "../common/ratelimit.ts";

export const MEDIA_REQUEST = "message/ohttp-req";
export const MEDIA_RESPONSE = "message/ohttp-res";
const GATEWAY_PATH = "/.well-known/ohttp-gateway";
const EVIDENCE_PATH = "/.well-known/cloister/evidence";
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface RelayOptions {
  /** Gateway name → base URL (scheme, host, port) of its runtime. */
  gateways: Map<string, URL>;
  limiter: RateLimiter;
  maxBody?: number;
  maxResponse?: number;
  maxInFlight?: number;
  timeoutMs?: number;
}

/** Checks a gateway map: safe names, http(s) base URLs without path, query or credentials. */
export function parseGateways(entries: [string, string][]): Map<string, URL> {
  const out = new Map<string, URL>();
  for (const [name, value] of entries) {
    if (!NAME.test(name)) throw new Error(`gateway name "${name}" must be 1-63 of [A-Za-z0-9._-]`);
    if (out.has(name)) throw new Error(`gateway "${name}" is configured twice`);
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new Error(`gateway "${name}": "${value}" is not a URL`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new Error(`gateway "${name}": only http and https URLs`);
    }
    if (
      url.username || url.password || url.search || url.hash ||
      (url.pathname !== "/" && url.pathname !== "")
    ) {
      throw new Error(`gateway "${name}": give the base URL only (scheme://host:port)`);
    }
    out.set(name, url);
  }
  if (out.size === 0) throw new Error("no gateway is configured");
  return out;
}

class UpstreamError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

interface Upstream {
  status: number;
  contentType: string | undefined;
  body: Uint8Array;
}

/** One request to a gateway with only the headers given; bounded in time and size. */
function forward(
  url: URL,
  method: "GET" | "POST",
  limits: { timeoutMs: number; maxResponse: number },
  body?: { contentType: string; bytes: Uint8Array },
): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = body
      ? { "content-type": body.contentType, "content-length": body.bytes.length }
      : {};
    const request = (url.protocol === "https:" ? https : http).request(
      url,
      { method, headers },
      (res) => {
        const chunks: Uint8Array[] = [];
        let total = 0;
        res.on("data", (chunk: Uint8Array) => {
          total += chunk.length;
          if (total > limits.maxResponse) {
            res.destroy();
            reject(new UpstreamError(502, "gateway answer is too large"));
            return;
          }
          chunks.push(chunk);
        });
        res.on("end", () => {
          const type = res.headers["content-type"];
          resolve({ status: res.statusCode ?? 502, contentType: type, body: concat(...chunks) });
        });
        res.on("error", () => reject(new UpstreamError(502, "gateway connection failed")));
      },
    );
    request.setTimeout(limits.timeoutMs, () => {
      request.destroy();
      reject(new UpstreamError(504, "gateway did not answer in time"));
    });
    request.on("error", () => reject(new UpstreamError(502, "gateway is unreachable")));
    request.end(body?.bytes);
  });
}

export function relayHandler(o: RelayOptions): Handler {
  const maxBody = o.maxBody ?? 256 * 1024;
  const limits = {
    timeoutMs: o.timeoutMs ?? 30_000,
    maxResponse: o.maxResponse ?? 16 * 1024 * 1024,
  };
  const maxInFlight = o.maxInFlight ?? 256;
  let inFlight = 0;

  const relay = async (
    target: URL,
    method: "GET" | "POST",
    body?: { contentType: string; bytes: Uint8Array },
  ) => {
    if (inFlight >= maxInFlight) return text(503, "relay is busy", { "retry-after": "1" });
    inFlight++;
    try {
      const up = await forward(target, method, limits, body);
      const headers: Record<string, string> = {};
      if (up.contentType !== undefined) headers["content-type"] = up.contentType;
      return new Response(up.body.length > 0 ? up.body as Uint8Array<ArrayBuffer> : null, {
        status: up.status,
        headers,
      });
    } catch (e) {
      if (e instanceof UpstreamError) return text(e.status, e.message);
      throw e;
    } finally {
      inFlight--;
    }
  };

  return async (req, info) => {
    const url = new URL(req.url);
    if (url.pathname === "/gateways") {
      if (req.method !== "GET") return text(405, "use GET", { allow: "GET" });
      return json(200, { gateways: [...o.gateways.keys()] });
    }
    const m = /^\/gateway\/([^/]+)(?:\/(ohttp-keys|evidence))?$/.exec(url.pathname);
    if (!m) {
      await req.body?.cancel();
      return text(404, "not found");
    }
    const base = o.gateways.get(m[1]);
    if (!base) {
      await req.body?.cancel();
      return text(404, "no such gateway");
    }
    if (!o.limiter.take(info.remoteAddr.hostname)) {
      await req.body?.cancel();
      return text(429, "too many requests", { "retry-after": "1" });
    }
    if (m[2] !== undefined) {
      if (req.method !== "GET") return text(405, "use GET", { allow: "GET" });
      if (m[2] === "ohttp-keys") return await relay(new URL(GATEWAY_PATH, base), "GET");
      const target = new URL(EVIDENCE_PATH, base);
      const nonce = url.searchParams.get("nonce");
      if (nonce !== null) {
        if (!/^[A-Za-z0-9_-]{1,128}$/.test(nonce)) {
          return text(400, "nonce must be 1-128 base64url characters");
        }
        target.searchParams.set("nonce", nonce);
      }
      return await relay(target, "GET");
    }
    if (req.method !== "POST") return text(405, "use POST", { allow: "POST" });
    if (!isMediaType(req.headers.get("content-type"), MEDIA_REQUEST)) {
      await req.body?.cancel();
      return text(415, `content-type must be ${MEDIA_REQUEST}`);
    }
    const bytes = await readBody(req, maxBody);
    if (!bytes) return text(413, `request over ${maxBody} bytes`);
    return await relay(new URL(GATEWAY_PATH, base), "POST", { contentType: MEDIA_REQUEST, bytes });
  };
}
