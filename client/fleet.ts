/**
 * The fleet: the nodes a request may go to, and how each is reached (DESIGN.md "The parties").
 *
 * Through the OHTTP relay (services/relay), nodes are the relay's gateways by name — all of
 * `GET /gateways`, or those the caller names — and every exchange goes through the relay, so no
 * node sees the client's address:
 *
 *   evidence   GET  <relay>/gateway/<name>/evidence[?nonce=HEX]
 *   keys       GET  <relay>/gateway/<name>/ohttp-keys
 *   request    POST <relay>/gateway/<name>
 *
 * Direct (no relay), nodes are runtime base URLs and the client talks to each itself (RFC 9540
 * locations): the address is then NOT hidden, and the trail says so.
 *
 *   evidence   GET  <base>/.well-known/cloister/evidence[?nonce=HEX]
 *   keys       GET  <base>/.well-known/ohttp-gateway
 *   request    POST <base>/.well-known/ohttp-gateway
 *
 * The fleet is the operator's to list; which of its nodes serves a request is the client's
 * choice alone (choose.ts).
 */
import { toHex } from "../protocol/bytes.ts";
import { ClientError, ClientInputError } from "./errors.ts";
import { type Blame, exchange, expectOk, type Fetch } from "./http.ts";

export interface Node {
  /** The relay's name for the gateway, or host:port of a direct one. */
  name: string;
  /** Reached through a relay (the node never sees the client's address). */
  relayed: boolean;
  evidenceUrl(nonce?: Uint8Array): URL;
  keysUrl: URL;
  gatewayUrl: URL;
}

/** Blame for an exchange with a node: no answer at all means the relay, when there is one. */
export function blameNode(node: Node, what: string): Blame {
  return {
    code: "unreachable",
    unreachable: node.relayed ? "relay-unreachable" : "unreachable",
    what,
    node: node.name,
  };
}

const GATEWAY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** An http(s) base URL: scheme, host, port, nothing else. */
export function baseUrl(value: string | URL, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ClientInputError(`${what} "${value}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ClientInputError(`${what} "${value}" is not an http or https URL`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new ClientInputError(`${what} "${value}" must carry no credentials, query or fragment`);
  }
  return url;
}

function withNonce(url: URL, nonce?: Uint8Array): URL {
  const out = new URL(url);
  if (nonce) out.searchParams.set("nonce", toHex(nonce));
  return out;
}

function under(base: URL, path: string): URL {
  return new URL(base.pathname.replace(/\/?$/, "/") + path, base);
}

export function relayedNode(relay: URL, name: string): Node {
  if (!GATEWAY_NAME.test(name)) {
    throw new ClientInputError(
      `with a relay, a gateway is named by the relay (GET /gateways), not "${name}"`,
    );
  }
  const evidence = under(relay, `gateway/${name}/evidence`);
  return {
    name,
    relayed: true,
    evidenceUrl: (nonce) => withNonce(evidence, nonce),
    keysUrl: under(relay, `gateway/${name}/ohttp-keys`),
    gatewayUrl: under(relay, `gateway/${name}`),
  };
}

export function directNode(base: URL): Node {
  const evidence = under(base, ".well-known/cloister/evidence");
  const gatewayUrl = under(base, ".well-known/ohttp-gateway");
  return {
    name: base.host,
    relayed: false,
    evidenceUrl: (nonce) => withNonce(evidence, nonce),
    keysUrl: gatewayUrl,
    gatewayUrl,
  };
}

/** The relay's fleet (`GET /gateways`), or the named part of it. */
export async function relayFleet(relay: URL, fetch: Fetch, names: string[] = []): Promise<Node[]> {
  const blame = {
    code: "relay" as const,
    unreachable: "relay-unreachable" as const,
    what: "listing the relay's gateways",
  };
  const body = expectOk(
    await exchange(fetch, under(relay, "gateways"), {}, blame, 1 << 20),
    "application/json",
    blame,
  );
  let listed: string[];
  try {
    const doc = JSON.parse(new TextDecoder().decode(body));
    listed = doc.gateways;
    if (!Array.isArray(listed) || listed.some((n) => typeof n !== "string")) throw new Error();
  } catch {
    throw new ClientError("relay", 'GET /gateways is not {"gateways": [names]}');
  }
  // The relay's own answer, so its faults are the relay's: a name listed twice would count twice
  // in the uniform choice of a node (a relay could steer requests to one node).
  const twice = listed.find((n, i) => listed.indexOf(n) !== i);
  if (twice !== undefined) throw new ClientError("relay", `GET /gateways lists "${twice}" twice`);
  const malformed = listed.find((n) => !GATEWAY_NAME.test(n));
  if (malformed !== undefined) {
    throw new ClientError("relay", `GET /gateways lists "${malformed}", which is no gateway name`);
  }
  for (const name of names) {
    if (!listed.includes(name)) {
      throw new ClientInputError(
        `the relay has no gateway "${name}" (it has: ${listed.join(", ") || "none"})`,
      );
    }
  }
  const chosen = names.length ? [...new Set(names)] : listed;
  if (chosen.length === 0) throw new ClientError("no-node", "the relay lists no gateway");
  return chosen.map((name) => relayedNode(relay, name));
}

/** Nodes reached directly, by base URL. */
export function directFleet(urls: string[]): Node[] {
  if (urls.length === 0) throw new ClientInputError("no gateway given");
  const nodes = urls.map((u) => directNode(baseUrl(u, "gateway")));
  const seen = new Set<string>();
  return nodes.filter((n) => !seen.has(n.gatewayUrl.href) && seen.add(n.gatewayUrl.href));
}
