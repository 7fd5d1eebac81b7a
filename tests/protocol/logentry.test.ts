import assert from "node:assert/strict";
import {
  decodeReleaseEntry,
  encodeReleaseEntry,
  hasMeasurement,
  type ReleaseEntry,
} from "../../protocol/logentry.ts";
import { utf8 } from "../../protocol/bytes.ts";

const entry = {
  measurements: { "tdx.mrtd": "bb".repeat(48), snp: "aa".repeat(48) },
  imageDigest: "01".repeat(32),
  sourceCommit: "02".repeat(20),
  recipeDigest: "03".repeat(32),
};

Deno.test("release entries: one canonical encoding, sorted measurement names", () => {
  const bytes = encodeReleaseEntry(entry);
  assert.match(
    new TextDecoder().decode(bytes),
    /^\{"measurements":\{"snp":"a+","tdx\.mrtd":"b+"\},"imageDigest"/,
  );
  assert.deepEqual(decodeReleaseEntry(bytes), {
    ...entry,
    measurements: { snp: entry.measurements.snp, "tdx.mrtd": entry.measurements["tdx.mrtd"] },
  });
  assert.equal(hasMeasurement(entry, "snp", "AA".repeat(48)), true);
  assert.equal(hasMeasurement(entry, "toString", "aa"), false);
});

Deno.test("release entries: non-canonical or invalid bytes are refused", () => {
  const spaced = utf8(JSON.stringify(entry, null, 1));
  assert.throws(() => decodeReleaseEntry(spaced), { code: "non-canonical" });
  for (
    const bad of <ReleaseEntry[]> [
      { ...entry, imageDigest: "AB".repeat(32) },
      { ...entry, sourceCommit: "02".repeat(19) },
      { ...entry, measurements: {} },
      { ...entry, measurements: { "Bad Name": "aa" } },
      // A field the canonical encoding would drop: refused, not silently logged without it.
      { ...entry, note: "released by Ann" } as ReleaseEntry,
    ]
  ) assert.throws(() => encodeReleaseEntry(bad), { code: "bad-entry" });
  assert.throws(() => decodeReleaseEntry(utf8('{"a":1}')), { code: "bad-entry" });
  assert.throws(() => decodeReleaseEntry(Uint8Array.of(0xff)), { code: "bad-entry" });
});
