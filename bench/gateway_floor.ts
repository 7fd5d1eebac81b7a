/**
 * The least any gateway design adds (bench/runtime.ts, its "floor" side): one process that serves
 * `POST /.well-known/ohttp-gateway` with the runtime's own code — media type, decapsulation
 * (protocol/ohttp.ts), Binary HTTP, the Privacy Pass redemption (runtime/tokens.ts) and the
 * summariser (runtime/service.ts handle(), the extractive model loaded as the worker loads it),
 * encapsulation — and nothing else: no worker process, no frames, no pool, no key epochs or
 * evidence. What the runtime adds beyond this floor is what its isolation costs.
 *
 *   deno run -A bench/gateway_floor.ts --issuer-key FILE | --no-tokens
 *
 * prints "ready http://127.0.0.1:PORT". With `--no-tokens` every request is accepted unpaid: the
 * floor of everything but the token.
 */
import {
  checkMediaType,
  decapsulateRequest,
  encodeKeyConfigs,
  MEDIA_TYPE_REQUEST,
  MEDIA_TYPE_RESPONSE,
} from "../protocol/ohttp.ts";
import { DHKEM_X25519_HKDF_SHA256 } from "../protocol/hpke/kem.ts";
import { wipe } from "../protocol/bytes.ts";
import { ALGORITHMS } from "../runtime/epochs.ts";
import { IssuerKeyFile } from "../runtime/tokens.ts";
import { handle } from "../runtime/service.ts";
import { loadSummarizer } from "../model/summarize.ts";

const at = Deno.args.indexOf("--issuer-key");
if (at < 0 && !Deno.args.includes("--no-tokens")) {
  throw new Error("usage: gateway_floor.ts --issuer-key FILE | --no-tokens");
}
const issuer = at < 0 ? undefined : await IssuerKeyFile.open(Deno.args[at + 1]);
const summarizer = await loadSummarizer({ memArena: false, threads: 1 });
const pair = DHKEM_X25519_HKDF_SHA256.generateKeyPair();
const config = {
  keyId: 0,
  kemId: DHKEM_X25519_HKDF_SHA256.id,
  publicKey: pair.publicKey,
  algorithms: ALGORITHMS,
};
const keys = [{ config, privateKey: pair.privateKey }];
const configs = encodeKeyConfigs([config]);

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`ready http://127.0.0.1:${port}`),
}, async (req) => {
  if (req.method !== "POST") return new Response(configs as Uint8Array<ArrayBuffer>);
  checkMediaType(req.headers.get("content-type"), MEDIA_TYPE_REQUEST);
  const { request, context } = decapsulateRequest(keys, new Uint8Array(await req.arrayBuffer()));
  let answer: Uint8Array | undefined;
  try {
    answer = await handle(request, {
      redeem: (authorization) => issuer?.redeem(authorization) ?? Promise.resolve(undefined),
      summarize: async (input, paid) => (await summarizer.summarize(input, { gate: paid })).text,
    });
    return new Response(context.encapsulateResponse(answer) as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": MEDIA_TYPE_RESPONSE },
    });
  } finally {
    wipe(request, answer);
    context.dispose();
  }
});
