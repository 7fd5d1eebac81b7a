import assert from "node:assert/strict";
import { MeasureError } from "../../../attestation/measure/errors.ts";
import { launchDigest, type LaunchInputs, parseMode } from "../../../attestation/measure/launch.ts";
import { FOUR_GIB, parseOvmf, SectionType } from "../../../attestation/measure/ovmf.ts";
import { sevHashesOf } from "../../../attestation/measure/sev-hashes.ts";
import { sha384 } from "../../../attestation/measure/snp.ts";
import { svsmImage, svsmLaunchVmsaPages } from "../../../attestation/measure/svsm.ts";
import { svsmVmsaPage, vcpuSigOf } from "../../../attestation/measure/vmsa.ts";
import { toHex } from "../../../protocol/bytes.ts";
import { vectorPath } from "../../vectors.ts";
import { errorCode } from "./firmware.ts";

const folder = vectorPath("measurement");
const ovmf = parseOvmf(Deno.readFileSync(`${folder}/svsm_ovmf.fd`));
const svsm = Deno.readFileSync(`${folder}/svsm.bin`);
const varsSize = 540672; // the OVMF_VARS.fd of the upstream vectors
const vcpuSig = vcpuSigOf("EPYC-v4");

const launch = (over: Partial<LaunchInputs> = {}): LaunchInputs => ({
  mode: "snp:svsm",
  ovmf,
  vcpus: 2,
  vcpuSig,
  svsm,
  varsSize,
  ...over,
});

Deno.test("svsm: the image sits below OVMF and its variable store, with its own SEV metadata", () => {
  assert.equal(ovmf.gpa, FOUR_GIB - 0x37c000);
  const image = svsmImage({ ovmf, svsm, varsSize });
  assert.equal(image.gpa, ovmf.gpa - varsSize - svsm.length);
  assert.equal(image.gpa, 0xffaea000);
  assert.deepEqual(image.sections, [
    { gpa: 0, size: 0x9e000, type: SectionType.SNP_SEC_MEM },
    { gpa: 0x9e000, size: 0x1000, type: SectionType.SNP_SECRETS },
    { gpa: 0x9f000, size: 0x1000, type: SectionType.CPUID },
  ]);
});

Deno.test("svsm: every vCPU starts at the SVSM's first byte in flat 32-bit protected mode", () => {
  const page = svsmVmsaPage(0xffaea000, vcpuSig);
  const v = new DataView(page.buffer);
  const seg = (
    at: number,
  ) => [v.getUint16(at, true), v.getUint16(at + 2, true), v.getUint32(at + 4, true)];
  assert.deepEqual(seg(0x10), [0x08, 0xc9b, 0xffffffff]); // CS
  for (const at of [0x00, 0x20, 0x30, 0x40]) assert.deepEqual(seg(at), [0x10, 0xc93, 0xffffffff]);
  assert.deepEqual(seg(0x50), [0, 0x93, 0xffff]); // GS keeps its reset value
  assert.equal(v.getBigUint64(0x158, true), 0x11n); // CR0 = PE | ET
  assert.equal(v.getBigUint64(0x178, true), 0xffaea000n); // RIP
  assert.equal(v.getBigUint64(0x310, true), BigInt(vcpuSig)); // RDX
  assert.equal(v.getBigUint64(0x3b0, true), 1n); // SEV_FEATURES: SNP active only
  assert.equal(page[0xca], 0); // VMPL0
  assert.equal(v.getUint32(0x408, true), 0x1f80);
  assert.equal(v.getUint16(0x410, true), 0);

  const pages = svsmLaunchVmsaPages({ ovmf, svsm, varsSize, vcpus: 3, vcpuSig });
  assert.equal(pages.length, 3);
  for (const p of pages) assert.deepEqual(p, page);
  const dump = (JSON.parse(Deno.readTextFileSync(`${folder}/cases.json`)).cases as {
    id: string;
    dump_vmsa?: { vmsa_sha384: string[] };
  }[]).find((c) => c.id === "snp:svsm/dump_vmsa")!;
  assert.equal(toHex(sha384(page)), dump.dump_vmsa!.vmsa_sha384[0]);
});

Deno.test("svsm: the vars size moves the SVSM, so it changes the digest; guest features do not", () => {
  const base = launchDigest(launch());
  assert.equal(base.length, 48);
  assert.notDeepEqual(launchDigest(launch({ varsSize: varsSize + 4096 })), base);
  assert.notDeepEqual(launchDigest(launch({ vcpus: 3 })), base);
  assert.notDeepEqual(launchDigest(launch({ vcpuSig: vcpuSigOf("EPYC-Milan") })), base);
  assert.deepEqual(launchDigest(launch({ guestFeatures: 0x21n })), base);
  assert.deepEqual(launchDigest(launch({ guestFeatures: 0x1n })), base);
});

Deno.test("svsm: missing or inconsistent inputs are refused with a typed error", () => {
  assert.equal(errorCode(() => launchDigest(launch({ svsm: undefined }))), "usage");
  assert.equal(errorCode(() => launchDigest(launch({ varsSize: undefined }))), "usage");
  assert.equal(errorCode(() => launchDigest(launch({ varsSize: 1000 }))), "usage");
  assert.equal(errorCode(() => launchDigest(launch({ varsSize: -4096 }))), "usage");
  assert.equal(errorCode(() => launchDigest(launch({ varsSize: FOUR_GIB }))), "usage");
  assert.equal(errorCode(() => launchDigest(launch({ vmm: "ec2" }))), "usage");
  assert.equal(errorCode(() => launchDigest(launch({ vcpuSig: undefined }))), "vcpu");
  assert.equal(errorCode(() => launchDigest(launch({ vcpus: 0 }))), "vcpu");
  const kernel = sevHashesOf(new Uint8Array(0), undefined, "");
  assert.equal(errorCode(() => launchDigest(launch({ kernel }))), "usage");
  assert.equal(errorCode(() => launchDigest(launch({ mode: "snp" }))), "usage");
  assert.equal(
    errorCode(() => launchDigest(launch({ ovmf: parseOvmf(ovmf.data, FOUR_GIB - 4096) }))),
    "usage",
  );
  assert.equal(
    errorCode(() => launchDigest(launch({ svsm: new Uint8Array(8192) }))),
    "ovmf-missing-entry",
  );
  assert.throws(
    () => launchDigest(launch({ svsm: svsm.subarray(1) })),
    (e: Error) => e instanceof MeasureError && /^SVSM image: /.test(e.message),
  );
});

Deno.test("parseOvmf: an image mapped below 4 GiB; the end must be page-aligned and above it", () => {
  const image = new Uint8Array(8192);
  assert.equal(parseOvmf(image, 0x100000).gpa, 0x100000 - 8192);
  assert.equal(errorCode(() => parseOvmf(image, 0x100001)), "ovmf-malformed");
  assert.equal(errorCode(() => parseOvmf(image, 4096)), "ovmf-malformed");
  assert.equal(errorCode(() => parseOvmf(image, FOUR_GIB + 4096)), "ovmf-malformed");
});

Deno.test("parseMode: sev-snp-measure's spellings of snp:svsm", () => {
  for (const text of ["snp:svsm", "SNP:SVSM", "SnP:sVsM", "sev-SnP:sVsM"]) {
    assert.equal(parseMode(text), "snp:svsm");
  }
});
