import assert from "node:assert/strict";
import { parsePolicy, PolicyError } from "../../attestation/policy.ts";
import { toHex } from "../../protocol/bytes.ts";
import { encodeCbor } from "../../protocol/cbor.ts";

const m48 = "ab".repeat(48);

Deno.test("an empty or absent document is the default: debug forbidden, two TCB statuses", () => {
  for (const doc of [undefined, null, "{}", {}, new TextEncoder().encode(" {} ")]) {
    const p = parsePolicy(doc);
    assert.equal(p.allowDebug, false);
    assert.deepEqual(p.acceptTcbStatus, ["UpToDate", "SWHardeningNeeded"]);
    assert.equal(p.measurement, undefined);
  }
});

Deno.test("every key of the vectors README parses, single values become allow-lists", () => {
  const p = parsePolicy({
    allow_debug: true,
    vmpl: 1,
    measurement: m48,
    report_data: "00".repeat(64),
    min_tcb: { bl: 3, tee: 0, snp: 8, ucode: 115 },
    accept_tcb_status: ["UpToDate"],
    mrtd: [m48, "cd".repeat(48)],
    rtmr: [m48, null, null, m48],
    require_product: "Genoa",
    host_data: "11".repeat(32),
    id_key_digest: m48,
    author_key_digest: [m48],
  });
  assert.equal(p.allowDebug, true);
  assert.equal(p.vmpl, 1);
  assert.deepEqual(p.measurement?.map(toHex), [m48]);
  assert.deepEqual(p.minTcb, { bl: 3, tee: 0, snp: 8, ucode: 115 });
  assert.equal(p.mrtd?.length, 2);
  assert.deepEqual(p.rtmr?.map((r) => r && toHex(r)), [m48, null, null, m48]);
  assert.equal(p.requireProduct, "Genoa");
  assert.equal(p.hostData?.length, 32);
});

Deno.test("CBOR documents, with byte strings for byte fields", () => {
  const p = parsePolicy(
    encodeCbor(
      new Map<string, number | Uint8Array>([["vmpl", 0], [
        "measurement",
        new Uint8Array(48).fill(0xab),
      ]]),
    ),
  );
  assert.deepEqual(p.measurement?.map(toHex), [m48]);
  assert.equal(p.vmpl, 0);
});

Deno.test("strict: unknown keys, wrong types and lengths name the key", () => {
  const cases: [unknown, RegExp][] = [
    [{ measurment: m48 }, /policy measurment: unknown key/],
    [{ allow_debug: "yes" }, /policy allow_debug: must be true or false/],
    [{ vmpl: 4 }, /policy vmpl: must be an integer 0\.\.3/],
    [{ measurement: "abcd" }, /policy measurement: must be 48 bytes, got 2/],
    [{ measurement: [] }, /empty allow-list/],
    [{ measurement: [m48, "zz"] }, /policy measurement\[1\]: must be hex/],
    [{ report_data: m48 }, /policy report_data: must be 64 bytes/],
    [{ min_tcb: { microcode: 1 } }, /policy min_tcb\.microcode: unknown TCB component/],
    [{ min_tcb: { bl: 256 } }, /policy min_tcb\.bl: must be an integer 0\.\.255/],
    [{ accept_tcb_status: ["Fine"] }, /policy accept_tcb_status\[0\]: "Fine" is not a TCB status/],
    [{ rtmr: [m48] }, /policy rtmr: must be a list of 4 entries/],
    [{ require_product: "Rome" }, /policy require_product: must be one of Milan, Genoa, Turin/],
    ["[1,2]", /policy document: must be a map/],
    ["{not json", /policy document: not JSON/],
    [new Uint8Array([0xff, 0xfe]), /policy document: neither JSON nor CBOR/],
    // Names every JavaScript object has are unknown keys too, not silently ignored or a TypeError.
    ['{"constructor": 1}', /policy constructor: unknown key/],
    ['{"toString": 1}', /policy toString: unknown key/],
    ['{"valueOf": 1}', /policy valueOf: unknown key/],
    ['{"min_tcb": {"constructor": 1}}', /policy min_tcb\.constructor: unknown TCB component/],
    // CBOR integers over 2^53 decode as bigint: named in the message like any other value.
    [
      encodeCbor(new Map([["vmpl", 2n ** 64n - 1n]])),
      /policy vmpl: must be an integer 0\.\.3, got "18446744073709551615"/,
    ],
  ];
  for (const [doc, message] of cases) {
    assert.throws(() => parsePolicy(doc), (e: unknown) => {
      assert.ok(e instanceof PolicyError, String(e));
      assert.match(e.message, message);
      return true;
    });
  }
});
