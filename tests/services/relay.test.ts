import assert from "node:assert/strict";
import http from "node:http";
import { x25519 } from "@noble/curves/ed25519.js";
import { concat, toHex, utf8 } from "../../protocol/bytes.ts";
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  field,
} from "../../protocol/bhttp.ts";
import { decapsulateRequest, encapsulateRequest, type GatewayKey } from "../../protocol/ohttp.ts";
import { type Handler, startServer } from "../../services/common/http.ts";
import { RateLimiter } from "../../services/common/ratelimit.ts";
import { parseGateways, relayHandler } from "../../services/relay/relay.ts";
import { expectUsageErrors } from "./cli.ts";

/** What a gateway saw of one request. */
interface Seen {
  method: string;
  path: string;
  peer: string;
  headers: [string, string][];
  body: Uint8Array;
}

/** A gateway that records every request and answers with `answer`. */
function captureGateway(answer: (seen: Seen) => Response) {
  const seen: Seen[] = [];
  const server = startServer(async (req, info) => {
    const s: Seen = {
      method: req.method,
      path: new URL(req.url).pathname + new URL(req.url).search,
      peer: info.remoteAddr.hostname,
      headers: [...req.headers],
      body: new Uint8Array(await req.arrayBuffer()),
    };
    seen.push(s);
    return answer(s);
  }, { hostname: "127.0.0.1", port: 0 });
  return { seen, server, url: `http://127.0.0.1:${server.port}` };
}

function startRelay(
  gateways: [string, string][],
  opts: { limiter?: RateLimiter; maxBody?: number; wrap?: (h: Handler) => Handler } = {},
) {
  const handler = relayHandler({
    gateways: parseGateways(gateways),
    limiter: opts.limiter ?? new RateLimiter(1000, 1000),
    maxBody: opts.maxBody,
    timeoutMs: 5000,
  });
  const server = startServer(opts.wrap ? opts.wrap(handler) : handler, {
    hostname: "127.0.0.1",
    port: 0,
  });
  return { server, url: `http://127.0.0.1:${server.port}` };
}

/** An HTTP request from another loopback address (127.0.0.2) with whatever headers it likes. */
function send(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Uint8Array },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: opts.method ?? "GET",
      headers: opts.headers,
      localAddress: "127.0.0.2",
    }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (c: Uint8Array) => chunks.push(c));
      res.on(
        "end",
        () => resolve({ status: res.statusCode!, headers: res.headers, body: concat(...chunks) }),
      );
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

const IDENTIFYING = {
  "x-forwarded-for": "203.0.113.7",
  "x-real-ip": "203.0.113.7",
  forwarded: "for=203.0.113.7",
  via: "1.1 client-proxy",
  "user-agent": "Canary-Phone/1.0",
  cookie: "session=abc",
  authorization: "Bearer secret",
  referer: "https://example.com/",
  origin: "https://example.com",
  "accept-language": "fr-CH",
  "x-client-id": "device-42",
};

Deno.test("relay: the gateway receives no client address and no identifying header", async () => {
  const gw = captureGateway(() =>
    new Response(Uint8Array.of(9, 9), {
      status: 200,
      headers: { "content-type": "message/ohttp-res", "x-internal": "node-a" },
    })
  );
  const relay = startRelay([["node-a", gw.url]]);
  try {
    const body = crypto.getRandomValues(new Uint8Array(100));
    const res = await send(`${relay.url}/gateway/node-a`, {
      method: "POST",
      headers: { ...IDENTIFYING, "content-type": "message/ohttp-req" },
      body,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "message/ohttp-res");
    assert.equal(res.headers["x-internal"], undefined); // only status, content-type and body return
    assert.deepEqual(res.body, Uint8Array.of(9, 9));
    const [s] = gw.seen;
    assert.equal(s.path, "/.well-known/ohttp-gateway");
    assert.deepEqual(s.body, body);
    assert.equal(s.peer, "127.0.0.1"); // the relay, not the client (127.0.0.2)
    assert.deepEqual(s.headers.map(([k]) => k).sort(), [
      "connection",
      "content-length",
      "content-type",
      "host",
    ]);
    const everything = JSON.stringify(s.headers);
    assert.equal(everything.includes("127.0.0.2"), false);
    for (const v of Object.values(IDENTIFYING)) assert.equal(everything.includes(v), false, v);
    // GETs (key config, evidence) carry no client header at all.
    await send(`${relay.url}/gateway/node-a/evidence?nonce=abc_-1`, { headers: IDENTIFYING });
    await send(`${relay.url}/gateway/node-a/ohttp-keys`, { headers: IDENTIFYING });
    assert.deepEqual(gw.seen.slice(1).map((x) => x.path), [
      "/.well-known/cloister/evidence?nonce=abc_-1",
      "/.well-known/ohttp-gateway",
    ]);
    for (const x of gw.seen.slice(1)) {
      assert.deepEqual(x.headers.map(([k]) => k).sort(), ["connection", "host"]);
    }
  } finally {
    await relay.server.shutdown();
    await gw.server.shutdown();
  }
});

Deno.test("relay: only ciphertext crosses it (an OHTTP request carrying a canary)", async () => {
  const canary = toHex(crypto.getRandomValues(new Uint8Array(32)));
  const privateKey = x25519.utils.randomSecretKey();
  const key: GatewayKey = {
    config: {
      keyId: 1,
      kemId: 0x0020,
      publicKey: x25519.getPublicKey(privateKey),
      algorithms: [{ kdfId: 1, aeadId: 1 }],
    },
    privateKey,
  };
  let gatewayPlaintext = "";
  const gw = captureGateway((s) => {
    const { request, context } = decapsulateRequest([key], s.body);
    gatewayPlaintext = new TextDecoder().decode(decodeRequest(request).content);
    const answer = encodeResponse({
      informational: [],
      status: 200,
      headers: [field("content-type", "application/json")],
      content: utf8(`{"echo":"${canary}"}`),
      trailers: [],
    });
    return new Response(context.encapsulateResponse(answer) as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": "message/ohttp-res" },
    });
  });
  // Everything the relay handles: the bytes it reads from the client and the bytes it returns.
  const handled: Uint8Array[] = [];
  const wrap = (h: Handler): Handler => async (req, info) => {
    const body = new Uint8Array(await req.arrayBuffer());
    handled.push(utf8(JSON.stringify([...req.headers])), body);
    const res = await h(
      new Request(req.url, { method: req.method, headers: req.headers, body }),
      info,
    );
    const out = new Uint8Array(await res.arrayBuffer());
    handled.push(out);
    return new Response(out, { status: res.status, headers: res.headers });
  };
  const relay = startRelay([["node-a", gw.url]], { wrap });
  try {
    const bhttp = encodeRequest({
      method: "POST",
      scheme: "https",
      authority: "cloister",
      path: "/v1/summarize",
      headers: [field("content-type", "application/json")],
      content: utf8(JSON.stringify({ messages: [`secret ${canary}`] })),
      trailers: [],
    });
    const { encapsulatedRequest, context } = encapsulateRequest(key.config, bhttp);
    const res = await fetch(`${relay.url}/gateway/node-a`, {
      method: "POST",
      headers: { "content-type": "message/ohttp-req" },
      body: encapsulatedRequest as Uint8Array<ArrayBuffer>,
    });
    const answer = decodeResponse(
      context.decapsulateResponse(new Uint8Array(await res.arrayBuffer())),
    );
    // The canary did travel: the gateway and the client read it in plaintext...
    assert.match(gatewayPlaintext, new RegExp(canary));
    assert.match(new TextDecoder().decode(answer.content), new RegExp(canary));
    // ...and never appears in anything the relay handled or forwarded, in UTF-8 or UTF-16LE.
    const utf16 = new Uint8Array([...canary].flatMap((c) => [c.charCodeAt(0), 0]));
    for (const bytes of [...handled, ...gw.seen.map((s) => s.body)]) {
      assert.equal(indexOf(bytes, utf8(canary)), -1);
      assert.equal(indexOf(bytes, utf16), -1);
    }
    assert.ok(handled.length >= 3);
  } finally {
    await relay.server.shutdown();
    await gw.server.shutdown();
  }
});

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

Deno.test("relay: bad inputs get their status and it keeps serving", async () => {
  let clock = 0;
  const gw = captureGateway(() =>
    new Response("ok", { headers: { "content-type": "message/ohttp-res" } })
  );
  const relay = startRelay([["node-a", gw.url], ["down", "http://127.0.0.1:9"]], {
    limiter: new RateLimiter(1, 10, 100, () => clock),
    maxBody: 1024,
  });
  const post = (path: string, body: Uint8Array, type = "message/ohttp-req") =>
    send(`${relay.url}${path}`, { method: "POST", headers: { "content-type": type }, body });
  try {
    assert.equal(
      (await post("/gateway/node-a", new Uint8Array(10), "application/json")).status,
      415,
    );
    assert.equal((await post("/gateway/node-a", new Uint8Array(2000))).status, 413);
    assert.equal((await post("/gateway/nowhere", new Uint8Array(10))).status, 404);
    assert.equal((await post("/gateway/down", new Uint8Array(10))).status, 502);
    assert.equal((await send(`${relay.url}/gateway/node-a`, {})).status, 405);
    assert.equal((await send(`${relay.url}/gateway/node-a/evidence?nonce=<bad>`, {})).status, 400);
    const gateways = await send(`${relay.url}/gateways`, {});
    assert.deepEqual(JSON.parse(new TextDecoder().decode(gateways.body)), {
      gateways: ["node-a", "down"],
    });
    assert.equal((await post("/gateway/node-a", new Uint8Array(10))).status, 200);
    // A burst of 10 per address, clock stopped: 6 used above (all but 404 and /gateways count).
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await post("/gateway/node-a", new Uint8Array(10))).status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429]);
    clock += 1; // a second later, one token more
    assert.equal((await post("/gateway/node-a", new Uint8Array(10))).status, 200);
  } finally {
    await relay.server.shutdown();
    await gw.server.shutdown();
  }
});

Deno.test("relay CLI: one readable line and exit 2 on bad input", async () => {
  const gateways = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(gateways, JSON.stringify({ a: { x: 1 } }));
  await expectUsageErrors("services/relay/main.ts", "relay", [
    ["--listen", "127.0.0.1:0", "--gateways", gateways],
    ["--listen", "127.0.0.1:0"],
    ["--listen", "127.0.0.1:0", "--gateway", "a=ftp://x"],
    ["--listen", "127.0.0.1:0", "--gateway", "a=http://x/path"],
    ["--listen", "127.0.0.1:99999", "--gateway", "a=http://x"],
    ["--listen", "127.0.0.1:0", "--gateways", "/nonexistent"],
    ["--listen", "no such host:0", "--gateway", "a=http://x"],
    // Over setTimeout's 2^31 − 1 ms, which Deno turns into 1 ms (with a warning per request).
    ["--listen", "127.0.0.1:0", "--gateway", "a=http://x", "--timeout", "99999999999"],
  ]);
});
