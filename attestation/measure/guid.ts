/**
 * EFI GUIDs (UEFI 2.10 Appendix A, EFI_GUID): the canonical string
 * `aabbccdd-eeff-gghh-iijj-kkllmmnnoopp` is stored with its first three groups little-endian and
 * the last two as written, which is how firmware tables and the SEV hashes table lay them out.
 */
import { fromHex, toHex } from "../../protocol/bytes.ts";

const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The 16 stored bytes of a canonical GUID string. */
export function guidBytes(guid: string): Uint8Array {
  const g = guid.toLowerCase();
  if (!CANONICAL.test(g)) throw new TypeError(`not a canonical GUID: "${guid}"`);
  const [a, b, c, d, e] = g.split("-").map(fromHex);
  return Uint8Array.from([...a.reverse(), ...b.reverse(), ...c.reverse(), ...d, ...e]);
}

/** The canonical string of 16 stored GUID bytes. */
export function guidString(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new TypeError(`a GUID is 16 bytes, got ${bytes.length}`);
  const le = (from: number, to: number) => toHex(bytes.slice(from, to).reverse());
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${toHex(bytes.slice(8, 10))}-${
    toHex(bytes.slice(10, 16))
  }`;
}
