/**
 * `deno run -A services/relay/main.ts` — the Oblivious HTTP relay.
 *
 *   main.ts --listen HOST:PORT (--gateway NAME=URL[,NAME=URL...] | --gateways FILE)
 *           [--max-body BYTES] [--rate PER_SECOND] [--burst N] [--timeout SECONDS]
 *
 * FILE is JSON `{"NAME": "http://host:port", ...}`: the gateways (runtime nodes) this relay
 * forwards to, by base URL. Paths are in relay.ts. Defaults: 256 KiB bodies, 20 requests a second
 * per client address with bursts of 40, 30 s per forward.
 */
import {
  intFlag,
  listenUrl,
  MAX_TIMER_MS,
  parseArgs,
  parseServerArgs,
  readFlagFile,
  runMain,
  UsageError,
} from "../common/cli.ts";
import { startServer } from "../common/http.ts";
import { RateLimiter } from "../common/ratelimit.ts";
import { parseGateways, relayHandler } from "./relay.ts";

const USAGE =
  "usage: main.ts --listen HOST:PORT (--gateway NAME=URL[,NAME=URL...] | --gateways FILE) " +
  "[--max-body BYTES] [--rate N] [--burst N] [--timeout S]";

function gatewayEntries(p: ReturnType<typeof parseArgs>): [string, string][] {
  const list = p.flags.get("gateway");
  const file = p.flags.get("gateways");
  if ((list === undefined) === (file === undefined)) {
    throw new UsageError(`give --gateway or --gateways; ${USAGE}`);
  }
  if (list !== undefined) {
    return list.split(",").map((item) => {
      const eq = item.indexOf("=");
      if (eq < 1) throw new UsageError(`--gateway "${item}" must be NAME=URL`);
      return [item.slice(0, eq), item.slice(eq + 1)];
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(readFlagFile("gateways", file!));
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError(`--gateways ${file}: not JSON`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new UsageError(`--gateways ${file}: expected {"NAME": "URL", ...}`);
  }
  return Object.entries(doc).map(([k, v]) => {
    if (typeof v !== "string") {
      throw new UsageError(`--gateways ${file}: "${k}" must be a URL string`);
    }
    return [k, v];
  });
}

async function main(args: string[]): Promise<number> {
  const { p, listen } = parseServerArgs(args, [
    "gateway",
    "gateways",
    "max-body",
    "rate",
    "burst",
    "timeout",
  ], USAGE);
  let gateways;
  try {
    gateways = parseGateways(gatewayEntries(p));
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError((e as Error).message);
  }
  const handler = relayHandler({
    gateways,
    limiter: new RateLimiter(intFlag(p, "rate", 20), intFlag(p, "burst", 40)),
    maxBody: intFlag(p, "max-body", 256 * 1024),
    timeoutMs: intFlag(p, "timeout", 30, Math.floor(MAX_TIMER_MS / 1000)) * 1000,
  });
  const server = startServer(handler, listen, {
    signals: true,
    onListen: (addr) => console.log(`relay for ${gateways.size} gateway(s) on ${listenUrl(addr)}`),
  });
  await server.finished;
  return 0;
}

if (import.meta.main) runMain("relay", () => main(Deno.args));
