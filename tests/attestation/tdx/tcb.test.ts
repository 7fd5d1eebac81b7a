import assert from "node:assert/strict";
import { parseQuote } from "../../../attestation/tdx/abi.ts";
import {
  checkQeIdentity,
  checkTdxModule,
  mergeStatus,
  moduleIdentityId,
  tdxTcbStatus,
} from "../../../attestation/tdx/tcb.ts";
import {
  parseQeIdentityResponse,
  parseTcbInfoResponse,
  type TcbInfo,
} from "../../../attestation/tdx/pcs.ts";
import type { PckExtensions } from "../../../attestation/tdx/pck.ts";
import { AttestationError } from "../../../attestation/errors.ts";
import { vectorPath } from "../../vectors.ts";

const read = (f: string) => Deno.readFileSync(vectorPath(`attestation/tdx/${f}`));
const INFO = parseTcbInfoResponse(read("tinfoil-verifier/tcb_info_90c06f000000.json")).body;
const QE = parseQeIdentityResponse(read("tinfoil-verifier/qe_identity.json")).body;
const QUOTE = parseQuote(read("go-tdx-guest/quote_v5_sample.dat")); // tee_tcb_svn 0b 01 04 …
const PCK: PckExtensions = {
  ppid: new Uint8Array(16),
  sgxTcbComponents: [3, 3, 2, 2, 4, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0],
  pceSvn: 13,
  cpuSvn: new Uint8Array(16),
  pceId: new Uint8Array(2),
  fmspc: new Uint8Array([0x90, 0xc0, 0x6f, 0, 0, 0]),
  sgxType: 1,
};

const svn = (...bytes: number[]) => Uint8Array.from({ length: 16 }, (_, i) => bytes[i] ?? 0);
const body = (teeTcbSvn: Uint8Array) => ({ ...QUOTE.body, teeTcbSvn });
const status = (info: TcbInfo, pck: PckExtensions, tee: Uint8Array, qe = QUOTE.qeReport) =>
  tdxTcbStatus(info, QE, pck, body(tee), qe);

Deno.test("status merge: flags unite as Intel converges them, Revoked wins", () => {
  const cases: [string, string, string][] = [
    ["UpToDate", "UpToDate", "UpToDate"],
    ["UpToDate", "OutOfDate", "OutOfDate"],
    ["SWHardeningNeeded", "OutOfDate", "OutOfDate"],
    ["ConfigurationNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"],
    ["ConfigurationAndSWHardeningNeeded", "OutOfDate", "OutOfDateConfigurationNeeded"],
    ["ConfigurationNeeded", "SWHardeningNeeded", "ConfigurationAndSWHardeningNeeded"],
    ["OutOfDateConfigurationNeeded", "UpToDate", "OutOfDateConfigurationNeeded"],
    ["UpToDate", "Revoked", "Revoked"],
    ["Revoked", "SWHardeningNeeded", "Revoked"],
  ];
  for (const [a, b, want] of cases) {
    assert.equal(mergeStatus(a as never, b as never), want, `${a} + ${b}`);
    assert.equal(mergeStatus(b as never, a as never), want, `${b} + ${a}`);
  }
});

Deno.test("platform level: SGX components, PCESVN, TDX components from byte 2 when svn[1] > 0", () => {
  assert.equal(moduleIdentityId(svn(0x0b, 0x01)), "TDX_01");
  assert.equal(moduleIdentityId(svn(0, 0x1a)), "TDX_1A");
  // Level 0 wants tdx comps 5,0,3: byte 2 = 3 passes; bytes 0-1 are the module's own business.
  assert.equal(status(INFO, PCK, svn(0x0b, 1, 3)).status, "UpToDate");
  assert.equal(status(INFO, PCK, svn(0x0b, 1, 2)).status, "OutOfDate"); // level 1 (…,2)
  // TDX module level: tee_tcb_svn[0] = 4 falls to the TDX_01 level isvsvn 4 (OutOfDate).
  const module4 = status(INFO, PCK, svn(4, 1, 3));
  assert.equal(module4.status, "OutOfDate");
  assert.deepEqual(module4.advisoryIds, ["INTEL-SA-01036", "INTEL-SA-01099"]);
  // With svn[1] = 0 all 16 bytes count: byte 0 = 4 < 5 matches no level.
  assert.equal(status(INFO, PCK, svn(4, 0, 3)).status, "NoMatchingTcbLevel");
  assert.equal(status(INFO, PCK, svn(5, 0, 3)).status, "UpToDate");
  // No TDX_01 level has isvsvn ≤ 1.
  const old = status(INFO, PCK, svn(1, 1, 3));
  assert.equal(old.status, "NoMatchingTcbLevel");
  assert.match(old.detail!, /TDX_01/);
  // A lower PCESVN falls to the level with pcesvn 5.
  assert.equal(status(INFO, { ...PCK, pceSvn: 12 }, svn(0x0b, 1, 3)).status, "OutOfDate");
  assert.equal(status(INFO, { ...PCK, pceSvn: 4 }, svn(0x0b, 1, 3)).status, "NoMatchingTcbLevel");
  // One SGX component below every level.
  const low = [...PCK.sgxTcbComponents];
  low[7] = 4;
  assert.equal(
    status(INFO, { ...PCK, sgxTcbComponents: low }, svn(0x0b, 1, 3)).status,
    "NoMatchingTcbLevel",
  );
});

Deno.test("QE identity level merges into the status", () => {
  const qeOld = { ...QUOTE.qeReport, isvSvn: 3 };
  assert.equal(status(INFO, PCK, svn(0x0b, 1, 3), qeOld).status, "NoMatchingTcbLevel");
  const outdatedQe = { ...QE, levels: [{ ...QE.levels[0], status: "OutOfDate" as const }] };
  const r = tdxTcbStatus(INFO, outdatedQe, PCK, body(svn(0x0b, 1, 3)), QUOTE.qeReport);
  assert.equal(r.status, "OutOfDate");
  assert.equal(r.qe?.isvSvn, 4);
});

function refusesCollateral(fn: () => void, pattern: RegExp) {
  assert.throws(
    fn,
    (e: unknown) =>
      e instanceof AttestationError && e.reason === "collateral" && pattern.test(e.message),
  );
}

Deno.test("TDX module identity: mrsigner and attributes under mask, the version's identity must exist", () => {
  checkTdxModule(INFO, QUOTE.body);
  const signer = QUOTE.body.mrSignerSeam.slice();
  signer[0] ^= 1;
  refusesCollateral(
    () => checkTdxModule(INFO, { ...QUOTE.body, mrSignerSeam: signer }),
    /TDX module signer/,
  );
  const attrs = QUOTE.body.seamAttributes.slice();
  attrs[7] = 0x80;
  refusesCollateral(
    () => checkTdxModule(INFO, { ...QUOTE.body, seamAttributes: attrs }),
    /attributes/,
  );
  // A mask that ignores the changed bit accepts it.
  const lax = {
    ...INFO.tdxModule!,
    attributesMask: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f),
  };
  const laxInfo = {
    ...INFO,
    tdxModule: lax,
    tdxModuleIdentities: INFO.tdxModuleIdentities.map((m) => ({ ...m, ...lax })),
  };
  checkTdxModule(laxInfo, { ...QUOTE.body, seamAttributes: attrs });
  refusesCollateral(() => checkTdxModule(INFO, body(svn(1, 2))), /no TDX module identity TDX_02/);
});

Deno.test("QE identity: mrsigner, isvprodid, miscselect and attributes under masks", () => {
  const qe = QUOTE.qeReport;
  checkQeIdentity(QE, qe);
  const flip = (b: Uint8Array, i: number, x: number) => {
    const c = b.slice();
    c[i] ^= x;
    return c;
  };
  refusesCollateral(
    () => checkQeIdentity(QE, { ...qe, mrSigner: flip(qe.mrSigner, 3, 1) }),
    /mrsigner/,
  );
  refusesCollateral(() => checkQeIdentity(QE, { ...qe, isvProdId: 1 }), /isvprodid 1/);
  refusesCollateral(
    () => checkQeIdentity(QE, { ...qe, miscSelect: flip(qe.miscSelect, 0, 1) }),
    /miscselect/,
  );
  refusesCollateral(
    () => checkQeIdentity(QE, { ...qe, attributes: flip(qe.attributes, 0, 0x01) }),
    /attributes/,
  );
  // attributesMask FBFF…: bit 2 of byte 0 is not compared.
  checkQeIdentity(QE, { ...qe, attributes: flip(qe.attributes, 0, 0x04) });
  refusesCollateral(() => checkQeIdentity({ ...QE, id: "QE" }, qe), /TD_QE/);
});
