import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Decoder } from "cbor-x";
import {
  type BindingClaims,
  decodeEvidenceBundle,
  encodeBindingClaims,
  encodeEvidenceBundle,
  type EvidenceBundle,
  EvidenceError,
  KEY_BINDING_DOMAIN,
  reportData,
} from "../../protocol/evidence.ts";
import { type CborKey, type CborValue, decodeCbor, encodeCbor } from "../../protocol/cbor.ts";
import { concat, fromHex, toHex, utf8 } from "../../protocol/bytes.ts";

// An X25519 / HKDF-SHA256 / AES-128-GCM KeyConfig with key id 1 (RFC 9458 §3.1): 41 bytes.
const KEY_CONFIG = fromHex(
  "01" + "0020" + "11".repeat(32) + "0004" + "00010001",
);
const CLAIMS: BindingClaims = {
  keyConfig: KEY_CONFIG,
  epochStart: 1_700_000_000,
  epochEnd: 1_700_000_600,
};
const NONCE = fromHex("000102030405060708090a0b0c0d0e0f");

function bundle(overrides: Partial<EvidenceBundle> = {}): EvidenceBundle {
  return {
    platform: "sev-snp",
    evidence: new Uint8Array(1184).fill(7),
    certificates: [fromHex("3082000101"), fromHex("3082000102")],
    collateral: new Map([["vcek-crl", fromHex("308201")], ["tcb-info", utf8("{}")]]),
    claims: { ...CLAIMS, nonce: NONCE },
    transparency: {
      checkpoint: utf8("log.example\n3\nAAAA\n\n— log.example abc=\n"),
      leafIndex: 2,
      inclusionProof: [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)],
      entry: utf8('{"measurement":"00"}'),
    },
    ...overrides,
  };
}

function refused(fn: () => unknown, code: string, field: string, offset?: number): void {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof EvidenceError, `expected EvidenceError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.field, field, e.message);
    assert.equal(e.offset, offset, e.message);
    return true;
  });
}

Deno.test("REPORT_DATA is SHA-512 over the domain, 0x00 and the claims' CBOR laid out as documented", () => {
  const cbor = "a3" + "01" + "5829" + toHex(KEY_CONFIG) + "02" + "1a6553f100" + "03" + "1a6553f358";
  assert.equal(toHex(encodeBindingClaims(CLAIMS)), cbor);
  const expected = createHash("sha512")
    .update(concat(utf8("cloister/key-binding/v1"), Uint8Array.of(0), fromHex(cbor)))
    .digest("hex");
  assert.equal(KEY_BINDING_DOMAIN, "cloister/key-binding/v1");
  assert.equal(reportData(CLAIMS).length, 64);
  assert.equal(toHex(reportData(CLAIMS)), expected);
  // The nonce is key 4, a byte string.
  const withNonce = encodeBindingClaims({ ...CLAIMS, nonce: NONCE });
  assert.equal(toHex(withNonce), "a4" + cbor.slice(2) + "04" + "50" + toHex(NONCE));
  assert.notEqual(toHex(reportData({ ...CLAIMS, nonce: NONCE })), expected);
  assert.notEqual(toHex(reportData({ ...CLAIMS, epochEnd: CLAIMS.epochEnd + 1 })), expected);
});

Deno.test("claims out of range are refused before hashing", () => {
  refused(
    () => reportData({ ...CLAIMS, epochEnd: CLAIMS.epochStart }),
    "invalid-value",
    "claims.epochEnd",
  );
  refused(() => reportData({ ...CLAIMS, epochStart: -1 }), "wrong-type", "claims.epochStart");
  refused(() => reportData({ ...CLAIMS, epochStart: 1.5 }), "wrong-type", "claims.epochStart");
  // Past what a Date holds: a verifier could neither compare nor print it.
  refused(
    () => reportData({ ...CLAIMS, epochEnd: Number.MAX_SAFE_INTEGER }),
    "invalid-value",
    "claims.epochEnd",
  );
  refused(
    () => reportData({ ...CLAIMS, keyConfig: new Uint8Array(0) }),
    "invalid-value",
    "claims.keyConfig",
  );
  refused(
    () => reportData({ ...CLAIMS, nonce: new Uint8Array(0) }),
    "invalid-value",
    "claims.nonce",
  );
  refused(
    () => reportData({ ...CLAIMS, nonce: new Uint8Array(65) }),
    "invalid-value",
    "claims.nonce",
  );
  assert.equal(reportData({ ...CLAIMS, nonce: new Uint8Array(64) }).length, 64);
});

Deno.test("a bundle round-trips byte for byte, with and without a transparency proof", () => {
  for (
    const b of [bundle(), bundle({ transparency: undefined, platform: "tdx", certificates: [] })]
  ) {
    const bytes = encodeEvidenceBundle(b);
    const back = decodeEvidenceBundle(bytes);
    const { transparency, ...rest } = b;
    assert.deepEqual(back, transparency ? b : rest);
    assert.equal(toHex(encodeEvidenceBundle(back)), toHex(bytes));
    assert.equal(back.evidence.buffer, bytes.buffer); // views, not copies
  }
});

Deno.test("the bundle's layout: integer keys 0..6 in order, version 1, cbor-x reads it", () => {
  const bytes = encodeEvidenceBundle(bundle());
  assert.equal(toHex(bytes.subarray(0, 12)), "a7" + "0001" + "01" + "67" + toHex(utf8("sev-snp")));
  const other = new Decoder({ mapsAsObjects: false, useRecords: false }).decode(bytes) as Map<
    number,
    unknown
  >;
  assert.deepEqual([...other.keys()], [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(other.get(1), "sev-snp");
  assert.equal((other.get(5) as Map<number, unknown>).get(2), CLAIMS.epochStart);
  // The claims inside the bundle are the same bytes reportData hashes.
  const claims = encodeBindingClaims(decodeEvidenceBundle(bytes).claims);
  assert.ok(toHex(bytes).includes(toHex(claims)));
});

/** The valid bundle as a CBOR map, changed by `edit`, encoded (deterministically) again. */
function edited(edit: (m: Map<CborKey, CborValue>) => void): Uint8Array {
  const m = decodeCbor(encodeEvidenceBundle(bundle())) as Map<CborKey, CborValue>;
  edit(m);
  return encodeCbor(m);
}
const sub = (m: Map<CborKey, CborValue>, key: number) => m.get(key) as Map<CborKey, CborValue>;

Deno.test("structural refusals name the field", () => {
  const d = decodeEvidenceBundle;
  refused(() => d(encodeCbor([1])), "wrong-type", "bundle");
  refused(() => d(edited((m) => m.set(7, 0))), "unknown-field", "bundle");
  refused(() => d(edited((m) => m.set("platform", 0))), "unknown-field", "bundle");
  refused(() => d(edited((m) => m.delete(5))), "missing-field", "bundle.claims");
  refused(() => d(edited((m) => m.set(0, 2))), "unsupported-version", "bundle.version");
  refused(() => d(edited((m) => m.set(1, 1))), "wrong-type", "bundle.platform");
  refused(() => d(edited((m) => m.set(1, "sgx"))), "invalid-value", "bundle.platform");
  refused(() => d(edited((m) => m.set(2, "report"))), "wrong-type", "bundle.evidence");
  refused(() => d(edited((m) => m.set(2, new Uint8Array(0)))), "invalid-value", "bundle.evidence");
  refused(
    () => d(edited((m) => m.set(3, [fromHex("2d2d")]))),
    "invalid-value",
    "bundle.certificates[0]",
  );
  refused(
    () => d(edited((m) => m.set(3, new Array(17).fill(fromHex("30"))))),
    "invalid-value",
    "bundle.certificates",
  );
  refused(() => d(edited((m) => m.set(3, new Map()))), "wrong-type", "bundle.certificates");
  refused(
    () => d(edited((m) => sub(m, 4).set("TCB", fromHex("00")))),
    "invalid-value",
    "bundle.collateral",
  );
  refused(
    () => d(edited((m) => sub(m, 4).set(1, fromHex("00")))),
    "invalid-value",
    "bundle.collateral",
  );
  refused(
    () => d(edited((m) => sub(m, 4).set("x", "text"))),
    "wrong-type",
    'bundle.collateral["x"]',
  );
  refused(() => d(edited((m) => sub(m, 5).delete(1))), "missing-field", "bundle.claims.keyConfig");
  refused(() => d(edited((m) => sub(m, 5).set(3, 1))), "invalid-value", "bundle.claims.epochEnd");
  refused(
    () => d(edited((m) => sub(m, 5).set(2, 2n ** 60n))),
    "invalid-value",
    "bundle.claims.epochStart",
  );
  refused(() => d(edited((m) => sub(m, 5).set(2, -5))), "wrong-type", "bundle.claims.epochStart");
  refused(
    () => d(edited((m) => sub(m, 6).set(2, "2"))),
    "wrong-type",
    "bundle.transparency.leafIndex",
  );
  refused(
    () => d(edited((m) => sub(m, 6).set(3, [new Uint8Array(32), new Uint8Array(31)]))),
    "invalid-value",
    "bundle.transparency.inclusionProof[1]",
  );
  refused(
    () => d(edited((m) => sub(m, 6).set(3, new Array(65).fill(new Uint8Array(32))))),
    "invalid-value",
    "bundle.transparency.inclusionProof",
  );
  refused(
    () => d(edited((m) => sub(m, 6).delete(4))),
    "missing-field",
    "bundle.transparency.entry",
  );
});

Deno.test("CBOR-level refusals keep the CBOR reason and offset", () => {
  const bytes = encodeEvidenceBundle(bundle());
  refused(
    () => decodeEvidenceBundle(concat(bytes, Uint8Array.of(0))),
    "malformed",
    "bundle",
    bytes.length,
  );
  refused(() => decodeEvidenceBundle(bytes.subarray(0, 40)), "malformed", "bundle", 13);
  // Keys 1 and 0 swapped: a non-deterministic map.
  const swapped = fromHex("a2" + "01" + "00" + "00" + "01");
  assert.throws(() => decodeEvidenceBundle(swapped), /unsorted-keys/);
  refused(() => decodeEvidenceBundle(new Uint8Array(0)), "malformed", "bundle", 0);
});

Deno.test("encoding checks exactly what decoding checks", () => {
  refused(
    () => encodeEvidenceBundle(bundle({ platform: "sgx" as "tdx" })),
    "invalid-value",
    "bundle.platform",
  );
  refused(
    () => encodeEvidenceBundle(bundle({ claims: undefined as unknown as BindingClaims })),
    "missing-field",
    "bundle.claims",
  );
  refused(
    () =>
      encodeEvidenceBundle(
        bundle({ collateral: { a: new Uint8Array(1) } as unknown as Map<string, Uint8Array> }),
      ),
    "wrong-type",
    "bundle.collateral",
  );
});
