/**
 * Emulated secure processors for tests, kept in `.cache/test-emulated-sp/<name>` so the RSA-4096
 * keys are generated once per checkout (seconds) and loaded afterwards (milliseconds).
 */
import { fileURLToPath } from "node:url";
import { type CreateOptions, EmulatedSecureProcessor } from "../../attestation/emulated.ts";

const ROOT = fileURLToPath(new URL("../../.cache/test-emulated-sp/", import.meta.url));
const open = new Map<string, Promise<EmulatedSecureProcessor>>();

export function emulatedSp(
  name: string,
  options: CreateOptions = {},
): Promise<EmulatedSecureProcessor> {
  let sp = open.get(name);
  if (!sp) {
    sp = EmulatedSecureProcessor.open(`${ROOT}${name}`, options);
    open.set(name, sp);
  }
  return sp;
}

export const MEASUREMENT = new Uint8Array(48).fill(0x4d);
