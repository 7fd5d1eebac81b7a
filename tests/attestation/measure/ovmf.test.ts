import assert from "node:assert/strict";
import { GUIDS, parseOvmf, sevEsResetEip } from "../../../attestation/measure/ovmf.ts";
import { guidBytes, guidString } from "../../../attestation/measure/guid.ts";
import { launchDigest } from "../../../attestation/measure/launch.ts";
import { sevHashesOf } from "../../../attestation/measure/sev-hashes.ts";
import { errorCode, firmwareImage, u32 } from "./firmware.ts";

Deno.test("guid: canonical string <-> mixed-endian bytes", () => {
  const g = "96b582de-1fb2-45f7-baea-a366c55a082d";
  assert.equal(Buffer.from(guidBytes(g)).toString("hex"), "de82b596b21ff745baeaa366c55a082d");
  assert.equal(guidString(guidBytes(g)), g);
  assert.throws(() => guidBytes("not-a-guid"), TypeError);
});

Deno.test("parseOvmf: an image without a footer table has no entries; sizes must be whole pages", () => {
  const plain = parseOvmf(new Uint8Array(8192));
  assert.equal(plain.table.size, 0);
  assert.equal(plain.gpa, 0x1_0000_0000 - 8192);
  assert.equal(errorCode(() => parseOvmf(new Uint8Array(5000))), "ovmf-malformed");
  assert.equal(errorCode(() => sevEsResetEip(plain)), "ovmf-missing-entry");
});

Deno.test("parseOvmf: SEV metadata with a bad signature or version is refused with its offset", () => {
  const meta = new Uint8Array(16 + 12);
  meta.set(new TextEncoder().encode("ASEV"));
  new DataView(meta.buffer).setUint32(4, meta.length, true);
  new DataView(meta.buffer).setUint32(8, 1, true);
  new DataView(meta.buffer).setUint32(12, 1, true);
  new DataView(meta.buffer).setUint32(16 + 4, 0x1000, true);
  new DataView(meta.buffer).setUint32(16 + 8, 0x10, true); // one KERNEL_HASHES page at GPA 0
  const image = (m: Uint8Array) =>
    firmwareImage(4096, [{ guid: GUIDS.sevMetadata, data: u32(0x200) }], [{
      fromEnd: 0x200,
      bytes: m,
    }]);
  assert.equal(parseOvmf(image(meta)).sections.length, 1);
  const badSig = meta.slice();
  badSig[0] = 0x42;
  assert.throws(() => parseOvmf(image(badSig)), /offset 3584 has signature "BSEV"/);
  const badVersion = meta.slice();
  badVersion[8] = 2;
  assert.equal(errorCode(() => parseOvmf(image(badVersion))), "ovmf-malformed");
  // Sections are whole pages below 4 GiB, none over another.
  const sections = (...list: [number, number][]) => {
    const m = new Uint8Array(16 + 12 * list.length);
    const v = new DataView(m.buffer);
    m.set(new TextEncoder().encode("ASEV"));
    v.setUint32(4, m.length, true);
    v.setUint32(8, 1, true);
    v.setUint32(12, list.length, true);
    list.forEach(([gpa, size], i) => {
      v.setUint32(16 + 12 * i, gpa, true);
      v.setUint32(16 + 12 * i + 4, size, true);
      v.setUint32(16 + 12 * i + 8, 1, true);
    });
    return image(m);
  };
  assert.equal(parseOvmf(sections([0x800000, 0x9000], [0x809000, 0x1000])).sections.length, 2);
  for (
    const [what, bad] of [
      ["overlap", sections([0x800000, 0x9000], [0x808000, 0x1000])],
      ["unaligned", sections([0x800001, 0x1000])],
      ["part of a page", sections([0x800000, 0x900])],
      ["empty", sections([0x800000, 0])],
      ["past 4 GiB", sections([0xfffff000, 0x2000])],
    ] as const
  ) assert.match(errorCode(() => parseOvmf(bad)), /^ovmf-malformed$/, what);
});

Deno.test("launchDigest: a changed initrd or cmdline changes the SNP measurement", () => {
  const ovmf = Deno.readFileSync(
    new URL(
      "../../../enclave-image/firmware/ovmf-amdsev-edk2-stable202405-last4k.bin",
      import.meta.url,
    ),
  );
  const kernel = new Uint8Array(100).fill(7);
  const digest = (initrd: Uint8Array, cmdline: string) =>
    Buffer.from(launchDigest({
      mode: "snp",
      ovmf,
      vcpus: 2,
      vcpuType: "EPYC-Milan",
      kernel: sevHashesOf(kernel, initrd, cmdline),
    })).toString("hex");
  const base = digest(new Uint8Array(10), "console=ttyS0");
  const tampered = new Uint8Array(10);
  tampered[3] = 1;
  assert.notEqual(digest(tampered, "console=ttyS0"), base);
  assert.notEqual(digest(new Uint8Array(10), "console=ttyS0 "), base);
  assert.equal(digest(new Uint8Array(10), "console=ttyS0"), base);
  assert.equal(
    errorCode(() =>
      launchDigest({ mode: "snp", ovmf, kernel: sevHashesOf(kernel, undefined, undefined) })
    ),
    "vcpu",
  );
});

Deno.test("launchDigest: parameters that would wrap into another launch's fields are refused", () => {
  const ovmf = Deno.readFileSync(
    new URL(
      "../../../enclave-image/firmware/ovmf-amdsev-edk2-stable202405-last4k.bin",
      import.meta.url,
    ),
  );
  const kernel = sevHashesOf(new Uint8Array(100).fill(7), new Uint8Array(10), "console=ttyS0");
  const base = { mode: "snp" as const, ovmf, vcpus: 1, vcpuType: "EPYC-v4", kernel };
  const cases: [Record<string, unknown>, string][] = [
    [{ vcpuType: "constructor" }, "vcpu"], // an Object.prototype name, not a CPU model
    [{ vcpuType: undefined, vcpuSig: 2 ** 32 + 0x800f12 }, "vcpu"],
    [{ vcpuType: undefined, vcpuSig: -1 }, "vcpu"],
    [{ vcpus: 2 ** 32 }, "vcpu"],
    [{ vmm: "kvm" }, "vcpu"],
    [{ guestFeatures: (1n << 64n) + 1n }, "usage"], // setBigUint64 would have written 0x1
    [{ guestFeatures: 0n }, "usage"], // SNP active (bit 0) clear
    [{ guestFeatures: -1n }, "usage"],
  ];
  for (const [change, code] of cases) {
    assert.equal(
      errorCode(() => launchDigest({ ...base, ...change } as Parameters<typeof launchDigest>[0])),
      code,
      JSON.stringify(change, (_, v) => typeof v === "bigint" ? `${v}n` : v),
    );
  }
  // The kernel hashes table must lie in the SNP_KERNEL_HASHES page the launch measures.
  const parsed = parseOvmf(ovmf);
  const table = new Map(parsed.table);
  table.set(GUIDS.sevHashTableRv, u32(0x900c00));
  assert.equal(
    errorCode(() => launchDigest({ ...base, ovmf: { ...parsed, table } })),
    "no-kernel-hashes",
  );
  assert.equal(errorCode(() => launchDigest({ ...base, ovmf: parsed })), "accepted");
  // QEMU hashes a command line up to its first NUL: one with a NUL inside cannot be measured.
  assert.equal(errorCode(() => sevHashesOf(new Uint8Array(1), undefined, "a\0b")), "usage");
  assert.equal(errorCode(() => sevHashesOf(new Uint8Array(1), undefined, "a\ud800")), "usage");
});
