/**
 * The protocol decoders under fuzz (tests/protocol/fuzz.test.ts), each with a corpus of valid
 * inputs, the typed errors it may throw, and a property every accepted input must have.
 * Loaded by the fuzz worker (tests/fuzz_worker.ts), so it builds its corpora when imported.
 */
import { isDeepStrictEqual } from "node:util";
import { type FuzzTarget, Prng } from "../fuzz.ts";
import { concat, fromHex, toHex, utf8 } from "../../protocol/bytes.ts";
import {
  decodeVarint,
  encodeVarint,
  VarintError,
  type VarintSize,
  varintSize,
} from "../../protocol/varint.ts";
import {
  BhttpError,
  type BhttpRequest,
  type BhttpResponse,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  type Field,
  type Framing,
} from "../../protocol/bhttp.ts";
import { CborError, type CborValue, decodeCbor, encodeCbor } from "../../protocol/cbor.ts";
import {
  decodeEvidenceBundle,
  encodeEvidenceBundle,
  type EvidenceBundle,
  EvidenceError,
} from "../../protocol/evidence.ts";
import {
  ClientContext,
  decapsulateRequest,
  decodeKeyConfig,
  decodeKeyConfigs,
  encapsulateRequest,
  encodeKeyConfig,
  encodeKeyConfigs,
  GatewayContext,
  type GatewayKey,
  type KeyConfig,
  OhttpError,
} from "../../protocol/ohttp.ts";
import { CipherSuite, type SenderContext } from "../../protocol/hpke.ts";
import { vectorPath } from "../vectors.ts";

const corpusPrng = new Prng(0xc0ffee);

function sameBytes(a: Uint8Array, b: Uint8Array, what: string): void {
  if (toHex(a) !== toHex(b)) throw new Error(`${what}: ${toHex(a)} != ${toHex(b)}`);
}

// ---- varint ------------------------------------------------------------------------------

const VARINT_VALUES = [0, 1, 37, 63, 64, 15_293, 16_383, 16_384, 494_878_333, 2 ** 30, 2 ** 53 - 1];
const varint: FuzzTarget = {
  // Every value in every width that holds it: minimal and non-minimal encodings.
  corpus: VARINT_VALUES.flatMap((v) =>
    ([1, 2, 4, 8] as const).filter((s) => s >= varintSize(v)).map((s) => encodeVarint(v, s))
  ),
  decode: (input) => decodeVarint(input),
  allowed: (e) => e instanceof VarintError,
  check(input, decoded) {
    const { value, length } = decoded as { value: number; length: VarintSize };
    sameBytes(encodeVarint(value, length), input.subarray(0, length), "varint re-encoding");
  },
};

// ---- Binary HTTP -----------------------------------------------------------------------------

const examples = (JSON.parse(
  Deno.readTextFileSync(vectorPath("protocols/bhttp/rfc9292-examples.json")),
) as { cases: { framing: string; hex: string }[] }).cases;

const TOKEN = "abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&'*+^`|~";
const VALUE = ' \tabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789;,="/:<>';

function randomText(prng: Prng, alphabet: string, min: number, max: number): string {
  let s = "";
  for (let n = min + prng.int(max - min + 1); n > 0; n--) s += alphabet[prng.int(alphabet.length)];
  return s;
}

function randomFields(prng: Prng): Field[] {
  return Array.from({ length: prng.int(4) }, () => ({
    name: randomText(prng, TOKEN, 1, 12),
    value: utf8(randomText(prng, VALUE, 0, 20).trim()),
  }));
}

function randomFraming(prng: Prng, content: Uint8Array, tail: boolean): Framing {
  const indeterminate = prng.int(2) === 1;
  const framing: Framing = { indeterminate, padding: prng.int(3) === 0 ? prng.int(12) : 0 };
  if (indeterminate && content.length > 1 && prng.int(2)) {
    const cut = 1 + prng.int(content.length - 1);
    return { ...framing, chunks: [cut, content.length - cut] };
  }
  return tail && framing.padding === 0 ? { ...framing, truncated: "trailers" } : framing;
}

function randomRequest(prng: Prng): BhttpRequest {
  const content = prng.bytes(prng.int(3) === 0 ? 0 : prng.int(64));
  const trailers = randomFields(prng);
  return {
    method: prng.pick(["GET", "POST", "PUT", "DELETE", "CONNECT"]),
    scheme: prng.pick(["https", "http", ""]),
    authority: prng.pick(["", "example.com", "gateway.example:8443"]),
    path: prng.pick(["/", "/v1/summarize", "/a?b=c", ""]),
    headers: randomFields(prng),
    content,
    trailers,
    framing: randomFraming(prng, content, trailers.length === 0),
  };
}

function randomResponse(prng: Prng): BhttpResponse {
  const content = prng.bytes(prng.int(64));
  const trailers = randomFields(prng);
  return {
    informational: Array.from({ length: prng.int(3) }, () => ({
      status: 100 + prng.int(100),
      headers: randomFields(prng),
    })),
    status: 200 + prng.int(400),
    headers: randomFields(prng),
    content,
    trailers,
    framing: randomFraming(prng, content, trailers.length === 0),
  };
}

function bhttpTarget<M>(
  kind: "request" | "response",
  random: (prng: Prng) => M,
  decode: (b: Uint8Array) => M,
  encode: (m: M) => Uint8Array,
): FuzzTarget {
  return {
    corpus: [
      ...examples.filter((c) => c.framing.includes(kind)).map((c) => fromHex(c.hex)),
      ...Array.from({ length: 40 }, () => encode(random(corpusPrng))),
    ],
    decode,
    allowed: (e) => e instanceof BhttpError,
    check(input, decoded) {
      const again = encode(decoded as M);
      // Equal but for non-minimal varints, which re-encode shorter (RFC 9000 §16).
      if (again.length > input.length) throw new Error("re-encoding is longer than the input");
      if (!isDeepStrictEqual(decode(again), decoded)) {
        throw new Error("re-encoding decodes differently");
      }
    },
  };
}

// ---- CBOR and the evidence bundle ---------------------------------------------------------

/** A random value of the CBOR subset, nested at most `depth` deep (also used by cbor.test.ts). */
export function randomCbor(prng: Prng, depth: number): CborValue {
  switch (prng.int(depth > 0 ? 9 : 7)) {
    case 0:
      return prng.int(2) ? prng.int(30) : prng.int(2 ** 32) * 2 ** prng.int(22) - prng.int(2 ** 20);
    case 1:
      return BigInt.asIntN(65, (BigInt(prng.int(2 ** 32)) << 33n) ^ BigInt(prng.int(2 ** 32)));
    case 2:
      return prng.bytes(prng.int(40));
    case 3:
      return String.fromCodePoint(
        ...Array.from(
          { length: prng.int(10) },
          () => prng.int(2) ? 0x20 + prng.int(90) : 0xe000 + prng.int(0x1000),
        ),
      );
    case 4:
      return prng.int(2) === 1;
    case 5:
      return null;
    case 6:
      return -1 - prng.int(1000);
    case 7:
      return Array.from({ length: prng.int(5) }, () => randomCbor(prng, depth - 1));
    default: {
      const m = new Map<string | number, CborValue>();
      for (let i = prng.int(5); i > 0; i--) {
        m.set(prng.int(2) ? prng.int(300) - 150 : `k${prng.int(50)}`, randomCbor(prng, depth - 1));
      }
      return m;
    }
  }
}

function randomBundle(prng: Prng): EvidenceBundle {
  const start = 1_700_000_000 + prng.int(1_000_000);
  const b: EvidenceBundle = {
    platform: prng.pick(["sev-snp", "tdx"] as const),
    evidence: prng.bytes(1 + prng.int(64)),
    certificates: Array.from(
      { length: prng.int(4) },
      () => Uint8Array.of(0x30, ...prng.bytes(prng.int(12))),
    ),
    collateral: new Map(
      Array.from(
        { length: prng.int(4) },
        () => [
          prng.pick(["tcb-info", "qe-identity", "pck-crl", "vcek-crl"]),
          prng.bytes(1 + prng.int(16)),
        ],
      ),
    ),
    claims: { keyConfig: prng.bytes(41), epochStart: start, epochEnd: start + 600 },
  };
  if (prng.int(2)) b.claims.nonce = prng.bytes(1 + prng.int(64));
  if (prng.int(2)) {
    b.transparency = {
      checkpoint: utf8(`log.example\n${prng.int(1000)}\nAAAA\n`),
      leafIndex: prng.int(1000),
      inclusionProof: Array.from({ length: prng.int(5) }, () => prng.bytes(32)),
      entry: prng.bytes(1 + prng.int(20)),
    };
  }
  return b;
}

const bundles = Array.from({ length: 30 }, () => encodeEvidenceBundle(randomBundle(corpusPrng)));

const cbor: FuzzTarget = {
  corpus: [
    ...Array.from({ length: 60 }, () => encodeCbor(randomCbor(corpusPrng, 3))),
    ...bundles.slice(0, 10),
  ],
  decode: (input) => decodeCbor(input),
  allowed: (e) => e instanceof CborError,
  check(input, decoded) {
    // Deterministic encoding is unique: whatever the strict decoder accepts re-encodes to itself.
    sameBytes(encodeCbor(decoded as CborValue), input, "CBOR re-encoding");
  },
};

const evidence: FuzzTarget = {
  corpus: bundles,
  decode: (input) => decodeEvidenceBundle(input),
  allowed: (e) => e instanceof EvidenceError,
  check(input, decoded) {
    sameBytes(encodeEvidenceBundle(decoded as EvidenceBundle), input, "bundle re-encoding");
  },
};

// ---- Oblivious HTTP ------------------------------------------------------------------------

const X25519 = 0x0020, P256 = 0x0010, HKDF_SHA256 = 0x0001, AES_128_GCM = 0x0001;
const CHACHA20 = 0x0003;

/** A gateway key pair derived from the corpus PRNG (RFC 9180 §7.1.3), so corpora are fixed. */
function gatewayKey(keyId: number, kemId: number, algorithms: KeyConfig["algorithms"]): GatewayKey {
  const kem = new CipherSuite(kemId, HKDF_SHA256, AES_128_GCM).kem;
  const { privateKey, publicKey } = kem.deriveKeyPair(corpusPrng.bytes(kem.Nsk));
  return { config: { keyId, kemId, publicKey, algorithms }, privateKey };
}

const GATEWAY: GatewayKey[] = [
  gatewayKey(1, X25519, [{ kdfId: HKDF_SHA256, aeadId: AES_128_GCM }, {
    kdfId: HKDF_SHA256,
    aeadId: CHACHA20,
  }]),
  gatewayKey(2, P256, [{ kdfId: HKDF_SHA256, aeadId: AES_128_GCM }]),
];
const configs = [
  ...GATEWAY.map((k) => k.config),
  gatewayKey(3, 0x0011, [{ kdfId: 0x0002, aeadId: 0x0002 }]).config,
  gatewayKey(4, 0x0012, [{ kdfId: 0x0003, aeadId: 0xffff }, { kdfId: 9, aeadId: 9 }]).config,
  gatewayKey(5, 0x0021, [{ kdfId: 0x0003, aeadId: CHACHA20 }]).config,
];

const keyConfig: FuzzTarget = {
  corpus: configs.map(encodeKeyConfig),
  decode: (input) => decodeKeyConfig(input),
  allowed: (e) => e instanceof OhttpError,
  check(input, decoded) {
    sameBytes(encodeKeyConfig(decoded as KeyConfig), input, "key config re-encoding");
  },
};

const keyConfigs: FuzzTarget = {
  corpus: [configs, configs.slice(0, 1), configs.slice(1, 3), [configs[4], configs[0]]].map(
    encodeKeyConfigs,
  ),
  decode: (input) => decodeKeyConfigs(input),
  allowed: (e) => e instanceof OhttpError,
  check(_input, decoded) {
    const list = decoded as KeyConfig[];
    if (!isDeepStrictEqual(decodeKeyConfigs(encodeKeyConfigs(list)), list)) {
      throw new Error("key config list does not round-trip");
    }
  },
};

// Requests to the X25519 key in both its suites; a P-256 one whose enc is off the curve (valid
// P-256 encs would make most inputs pay for a P-256 multiplication); and X25519 encs that are
// low-order points (u = 0, u = 1: all-zero shared secrets, RFC 9180 §7.1.4).
const requests = [0, 1].map((i) =>
  encapsulateRequest(GATEWAY[0].config, corpusPrng.bytes(8 + 24 * i), {
    algorithm: GATEWAY[0].config.algorithms[i],
  }).encapsulatedRequest
);
const offCurve = encapsulateRequest(GATEWAY[1].config, corpusPrng.bytes(20)).encapsulatedRequest;
offCurve[7 + 64] ^= 1; // the last byte of the point's y coordinate
const lowOrder = [0, 1].map((u) => {
  const r = requests[0].slice();
  r.fill(0, 7, 39);
  r[7] = u;
  return r;
});
// Headers the gateway refuses before any key agreement: unknown key id, a KEM that is not the
// key's, a suite the key does not offer (§4.3, §5.3).
const refusedHeaders = [[0, 9], [2, 0x11], [6, 0x02]].map(([at, value]) => {
  const r = requests[1].slice();
  r[at] = value;
  return r;
});

const request: FuzzTarget = {
  corpus: [...requests, offCurve, ...lowOrder, ...refusedHeaders],
  decode(input) {
    const { request, context } = decapsulateRequest(GATEWAY, input);
    context.dispose();
    return request;
  },
  allowed: (e) => e instanceof OhttpError,
};

/**
 * Response decapsulation needs a fresh client context per input, and a real one costs a
 * Diffie-Hellman operation. A response context only asks its HPKE context for one export
 * (RFC 9458 §4.4), so a stand-in that returns the real context's export runs the same code on
 * the same keys; building the target checks that a real gateway's response opens with it.
 */
function responseTarget(): FuzzTarget {
  const { config } = GATEWAY[0];
  const suite = new CipherSuite(X25519, HKDF_SHA256, AES_128_GCM);
  const hdr = Uint8Array.of(config.keyId, 0, X25519, 0, HKDF_SHA256, 0, AES_128_GCM);
  const info = concat(utf8("message/bhttp request"), Uint8Array.of(0), hdr);
  const { enc, context } = suite.setupSender(config.publicKey, { info });
  const gateway = decapsulateRequest(GATEWAY, concat(hdr, enc, context.seal(utf8("fuzz"))));
  const exported = context.export(utf8("message/bhttp response"), 16);
  context.dispose();
  const standIn = () => {
    let disposed = false;
    return {
      export: () => exported.slice(),
      dispose: () => void (disposed = true),
      get disposed() {
        return disposed;
      },
    } as unknown as SenderContext;
  };
  const body = utf8('{"summary":"ok"}');
  if (
    !isDeepStrictEqual(
      new ClientContext(suite, standIn(), enc).decapsulateResponse(
        gateway.context.encapsulateResponse(body),
      ),
      body,
    )
  ) throw new Error("the stand-in context does not open a real gateway response");
  return {
    corpus: [0, 1, 16, 100].map((n) =>
      new GatewayContext(suite, standIn(), enc).encapsulateResponse(corpusPrng.bytes(n))
    ),
    decode: (input) => new ClientContext(suite, standIn(), enc).decapsulateResponse(input),
    allowed: (e) => e instanceof OhttpError,
  };
}

// The Diffie-Hellman-bound target first, so a pool of two workers spreads the others beside it.
const targets: Record<string, FuzzTarget> = {
  "ohttp-request": request,
  varint,
  "bhttp-request": bhttpTarget("request", randomRequest, decodeRequest, encodeRequest),
  "bhttp-response": bhttpTarget("response", randomResponse, decodeResponse, encodeResponse),
  cbor,
  evidence,
  "ohttp-key-config": keyConfig,
  "ohttp-key-configs": keyConfigs,
  "ohttp-response": responseTarget(),
};

export default targets;
