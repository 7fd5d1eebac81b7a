/**
 * What a node says about itself, fetched through the route the fleet gives (the relay, or
 * directly): its evidence bundle (`application/cbor`, protocol/evidence.ts), optionally bound to
 * a fresh client nonce, and the key configurations it advertises (`application/ohttp-keys`,
 * RFC 9458 §3.2). Nothing here is trusted: verify.ts decides.
 *
 * A fresh nonce (32 random bytes) makes the node produce a new report for this client, so a
 * recorded bundle cannot be replayed; without one the node's epoch bundle is used, whose
 * freshness is its key epoch.
 */
import { MEDIA_TYPE_KEYS } from "../protocol/ohttp.ts";
import { blameNode, type Node } from "./fleet.ts";
import { exchange, expectOk, type Fetch } from "./http.ts";

export const MEDIA_TYPE_EVIDENCE = "application/cbor";
export const NONCE_LENGTH = 32;

export interface Fetched {
  bundle: Uint8Array;
  /** The `application/ohttp-keys` list the node advertises. */
  advertised: Uint8Array;
  /** The nonce the bundle must be bound to, when one was asked for. */
  nonce?: Uint8Array;
}

/** Fetches a node's bundle (with a fresh nonce from `random` when given) and advertised keys. */
export async function fetchEvidence(
  node: Node,
  fetch: Fetch,
  random?: (bytes: Uint8Array) => Uint8Array,
): Promise<Fetched> {
  const nonce = random?.(new Uint8Array(NONCE_LENGTH));
  const evidence = blameNode(node, "fetching evidence");
  const keys = blameNode(node, "fetching the OHTTP keys");
  const [bundle, advertised] = await Promise.all([
    exchange(fetch, node.evidenceUrl(nonce), {}, evidence).then((a) =>
      expectOk(a, MEDIA_TYPE_EVIDENCE, evidence)
    ),
    exchange(fetch, node.keysUrl, {}, keys, 64 * 1024).then((a) =>
      expectOk(a, MEDIA_TYPE_KEYS, keys)
    ),
  ]);
  return { bundle, advertised, ...(nonce ? { nonce } : {}) };
}
