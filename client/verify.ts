/**
 * Should this node get the request? Every check the client makes of one node before it sends a
 * byte to it (DESIGN.md "Key binding and evidence", "Verifiable transparency"):
 *
 * 1. the evidence bundle decodes (protocol/evidence.ts);
 * 2. attestation/verify.ts `verifyBundle`: report signature, certificate chain to the platform's
 *    production roots — or to the emulated secure processor's root, only when the caller passes
 *    it — TCB, the policy (debug, measurement allow-list, …), the key binding (REPORT_DATA =
 *    SHA-512 of the claims) and the key epoch;
 * 3. freshness: a bundle asked for with a nonce must be bound to that nonce;
 * 4. the key: the KeyConfig the client will encrypt to is the one in the attested claims, never
 *    one fetched separately; the node's advertised `ohttp-keys` must include it byte for byte
 *    (a node advertising another key is refused: something between the hardware and the client
 *    disagrees with the evidence);
 * 5. the log (log.ts): the measurement is in the transparency log under a checkpoint signed by
 *    the pinned key and consistent with the last one seen — or, with no log pinned, the policy's
 *    measurement allow-list already pinned it in step 2.
 *
 * Each check is a trail step; the first failure is recorded and thrown as a `ClientError`.
 */
import { AttestationError, type Reason } from "../attestation/errors.ts";
import type { Policy } from "../attestation/policy.ts";
import { productionRoots, type VerifiedBundle, verifyBundle } from "../attestation/verify.ts";
import type { Certificate } from "../attestation/x509.ts";
import { equalBytes, toHex } from "../protocol/bytes.ts";
import {
  decodeEvidenceBundle,
  type EvidenceBundle,
  EvidenceError,
  type Platform,
} from "../protocol/evidence.ts";
import {
  decodeKeyConfig,
  decodeKeyConfigs,
  encodeKeyConfig,
  type KeyConfig,
} from "../protocol/ohttp.ts";
import { ClientError, fromAttestation } from "./errors.ts";
import type { Fetched } from "./evidence.ts";
import type { Node } from "./fleet.ts";
import type { LogCheck, Logged } from "./log.ts";
import type { Trail } from "./trail.ts";

export interface NodeCheckOptions {
  policy: Policy;
  /** Trusted besides the production roots: only ever when the caller names it. */
  emulatedRoot?: Certificate;
  now: Date;
  /** The pinned log; absent only when the policy pins the measurement. */
  log?: LogCheck;
}

/** A node that passed every check, with the one key a request to it may be encrypted to. */
export interface VerifiedNode {
  node: Node;
  platform: Platform;
  /** The attested KeyConfig (from the verified claims). */
  keyConfig: KeyConfig;
  measurement: Uint8Array;
  /** The evidence chains to the emulated secure processor, not to hardware. */
  emulated: boolean;
  /** Unix seconds: the attested key is not valid from then on. */
  epochEnd: number;
  /** Where the measurement is logged; absent when no log is pinned. */
  logged?: Logged;
}

/** Trail names for attestation/verify.ts's steps (`bundle` is said by step 1 already). */
const STEP: Record<string, string> = {
  parse: "report",
  "certificate chain": "chain",
  "report signature": "report signature",
  "quote signature": "report signature",
  "reserved fields": "report fields",
  "key matches report": "TCB",
  "minimum TCB": "TCB",
  collateral: "TCB",
  debug: "debug",
  policy: "policy",
  report_data: "binding",
  "key binding": "binding",
  "key epoch": "key epoch",
};

/** The step a refusal of each attestation reason fails. */
const FAILED: Record<Reason, string> = {
  malformed: "report",
  unsupported: "report",
  chain: "chain",
  expired: "chain",
  revoked: "chain",
  signature: "report signature",
  "key-mismatch": "endorsement key",
  collateral: "TCB",
  tcb: "TCB",
  debug: "debug",
  policy: "policy",
  binding: "binding",
};

const ROOT_OWNER: Record<Platform, string> = { "sev-snp": "AMD", tdx: "Intel" };

export async function verifyNode(
  node: Node,
  fetched: Fetched,
  o: NodeCheckOptions,
  trail: Trail,
): Promise<VerifiedNode> {
  const fail = (step: string, e: ClientError) => trail.fail(step, e);
  const refuse = (step: string, code: ClientError["code"], detail: string) =>
    fail(step, new ClientError(code, detail, node.name));

  // 1. The bundle.
  let bundle: EvidenceBundle;
  try {
    bundle = decodeEvidenceBundle(fetched.bundle);
  } catch (e) {
    if (!(e instanceof EvidenceError)) throw e;
    throw refuse("evidence", "malformed", e.message);
  }
  trail.ok(
    "evidence",
    `${bundle.platform} bundle of ${fetched.bundle.length} bytes, ${
      node.relayed ? "through the relay" : "fetched directly"
    }${fetched.nonce ? ", asked for with a fresh nonce" : ""}`,
    node.name,
  );

  // 2. Attestation.
  let verified: VerifiedBundle;
  try {
    verified = await verifyBundle(bundle, o.policy, {
      now: o.now,
      roots: [...productionRoots(bundle.platform), ...(o.emulatedRoot ? [o.emulatedRoot] : [])],
      onStep: (check, detail) => {
        const step = STEP[check];
        if (step === "chain") {
          const emulated = /EMULATED root/.test(detail);
          trail.ok(
            `chain to the ${emulated ? "EMULATED" : ROOT_OWNER[bundle.platform]} root`,
            detail,
            node.name,
          );
        } else if (step) trail.ok(step, detail, node.name);
      },
    });
  } catch (e) {
    if (!(e instanceof AttestationError)) throw e;
    const step = e.reason === "expired" && e.field === "claims.epoch"
      ? "key epoch"
      : FAILED[e.reason];
    throw fail(step, fromAttestation(e, node.name));
  }

  // 3. Freshness.
  if (fetched.nonce) {
    const bound = verified.claims.nonce;
    if (!bound || !equalBytes(bound, fetched.nonce)) {
      throw refuse(
        "freshness",
        "stale-evidence",
        bound
          ? `the report is bound to nonce ${toHex(bound)}, not to the one asked (${
            toHex(fetched.nonce)
          })`
          : "a fresh report was asked for and the bundle carries no nonce",
      );
    }
    trail.ok("freshness", "the report is bound to this client's fresh nonce", node.name);
  }

  // 4. The attested key.
  let keyConfig: KeyConfig;
  try {
    keyConfig = decodeKeyConfig(verified.claims.keyConfig);
  } catch (e) {
    throw refuse("attested key", "malformed", `the attested KeyConfig: ${(e as Error).message}`);
  }
  let advertised: KeyConfig[];
  try {
    advertised = decodeKeyConfigs(fetched.advertised);
  } catch (e) {
    throw refuse(
      "attested key",
      "unattested-key",
      `the advertised ohttp-keys: ${(e as Error).message}`,
    );
  }
  if (!advertised.some((c) => equalBytes(encodeKeyConfig(c), verified.claims.keyConfig))) {
    throw refuse(
      "attested key",
      "unattested-key",
      `the node advertises ${
        advertised.length
          ? `key id ${advertised.map((c) => c.keyId).join(", ")} with other key material`
          : "no usable key"
      }, not the attested key (id ${keyConfig.keyId}); only the attested key is ever used`,
    );
  }
  trail.ok(
    "attested key",
    `key id ${keyConfig.keyId}, bound in REPORT_DATA and advertised by the node`,
    node.name,
  );

  // 5. The log.
  const measurement = verified.measurement;
  let logged: Logged | undefined;
  if (o.log) {
    try {
      logged = await o.log.check(verified, node.name);
    } catch (e) {
      if (e instanceof ClientError) throw fail("logged", e);
      throw e;
    }
    trail.ok(
      `logged at index ${logged.index}`,
      `${toHex(measurement).slice(0, 16)}… in ${logged.origin} (checkpoint size ${logged.size}, ` +
        `signed by the pinned key, consistent with the last one seen)`,
      node.name,
    );
  } else {
    trail.ok(
      "measurement pinned",
      "by the policy's allow-list (no log key given: the transparency log is not checked)",
      node.name,
    );
  }
  return {
    node,
    platform: verified.platform,
    keyConfig,
    measurement,
    emulated: verified.emulated,
    epochEnd: verified.claims.epochEnd,
    ...(logged ? { logged } : {}),
  };
}
