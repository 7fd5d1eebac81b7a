import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { CERT_TABLE_GUIDS, encodeCertTable } from "../../../attestation/snp/abi.ts";
import { ConfigfsTsmProvider } from "../../../attestation/providers/configfs_tsm.ts";
import { detectProvider } from "../../../attestation/providers/detect.ts";
import { EmulatedProvider } from "../../../attestation/providers/emulated.ts";
import { iowr } from "../../../attestation/providers/ioctl.ts";
import { ProviderError } from "../../../attestation/providers/provider.ts";
import {
  EXT_REPORT_REQ_SIZE,
  GUEST_REQUEST_SIZE,
  packExtReportRequest,
  packGuestRequest,
  packReportRequest,
  REPORT_REQ_SIZE,
  SevGuestProvider,
  SNP_GET_EXT_REPORT,
  SNP_GET_REPORT,
} from "../../../attestation/providers/sev_guest.ts";
import { TDX_CMD_GET_REPORT0, TdxGuestProvider } from "../../../attestation/providers/tdx_guest.ts";
import { serveEmulator } from "../../../attestation/emulated.ts";
import { parsePolicy } from "../../../attestation/policy.ts";
import { verifyEvidence } from "../../../attestation/verify.ts";
import { toHex } from "../../../protocol/bytes.ts";
import { emulatedSp, MEASUREMENT } from "../fixtures.ts";
import { FakeConfigfs, FakeSevGuest, FakeTdxGuest } from "./fake_kernel.ts";

const reportData = new Uint8Array(64).map((_, i) => i);

async function chip() {
  const sp = await emulatedSp("genoa");
  sp.launch({ measurement: MEASUREMENT });
  const table = encodeCertTable([
    { guid: CERT_TABLE_GUIDS.vcek, data: sp.endorsement.cert.der },
    { guid: CERT_TABLE_GUIDS.ask, data: sp.intermediate.cert.der },
    { guid: CERT_TABLE_GUIDS.ark, data: sp.root.der },
  ]);
  return { sp, table };
}

async function verifies(evidence: Uint8Array, certs: Uint8Array[] | undefined, root: unknown) {
  return await verifyEvidence(
    { platform: "sev-snp", evidence, certs },
    parsePolicy({ measurement: toHex(MEASUREMENT), report_data: toHex(reportData) }),
    { now: new Date(), roots: [root as Uint8Array] },
  );
}

Deno.test("uapi layouts and ioctl numbers (include/uapi/linux/sev-guest.h, tdx-guest.h)", () => {
  assert.equal(SNP_GET_REPORT, 0xc0205300);
  assert.equal(SNP_GET_EXT_REPORT, 0xc0205302);
  assert.equal(TDX_CMD_GET_REPORT0, 0xc4405401);
  assert.equal(iowr("S", 1, 32), 0xc0205301); // SNP_GET_DERIVED_KEY
  const g = packGuestRequest(0x1122334455667788n, 0x99aabbccddeeff00n);
  assert.equal(g.length, GUEST_REQUEST_SIZE);
  assert.equal(
    toHex(g),
    "01" + "00".repeat(7) + "8877665544332211" + "00ffeeddccbbaa99" + "00".repeat(8),
  );
  const r = packReportRequest(reportData, 2);
  assert.equal(r.length, REPORT_REQ_SIZE);
  assert.deepEqual(r.subarray(0, 64), reportData);
  assert.equal(toHex(r.subarray(64)), "02000000" + "00".repeat(28));
  const e = packExtReportRequest(reportData, 0, 0xabcdefn, 8192);
  assert.equal(e.length, EXT_REPORT_REQ_SIZE);
  assert.equal(toHex(e.subarray(96)), "efcdab0000000000" + "00200000" + "00000000");
});

Deno.test("configfs-tsm: the kernel ABI sequence, certificates from auxblob, entry removed", async () => {
  const { sp, table } = await chip();
  const fs = new FakeConfigfs({
    provider: "sev_guest",
    outblob: (data, vmpl) => sp.report({ reportData: data, vmpl }),
    auxblob: table,
  });
  const provider = await ConfigfsTsmProvider.detect({ fs, privlevel: 1 });
  assert.ok(provider);
  assert.equal(provider.platform, "sev-snp");
  fs.log.length = 0;
  const got = await provider.getEvidence(reportData);
  assert.deepEqual(fs.log, [
    "mkdir",
    "read provider",
    "read generation",
    "write privlevel",
    "write inblob",
    "read outblob",
    "read auxblob",
    "read generation",
    "rmdir",
  ]);
  assert.equal(fs.entries.size, 0);
  assert.equal(got.certs?.length, 3);
  const v = await verifies(got.evidence, got.certs, sp.root.der);
  assert.equal(v.fields.vmpl, 1);
});

Deno.test("configfs-tsm: a concurrent writer is detected by generation and retried", async () => {
  const { sp } = await chip();
  const fs = new FakeConfigfs({
    provider: "sev_guest",
    outblob: (data) => sp.report({ reportData: data }),
  });
  const provider = (await ConfigfsTsmProvider.detect({ fs }))!;
  fs.interferences = 2;
  const got = await provider.getEvidence(reportData);
  assert.equal(fs.log.filter((l) => l === "mkdir").length, 4); // detect + 3 attempts
  assert.equal(fs.entries.size, 0);
  await verifies(got.evidence, sp.certificates.map((c) => c.der), sp.root.der);
  fs.interferences = 3;
  await assert.rejects(provider.getEvidence(reportData), (e: unknown) => {
    assert.ok(e instanceof ProviderError);
    assert.equal(e.code, "busy");
    return true;
  });
  assert.equal(fs.entries.size, 0, "entries are removed after failures too");
});

Deno.test("configfs-tsm: TDX provider returns the quote, no auxblob", async () => {
  const quote = new Uint8Array(5000).fill(3);
  const fs = new FakeConfigfs({ provider: "tdx_guest", outblob: () => Promise.resolve(quote) });
  const provider = (await ConfigfsTsmProvider.detect({ fs }))!;
  assert.equal(provider.platform, "tdx");
  const got = await provider.getEvidence(reportData);
  assert.equal(got.evidence, quote);
  assert.equal(got.certs, undefined);
  await assert.rejects(provider.getEvidence(new Uint8Array(63)), /64 bytes/);
});

Deno.test("/dev/sev-guest: extended report, certificate buffer grown on INVALID_LEN", async () => {
  const { sp, table } = await chip();
  const report = await sp.report({ reportData });
  const big = new Uint8Array(6000); // needs two pages
  big.set(table);
  const device = new FakeSevGuest(new Map([[toHex(reportData), report]]), big);
  const got = await new SevGuestProvider({ open: () => device }).getEvidence(reportData);
  assert.deepEqual(device.calls, ["ext vmpl 0", "ext vmpl 0"]);
  assert.equal(device.closed, 1);
  assert.deepEqual(got.evidence, report);
  assert.equal(got.certs?.length, 3);
  await verifies(got.evidence, got.certs, sp.root.der);
  const plain = await new SevGuestProvider({ open: () => device, extended: false }).getEvidence(
    reportData,
  );
  assert.deepEqual(plain.evidence, report);
  assert.equal(plain.certs, undefined);
  await assert.rejects(
    new SevGuestProvider({ open: () => device }).getEvidence(new Uint8Array(64)),
    /firmware error 0x16/,
  );
});

Deno.test("/dev/tdx_guest: TDREPORT locally, quotes only through configfs-tsm", async () => {
  const device = new FakeTdxGuest();
  const provider = new TdxGuestProvider({ open: () => device });
  const td = provider.getReport(reportData);
  assert.equal(td.length, 1024);
  assert.deepEqual(td.subarray(128, 192), reportData);
  await assert.rejects(provider.getEvidence(reportData), /quotes need configfs-tsm/);
});

Deno.test("detection order: configfs-tsm, then /dev/sev-guest, then /dev/tdx_guest", async () => {
  const both = new FakeConfigfs(
    { provider: "sev_guest", outblob: () => Promise.resolve(new Uint8Array(1184)) },
    ["/dev/sev-guest"],
  );
  assert.ok((await detectProvider({ fs: both })) instanceof ConfigfsTsmProvider);
  assert.ok(
    (await detectProvider({
      fs: new FakeConfigfs(undefined, ["/dev/sev-guest", "/dev/tdx_guest"]),
    })) instanceof SevGuestProvider,
  );
  assert.ok(
    (await detectProvider({ fs: new FakeConfigfs(undefined, ["/dev/tdx_guest"]) })) instanceof
      TdxGuestProvider,
  );
  await assert.rejects(
    detectProvider({ fs: new FakeConfigfs(undefined) }),
    /use the emulated secure processor/,
  );
});

const CONFIG = fileURLToPath(new URL("../../../deno.json", import.meta.url));

Deno.test("detection without --allow-all says why it cannot look, not a permission trace", async () => {
  // Deno allows /sys and /dev only with --allow-all; `deno task runtime` grants less.
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  const detect = new URL("../../../attestation/providers/detect.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { detectProvider } from "${detect}";
try { await detectProvider(); } catch (e) { console.log(e.name, e.code, e.message); }`,
  );
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--config", CONFIG, "--allow-read", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.match(
      new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
      /^ProviderError unavailable cannot look for \/sys\/kernel\/config\/tsm\/report: Deno opens \/sys and \/dev only with --allow-all/,
    );
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("emulated provider: in-process and over a Unix socket with the framed CBOR protocol", async () => {
  const { sp } = await chip();
  const local = await new EmulatedProvider(sp).getEvidence(reportData);
  await verifies(local.evidence, local.certs, sp.root.der);
  const path = await Deno.makeTempFile({ suffix: ".sock" });
  await Deno.remove(path);
  const listener = Deno.listen({ path, transport: "unix" });
  const served = serveEmulator(sp, listener);
  try {
    const remote = new EmulatedProvider(() => Deno.connect({ path, transport: "unix" }), {
      vmpl: 2,
    });
    const got = await remote.getEvidence(reportData);
    assert.equal(got.source, "emulated (remote)");
    const v = await verifies(got.evidence, got.certs, sp.root.der);
    assert.equal(v.fields.vmpl, 2);
    assert.equal(v.emulated, true);
    const bad = new EmulatedProvider(() => Deno.connect({ path, transport: "unix" }), { vmpl: 9 });
    await assert.rejects(
      bad.getEvidence(reportData),
      /emulated secure processor: vmpl must be 0\.\.3/,
    );
  } finally {
    listener.close();
    await served.catch(() => {});
    await Deno.remove(path).catch(() => {});
  }
});
