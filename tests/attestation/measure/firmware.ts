/** Helpers for the measurement tests: small OVMF-like images with a GUIDed footer table, and
 * the error code a measurement call fails with. */
import assert from "node:assert/strict";
import { MeasureError } from "../../../attestation/measure/errors.ts";
import { guidBytes } from "../../../attestation/measure/guid.ts";

const FOOTER = "96b582de-1fb2-45f7-baea-a366c55a082d";

/**
 * An image of `size` bytes whose footer table holds `entries` (first = closest to the footer),
 * with `blobs` placed at offsets from the end of the image.
 */
export function firmwareImage(
  size: number,
  entries: { guid: string; data: Uint8Array }[],
  blobs: { fromEnd: number; bytes: Uint8Array }[] = [],
): Uint8Array {
  const image = new Uint8Array(size);
  for (const b of blobs) image.set(b.bytes, size - b.fromEnd);
  let end = size - 32 - 18; // the footer entry's header starts here
  const footerAt = end;
  for (const e of entries) {
    const entrySize = e.data.length + 18;
    const at = end - entrySize;
    image.set(e.data, at);
    new DataView(image.buffer).setUint16(at + e.data.length, entrySize, true);
    image.set(guidBytes(e.guid), at + e.data.length + 2);
    end = at;
  }
  new DataView(image.buffer).setUint16(footerAt, footerAt - end + 18, true);
  image.set(guidBytes(FOOTER), footerAt + 2);
  return image;
}

export function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** The `MeasureError` code `fn` throws, or "accepted" when it returns. */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof MeasureError, String(e));
    return e.code;
  }
  return "accepted";
}
