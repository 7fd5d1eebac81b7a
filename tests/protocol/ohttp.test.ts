import assert from "node:assert/strict";
import { concat, i2osp, utf8 } from "../../protocol/bytes.ts";
import { CipherSuite } from "../../protocol/hpke.ts";
import {
  checkMediaType,
  decapsulateRequest,
  decodeKeyConfig,
  decodeKeyConfigs,
  encapsulateRequest,
  encodeKeyConfig,
  encodeKeyConfigs,
  errorResponse,
  type GatewayKey,
  type KeyConfig,
  MEDIA_TYPE_KEYS,
  MEDIA_TYPE_REQUEST,
  MEDIA_TYPE_RESPONSE,
  OhttpError,
  PROBLEM_TYPE_OHTTP_KEY,
} from "../../protocol/ohttp.ts";

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

function refusedWith(code: string, offset?: number) {
  return (e: unknown) => {
    assert.ok(e instanceof OhttpError, `expected an OhttpError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (offset !== undefined) assert.equal(e.offset, offset, e.message);
    return true;
  };
}

function gatewayKey(
  keyId: number,
  kemId: number,
  algorithms = [{ kdfId: 1, aeadId: 1 }],
): GatewayKey {
  const kp = new CipherSuite(kemId, 1, 1).kem.generateKeyPair();
  return {
    config: { keyId, kemId, publicKey: kp.publicKey, algorithms },
    privateKey: kp.privateKey,
  };
}

const ALL_ALGORITHMS = [1, 2, 3].flatMap((kdfId) => [1, 2, 3].map((aeadId) => ({ kdfId, aeadId })));

Deno.test("round trips for every KEM, KDF and AEAD, with the gateway choosing keys by id", () => {
  for (const kemId of [0x0010, 0x0011, 0x0012, 0x0020, 0x0021]) {
    const keys = [gatewayKey(7, kemId, ALL_ALGORITHMS), gatewayKey(8, 0x0020)];
    for (const algorithm of ALL_ALGORITHMS) {
      const request = random(Math.floor(Math.random() * 2000));
      const response = random(Math.floor(Math.random() * 2000));
      const client = encapsulateRequest(keys[0].config, request, { algorithm });
      assert.deepEqual(
        client.encapsulatedRequest.subarray(0, 7),
        Uint8Array.of(7, kemId >> 8, kemId, 0, algorithm.kdfId, 0, algorithm.aeadId),
      );
      const gateway = decapsulateRequest(keys, client.encapsulatedRequest);
      assert.deepEqual(gateway.request, request);
      const encapsulated = gateway.context.encapsulateResponse(response);
      assert.equal(gateway.context.disposed, true);
      assert.deepEqual(client.context.decapsulateResponse(encapsulated), response);
      assert.equal(client.context.disposed, true);
    }
  }
});

Deno.test("the client takes the first (KDF, AEAD) pair it implements and refuses pairs not offered", () => {
  const key = gatewayKey(1, 0x0020, [
    { kdfId: 0x0009, aeadId: 0x0001 }, // unknown KDF
    { kdfId: 0x0001, aeadId: 0xffff }, // export-only cannot carry messages
    { kdfId: 0x0003, aeadId: 0x0003 },
  ]);
  const { encapsulatedRequest } = encapsulateRequest(key.config, utf8("x"));
  assert.deepEqual(encapsulatedRequest.subarray(3, 7), Uint8Array.of(0, 3, 0, 3));
  assert.throws(
    () => encapsulateRequest(key.config, utf8("x"), { algorithm: { kdfId: 1, aeadId: 1 } }),
    refusedWith("unsupported-suite"),
  );
  assert.throws(
    () => encapsulateRequest(key.config, utf8("x"), { algorithm: { kdfId: 1, aeadId: 0xffff } }),
    refusedWith("unsupported-suite"),
  );
  const none = { ...key.config, algorithms: [{ kdfId: 1, aeadId: 0xffff }] };
  assert.throws(() => encapsulateRequest(none, utf8("x")), refusedWith("unsupported-suite"));
});

Deno.test("key configs and application/ohttp-keys lists round trip", () => {
  const configs = [gatewayKey(0, 0x0010, ALL_ALGORITHMS), gatewayKey(255, 0x0021)].map((k) =>
    k.config
  );
  for (const c of configs) assert.deepEqual(decodeKeyConfig(encodeKeyConfig(c)), c);
  const list = encodeKeyConfigs(configs);
  assert.deepEqual(decodeKeyConfigs(list), configs);
  assert.deepEqual(decodeKeyConfigs(new Uint8Array(0)), []);
  // An entry with a KEM this module lacks (e.g. a post-quantum one) is skipped, not an error.
  const unknown = concat(Uint8Array.of(9, 0x00, 0x42), random(40), Uint8Array.of(0, 4, 0, 1, 0, 1));
  const mixed = concat(i2osp(unknown.length, 2), unknown, list);
  assert.deepEqual(decodeKeyConfigs(mixed), configs);
});

Deno.test("encoding refuses key configs that cannot be encoded", () => {
  const { config } = gatewayKey(1, 0x0020);
  const bad: [Partial<KeyConfig>, string][] = [
    [{ keyId: 256 }, "invalid-key-config"],
    [{ keyId: -1 }, "invalid-key-config"],
    [{ kemId: 0x0042 }, "unsupported-kem"],
    [{ publicKey: random(31) }, "invalid-key-config"],
    [{ algorithms: [] }, "invalid-key-config"],
    // DataView would have written these as 0x0001 without a word.
    [{ algorithms: [{ kdfId: 0x10001, aeadId: 1 }] }, "invalid-key-config"],
    [{ algorithms: [{ kdfId: 1, aeadId: -1 }] }, "invalid-key-config"],
  ];
  for (const [change, code] of bad) {
    assert.throws(() => encodeKeyConfig({ ...config, ...change }), refusedWith(code));
    assert.throws(() => encapsulateRequest({ ...config, ...change }, utf8("x")), refusedWith(code));
  }
  // 16383 pairs fit one config (§3.1) but not a list entry's 2-byte length (§3.2).
  const many = { ...config, algorithms: Array(16383).fill({ kdfId: 1, aeadId: 1 }) };
  assert.equal(encodeKeyConfig(many).length, 1 + 2 + 32 + 2 + 4 * 16383);
  assert.throws(() => encodeKeyConfigs([many]), refusedWith("invalid-key-config"));
});

Deno.test("malformed key configs are refused with what and where", () => {
  const { config } = gatewayKey(1, 0x0010);
  const good = encodeKeyConfig(config); // 1 + 2 + 65 + 2 + 4 = 74 bytes
  const cases: [Uint8Array, string, number][] = [
    [new Uint8Array(0), "truncated", 0],
    [good.subarray(0, 2), "truncated", 1],
    [Uint8Array.of(1, 0x00, 0x42, 1, 2, 3), "unsupported-kem", 1],
    [good.subarray(0, 40), "truncated", 3],
    [
      concat(good.subarray(0, 67), Uint8Array.of(good[67] ^ 1), good.subarray(68)),
      "invalid-key-config",
      3,
    ],
    [good.subarray(0, 69), "truncated", 68],
    [concat(good.subarray(0, 68), Uint8Array.of(0, 0)), "invalid-key-config", 68],
    [
      concat(good.subarray(0, 68), Uint8Array.of(0, 6), good.subarray(70), Uint8Array.of(0, 1)),
      "invalid-key-config",
      68,
    ],
    [concat(good.subarray(0, 68), Uint8Array.of(0, 8), good.subarray(70)), "truncated", 70],
    [concat(good, Uint8Array.of(0)), "trailing-data", 74],
  ];
  for (const [bytes, code, offset] of cases) {
    assert.throws(() => decodeKeyConfig(bytes), refusedWith(code, offset));
  }
  // In a list, offsets count from the start of the list.
  const list = encodeKeyConfigs([config, config]);
  assert.throws(() => decodeKeyConfigs(list.subarray(0, 1)), refusedWith("truncated", 0));
  assert.throws(() => decodeKeyConfigs(list.subarray(0, 100)), refusedWith("truncated", 78));
  assert.throws(
    () => decodeKeyConfigs(concat(list, Uint8Array.of(0, 0))),
    refusedWith("invalid-key-config", 152),
  );
  const corrupt = list.slice();
  corrupt[76 + 70 + 1] = 2; // second config's symmetric algorithms length
  assert.throws(() => decodeKeyConfigs(corrupt), refusedWith("invalid-key-config", 76 + 70));
  const longer = concat(i2osp(good.length + 1, 2), good, Uint8Array.of(0));
  assert.throws(() => decodeKeyConfigs(longer), refusedWith("trailing-data", 76));
});

Deno.test("malformed encapsulated requests are refused with what and where", () => {
  const key = gatewayKey(3, 0x0020, [{ kdfId: 1, aeadId: 1 }, { kdfId: 1, aeadId: 3 }]);
  const keys = [key];
  const { encapsulatedRequest: good } = encapsulateRequest(key.config, utf8("GET /"));
  const patched = (at: number, value: number) => {
    const b = good.slice();
    b[at] = value;
    return b;
  };
  const cases: [Uint8Array, string, number][] = [
    [new Uint8Array(0), "truncated", 0],
    [good.subarray(0, 6), "truncated", 5],
    [patched(0, 4), "unknown-key-id", 0],
    [patched(2, 0x21), "unsupported-suite", 1],
    [patched(6, 2), "unsupported-suite", 3], // AES-256-GCM is not offered with this key
    [patched(4, 3), "unsupported-suite", 3],
    [good.subarray(0, 7 + 31), "truncated", 7],
    [good.subarray(0, 7 + 32 + 15), "truncated", 39],
    [patched(7 + 32 + 2, good[41] ^ 1), "decrypt-failed", 39],
    [
      concat(good.subarray(0, 7), new Uint8Array(32), good.subarray(39)),
      "invalid-encapsulated-key",
      7,
    ],
    [
      concat(good.subarray(0, 7), Uint8Array.of(1), new Uint8Array(31), good.subarray(39)),
      "invalid-encapsulated-key",
      7,
    ],
  ];
  for (const [bytes, code, offset] of cases) {
    assert.throws(() => decapsulateRequest(keys, bytes), refusedWith(code, offset));
  }
  // The gateway keeps serving after every refusal.
  assert.deepEqual(decapsulateRequest(keys, good).request, utf8("GET /"));
});

Deno.test("malformed encapsulated responses are refused, and each context answers once", () => {
  const key = gatewayKey(1, 0x0020);
  const send = () => {
    const client = encapsulateRequest(key.config, utf8("req"));
    const gateway = decapsulateRequest([key], client.encapsulatedRequest);
    return { client: client.context, gateway: gateway.context };
  };
  const { client, gateway } = send();
  const response = gateway.encapsulateResponse(utf8("res"));
  assert.throws(() => gateway.encapsulateResponse(utf8("again")), refusedWith("disposed"));
  assert.equal(gateway.disposed, true);
  const cases: [Uint8Array, string, number][] = [
    [response.subarray(0, 15), "truncated", 0],
    [response.subarray(0, 16 + 15), "truncated", 16],
    [
      concat(response.subarray(0, 20), Uint8Array.of(response[20] ^ 1), response.subarray(21)),
      "decrypt-failed",
      16,
    ],
  ];
  for (const [bytes, code, offset] of cases) {
    const { client: c, gateway: g } = send();
    g.encapsulateResponse(utf8("res"));
    assert.throws(() => c.decapsulateResponse(bytes), refusedWith(code, offset));
    assert.equal(c.disposed, true, "a failed response still wipes the client context");
  }
  assert.deepEqual(client.decapsulateResponse(response), utf8("res"));
  assert.throws(() => client.decapsulateResponse(response), refusedWith("disposed"));

  // A request that gets no answer is wiped by dispose() (or `using`).
  const unanswered = send();
  {
    using g = unanswered.gateway;
    assert.equal(g.disposed, false);
  }
  assert.equal(unanswered.gateway.disposed, true);
  assert.throws(() => send().gateway.encapsulateResponse(utf8("x"), random(12)), RangeError);
});

Deno.test("media types are checked, and errors map to the gateway's responses (RFC 9458 §5)", () => {
  checkMediaType("message/ohttp-req", MEDIA_TYPE_REQUEST);
  checkMediaType("Message/OHTTP-Res ; q=1", MEDIA_TYPE_RESPONSE);
  checkMediaType("application/ohttp-keys", MEDIA_TYPE_KEYS);
  for (const bad of [null, undefined, "", "application/octet-stream", "message/ohttp-reqx"]) {
    assert.throws(() => checkMediaType(bad, MEDIA_TYPE_REQUEST), refusedWith("wrong-media-type"));
  }
  const response = (e: unknown) => errorResponse(e as OhttpError);
  let caught: unknown;
  try {
    checkMediaType("text/plain", MEDIA_TYPE_REQUEST);
  } catch (e) {
    caught = e;
  }
  assert.equal(response(caught).status, 415);

  const key = gatewayKey(1, 0x0020);
  const { encapsulatedRequest } = encapsulateRequest(key.config, utf8("x"));
  try {
    decapsulateRequest([gatewayKey(2, 0x0020)], encapsulatedRequest);
  } catch (e) {
    caught = e;
  }
  const problem = response(caught);
  assert.equal(problem.status, 400);
  assert.equal(problem.contentType, "application/problem+json");
  assert.equal(JSON.parse(new TextDecoder().decode(problem.body)).type, PROBLEM_TYPE_OHTTP_KEY);

  const tampered = encapsulatedRequest.slice();
  tampered[tampered.length - 1] ^= 1;
  try {
    decapsulateRequest([key], tampered);
  } catch (e) {
    caught = e;
  }
  assert.deepEqual(response(caught), { status: 400, body: new Uint8Array(0) });
});
