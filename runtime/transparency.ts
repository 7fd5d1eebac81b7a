/**
 * The transparency-log proof a runtime serves in its evidence bundle: the log
 * (services/transparency) says where its image measurement was published; the client checks the
 * proof under the log key it pins, so a runtime can only pass along what the log signed.
 */
import { logProofFromJson } from "../protocol/logclient.ts";
import { toHex, utf8 } from "../protocol/bytes.ts";
import type { TransparencyProof } from "../protocol/evidence.ts";
import { MEASUREMENT_NAME } from "../protocol/logentry.ts";

export async function fetchLogProof(
  log: string,
  platform: keyof typeof MEASUREMENT_NAME,
  measurement: Uint8Array,
  fetcher: typeof fetch = fetch,
): Promise<TransparencyProof> {
  const url = new URL("proof", log.endsWith("/") ? log : `${log}/`);
  url.searchParams.set("measurement", `${MEASUREMENT_NAME[platform]}:${toHex(measurement)}`);
  const res = await fetcher(url);
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`${url.origin} answered ${res.status}: ${text.trim().slice(0, 200)}`);
  }
  const proof = logProofFromJson(JSON.parse(text));
  return {
    checkpoint: utf8(proof.checkpoint),
    leafIndex: proof.index,
    inclusionProof: proof.proof,
    entry: proof.entry,
  };
}
