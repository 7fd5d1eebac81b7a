import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { reportData } from "../../protocol/evidence.ts";
import { EmulatedProvider } from "../../attestation/providers/emulated.ts";
import { evidenceBundle } from "../../attestation/providers/provider.ts";
import { vectorPath } from "../vectors.ts";
import { emulatedSp, MEASUREMENT } from "./fixtures.ts";

const DENO = fileURLToPath(new URL("../../node_modules/.bin/deno", import.meta.url));
const CLI = fileURLToPath(new URL("../../attestation/cli.ts", import.meta.url));
const snp = (f: string) => vectorPath(`attestation/snp/${f}`);

/** Runs the CLI with the permissions of the `verify` task. */
async function verify(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(DENO, {
    args: ["run", "--allow-read", "--allow-env=CLOISTER_EMULATED_SP", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, out: text(r.stdout), err: text(r.stderr) };
}

Deno.test("cli: a real report with its certificates is accepted, each check printed", async () => {
  const r = await verify(
    "--at",
    "2025-10-01T08:00:00Z",
    snp("trustee/azure-genoa-v3.snp.bin"),
    snp("trustee/azure-genoa-v3.vcek.der"),
    snp("go-sev-guest/ask_ark_genoa.pem"),
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /✓ certificate chain +SEV-VCEK → SEV-Genoa → ARK-Genoa/);
  assert.match(r.out, /✓ report signature/);
  assert.match(r.out, /reported_tcb +bl 10, tee 0, snp 23, ucode 84/);
  assert.match(r.out, /\nACCEPTED\n$/);
  assert.doesNotMatch(r.out, /EMULATED/);
});

Deno.test("cli: a rejection exits 1 with its reason; --json carries the same", async () => {
  const policy = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(policy, JSON.stringify({ require_product: "Milan" }));
  const files = [
    snp("oak/genoa_oc.report.bin"),
    snp("oak/genoa_oc.vcek.der"),
    snp("go-sev-guest/ask_ark_genoa.pem"),
  ];
  const r = await verify("--at", "2025-10-01T08:00:00Z", "--policy", policy, ...files);
  assert.equal(r.code, 1);
  assert.match(r.out, /✗ policy +report is from Genoa, the policy requires Milan/);
  assert.match(r.out, /fields \(decoded only, NOT verified\)/);
  assert.match(r.out, /REJECTED \(policy\)/);
  const j = await verify("--json", "--at", "2033-01-01T00:00:00Z", ...files);
  assert.equal(j.code, 1);
  const o = JSON.parse(j.out);
  assert.equal(o.verdict, "reject");
  assert.equal(o.reason, "expired");
  assert.equal(o.fields.product, "Genoa");
  await Deno.remove(policy);
});

Deno.test("cli: unusable input exits 2 with one line and no stack trace", async () => {
  for (
    const args of [
      ["/no/such/file"],
      ["--at", "yesterday", snp("oak/genoa_oc.report.bin")],
      ["--frobnicate", snp("oak/genoa_oc.report.bin")],
      [snp("oak/genoa_oc.vcek.der")],
      ["--root", snp("oak/genoa_oc.report.bin"), snp("oak/genoa_oc.report.bin")],
      [],
    ]
  ) {
    const r = await verify(...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.out, "");
    assert.match(r.err, /^verify: [^\n]+\n(usage: [^\n]+\n)?$/);
    assert.doesNotMatch(r.err, /\n\s+at /);
    if (args.length === 0) continue;
    const j = await verify("--json", ...args);
    assert.equal(j.code, 2);
    const message = j.err.split("\n")[0].slice("verify: ".length);
    assert.deepEqual(JSON.parse(j.out), { verdict: "error", message }, args.join(" "));
  }
});

Deno.test("cli: an emulated bundle needs --trust-emulated, and then says EMULATED", async () => {
  const sp = await emulatedSp("genoa");
  sp.launch({ measurement: MEASUREMENT });
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    keyConfig: new Uint8Array([1, 0, 32, ...new Uint8Array(32), 0, 4, 0, 1, 0, 1]),
    epochStart: now - 10,
    epochEnd: now + 600,
  };
  const bundle = evidenceBundle(
    await new EmulatedProvider(sp).getEvidence(reportData(claims)),
    claims,
  );
  const file = await Deno.makeTempFile({ suffix: ".cbor" });
  await Deno.writeFile(file, bundle);
  const state = fileURLToPath(new URL("../../.cache/test-emulated-sp/genoa", import.meta.url));
  try {
    const untrusted = await verify(file);
    assert.equal(untrusted.code, 1);
    assert.match(
      untrusted.out,
      /REJECTED \(chain\): ARK-Emulated is self-issued but is not one of the trusted roots/,
    );
    const trusted = await verify(`--trust-emulated=${state}`, file);
    assert.equal(trusted.code, 0, trusted.out + trusted.err);
    assert.match(trusted.out, /^EMULATED: /);
    assert.match(trusted.out, /✓ key binding/);
    assert.match(trusted.out, /ACCEPTED — EMULATED secure processor, not real hardware/);
  } finally {
    await Deno.remove(file);
  }
});
