import assert from "node:assert/strict";
import { encodeQuote, offsets, parseQuote, TD10_BODY_SIZE } from "../../../attestation/tdx/abi.ts";
import { AttestationError, type Reason } from "../../../attestation/errors.ts";
import { toHex } from "../../../protocol/bytes.ts";
import { vectorPath } from "../../vectors.ts";

const read = (f: string) => Deno.readFileSync(vectorPath(`attestation/tdx/${f}`));
const V4 = read("dcap-qvl/tdx_quote"); // 5006 bytes, quote 4936, TD10
const V5 = read("go-tdx-guest/quote_v5_sample.dat"); // 5006 bytes, TD15

function refusal(bytes: Uint8Array, reason: Reason, pattern?: RegExp) {
  assert.throws(() => parseQuote(bytes), (e: unknown) => {
    assert.ok(e instanceof AttestationError, String(e));
    assert.equal(e.reason, reason, e.message);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

function patched(bytes: Uint8Array, at: number, ...values: number[]): Uint8Array {
  const out = bytes.slice();
  out.set(values, at);
  return out;
}

Deno.test("every vector quote parses and encodes back to the bytes it occupies", () => {
  const files = [
    "dcap-qvl/tdx_quote",
    "go-tdx-guest/quote_v5_sample.dat",
    "go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
    "go-tdx-guest/cos-113-tdx-quote.dat",
    "teekit/tdx-v4-azure.bin",
    "teekit/tdx-v4-gcp.bin",
    "teekit/tdx-v4-edgeless.dat",
    "teekit/tdx-v4-moemahhouk.dat",
    "trustee/tdx_quote_4.dat",
    "trustee/tdx_quote_5.dat",
    "trustee/azure-td-quote.bin",
  ];
  for (const f of files) {
    const bytes = read(f);
    const q = parseQuote(bytes);
    assert.ok(q.length <= bytes.length, f);
    assert.equal(toHex(encodeQuote(q)), toHex(bytes.subarray(0, q.length)), f);
    assert.equal(toHex(q.header.qeVendorId), "939a7233f79c4ca9940a0db3957f0607", f);
    assert.match(new TextDecoder().decode(q.pckChainPem), /^-----BEGIN CERTIFICATE-----/, f);
  }
});

Deno.test("v4 layout: lengths from the structure, padding ignored", () => {
  const q = parseQuote(V4);
  assert.equal(q.header.version, 4);
  assert.equal(q.bodyType, 2);
  assert.equal(q.signed.length, 48 + TD10_BODY_SIZE);
  assert.equal(q.length, 4936); // manifest total_len_used; the file has 70 bytes of padding
  assert.equal(
    toHex(q.body.mrTd),
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7",
  );
  assert.equal(q.qeReport.isvProdId, 2);
  assert.equal(q.qeReport.isvSvn, 6);
  assert.equal(
    toHex(q.qeAuthData),
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
  );
  // Stray bytes after the declared length change nothing.
  const noisy = V4.slice();
  noisy.fill(0xa5, q.length);
  assert.equal(parseQuote(noisy).length, q.length);
  assert.equal(parseQuote(V4.subarray(0, q.length)).length, q.length);
});

Deno.test("v5 TD15 layout: body type and size are signed, TD15 fields decoded", () => {
  const q = parseQuote(V5);
  assert.equal(q.header.version, 5);
  assert.equal(q.bodyType, 3);
  assert.equal(q.signed.length, 48 + 6 + 648);
  assert.equal(q.body.teeTcbSvn2?.length, 16);
  assert.equal(q.body.mrServiceTd?.length, 48);
  assert.equal(offsets(q).sigDataLen, 702);
});

Deno.test("unsupported: version, key type, TEE type, body type, certification data types", () => {
  refusal(patched(V4, 0, 3), "unsupported", /version 3/);
  refusal(patched(V5, 0, 2), "unsupported", /version 2/);
  refusal(patched(V4, 2, 3), "unsupported", /attestation key type 3/);
  refusal(patched(V4, 4, 0), "unsupported", /TEE type 0x0 /);
  refusal(patched(V5, 48, 1), "unsupported", /SGX enclave report/);
  const q = parseQuote(V4);
  const o = offsets(q);
  refusal(patched(V4, o.certData, 5), "unsupported", /certification data type 5/);
  refusal(patched(V4, o.certData, 0x16), "malformed", /not a defined type/);
  refusal(patched(V4, o.pckChain - 6, 4), "unsupported", /inner certification data type 4/);
});

Deno.test("malformed: truncation anywhere, and sizes that disagree with the content", () => {
  const q = parseQuote(V4);
  for (const cut of [0, 1, 47, 48, 631, 632, 635, 700, 1000, q.length - 1]) {
    refusal(V4.subarray(0, cut), "malformed");
  }
  const o = offsets(q);
  // sig_data_len one larger (still inside the padded file): the structure says otherwise.
  refusal(patched(V4, o.sigDataLen, 0xcd), "malformed", /sig_data_len 4301/);
  // v5 body size that does not fit the body type.
  refusal(patched(V5, 50, 0x89), "malformed", /body_size/);
  // certification data size one larger than its parts.
  refusal(patched(V4, o.certData + 2, 0x47), "malformed");
  // QE auth-data size inconsistent with the content: 33 bytes claimed, the rest unchanged.
  refusal(patched(V4, o.qeAuthData - 2, 33), "malformed");
  // …or 31: the inner type is then read from the wrong place or the total is off.
  refusal(patched(V4, o.qeAuthData - 2, 31), "malformed");
});

Deno.test("QE auth data of another length round-trips when every size agrees", () => {
  const q = parseQuote(V4);
  const longer = encodeQuote({ ...q, qeAuthData: new Uint8Array(48).fill(7) });
  const back = parseQuote(longer);
  assert.equal(back.qeAuthData.length, 48);
  assert.equal(back.length, q.length + 16);
  // Same bytes but with the auth length still saying 32: 16 bytes are unaccounted for.
  const o = offsets(q);
  refusal(patched(longer, o.qeAuthData - 2, 32), "malformed");
});
