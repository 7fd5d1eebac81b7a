import assert from "node:assert/strict";
import { toHex } from "../../protocol/bytes.ts";
import { DER, derInteger, tlv } from "../../protocol/der.ts";

Deno.test("TLV lengths in short and long form (X.690 §8.1.3)", () => {
  assert.equal(toHex(tlv(DER.OCTET_STRING)), "0400");
  assert.equal(toHex(tlv(DER.SEQUENCE, Uint8Array.of(1), Uint8Array.of(2))), "30020102");
  assert.equal(toHex(tlv(DER.OCTET_STRING, new Uint8Array(127))).slice(0, 4), "047f");
  assert.equal(toHex(tlv(DER.OCTET_STRING, new Uint8Array(128))).slice(0, 6), "048180");
  assert.equal(toHex(tlv(DER.OCTET_STRING, new Uint8Array(256))).slice(0, 8), "04820100");
  assert.throws(() => tlv(DER.OCTET_STRING, new Uint8Array(0x10000)), RangeError);
});

Deno.test("INTEGERs are minimal, with a 0x00 before a set top bit (X.690 §8.3)", () => {
  assert.equal(toHex(derInteger(0)), "020100");
  assert.equal(toHex(derInteger(1)), "020101");
  assert.equal(toHex(derInteger(0x7f)), "02017f");
  assert.equal(toHex(derInteger(0x80)), "02020080");
  assert.equal(toHex(derInteger(65537n)), "0203010001");
  assert.throws(() => derInteger(-1), RangeError);
});
