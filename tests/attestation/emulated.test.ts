import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import {
  answer,
  EmulatedSecureProcessor,
  encodeMessage,
  loadEmulatedRoot,
  MAX_MESSAGE,
  readMessage,
} from "../../attestation/emulated.ts";
import { parseReport, signingKey } from "../../attestation/snp/abi.ts";
import { isEmulatedRoot, readEndorsementKey } from "../../attestation/snp/kds.ts";
import { parseCertificates } from "../../attestation/x509.ts";
import { emulatedSp, MEASUREMENT } from "./fixtures.ts";

function stream(...chunks: Uint8Array[]) {
  return new ReadableStream<Uint8Array>({
    start(c) {
      for (const x of chunks) c.enqueue(x);
      c.close();
    },
  }).getReader();
}

Deno.test("state: save, load and open keep the same root and chip; only ark.pem is read to trust it", async () => {
  const sp = await emulatedSp("genoa");
  const dir = await Deno.makeTempDir();
  try {
    await sp.save(`${dir}/state`);
    const mode = (await Deno.stat(`${dir}/state/ark.key.pem`)).mode! & 0o777;
    assert.equal(mode, 0o600, "private keys are readable by their owner only");
    const again = await EmulatedSecureProcessor.open(`${dir}/state`);
    assert.equal(again.root.id, sp.root.id);
    assert.deepEqual(again.identity.chipId, sp.identity.chipId);
    again.launch({ measurement: MEASUREMENT });
    const report = parseReport(await again.report({ reportData: new Uint8Array(64) }));
    assert.deepEqual(report.chipId, sp.identity.chipId);
    const root = await loadEmulatedRoot(`${dir}/state`);
    assert.equal(root.id, sp.root.id);
    assert.ok(isEmulatedRoot(root));
    await Deno.writeTextFile(`${dir}/state/emulated-sp.json`, '{"format":"other"}');
    await assert.rejects(
      EmulatedSecureProcessor.load(`${dir}/state`),
      /not an emulated secure processor state/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("certificates: AMD's shape with the emulated names; reports need a launched guest", async () => {
  const sp = await EmulatedSecureProcessor.load(
    fileURLToPath(new URL("../../.cache/test-emulated-sp/genoa", import.meta.url)),
  );
  const [vcek, ask, ark] = sp.certificates;
  assert.deepEqual([vcek.label, ask.label, ark.label], [
    "SEV-VCEK",
    "SEV-Emulated",
    "ARK-Emulated",
  ]);
  assert.match(ark.subject.text, /O=Cloister, OU=EMULATED secure processor - not AMD/);
  for (const c of [ask, ark]) {
    assert.deepEqual(c.signatureAlgorithm, { kind: "rsa-pss", hash: "SHA-384", saltLength: 48 });
    assert.equal(c.publicKey.kind === "rsa" && c.publicKey.bits, 4096);
  }
  assert.deepEqual(ask.basicConstraints, { ca: true, pathLen: 0 });
  assert.deepEqual(ark.basicConstraints, { ca: true });
  const key = readEndorsementKey(vcek);
  assert.equal(key.productName, "Genoa");
  assert.deepEqual(key.tcb, sp.identity.tcb);
  assert.deepEqual(key.hwId, sp.identity.chipId);
  const fresh = await EmulatedSecureProcessor.load(
    fileURLToPath(new URL("../../.cache/test-emulated-sp/genoa", import.meta.url)),
  );
  await assert.rejects(fresh.report({ reportData: new Uint8Array(64) }), /no guest launched/);
  fresh.launch({ measurement: MEASUREMENT, policy: 0x30000n | (1n << 19n) });
  const r = parseReport(await fresh.report({ reportData: new Uint8Array(64), version: 3 }));
  assert.equal(r.version, 3);
  assert.equal(r.policy, 0xb0000n);
  assert.equal(signingKey(r), "vcek");
  await assert.rejects(fresh.report({ reportData: new Uint8Array(32) }), /64 bytes/);
  assert.equal(parseCertificates(ark.der)[0].id, ark.id);
});

Deno.test("protocol: framed deterministic CBOR, refusals as {error}, bounded messages", async () => {
  const sp = await emulatedSp("genoa");
  sp.launch({ measurement: MEASUREMENT });
  const ok = await answer(
    sp,
    new Map<string, unknown>([["report_data", new Uint8Array(64)], ["vmpl", 1]]),
  );
  assert.ok(ok.get("report") instanceof Uint8Array);
  assert.equal((ok.get("certs") as Uint8Array[]).length, 3);
  for (
    const [request, message] of [
      [new Map([["report_data", "zz"]]), /report_data must be a byte string/],
      [
        new Map<string, unknown>([["report_data", new Uint8Array(64)], ["extra", 1]]),
        /unknown request key "extra"/,
      ],
      [
        new Map<string, unknown>([["report_data", new Uint8Array(64)], ["version", 4]]),
        /version must be 3 or 5/,
      ],
      [new Map<string, unknown>([["report_data", new Uint8Array(10)]]), /64 bytes/],
    ] as const
  ) {
    const r = await answer(sp, request as Map<string, unknown>);
    assert.match(String(r.get("error")), message);
  }
  const framed = encodeMessage(new Map([["report_data", new Uint8Array(64)]]));
  const split = await readMessage(
    stream(framed.subarray(0, 3), framed.subarray(3, 20), framed.subarray(20)),
    { bytes: new Uint8Array(0) },
  );
  assert.deepEqual(split?.get("report_data"), new Uint8Array(64));
  assert.equal(await readMessage(stream(), { bytes: new Uint8Array(0) }), undefined);
  const huge = new Uint8Array(4);
  new DataView(huge.buffer).setUint32(0, MAX_MESSAGE + 1);
  await assert.rejects(readMessage(stream(huge), { bytes: new Uint8Array(0) }), /exceeds/);
  await assert.rejects(
    readMessage(stream(framed.subarray(0, 10)), { bytes: new Uint8Array(0) }),
    /ended inside a message/,
  );
});
