/**
 * The parties around a client, on loopback, for client/ tests: the real services/issuer,
 * services/relay and services/transparency servers (in-process, each on port 0), and small fake
 * gateways built only from protocol/ and the emulated secure processor — each serves the
 * runtime's three endpoints (evidence bundle, ohttp-keys, OHTTP gateway), redeems Privacy Pass
 * tokens with protocol/privacypass `redeem`, and answers `/v1/summarize` with a summary that
 * echoes its input, so a test sees the request went through. Options make a gateway misbehave
 * the ways a client must catch. The lead's end-to-end tests use the real runtime instead.
 */
import { fileURLToPath } from "node:url";
import { EmulatedSecureProcessor } from "../../attestation/emulated.ts";
import { DHKEM_X25519_HKDF_SHA256 } from "../../protocol/hpke.ts";
import { utf8 } from "../../protocol/bytes.ts";
import {
  decodeRequest,
  encodeResponse,
  field,
  fieldText,
  wipeMessage,
} from "../../protocol/bhttp.ts";
import {
  type BindingClaims,
  encodeEvidenceBundle,
  reportData,
  type TransparencyProof,
} from "../../protocol/evidence.ts";
import { encodeReleaseEntry, type ReleaseEntry } from "../../protocol/logentry.ts";
import { generateSignerKey, type NoteSigner, parseSignerKey } from "../../protocol/note.ts";
import {
  decapsulateRequest,
  encodeKeyConfig,
  encodeKeyConfigs,
  type GatewayKey,
  type KeyConfig,
} from "../../protocol/ohttp.ts";
import {
  type IssuerKeys,
  parseAuthorization,
  parseIssuerKeys,
  redeem,
  SpentTokens,
} from "../../protocol/privacypass.ts";
import { fromHex } from "../../protocol/bytes.ts";
import { type Server, startServer } from "../../services/common/http.ts";
import { RateLimiter } from "../../services/common/ratelimit.ts";
import { accountLine, bearerAccounts, parseAccounts } from "../../services/issuer/accounts.ts";
import { IssuerKeyStore } from "../../services/issuer/keys.ts";
import { issuerHandler } from "../../services/issuer/server.ts";
import { parseGateways, relayHandler } from "../../services/relay/relay.ts";
import { TransparencyLog } from "../../services/transparency/log.ts";
import { logHandler } from "../../services/transparency/server.ts";
import { emulatedSp } from "../attestation/fixtures.ts";

export const ISSUER_NAME = "issuer.cloister.test";
export const LOG_ORIGIN = "log.cloister.test";
export const ACCOUNT = { name: "alice", secret: "open-sesame" };
export const EMULATED_STATE = fileURLToPath(
  new URL("../../.cache/test-emulated-sp/genoa", import.meta.url),
);

/** A release whose SEV-SNP measurement is 48 bytes of `byte`. */
export function release(byte: number): { measurement: Uint8Array; entry: ReleaseEntry } {
  const measurement = new Uint8Array(48).fill(byte);
  const hex = (n: number, bytes: number) => n.toString(16).padStart(2, "0").repeat(bytes);
  return {
    measurement,
    entry: {
      measurements: { snp: hex(byte, 48) },
      imageDigest: hex(byte + 1, 32),
      sourceCommit: hex(byte + 2, 20),
      recipeDigest: hex(byte + 3, 32),
    },
  };
}

export interface Misbehaviour {
  /** Flip a bit of the signed report (its REPORT_DATA). */
  tamperReport?: boolean;
  /** Put claims for another key in the bundle than the report binds (and advertise that key). */
  claimAnotherKey?: boolean;
  /** Advertise another key in ohttp-keys than the attested one. */
  advertiseAnotherKey?: boolean;
  /** Ignore the client's nonce (serve the epoch bundle). */
  ignoreNonce?: boolean;
}

export interface GatewayOptions {
  sp: EmulatedSecureProcessor;
  measurement: Uint8Array;
  /** The transparency proof for each bundle (called per bundle, so it follows the log). */
  proof?: () => TransparencyProof | undefined;
  /** Keys to redeem tokens with; absent: no token is asked for. */
  issuerKeys?: () => Promise<IssuerKeys>;
  misbehave?: Misbehaviour;
}

export interface FakeGateway {
  url: string;
  /** Requests answered with a summary. */
  answered: number;
  spent: SpentTokens;
  close(): Promise<void>;
}

function newKey(keyId: number): GatewayKey {
  const pair = DHKEM_X25519_HKDF_SHA256.generateKeyPair();
  const config: KeyConfig = {
    keyId,
    kemId: DHKEM_X25519_HKDF_SHA256.id,
    publicKey: pair.publicKey,
    algorithms: [{ kdfId: 1, aeadId: 1 }],
  };
  return { config, privateKey: pair.privateKey };
}

function json(status: number, body: unknown): Uint8Array {
  return encodeResponse({
    informational: [],
    status,
    headers: [field("content-type", "application/json")],
    content: utf8(JSON.stringify(body)),
    trailers: [],
  });
}

export function startFakeGateway(o: GatewayOptions): FakeGateway {
  const key = newKey(7);
  const other = newKey(7);
  const bad = o.misbehave ?? {};
  const spent = new SpentTokens();
  const state = { answered: 0 };

  async function bundle(nonce?: Uint8Array): Promise<Uint8Array> {
    const now = Math.floor(Date.now() / 1000);
    const claims: BindingClaims = {
      keyConfig: encodeKeyConfig(key.config),
      epochStart: now - 10,
      epochEnd: now + 600,
      ...(nonce && !bad.ignoreNonce ? { nonce } : {}),
    };
    // One emulated chip serves every fake node: launch and report run without a gap between.
    o.sp.launch({ measurement: o.measurement });
    const report = await o.sp.report({ reportData: reportData(claims) });
    if (bad.tamperReport) report[0x50] ^= 1;
    const shown = bad.claimAnotherKey
      ? { ...claims, keyConfig: encodeKeyConfig(other.config) }
      : claims;
    const proof = o.proof?.();
    return encodeEvidenceBundle({
      platform: "sev-snp",
      evidence: report,
      certificates: o.sp.certificates.map((c) => c.der),
      collateral: new Map(),
      claims: shown,
      ...(proof ? { transparency: proof } : {}),
    });
  }

  async function summarize(request: Uint8Array): Promise<Uint8Array> {
    const req = decodeRequest(request);
    try {
      if (o.issuerKeys) {
        const auth = fieldText(req.headers, "authorization");
        if (!auth) return json(401, { error: "missing Authorization: PrivateToken token=…" });
        try {
          await redeem(parseAuthorization(auth), await o.issuerKeys(), spent);
        } catch (e) {
          return json(401, { error: `token refused: ${(e as Error).message}` });
        }
      }
      const body = JSON.parse(new TextDecoder().decode(req.content));
      const texts: string[] = body.text !== undefined
        ? [body.text]
        : body.messages.map((m: string | { text: string }) => typeof m === "string" ? m : m.text);
      state.answered++;
      return json(200, { summary: `${texts.length} message(s); first: ${texts[0]}` });
    } finally {
      wipeMessage(req);
    }
  }

  const server = startServer(async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/.well-known/cloister/evidence") {
      const nonce = url.searchParams.get("nonce");
      return new Response(
        await bundle(nonce ? fromHex(nonce) : undefined) as Uint8Array<ArrayBuffer>,
        {
          headers: { "content-type": "application/cbor" },
        },
      );
    }
    if (url.pathname !== "/.well-known/ohttp-gateway") return new Response("no", { status: 404 });
    if (req.method === "GET") {
      const advertised = bad.advertiseAnotherKey || bad.claimAnotherKey ? other : key;
      return new Response(encodeKeyConfigs([advertised.config]) as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "application/ohttp-keys" },
      });
    }
    const body = new Uint8Array(await req.arrayBuffer());
    const { request, context } = decapsulateRequest([key], body);
    const answer = await summarize(request);
    return new Response(context.encapsulateResponse(answer) as Uint8Array<ArrayBuffer>, {
      headers: { "content-type": "message/ohttp-res" },
    });
  }, { hostname: "127.0.0.1", port: 0 });
  return {
    url: `http://127.0.0.1:${server.port}`,
    get answered() {
      return state.answered;
    },
    spent,
    close: () => server.shutdown(),
  };
}

/** The issuer, the relay and the log, with helpers to add fake gateways; `close()` ends all. */
export class World {
  readonly servers: Server[] = [];
  readonly gateways: FakeGateway[] = [];
  relayUrl = "";

  private constructor(
    readonly sp: EmulatedSecureProcessor,
    readonly log: TransparencyLog,
    /** The log's signing key (tests sign forks with it). */
    readonly signer: NoteSigner & { vkey: string },
    readonly logUrl: string,
    readonly issuerUrl: string,
    readonly issuerDir: string,
  ) {}

  /** The log's verifier key, which clients pin. */
  get vkey(): string {
    return this.signer.vkey;
  }

  static async start(): Promise<World> {
    const sp = await emulatedSp("genoa");
    const logDir = await Deno.makeTempDir({ prefix: "client-log-" });
    const signer = parseSignerKey(generateSignerKey(LOG_ORIGIN));
    const log = await TransparencyLog.open(logDir, signer);
    const logServer = startServer(logHandler(log), { hostname: "127.0.0.1", port: 0 });
    const issuerDir = await Deno.makeTempDir({ prefix: "client-issuer-" });
    const keys = await IssuerKeyStore.open(
      issuerDir,
      ISSUER_NAME,
      { rotate: 3600, accept: 3600 },
      Math.floor(Date.now() / 1000),
    );
    const issuerServer = startServer(
      issuerHandler({
        keys,
        accounts: bearerAccounts(parseAccounts(accountLine(ACCOUNT.name, ACCOUNT.secret))),
        limiter: new RateLimiter(100, 1000),
      }),
      { hostname: "127.0.0.1", port: 0 },
    );
    const world = new World(
      sp,
      log,
      signer,
      `http://127.0.0.1:${logServer.port}`,
      `http://127.0.0.1:${issuerServer.port}`,
      issuerDir,
    );
    world.servers.push(logServer, issuerServer);
    return world;
  }

  /** Appends a release to the log; returns its index. */
  async publish(entry: ReleaseEntry): Promise<number> {
    const [index] = await this.log.append([encodeReleaseEntry(entry)]);
    return index;
  }

  /** The bundle proof of a logged entry under the log's current checkpoint. */
  proofOf(entry: ReleaseEntry): TransparencyProof | undefined {
    const index = this.log.indexOf(encodeReleaseEntry(entry));
    if (index === undefined) return undefined;
    const p = this.log.proof(index);
    return {
      checkpoint: utf8(p.checkpoint),
      leafIndex: p.index,
      inclusionProof: p.proof,
      entry: p.entry,
    };
  }

  /** The issuer's origin key file (what a runtime's --issuer-key holds). */
  async issuerKeys(): Promise<IssuerKeys> {
    return parseIssuerKeys(await Deno.readTextFile(`${this.issuerDir}/origin-keys.json`));
  }

  /** A fake gateway for a release: logged or not, redeeming this issuer's tokens. */
  gateway(
    r: { measurement: Uint8Array; entry: ReleaseEntry },
    extra: Partial<GatewayOptions> = {},
  ): FakeGateway {
    const g = startFakeGateway({
      sp: this.sp,
      measurement: r.measurement,
      proof: () => this.proofOf(r.entry),
      issuerKeys: () => this.issuerKeys(),
      ...extra,
    });
    this.gateways.push(g);
    return g;
  }

  /** (Re)starts the relay in front of the named gateways. */
  startRelay(named: [string, FakeGateway][]): string {
    const server = startServer(
      relayHandler({
        gateways: parseGateways(named.map(([name, g]) => [name, g.url])),
        limiter: new RateLimiter(1000, 1000),
      }),
      { hostname: "127.0.0.1", port: 0 },
    );
    this.servers.push(server);
    return this.relayUrl = `http://127.0.0.1:${server.port}`;
  }

  async close(): Promise<void> {
    await Promise.all([
      ...this.servers.map((s) => s.shutdown()),
      ...this.gateways.map((g) => g.close()),
    ]);
    this.log.close();
  }
}
