/**
 * The transparency log over HTTP: the C2SP tlog-tiles read API, an append endpoint for the
 * release operator, and a proof lookup for runtimes building evidence bundles.
 *
 *   GET  /checkpoint                  text/plain; charset=utf-8, no-cache (it changes)
 *   GET  /tile/<L>/<N>[.p/<W>]        application/octet-stream, immutable
 *   GET  /tile/entries/<N>[.p/<W>]    application/octet-stream, immutable
 *   GET  /proof?index=N               application/json LogProofJson under the current checkpoint
 *   GET  /proof?measurement=NAME:HEX  the same, for the newest entry listing that measurement
 *   POST /add                         application/json ReleaseEntry → {"index", "checkpoint"}
 *
 * Append is the operator's: with a token configured, it needs `Authorization: Bearer <token>`;
 * without one it is local-only (loopback peers). Tiles outside the signed tree are 404, so
 * nothing unsigned is ever served as immutable. Nothing about requests is logged.
 */
import { equalBytes, utf8 } from "../../protocol/bytes.ts";
import { decodeReleaseEntry, encodeReleaseEntry, hasMeasurement } from "../../protocol/logentry.ts";
import { logProofToJson } from "../../protocol/logclient.ts";
import { parseTilePath, type Tile } from "../../protocol/tiles.ts";
import { type Handler, isMediaType, json, readBody, text } from "../common/http.ts";
import type { TransparencyLog } from "./log.ts";

const IMMUTABLE = "public, max-age=31536000, immutable";
const MAX_ENTRY_BODY = 64 * 1024;

function isLoopback(addr: Deno.NetAddr): boolean {
  return addr.hostname === "::1" || addr.hostname.startsWith("127.") ||
    addr.hostname === "::ffff:127.0.0.1";
}

export function logHandler(log: TransparencyLog, opts: { appendToken?: string } = {}): Handler {
  const token = opts.appendToken === undefined ? undefined : utf8(opts.appendToken);
  const authorized = (req: Request, addr: Deno.NetAddr) => {
    if (!token) return isLoopback(addr);
    const m = /^Bearer (.+)$/.exec(req.headers.get("authorization") ?? "");
    return m !== null && equalBytes(utf8(m[1]), token);
  };
  return async (req, info) => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/add") {
      if (req.method !== "POST") return text(405, "use POST", { allow: "POST" });
      if (!authorized(req, info.remoteAddr)) return text(403, "appending needs the operator token");
      if (!isMediaType(req.headers.get("content-type"), "application/json")) {
        return text(415, "content-type must be application/json");
      }
      const body = await readBody(req, MAX_ENTRY_BODY);
      if (!body) return text(413, `entry over ${MAX_ENTRY_BODY} bytes`);
      let entry: Uint8Array;
      try {
        entry = encodeReleaseEntry(JSON.parse(new TextDecoder().decode(body)));
      } catch (e) {
        return text(400, `bad entry: ${e instanceof Error ? e.message : e}`);
      }
      const [index] = await log.append([entry]);
      return json(200, { index, checkpoint: log.checkpointNote });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return text(405, "use GET", { allow: "GET, HEAD" });
    }
    if (path === "/checkpoint") {
      return new Response(log.checkpointNote, {
        headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache" },
      });
    }
    if (path.startsWith("/tile/")) {
      let tile: Tile;
      try {
        tile = parseTilePath(path.slice(1));
      } catch (e) {
        return text(400, (e as Error).message);
      }
      const body = log.tile(tile);
      if (!body) return text(404, "no such tile in the signed tree");
      return new Response(body as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "application/octet-stream", "cache-control": IMMUTABLE },
      });
    }
    if (path === "/proof") return proof(log, url.searchParams);
    return text(404, "not found");
  };
}

function proof(log: TransparencyLog, q: URLSearchParams): Response {
  const index = q.get("index");
  const measurement = q.get("measurement");
  let found: number | undefined;
  if (index !== null && /^(0|[1-9][0-9]{0,15})$/.test(index)) {
    found = Number(index);
  } else if (measurement !== null && /^[a-z0-9][a-z0-9.-]*:[0-9a-fA-F]+$/.test(measurement)) {
    const [name, value] = measurement.split(":");
    for (const [i, bytes] of log.entriesNewestFirst()) {
      if (hasMeasurement(decodeReleaseEntry(bytes), name, value)) {
        found = i;
        break;
      }
    }
    if (found === undefined) return text(404, "no logged entry has this measurement");
  } else {
    return text(400, "give ?index=N or ?measurement=NAME:HEX");
  }
  if (found >= log.checkpoint.size) {
    return text(404, `no entry ${found} in a log of size ${log.checkpoint.size}`);
  }
  return json(200, logProofToJson(log.proof(found)));
}
