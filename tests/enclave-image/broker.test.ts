import assert from "node:assert/strict";
import { checkRequest, ProviderSource, serve } from "../../enclave-image/guest/broker.ts";
import { encodeMessage, readMessage } from "../../attestation/emulated.ts";
import { connectEmulator, EmulatedProvider } from "../../attestation/providers/emulated.ts";
import type { Evidence, EvidenceProvider } from "../../attestation/providers/provider.ts";

/** A provider that answers like a kernel interface would: the report carries the REPORT_DATA. */
function fakeProvider(platform: "sev-snp" | "tdx"): EvidenceProvider {
  return {
    platform,
    name: "fake configfs-tsm",
    getEvidence(reportData: Uint8Array): Promise<Evidence> {
      const report = new Uint8Array(1184);
      report.set(reportData, 0x50);
      return Promise.resolve({
        platform,
        evidence: report,
        certs: [new Uint8Array([0x30, 0])],
        source: this.name,
      });
    },
  };
}

/** A broker on a unix socket in a temporary folder, serving `provider`. */
async function withBroker(provider: EvidenceProvider, fn: (path: string) => Promise<void>) {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/evidence.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const served = (async () => {
    for await (const conn of listener) await serve(conn, new ProviderSource(provider));
  })();
  try {
    await fn(path);
  } finally {
    listener.close();
    await served.catch(() => {});
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("broker: the runtime's EmulatedProvider gets the hardware report through the socket", async () => {
  await withBroker(fakeProvider("sev-snp"), async (path) => {
    const client = new EmulatedProvider(() => connectEmulator({ transport: "unix", path }));
    const reportData = crypto.getRandomValues(new Uint8Array(64));
    const evidence = await client.getEvidence(reportData);
    assert.deepEqual(evidence.evidence.subarray(0x50, 0x90), reportData);
    assert.deepEqual(evidence.certs, [new Uint8Array([0x30, 0])]);
  });
});

Deno.test("broker: a malformed request is answered with an error and the connection closed", async () => {
  await withBroker(fakeProvider("sev-snp"), async (path) => {
    const conn = await Deno.connect({ transport: "unix", path });
    const writer = conn.writable.getWriter();
    await writer.write(encodeMessage(new Map([["report_data", new Uint8Array(10)]])));
    const reader = conn.readable.getReader();
    const buffered = { bytes: new Uint8Array(0) };
    const reply = await readMessage(reader, buffered);
    assert.match(String(reply?.get("error")), /report_data must be a 64-byte byte string/);
    assert.equal(await readMessage(reader, buffered), undefined, "then the broker hangs up");
    try {
      conn.close();
    } catch { /* the end of the stream closed it */ }
  });
});

Deno.test("broker: a TDX guest is told the broker relays SEV-SNP reports only", async () => {
  await withBroker(fakeProvider("tdx"), async (path) => {
    const client = new EmulatedProvider(() => connectEmulator({ transport: "unix", path }));
    await assert.rejects(
      client.getEvidence(new Uint8Array(64)),
      /SEV-SNP reports only; this guest is tdx/,
    );
  });
});

Deno.test("broker: checkRequest admits only report_data (64 bytes), vmpl 0..3 and version 3/5", () => {
  const ok = new Map<string, unknown>([["report_data", new Uint8Array(64)], ["vmpl", 1], [
    "version",
    3,
  ]]);
  assert.equal(checkRequest(ok), ok);
  assert.throws(
    () =>
      checkRequest(new Map<string, unknown>([["report_data", new Uint8Array(64)], ["cmd", "x"]])),
    /unknown request key "cmd"/,
  );
  assert.throws(
    () =>
      checkRequest(new Map<string, unknown>([["report_data", new Uint8Array(64)], ["vmpl", 4]])),
    /vmpl/,
  );
  assert.throws(
    () =>
      checkRequest(new Map<string, unknown>([["report_data", new Uint8Array(64)], ["version", 4]])),
    /version/,
  );
});
