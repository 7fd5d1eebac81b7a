/**
 * The runtime's HTTP surface (DESIGN.md "Commands and endpoints"; RFC 9540 gateway location) and
 * nothing else: no debug, admin or health endpoint exists.
 *
 *   GET  /.well-known/ohttp-gateway        application/ohttp-keys (the current epoch's config)
 *   POST /.well-known/ohttp-gateway        message/ohttp-req → message/ohttp-res
 *   GET  /.well-known/cloister/evidence    application/cbor evidence bundle; with ?nonce=HEX a
 *                                          fresh report bound to that nonce (rate-limited)
 *
 * A request: media type and size are checked, the OHTTP header is read and the request
 * decapsulated here (the epoch keys never leave this process), the Binary HTTP plaintext goes to
 * a one-shot worker, the worker asks for its token to be redeemed here (the issuer key and the
 * spent-token set live here), and its Binary HTTP answer is encapsulated here. Every plaintext
 * buffer is zeroed in `finally`. Failures before decapsulation are RFC 9458 §5 plain errors;
 * after it, every failure is an encrypted response with a status and a one-line reason.
 */
import {
  checkMediaType,
  decapsulateRequest,
  errorResponse as ohttpErrorResponse,
  type GatewayContext,
  MEDIA_TYPE_KEYS,
  MEDIA_TYPE_REQUEST,
  MEDIA_TYPE_RESPONSE,
  OhttpError,
} from "../protocol/ohttp.ts";
import { concat, fromHex, wipe } from "../protocol/bytes.ts";
import { ExchangeError, TAG, tagged } from "./exchange.ts";
import { type WorkerHandle, type WorkerPool } from "./pool.ts";
import { errorResponse } from "./answers.ts";
import { type KeyEpochs, NoEpochError } from "./epochs.ts";
import type { Metrics } from "./metrics.ts";

export const GATEWAY_PATH = "/.well-known/ohttp-gateway";
export const EVIDENCE_PATH = "/.well-known/cloister/evidence";

export interface GatewayOptions {
  epochs: KeyEpochs;
  pool: WorkerPool;
  /** Redeems an Authorization field value: undefined when accepted, else the reason. */
  redeem(authorization: Uint8Array): Promise<string | undefined>;
  /** The current epoch's evidence bundle (deterministic CBOR). */
  bundle(): Uint8Array;
  /** A bundle for the current key with fresh evidence bound to `nonce`. */
  bundleWithNonce(nonce: Uint8Array): Promise<Uint8Array>;
  metrics: Metrics;
  /** Largest encapsulated request accepted, bytes (default 256 KiB). */
  maxBody?: number;
  /** How long a worker may take to answer, ms (default 30 s). */
  workerTimeoutMs?: number;
  /** Fresh-nonce reports allowed per second, with a burst of twice that (default 2). */
  nonceRate?: number;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: HeadersInit = {}) {
    super(message);
  }
}

function plain(status: number, message: string, headers: HeadersInit = {}): Response {
  return new Response(`${message}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** The client went away before its body was read: nothing to answer, nothing to log. */
class ClientGone extends Error {}

/** Reads a body of at most `limit` bytes, refusing (413) as soon as it is exceeded. */
async function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > limit) throw new HttpError(413, `request body over ${limit} bytes`);
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of req.body) {
      size += chunk.length;
      if (size > limit) throw new HttpError(413, `request body over ${limit} bytes`);
      chunks.push(chunk);
    }
  } catch (e) {
    // Anyone can disconnect mid-body: counted, never an "internal error" line per abort.
    if (e instanceof HttpError) throw e;
    throw new ClientGone();
  }
  return concat(...chunks);
}

/** A token bucket: `rate` per second, bursts of `2 × rate`. */
class Bucket {
  #tokens: number;
  #at = performance.now();
  constructor(readonly rate: number) {
    this.#tokens = 2 * rate;
  }
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(2 * this.rate, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export function gateway(options: GatewayOptions): (req: Request) => Promise<Response> {
  const maxBody = options.maxBody ?? 256 * 1024;
  const timeoutMs = options.workerTimeoutMs ?? 30_000;
  const nonces = new Bucket(options.nonceRate ?? 2);
  const { metrics } = options;

  /** Runs one decrypted request through a worker; resolves to the Binary HTTP answer. */
  async function work(request: Uint8Array): Promise<Uint8Array> {
    let worker: WorkerHandle;
    const acquiring = performance.now();
    try {
      worker = await options.pool.acquire();
      metrics.time("acquire-ms", performance.now() - acquiring);
    } catch {
      metrics.count("worker-unavailable");
      return errorResponse(503, "no worker available; try again");
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const message = tagged(TAG.REQUEST, request);
    try {
      const exchange = (async () => {
        await worker.send(message);
        wipe(message);
        let redeemed = false;
        for (;;) {
          const frame = await worker.next();
          if (!frame) throw new ExchangeError("the worker exited without answering");
          if (frame[0] === TAG.TOKEN) {
            // One request spends at most one token: a worker cannot burn a client's others.
            if (redeemed) {
              wipe(frame);
              throw new ExchangeError("a second token from the worker");
            }
            redeemed = true;
            const redeeming = performance.now();
            const reason = await options.redeem(frame.subarray(1)).finally(() => wipe(frame));
            metrics.time("redeem-ms", performance.now() - redeeming);
            metrics.count(reason === undefined ? "token-accepted" : "token-refused");
            await worker.send(tagged(TAG.VERDICT, new TextEncoder().encode(reason ?? "")));
          } else if (frame[0] === TAG.RESPONSE) {
            return frame;
          } else {
            wipe(frame);
            throw new ExchangeError(`unexpected message ${frame[0]} from the worker`);
          }
        }
      })();
      const outcome = await Promise.race([exchange, timeout]);
      if (outcome === "timeout") {
        // Its failure after the kill is expected; an answer that lands after all is wiped unread.
        exchange.then((late) => wipe(late), () => {});
        metrics.count("worker-timeout");
        return errorResponse(504, `the summariser took longer than ${timeoutMs} ms`);
      }
      return outcome.subarray(1);
    } catch {
      metrics.count("worker-failed");
      return errorResponse(500, "the request's worker failed");
    } finally {
      clearTimeout(timer);
      wipe(message);
      worker.kill(); // one request per worker, answered or not
    }
  }

  async function post(req: Request): Promise<Response> {
    checkMediaType(req.headers.get("content-type"), MEDIA_TYPE_REQUEST);
    const body = await readBody(req, maxBody);
    let request: Uint8Array | undefined;
    let context: GatewayContext | undefined;
    let answer: Uint8Array | undefined;
    try {
      const decapsulating = performance.now();
      ({ request, context } = decapsulateRequest(options.epochs.gatewayKeys(), body));
      const working = performance.now();
      metrics.time("decapsulate-ms", working - decapsulating);
      answer = await work(request);
      const encapsulating = performance.now();
      // The worker's part: hand-off, its work, and the wait for the token's verdict.
      metrics.time("work-ms", encapsulating - working);
      const encapsulated = context.encapsulateResponse(answer);
      metrics.time("encapsulate-ms", performance.now() - encapsulating);
      metrics.count("answered");
      return new Response(encapsulated as Uint8Array<ArrayBuffer>, {
        status: 200,
        headers: { "content-type": MEDIA_TYPE_RESPONSE, "cache-control": "no-store" },
      });
    } finally {
      wipe(request, answer);
      context?.dispose();
    }
  }

  async function evidence(url: URL): Promise<Response> {
    options.epochs.current; // NoEpochError (503): no bundle vouches for a key in service
    const nonceHex = url.searchParams.get("nonce");
    let bundle: Uint8Array;
    if (nonceHex === null) bundle = options.bundle();
    else {
      let nonce: Uint8Array;
      try {
        nonce = fromHex(nonceHex);
      } catch {
        throw new HttpError(400, "nonce must be hex");
      }
      if (nonce.length < 1 || nonce.length > 64) {
        throw new HttpError(400, `nonce must be 1 to 64 bytes, not ${nonce.length}`);
      }
      if (!nonces.take()) {
        metrics.count("nonce-rate-limited");
        throw new HttpError(429, "too many fresh-evidence requests; retry later", {
          "retry-after": "1",
        });
      }
      bundle = await options.bundleWithNonce(nonce);
    }
    return new Response(bundle as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": "application/cbor", "cache-control": "no-store" },
    });
  }

  return async (req: Request): Promise<Response> => {
    const started = performance.now();
    const url = new URL(req.url);
    try {
      if (url.pathname === GATEWAY_PATH) {
        if (req.method === "POST") return await post(req);
        if (req.method === "GET" || req.method === "HEAD") {
          return new Response(options.epochs.keyConfigs() as Uint8Array<ArrayBuffer>, {
            // A client may cache the config no longer than a superseded key is still accepted.
            headers: {
              "content-type": MEDIA_TYPE_KEYS,
              "cache-control": `max-age=${Math.min(60, options.epochs.graceSeconds)}`,
            },
          });
        }
        throw new HttpError(405, `${req.method} not allowed here`, { allow: "GET, POST" });
      }
      if (url.pathname === EVIDENCE_PATH) {
        if (req.method === "GET" || req.method === "HEAD") return await evidence(url);
        throw new HttpError(405, `${req.method} not allowed here`, { allow: "GET" });
      }
      throw new HttpError(404, "not found");
    } catch (e) {
      if (e instanceof OhttpError) {
        metrics.count(`ohttp-${e.code}`);
        const r = ohttpErrorResponse(e);
        return new Response(r.body as Uint8Array<ArrayBuffer>, {
          status: r.status,
          headers: r.contentType ? { "content-type": r.contentType } : {},
        });
      }
      if (e instanceof HttpError) {
        metrics.count(`http-${e.status}`);
        return plain(e.status, e.message, e.headers);
      }
      if (e instanceof ClientGone) {
        metrics.count("client-gone");
        return plain(400, "the request body ended early");
      }
      if (e instanceof NoEpochError) {
        metrics.count("no-epoch");
        return plain(503, e.message, { "retry-after": "5" });
      }
      metrics.count("internal-error");
      console.error(`runtime: internal error (${e instanceof Error ? e.name : "unknown"})`);
      return plain(500, "internal error");
    } finally {
      metrics.time(
        url.pathname === GATEWAY_PATH ? "gateway-ms" : "other-ms",
        performance.now() - started,
      );
    }
  };
}
