import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseOvmf } from "../../../attestation/measure/ovmf.ts";
import {
  mrtd,
  parseTdvf,
  rtmrReplay,
  TDX_METADATA_GUID,
} from "../../../attestation/measure/tdx.ts";
import { MeasureError } from "../../../attestation/measure/errors.ts";
import { vectorPath } from "../../vectors.ts";
import { firmwareImage, u32 } from "./firmware.ts";

Deno.test("parseTdvf reads the TDVF descriptors of the edk2-stable202405 OVMF fixtures", () => {
  for (const file of ["ovmf_AmdSev_suffix.bin", "ovmf_OvmfX64_suffix.bin"]) {
    const sections = parseTdvf(parseOvmf(Deno.readFileSync(vectorPath(`measurement/${file}`))));
    assert.equal(sections.length, 6, file);
    assert.deepEqual(sections[0], {
      dataOffset: 0x84000,
      rawSize: 0x37c000,
      memoryAddress: 0xffc84000n,
      memorySize: 0x37c000n,
      type: 0,
      attributes: 1,
    }, `${file}: BFV, measured with MR.EXTEND`);
    assert.deepEqual(sections.map((s) => s.type), [0, 1, 3, 3, 2, 3]);
    assert.deepEqual(sections.slice(1).map((s) => s.attributes), [0, 0, 0, 0, 0]);
  }
});

/** A 16 KiB "TDVF": BFV 8 KiB (measured), CFV 4 KiB, TD_HOB 4 KiB, PermMem (PAGE.AUG). */
function tdvfImage(): Uint8Array {
  const size = 0x4000;
  const desc = new Uint8Array(16 + 32 * 4);
  const v = new DataView(desc.buffer);
  desc.set(new TextEncoder().encode("TDVF"));
  v.setUint32(4, desc.length, true);
  v.setUint32(8, 1, true);
  v.setUint32(12, 4, true);
  const section = (
    i: number,
    off: number,
    raw: number,
    gpa: bigint,
    mem: bigint,
    type: number,
    attr: number,
  ) => {
    const at = 16 + 32 * i;
    v.setUint32(at, off, true);
    v.setUint32(at + 4, raw, true);
    v.setBigUint64(at + 8, gpa, true);
    v.setBigUint64(at + 16, mem, true);
    v.setUint32(at + 24, type, true);
    v.setUint32(at + 28, attr, true);
  };
  section(0, 0x1000, 0x1800, 0xffffd000n, 0x2000n, 0, 1); // raw shorter than memory: zero tail
  section(1, 0, 0x1000, 0xffffc000n, 0x1000n, 1, 0);
  section(2, 0, 0, 0x800000n, 0x1000n, 2, 0);
  section(3, 0, 0, 0x1000000n, 0x10000n, 4, 2);
  const image = firmwareImage(size, [{ guid: TDX_METADATA_GUID, data: u32(0x400) }], [
    { fromEnd: 0x400, bytes: desc },
  ]);
  for (let i = 0x1000; i < 0x2800; i++) image[i] = (i * 7) & 0xff; // the BFV's raw bytes
  return image;
}

/** The TDX module's records, written out independently of tdx.ts. */
function expectedMrtd(image: Uint8Array, order: "per-page" | "two-pass"): string {
  const h = createHash("sha384");
  const rec = (label: string, gpa: number) => {
    const r = Buffer.alloc(128);
    r.write(label, 0, "latin1");
    r.writeBigUInt64LE(BigInt(gpa), 16);
    return r;
  };
  const bfv = Buffer.alloc(0x2000);
  Buffer.from(image.subarray(0x1000, 0x2800)).copy(bfv);
  const extendPage = (base: number, off: number) => {
    for (let c = 0; c < 4096; c += 256) {
      h.update(rec("MR.EXTEND", base + off + c));
      h.update(bfv.subarray(off + c, off + c + 256));
    }
  };
  h.update(rec("MEM.PAGE.ADD", 0xffffd000));
  if (order === "per-page") extendPage(0xffffd000, 0);
  h.update(rec("MEM.PAGE.ADD", 0xffffe000));
  if (order === "per-page") extendPage(0xffffd000, 0x1000);
  h.update(rec("MEM.PAGE.ADD", 0xffffc000));
  h.update(rec("MEM.PAGE.ADD", 0x800000));
  if (order === "two-pass") {
    extendPage(0xffffd000, 0);
    extendPage(0xffffd000, 0x1000);
  }
  return h.digest("hex");
}

Deno.test("mrtd: MEM.PAGE.ADD and MR.EXTEND records in per-page and two-pass order; PAGE.AUG skipped", () => {
  const image = tdvfImage();
  const ovmf = parseOvmf(image);
  for (const order of ["per-page", "two-pass"] as const) {
    assert.equal(Buffer.from(mrtd(ovmf, order)).toString("hex"), expectedMrtd(image, order), order);
  }
  assert.notDeepEqual(mrtd(ovmf, "per-page"), mrtd(ovmf, "two-pass"));
  const changed = image.slice();
  changed[0x2000] ^= 1; // a byte of the measured BFV
  assert.notDeepEqual(mrtd(parseOvmf(changed)), mrtd(ovmf));
});

Deno.test("parseTdvf refuses a descriptor with a bad signature, naming the offset", () => {
  const image = tdvfImage();
  image[image.length - 0x400] = 0x58; // "XDVF"
  assert.throws(
    () => parseTdvf(parseOvmf(image)),
    (e) =>
      e instanceof MeasureError && e.code === "ovmf-malformed" &&
      /offset 15360.*XDVF/.test(e.message),
  );
});

Deno.test("parseTdvf refuses unknown types, overlapping and oversized sections", () => {
  const edited = (i: number, field: number, value: bigint | number) => {
    const image = tdvfImage();
    const v = new DataView(image.buffer, image.length - 0x400 + 16 + 32 * i);
    if (typeof value === "bigint") v.setBigUint64(field, value, true);
    else v.setUint32(field, value, true);
    return () => parseTdvf(parseOvmf(image));
  };
  assert.equal(parseTdvf(parseOvmf(tdvfImage())).length, 4);
  const refused = (f: () => unknown, pattern: RegExp) =>
    assert.throws(
      f,
      (e) => e instanceof MeasureError && e.code === "ovmf-malformed" && pattern.test(e.message),
    );
  refused(edited(1, 24, 99), /section 1 has unknown type 99/);
  refused(edited(1, 8, 0xffffd000n), /sections 0 and 1 overlap/);
  // 2^50 bytes: 2.7e11 pages to measure, which ran for hours.
  refused(edited(3, 16, 1n << 50n), /section 3 of 1125899906842624 bytes .* too large/);
});

Deno.test("rtmrReplay folds SHA-384(RTMR || digest) from zero", () => {
  const d1 = new Uint8Array(48).fill(1);
  const d2 = new Uint8Array(48).fill(2);
  const step = (r: Uint8Array, d: Uint8Array) =>
    new Uint8Array(createHash("sha384").update(r).update(d).digest());
  assert.deepEqual(rtmrReplay([d1, d2]), step(step(new Uint8Array(48), d1), d2));
  assert.deepEqual(rtmrReplay([]), new Uint8Array(48));
  assert.throws(() => rtmrReplay([new Uint8Array(32)]), MeasureError);
});

Deno.test("mrtd refuses a firmware suffix whose sections point outside it", () => {
  const suffix = parseOvmf(Deno.readFileSync(vectorPath("measurement/ovmf_AmdSev_suffix.bin")));
  assert.throws(() => mrtd(suffix), /give the whole firmware file/);
});
