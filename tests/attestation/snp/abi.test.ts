import assert from "node:assert/strict";
import { AttestationError } from "../../../attestation/errors.ts";
import {
  CERT_TABLE_GUIDS,
  checkReserved,
  decodeTcb,
  encodeCertTable,
  encodeReport,
  encodeTcb,
  parseCertTable,
  parseReport,
  productFromCpuid,
  REPORT_SIZE,
  signingKey,
} from "../../../attestation/snp/abi.ts";
import { toHex } from "../../../protocol/bytes.ts";
import { vectorPath } from "../../vectors.ts";

const REPORTS = [
  "go-sev-guest/attestation_milan_v2.bin",
  "oak/genoa_oc.report.bin",
  "oak/milan_oc_staging.report.bin",
  "oak/milan_rk_staging.report.bin",
  "teekit/sev-gcp.bin",
  "teekit/sev-gcp-reportdata.bin",
  "tinfoil-verifier/tinfoil_snp_genoa_v3.bin",
  "trustee/azure-genoa-v3.snp.bin",
  "trustee/azure-hcl-milan-v2.snp.bin",
  "trustee/azure-milan-v3-a.snp.bin",
  "trustee/azure-milan-v3-b.snp.bin",
  "trustee/test-report-milan-v2.bin",
  "trustee/test-vlek-report-milan-v3.bin",
  "virtee-sev/report_milan_v2.bin",
];
const read = (f: string) => Deno.readFileSync(vectorPath(`attestation/snp/${f}`));

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof AttestationError) return `${e.reason}: ${e.message}`;
    throw e;
  }
  return "accepted";
}

Deno.test("every real report parses, passes the reserved rules and re-encodes byte for byte", () => {
  for (const f of REPORTS) {
    const bytes = read(f);
    const r = parseReport(bytes);
    checkReserved(r);
    assert.deepEqual(encodeReport(r), bytes, f);
    assert.ok([2, 3, 5].includes(r.version), f);
    assert.equal(r.cpuid === undefined, r.version === 2, f);
    assert.equal(r.launchMitVector === undefined, r.version < 5, f);
  }
});

Deno.test("fields at their offsets (go-sev-guest attestation_milan_v2)", () => {
  const r = parseReport(read("go-sev-guest/attestation_milan_v2.bin"));
  assert.equal(r.version, 2);
  assert.equal(r.policy, 0xb0000n);
  assert.equal(r.vmpl, 0);
  assert.equal(signingKey(r), "vcek");
  assert.deepEqual(decodeTcb(r.reportedTcb, "milan"), { bl: 2, tee: 0, snp: 5, ucode: 68 });
  const vlek = parseReport(read("trustee/test-vlek-report-milan-v3.bin"));
  assert.equal(signingKey(vlek), "vlek");
  assert.equal(vlek.vmpl, 1);
  assert.deepEqual(vlek.cpuid, { family: 0x19, model: 0x01, stepping: 0x01 });
  const v5 = parseReport(read("teekit/sev-gcp.bin"));
  assert.equal(v5.launchMitVector, 0x0bn);
  assert.equal(v5.currentMitVector, 0x0bn);
});

Deno.test("parse-time rules: size, version, signature_algo, unsigned tail", () => {
  const good = read("oak/genoa_oc.report.bin");
  assert.match(reason(() => parseReport(good.subarray(0, 1183))), /^malformed: .*1184 bytes.*1183/);
  assert.match(reason(() => parseReport(new Uint8Array(2600))), /^malformed/);
  for (const v of [0, 1, 4, 6]) {
    const b = good.slice();
    b[0] = v;
    assert.match(reason(() => parseReport(b)), new RegExp(`^unsupported: report version ${v}`));
  }
  for (const a of [0, 2]) {
    const b = good.slice();
    b[0x34] = a;
    assert.match(reason(() => parseReport(b)), /^unsupported: signature_algo/);
  }
  const tail = good.slice();
  tail[0x400] = 1;
  assert.match(
    reason(() => parseReport(tail)),
    /^malformed: reserved byte 0x400 after the signature/,
  );
});

Deno.test("reserved rules of the signed region are deferred to checkReserved", () => {
  const good = read("virtee-sev/report_milan_v2.bin");
  const cases: [number, number, RegExp][] = [
    [0x04c, 1, /reserved word after signer_info/],
    [0x188, 1, /reserved bytes after reported_tcb/], // v2: CPUID bytes must be zero too
    [0x1eb, 1, /after current_major/],
    [0x1ef, 1, /after committed_major/],
    [0x1f8, 1, /before the signature/], // v2: no mitigation vectors
    [0x208, 1, /before the signature/],
    [0x04b, 0x80, /reserved bits 5-31/],
    [0x048, 0x08, /SIGNING_KEY 2/],
    [0x00a, 0x02, /reserved bit 17 clear/],
  ];
  for (const [offset, xor, message] of cases) {
    const b = good.slice();
    b[offset] ^= xor;
    const r = parseReport(b);
    assert.match(reason(() => checkReserved(r)), message, `offset 0x${offset.toString(16)}`);
  }
  const v5 = read("oak/genoa_oc.report.bin").slice();
  v5[0x1f8] ^= 1; // a mitigation vector in v5, not reserved
  checkReserved(parseReport(v5));
});

Deno.test("TCB layouts: Milan/Genoa and Turin (README example 0x4700000002000100)", () => {
  assert.deepEqual(decodeTcb(0x4700000002000100n, "turin"), {
    fmc: 0,
    bl: 1,
    tee: 0,
    snp: 2,
    ucode: 0x47,
  });
  assert.equal(
    encodeTcb({ fmc: 0, bl: 1, tee: 0, snp: 2, ucode: 0x47 }, "turin"),
    0x4700000002000100n,
  );
  const milan = { bl: 3, tee: 0, snp: 8, ucode: 115 };
  assert.deepEqual(decodeTcb(encodeTcb(milan, "milan"), "milan"), milan);
  assert.equal(encodeTcb(milan, "milan"), 0x7308000000000003n);
  assert.throws(() => encodeTcb({ ...milan, bl: 256 }, "milan"), /0\.\.255/);
});

Deno.test("product line from CPUID", () => {
  assert.equal(productFromCpuid({ family: 0x19, model: 0x01, stepping: 1 }), "Milan");
  assert.equal(productFromCpuid({ family: 0x19, model: 0x11, stepping: 1 }), "Genoa");
  assert.equal(productFromCpuid({ family: 0x1a, model: 0x02, stepping: 1 }), "Turin");
  assert.equal(productFromCpuid({ family: 0x17, model: 0x31, stepping: 0 }), undefined);
  assert.equal(productFromCpuid(undefined), undefined);
  assert.equal(REPORT_SIZE, 1184);
});

Deno.test("certificate table: GUID entries in RFC 4122 byte order, zero-terminated", () => {
  const vcek = new Uint8Array([1, 2, 3]);
  const ark = new Uint8Array([4, 5]);
  const table = encodeCertTable([
    { guid: CERT_TABLE_GUIDS.vcek, data: vcek },
    { guid: CERT_TABLE_GUIDS.ark, data: ark },
  ]);
  assert.equal(toHex(table.subarray(0, 16)), CERT_TABLE_GUIDS.vcek.replace(/-/g, ""));
  assert.equal(table.length, 3 * 24 + 5);
  const entries = parseCertTable(table);
  assert.deepEqual(entries.map((e) => [e.kind, toHex(e.data)]), [["vcek", "010203"], [
    "ark",
    "0405",
  ]]);
  assert.deepEqual(parseCertTable(new Uint8Array(4096)), []);
  const unterminated = table.slice(0, 24);
  unterminated[16] = 24; // offset just after the entry
  unterminated.fill(0, 20, 24); // length 0
  assert.match(
    reason(() => parseCertTable(unterminated)),
    /^malformed: .*no terminating zero entry/,
  );
  const bad = table.slice();
  bad[20] = 0xff; // length of the first entry past the end
  assert.match(reason(() => parseCertTable(bad)), /^malformed: .*points outside the table/);
});
