/**
 * The device side of one private request (DESIGN.md "The parties and the path of one request"),
 * step by step, each step a module of client/ and a line of the trail:
 *
 *   fleet (fleet.ts) → evidence of every node (evidence.ts) → verification of each, one at a time
 *   (verify.ts, log.ts) → a node chosen uniformly among those that verified (choose.ts) → a token
 *   (tokens.ts) → encapsulate, send, decapsulate (request.ts)
 *
 *   const client = new CloisterClient({ relay, policy, log: { vkey, url }, wallet, storage });
 *   const { summary, trail } = await client.summarize({ messages: [{ from, text }, …] });
 *
 * Side effects are injected: `fetch`, `now`, `random` (node choice and nonces) and `storage` (the
 * last checkpoint seen and, through the wallet, unused tokens; default in memory, so nothing
 * persists). A refusal is a `ClientError` whose `trail` holds every step up to it.
 *
 * Defaults refuse rather than trust: only the platform's production roots are trusted (the
 * emulated root only when given as `emulatedRoot`), and a client with neither a pinned log key
 * nor a measurement allow-list in its policy cannot be built, since nothing would tie the nodes'
 * image to a published release.
 */
import { defaultPolicy, type Policy } from "../attestation/policy.ts";
import type { Certificate } from "../attestation/x509.ts";
import { chooseUniformly, cryptoRandom, type RandomSource } from "./choose.ts";
import { ClientError, ClientInputError } from "./errors.ts";
import { fetchEvidence } from "./evidence.ts";
import { baseUrl, directFleet, type Node, relayFleet } from "./fleet.ts";
import type { Fetch } from "./http.ts";
import { LogCheck } from "./log.ts";
import { type Answered, sendSummarize, type SummarizeBody } from "./request.ts";
import { memoryStorage, type Storage } from "./storage.ts";
import type { TokenWallet } from "./tokens.ts";
import { Trail, type TrailStep } from "./trail.ts";
import { type VerifiedNode, verifyNode } from "./verify.ts";

export interface ClientOptions {
  /** The OHTTP relay's base URL; without one the client talks to the nodes directly. */
  relay?: string | URL;
  /** With a relay: names of its gateways (default all it lists). Without: runtime base URLs. */
  gateways?: string[];
  /** What the evidence must satisfy (attestation/policy.ts); default `defaultPolicy()`. */
  policy?: Policy;
  /** The emulated secure processor's root, trusted besides the production roots. */
  emulatedRoot?: Certificate;
  /** The transparency log: its pinned verifier key, and its URL (tiles, missing proofs). */
  log?: { vkey: string; url?: string };
  /** Where tokens come from; without one, requests carry no token. */
  wallet?: TokenWallet;
  /** Ask each node for evidence bound to a fresh nonce. */
  freshEvidence?: boolean;
  fetch?: Fetch;
  now?: () => Date;
  random?: RandomSource;
  storage?: Storage;
  /** Sees each trail step as it happens. */
  onStep?: (step: TrailStep) => void;
}

export interface FleetCheck {
  nodes: Node[];
  verified: VerifiedNode[];
  refused: ClientError[];
}

export interface Summarized extends Answered {
  /** The node that answered. */
  node: VerifiedNode;
  trail: TrailStep[];
}

export class CloisterClient {
  readonly relay?: URL;
  readonly #o: ClientOptions;
  readonly #policy: Policy;
  readonly #fetch: Fetch;
  readonly #now: () => Date;
  readonly #random: RandomSource;
  readonly #storage: Storage;

  constructor(o: ClientOptions) {
    if (o.relay !== undefined) this.relay = baseUrl(o.relay, "relay");
    if (!this.relay && !o.gateways?.length) {
      throw new ClientInputError("give a relay, or the gateways to talk to directly");
    }
    this.#policy = o.policy ?? defaultPolicy();
    if (!o.log && !this.#policy.measurement && !this.#policy.mrtd) {
      throw new ClientInputError(
        "nothing ties the nodes' image to a release: pin the transparency log's key, " +
          "or a measurement allow-list in the policy",
      );
    }
    this.#o = o;
    this.#fetch = o.fetch ?? ((input, init) => fetch(input, init));
    this.#now = o.now ?? (() => new Date());
    this.#random = o.random ?? cryptoRandom;
    this.#storage = o.storage ?? memoryStorage();
  }

  /** Lists the fleet, fetches every node's evidence and verifies each; refusals are kept. */
  async verifyFleet(trail = new Trail(this.#o.onStep)): Promise<FleetCheck> {
    let nodes: Node[];
    try {
      nodes = this.relay
        ? await relayFleet(this.relay, this.#fetch, this.#o.gateways)
        : directFleet(this.#o.gateways!);
    } catch (e) {
      if (e instanceof ClientError) throw trail.fail("fleet", e);
      throw e;
    }
    trail.ok(
      "fleet",
      `${nodes.length} node${nodes.length === 1 ? "" : "s"}: ${
        nodes.map((n) => n.name).join(", ")
      }`,
    );
    const log = this.#o.log &&
      await LogCheck.open({ ...this.#o.log, fetch: this.#fetch, storage: this.#storage });
    const random = this.#o.freshEvidence ? this.#random : undefined;
    const fetched = await Promise.allSettled(
      nodes.map((n) => fetchEvidence(n, this.#fetch, random)),
    );
    const verified: VerifiedNode[] = [];
    const refused: ClientError[] = [];
    for (const [i, node] of nodes.entries()) {
      const f = fetched[i];
      try {
        if (f.status === "rejected") {
          if (f.reason instanceof ClientError) throw trail.fail("evidence", f.reason);
          throw f.reason;
        }
        verified.push(
          await verifyNode(node, f.value, {
            policy: this.#policy,
            ...(this.#o.emulatedRoot ? { emulatedRoot: this.#o.emulatedRoot } : {}),
            now: this.#now(),
            ...(log ? { log } : {}),
          }, trail),
        );
      } catch (e) {
        if (!(e instanceof ClientError)) throw e;
        refused.push(e);
      }
    }
    await log?.save();
    return { nodes, verified, refused };
  }

  /** A node uniformly at random among `verified` (never the operator's choice). */
  choose(verified: readonly VerifiedNode[]): VerifiedNode {
    return chooseUniformly(verified, this.#random);
  }

  /** The whole path: verify the fleet, choose, pay, send; the summary and the trail. */
  async summarize(body: SummarizeBody): Promise<Summarized> {
    const trail = new Trail(this.#o.onStep);
    try {
      trail.ok(
        "route",
        this.relay
          ? `through the relay ${this.relay.origin}: the nodes see the relay's address, not yours`
          : "direct to the nodes, no relay: your address is NOT hidden from them",
      );
      const fleet = await this.verifyFleet(trail);
      if (fleet.verified.length === 0) {
        throw trail.fail(
          "node chosen",
          new ClientError(
            "no-node",
            `${
              fleet.nodes.length === 1
                ? "the fleet's only node was refused"
                : `all ${fleet.nodes.length} nodes were refused`
            } (${fleet.refused.map((e) => `${e.node}: ${e.reason}`).join("; ")})`,
          ),
        );
      }
      const node = this.choose(fleet.verified);
      trail.ok(
        "node chosen",
        `${node.node.name}, uniformly at random among the ${fleet.verified.length} of ${fleet.nodes.length} that verified`,
      );
      return { ...(await this.send(node, body, trail)), node, trail: trail.steps };
    } catch (e) {
      if (e instanceof ClientError) e.trail = trail.steps;
      throw e;
    }
  }

  /**
   * Pays with a token (if a wallet is set) and sends `body` to a verified node, while the key it
   * attested is still in its epoch.
   */
  async send(
    node: VerifiedNode,
    body: SummarizeBody,
    trail = new Trail(this.#o.onStep),
  ): Promise<Answered> {
    const now = this.#now();
    if (now.getTime() >= node.epochEnd * 1000) {
      throw trail.fail(
        "key epoch",
        new ClientError(
          "expired",
          `the key ${node.node.name} attested was valid until ${
            new Date(node.epochEnd * 1000).toISOString()
          }; verify the fleet again`,
          node.node.name,
        ),
      );
    }
    let authorization: string | undefined;
    const wallet = this.#o.wallet;
    if (wallet) {
      try {
        const taken = await wallet.take();
        authorization = taken.authorization;
        trail.ok(
          "token",
          `one unused token from ${wallet.issuerName} (${
            taken.fetched ? `a batch of ${taken.fetched} just issued` : "kept from an earlier batch"
          }, ${taken.left} left)`,
        );
      } catch (e) {
        if (e instanceof ClientError) throw trail.fail("token", e);
        throw e;
      }
    } else trail.ok("token", "none sent (no issuer given): only a node run without tokens answers");
    try {
      const answered = await sendSummarize(node, body, authorization, this.#fetch);
      trail.ok(
        "answer",
        `decrypted from ${node.node.name}${node.node.relayed ? " through the relay" : ""}`,
      );
      return answered;
    } catch (e) {
      if (e instanceof ClientError) {
        throw trail.fail(e.code === "token-refused" ? "token" : "answer", e);
      }
      throw e;
    }
  }
}
