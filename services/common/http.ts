/**
 * The HTTP edge of the services: `Deno.serve` on the address given, graceful shutdown (in-flight
 * requests finish; SIGINT/SIGTERM when run as a CLI), and plain responses. Handlers never see a
 * thrown error escape: a bug answers 500 and the server keeps serving; nothing about the request
 * is logged.
 */
import { concat } from "../../protocol/bytes.ts";

export interface Server {
  /** Where it listens (the port chosen when 0 was asked). */
  hostname: string;
  port: number;
  /** Stops accepting, lets in-flight requests finish, resolves when closed. */
  shutdown(): Promise<void>;
  finished: Promise<void>;
}

export type Handler = (
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** Starts a server; `signals` true also shuts it down on SIGINT/SIGTERM (for CLIs). */
export function startServer(
  handler: Handler,
  listen: { hostname: string; port: number },
  opts: { signals?: boolean; onListen?: (s: { hostname: string; port: number }) => void } = {},
): Server {
  const controller = new AbortController();
  const server = Deno.serve(
    {
      hostname: listen.hostname,
      port: listen.port,
      signal: controller.signal,
      onListen: (addr) => opts.onListen?.({ hostname: addr.hostname, port: addr.port }),
      onError: () => text(500, "internal error"),
    },
    async (req, info) => {
      try {
        return await handler(req, info as Deno.ServeHandlerInfo<Deno.NetAddr>);
      } catch {
        return text(500, "internal error");
      }
    },
  );
  const shutdown = async () => {
    controller.abort();
    await server.finished;
  };
  if (opts.signals) {
    const stop = () => void shutdown();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    server.finished.then(() => {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
    });
  }
  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    shutdown,
    finished: server.finished,
  };
}

/** A text/plain response with a one-line body. */
export function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** An application/json response. */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** Reads a request body up to `limit` bytes; undefined when it is larger (the caller answers 413). */
export async function readBody(req: Request, limit: number): Promise<Uint8Array | undefined> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    await req.body?.cancel();
    return undefined;
  }
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of req.body) {
    total += chunk.length;
    if (total > limit) return undefined;
    chunks.push(chunk);
  }
  return concat(...chunks);
}

/** True when the media type of `header` (parameters ignored, case-insensitive) is `type`. */
export function isMediaType(header: string | null, type: string): boolean {
  return header !== null && header.split(";")[0].trim().toLowerCase() === type;
}
