import assert from "node:assert/strict";
import {
  fetchPcsCollateral,
  parseTcbInfoResponse,
  readCollateral,
  signedMember,
  tcbInfoUrl,
  topLevelMembers,
} from "../../../attestation/tdx/pcs.ts";
import { parseQuote } from "../../../attestation/tdx/abi.ts";
import { CollateralError, FileSource } from "../../../attestation/collateral.ts";
import { verifyEvidence } from "../../../attestation/verify.ts";
import { defaultPolicy } from "../../../attestation/policy.ts";
import { AttestationError } from "../../../attestation/errors.ts";
import { toHex, utf8 } from "../../../protocol/bytes.ts";
import { vectorPath } from "../../vectors.ts";

const read = (f: string) => Deno.readFileSync(vectorPath(`attestation/tdx/${f}`));
const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("the signed span is the inner object's bytes exactly as written", () => {
  const doc = utf8(
    ' { "tcbInfo" :{"a":"}\\"{","b":[1,{"c":[]}]} ,\n"signature":"' + "ab".repeat(64) + '" } ',
  );
  const { signed, value, signature } = signedMember(doc, "tcbInfo", "TCB info");
  assert.equal(text(signed), '{"a":"}\\"{","b":[1,{"c":[]}]}');
  assert.deepEqual(value, { a: '}"{', b: [1, { c: [] }] });
  assert.equal(toHex(signature), "ab".repeat(64));
  assert.deepEqual([...topLevelMembers(doc, "x").keys()], ["tcbInfo", "signature"]);
});

Deno.test("refusals: not JSON, repeated keys, missing members, bad signature hex", () => {
  const refuses = (s: string, pattern: RegExp) =>
    assert.throws(
      () => signedMember(utf8(s), "tcbInfo", "TCB info"),
      (e: unknown) =>
        e instanceof AttestationError && e.reason === "collateral" && pattern.test(e.message),
      s,
    );
  refuses('{"tcbInfo":{}', /not JSON/);
  refuses('{"tcbInfo":{},"tcbInfo":{},"signature":""}', /appears twice/);
  refuses('{"tcbInfo":{}}', /expected the keys/);
  refuses('{"tcbInfo":{},"signature":"abcd"}', /signature is not 64 bytes/);
  refuses("[1,2]", /not a JSON object/);
});

Deno.test("TCB info decoding is strict and names the field", () => {
  const good = text(read("tinfoil-verifier/tcb_info_90c06f000000.json"));
  const info = parseTcbInfoResponse(utf8(good)).body;
  assert.equal(info.id, "TDX");
  assert.equal(info.version, 3);
  assert.equal(toHex(info.fmspc), "90c06f000000");
  assert.equal(info.levels[0].tdxComponents?.length, 16);
  assert.deepEqual(info.tdxModuleIdentities.map((m) => m.id), ["TDX_03", "TDX_01"]);
  const bad = (from: string, to: string, pattern: RegExp) =>
    assert.throws(() => parseTcbInfoResponse(utf8(good.replace(from, to))), pattern);
  bad(
    '"tcbStatus":"UpToDate"',
    '"tcbStatus":"Fine"',
    /tcbLevels\[0\]\.tcbStatus "Fine" is not a TCB status/,
  );
  bad('"version":3', '"version":4', /version 4 is not supported/);
  bad('"fmspc":"90c06f000000"', '"fmspc":"90c06f"', /fmspc is not 6 bytes/);
  bad(
    '"issueDate":"2026-01-12T15:46:45Z"',
    '"issueDate":"yesterday"',
    /issueDate is not a UTC date/,
  );
  bad('{"svn":3,"category":"BIOS"', '{"svn":-3,"category":"BIOS"', /svn is not an integer/);
  // An SGX v2 TCB info decodes (and is then no use for TDX).
  const v2 = parseTcbInfoResponse(utf8(
    '{"tcbInfo":{"version":2,"issueDate":"2023-01-01T00:00:00Z","nextUpdate":"2023-02-01T00:00:00Z",' +
      '"fmspc":"00906ED50000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":12,"tcbLevels":[{"tcb":{' +
      Array.from({ length: 16 }, (_, i) => `"sgxtcbcomp${String(i + 1).padStart(2, "0")}svn":${i}`)
        .join(",") +
      ',"pcesvn":10},"tcbDate":"2022-08-10T00:00:00Z","tcbStatus":"UpToDate"}]},"signature":"' +
      "00".repeat(64) +
      '"}',
  )).body;
  assert.equal(v2.id, "SGX");
  assert.equal(v2.levels[0].sgxComponents[15], 15);
  assert.equal(v2.levels[0].tdxComponents, undefined);
});

Deno.test("collateral files are recognised by content", () => {
  const files = [
    "tinfoil-verifier/tcb_info_90c06f000000.json",
    "tinfoil-verifier/tcb_info_90c06f000000_chain.txt",
    "tinfoil-verifier/qe_identity.json",
    "tinfoil-verifier/root_ca.crl",
    "tinfoil-verifier/pck_crl_processor.crl",
    "go-tdx-guest/pckcrl.der",
    "tinfoil-verifier/sgx_root_ca.pem",
  ];
  const c = readCollateral(files.map(read), files);
  assert.equal(c.tcbInfos.length, 1);
  assert.equal(c.qeIdentities.length, 1);
  assert.deepEqual(c.certificates.map((x) => x.label), [
    "Intel SGX TCB Signing",
    "Intel SGX Root CA",
    "Intel SGX Root CA",
  ]);
  assert.deepEqual(c.crls.map((x) => x.label), [
    "CRL of Intel SGX Root CA",
    "CRL of Intel SGX PCK Processor CA",
    "CRL of Intel SGX PCK Platform CA",
  ]);
  const bundle = readCollateral([read("dcap-qvl/tdx_quote_collateral.json")]);
  assert.equal(toHex(bundle.tcbInfos[0].body.fmspc), "b0c06f000000");
  assert.equal(bundle.qeIdentities[0].body.id, "TD_QE");
  assert.equal(bundle.crls.length, 2);
  assert.ok(bundle.certificates.length >= 4);
  assert.throws(
    () => readCollateral([utf8('{"hello":1}')], ["x.json"]),
    /x\.json: JSON with keys hello is no TDX collateral/,
  );
  assert.throws(() => readCollateral([utf8("hello")], ["x.txt"]), /x\.txt: is neither/);
});

Deno.test("PCS collateral through an offline mirror verifies the v5 sample; a missing chain header is named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const host = `${dir}/api.trustedservices.intel.com`;
    const chain = (f: string) => text(read(`tinfoil-verifier/${f}`));
    const put = async (path: string, file: string, headers?: Record<string, string>) => {
      await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeFile(path, read(`tinfoil-verifier/${file}`));
      if (headers) await Deno.writeTextFile(`${path}.headers.json`, JSON.stringify(headers));
    };
    await put(`${host}/tdx/certification/v4/tcb?fmspc=90C06F000000`, "tcb_info_90c06f000000.json", {
      "tcb-info-issuer-chain": chain("tcb_info_90c06f000000_chain.txt"),
    });
    await put(`${host}/tdx/certification/v4/qe/identity`, "qe_identity.json", {
      "sgx-enclave-identity-issuer-chain": chain("qe_identity_chain.txt"),
    });
    await put(
      `${host}/sgx/certification/v4/pckcrl?ca=platform&encoding=der`,
      "pck_crl_platform.crl",
      {
        "sgx-pck-crl-issuer-chain": chain("pck_crl_platform_chain.txt"),
      },
    );
    await put(`${dir}/certificates.trustedservices.intel.com/IntelSGXRootCA.der`, "root_ca.crl");

    const evidence = read("go-tdx-guest/quote_v5_sample.dat");
    const { files, stale } = await fetchPcsCollateral(new FileSource(dir), parseQuote(evidence));
    assert.equal(stale, false);
    assert.equal(files.length, 7);
    assert.equal(files[0].name, tcbInfoUrl(Uint8Array.of(0x90, 0xc0, 0x6f, 0, 0, 0)));
    const v = await verifyEvidence(
      { platform: "tdx", evidence, collateral: files },
      defaultPolicy(),
      { now: new Date("2026-02-03T01:00:00Z") },
    );
    assert.equal(v.fields.tcb_status, "UpToDate");

    await Deno.remove(`${host}/tdx/certification/v4/qe/identity.headers.json`);
    await assert.rejects(
      () => fetchPcsCollateral(new FileSource(dir), parseQuote(evidence)),
      (e: unknown) =>
        e instanceof CollateralError && /sgx-enclave-identity-issuer-chain/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
