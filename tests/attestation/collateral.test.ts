import assert from "node:assert/strict";
import {
  CachedSource,
  CollateralError,
  fetchCertChain,
  fetchCrl,
  type Fetched,
  fetchVcek,
  FileSource,
  HttpSource,
} from "../../attestation/collateral.ts";
import { parsePolicy } from "../../attestation/policy.ts";
import { decodeTcb, parseReport } from "../../attestation/snp/abi.ts";
import { certChainUrl, crlUrl, vcekUrl } from "../../attestation/snp/kds.ts";
import { verifyEvidence } from "../../attestation/verify.ts";
import { vectorPath } from "../vectors.ts";

const read = (f: string) => Deno.readFileSync(vectorPath(`attestation/snp/${f}`));

Deno.test("KDS URLs (#57230 §4): VCEK with zero-padded SPLs, Turin with the 8-byte hwID and fmcSPL", () => {
  const chip = new Uint8Array(64).map((_, i) => i);
  assert.equal(
    vcekUrl("Milan", chip, { bl: 3, tee: 0, snp: 8, ucode: 115 }),
    `https://kdsintf.amd.com/vcek/v1/Milan/${
      Array.from(chip, (b) => b.toString(16).padStart(2, "0")).join("")
    }?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115`,
  );
  assert.equal(
    vcekUrl("Turin", chip, { fmc: 1, bl: 2, tee: 3, snp: 4, ucode: 5 }),
    "https://kdsintf.amd.com/vcek/v1/Turin/0001020304050607?fmcSPL=01&blSPL=02&teeSPL=03&snpSPL=04&ucodeSPL=05",
  );
  assert.equal(certChainUrl("Genoa", "vlek"), "https://kdsintf.amd.com/vlek/v1/Genoa/cert_chain");
  assert.equal(crlUrl("Turin"), "https://kdsintf.amd.com/vcek/v1/Turin/crl");
});

Deno.test("offline mirror: fetch the VCEK and chain of a real report, then verify it", async () => {
  const report = read("virtee-sev/report_milan_v2.bin");
  const r = parseReport(report);
  const tcb = decodeTcb(r.reportedTcb, "milan");
  const mirror = await Deno.makeTempDir();
  try {
    const source = new FileSource(mirror);
    const place = async (url: string, bytes: Uint8Array) => {
      const path = source.path(url);
      await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeFile(path, bytes);
    };
    await place(vcekUrl("Milan", r.chipId, tcb), read("virtee-sev/vcek_milan_d49554ec.der"));
    await place(certChainUrl("Milan", "vcek"), read("virtee-sev/cert_chain_milan.pem"));
    const vcek = await fetchVcek(source, "Milan", r.chipId, tcb);
    const chain = await fetchCertChain(source, "Milan");
    assert.equal(chain.length, 2);
    const v = await verifyEvidence(
      { platform: "sev-snp", evidence: report, certs: [vcek, ...chain] },
      parsePolicy({}),
      { now: new Date("2025-10-01T08:00:00Z") },
    );
    assert.equal(v.fields.product, "Milan");
    await assert.rejects(fetchCrl(source, "Milan"), (e: unknown) => {
      assert.ok(e instanceof CollateralError);
      assert.equal(e.status, 404);
      return true;
    });
  } finally {
    await Deno.remove(mirror, { recursive: true });
  }
});

Deno.test("cache: fresh entries skip the source, stale ones are served only when it fails", async () => {
  const folder = await Deno.makeTempDir();
  let calls = 0;
  let fail = false;
  const inner = {
    get(url: string): Promise<Fetched> {
      calls++;
      if (fail) return Promise.reject(new CollateralError(url, "network down"));
      return Promise.resolve({ body: new Uint8Array([calls]), headers: { "x-n": String(calls) } });
    },
  };
  let now = 1_000_000;
  const cache = new CachedSource(inner, folder, () => 1000, () => now);
  try {
    const url = "https://kdsintf.amd.com/vcek/v1/Milan/crl";
    assert.deepEqual((await cache.get(url)).body, new Uint8Array([1]));
    assert.deepEqual((await cache.get(url)).body, new Uint8Array([1]));
    assert.equal(calls, 1);
    now += 1001;
    const refreshed = await cache.get(url);
    assert.deepEqual(refreshed.body, new Uint8Array([2]));
    assert.equal(refreshed.headers["x-n"], "2");
    now += 1001;
    fail = true;
    const stale = await cache.get(url);
    assert.equal(stale.stale, true);
    assert.deepEqual(stale.body, new Uint8Array([2]));
    await assert.rejects(cache.get("https://kdsintf.amd.com/vcek/v1/Genoa/crl"), /network down/);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("HTTP: status errors and failures are CollateralErrors naming the URL", async () => {
  const notFound = new HttpSource(() =>
    Promise.resolve(new Response("no", { status: 404, statusText: "Not Found" }))
  );
  await assert.rejects(
    notFound.get("https://kdsintf.amd.com/x"),
    /kdsintf\.amd\.com\/x: HTTP 404 Not Found/,
  );
  const down = new HttpSource(() => Promise.reject(new TypeError("connection refused")));
  await assert.rejects(
    down.get("https://api.trustedservices.intel.com/y"),
    /request failed: connection refused/,
  );
  const ok = new HttpSource(() =>
    Promise.resolve(
      new Response(new Uint8Array([7]), { headers: { "TCB-Info-Issuer-Chain": "abc" } }),
    )
  );
  const got = await ok.get("https://api.trustedservices.intel.com/tdx/certification/v4/tcb");
  assert.deepEqual(got.body, new Uint8Array([7]));
  assert.equal(got.headers["tcb-info-issuer-chain"], "abc");
});
