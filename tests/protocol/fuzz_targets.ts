/**
 * The protocol decoders under fuzz (tests/protocol/fuzz.test.ts), each with a corpus of valid
 * inputs, the typed errors it may throw, and a property every accepted input must have.
 * Loaded by the fuzz worker (tests/fuzz_worker.ts), so it builds its corpora when imported.
 */
import { isDeepStrictEqual } from "node:util";
import { type FuzzTarget, Prng } from "../fuzz.ts";
import { fromHex, toHex, utf8 } from "../../protocol/bytes.ts";
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

const targets: Record<string, FuzzTarget> = {
  varint,
  "bhttp-request": bhttpTarget("request", randomRequest, decodeRequest, encodeRequest),
  "bhttp-response": bhttpTarget("response", randomResponse, decodeResponse, encodeResponse),
  cbor,
  evidence,
};

export default targets;
