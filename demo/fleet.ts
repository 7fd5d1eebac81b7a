/**
 * The whole cast of DESIGN.md on loopback, as real processes: the transparency log, the Privacy
 * Pass issuer, runtime nodes with the EMULATED secure processor, the relay. `deno task demo` and
 * the end-to-end tests (tests/e2e/) both start their world with it. Every process is a child of
 * this one and is stopped by `stop()`; nothing outlives it but what a caller copies out of `dir`.
 */
import { fileURLToPath } from "node:url";
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex } from "../protocol/bytes.ts";
import { decodeEvidenceBundle } from "../protocol/evidence.ts";
import { encodeReleaseEntry, type ReleaseEntry } from "../protocol/logentry.ts";
import { loadEmulatedRoot } from "../attestation/emulated.ts";
import type { Certificate } from "../attestation/x509.ts";
import {
  type ClientOptions,
  CloisterClient,
  memoryStorage,
  parseAccount,
  TokenWallet,
} from "../client/mod.ts";
import { measuredFiles } from "../runtime/self_measure.ts";
import { type Child, spawnDeno } from "./spawn.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const DENO = Deno.execPath();
export const ISSUER_NAME = "issuer.demo.cloister";
export const LOG_ORIGIN = "log.demo.cloister";

/** A started program and the URL it serves. */
export interface Service extends Child {
  url: string;
}

export class Fleet {
  readonly children: Service[] = [];
  logUrl = "";
  issuerUrl = "";
  relayUrl = "";
  /** The log's verifier key (what clients pin). */
  vkey = "";
  #secret = "";
  #root?: Certificate;

  private constructor(readonly dir: string) {}

  static async create(): Promise<Fleet> {
    return new Fleet(await Deno.makeTempDir({ prefix: "cloister-fleet-" }));
  }

  /** Starts `deno run script args` and waits for its first stdout line. */
  async start(name: string, script: string, args: string[]): Promise<Service> {
    const child = await spawnDeno(name, ROOT + script, args);
    const service = { ...child, url: child.first.match(/(http:\/\/[0-9.]+:\d+)/)?.[1] ?? "" };
    this.children.push(service);
    if (!service.url) {
      throw new Error(
        `${name} did not start: ${child.stderr().trim().split("\n").pop() ?? "no output"}`,
      );
    }
    return service;
  }

  async #run(script: string, args: string[]): Promise<string> {
    const out = await new Deno.Command(DENO, {
      args: ["run", "--allow-all", ROOT + script, ...args],
    })
      .output();
    if (!out.success) {
      throw new Error(
        `${script} ${args[0]} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
      );
    }
    return new TextDecoder().decode(out.stdout);
  }

  /** The transparency log, with a fresh Ed25519 key in `dir/log.key`. */
  async startLog(): Promise<Service> {
    this.vkey = (await this.#run("services/transparency/main.ts", [
      "keygen",
      "--origin",
      LOG_ORIGIN,
      "--key",
      `${this.dir}/log.key`,
    ])).trim().split("\n").pop()!;
    const log = await this.start("log", "services/transparency/main.ts", [
      "--listen",
      "127.0.0.1:0",
      "--dir",
      `${this.dir}/log`,
      "--key",
      `${this.dir}/log.key`,
    ]);
    this.logUrl = log.url;
    return log;
  }

  /** The issuer, with one account (`maya`) whose secret the fleet's clients use. */
  async startIssuer(extra: string[] = []): Promise<Service> {
    const printed = await this.#run("services/issuer/main.ts", ["account", "--name", "maya"]);
    const secret = printed.match(/Bearer maya:<secret>"\): (\S+)$/m)?.[1];
    const line = printed.match(/^accounts file line: (.+)$/m)?.[1];
    if (!secret || !line) throw new Error("the issuer printed no account");
    this.#secret = secret;
    await Deno.writeTextFile(`${this.dir}/accounts`, `${line}\n`);
    const issuer = await this.start("issuer", "services/issuer/main.ts", [
      "--listen",
      "127.0.0.1:0",
      "--dir",
      `${this.dir}/issuer`,
      "--name",
      ISSUER_NAME,
      "--accounts",
      `${this.dir}/accounts`,
      ...extra,
    ]);
    this.issuerUrl = issuer.url;
    return issuer;
  }

  /**
   * A runtime node redeeming the issuer's tokens and fetching its log proof. Nodes sharing the
   * fleet's emulated chip start one after the other (the first creates it).
   */
  startNode(name: string, extra: string[] = []): Promise<Service> {
    return this.start(name, "runtime/main.ts", [
      "--listen",
      "127.0.0.1:0",
      "--emulated",
      "--emulated-state",
      `${this.dir}/emulated-sp`,
      "--issuer-key",
      `${this.dir}/issuer/origin-keys.json`,
      "--log",
      this.logUrl,
      "--pool",
      "1",
      ...extra,
    ]);
  }

  /** The release entry of a host-measured runtime: its measurement, files, commit and recipe. */
  async release(measurement: string): Promise<ReleaseEntry> {
    return {
      measurements: { snp: measurement },
      imageDigest: toHex(sha256(new TextEncoder().encode(await measuredFiles()))),
      sourceCommit: await sourceCommit(),
      recipeDigest: toHex(sha256(await Deno.readFile(`${ROOT}deno.json`))),
    };
  }

  /** Appends a release to the log; returns its index. */
  async publish(entry: ReleaseEntry): Promise<number> {
    const res = await fetch(`${this.logUrl}/add`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new TextDecoder().decode(encodeReleaseEntry(entry)),
    });
    if (!res.ok) throw new Error(`the log refused the release: ${await res.text()}`);
    return (await res.json()).index;
  }

  /** Waits until a node's evidence bundle carries its log proof (nodes poll the log). */
  async logged(node: Service): Promise<void> {
    for (let i = 0; i < 150; i++) {
      const res = await fetch(`${node.url}/.well-known/cloister/evidence`);
      const bundle = decodeEvidenceBundle(new Uint8Array(await res.arrayBuffer()));
      if (bundle.transparency) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${node.name} never picked up its log proof`);
  }

  /** The relay in front of `gateways` (name → base URL). */
  async startRelay(gateways: Record<string, string>, extra: string[] = []): Promise<Service> {
    const relay = await this.start("relay", "services/relay/main.ts", [
      "--listen",
      "127.0.0.1:0",
      "--gateway",
      Object.entries(gateways).map(([n, u]) => `${n}=${u}`).join(","),
      ...extra,
    ]);
    this.relayUrl = relay.url;
    return relay;
  }

  /** A client of this fleet: through the relay, pinning the log key, trusting the EMULATED root. */
  async client(gateways: string[], options: Partial<ClientOptions> = {}): Promise<CloisterClient> {
    this.#root ??= await loadEmulatedRoot(`${this.dir}/emulated-sp`);
    const storage = options.storage ?? memoryStorage();
    return new CloisterClient({
      relay: this.relayUrl,
      gateways,
      emulatedRoot: this.#root,
      log: { vkey: this.vkey, url: this.logUrl },
      wallet: new TokenWallet({
        issuer: this.issuerUrl,
        issuerName: ISSUER_NAME,
        account: parseAccount(`maya:${this.#secret}`),
        fetch,
        storage,
        now: () => Math.floor(Date.now() / 1000),
      }),
      storage,
      ...options,
    });
  }

  /** Stops every process (last started first) and removes the working folder. */
  async stop(): Promise<void> {
    for (const c of [...this.children].reverse()) await c.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

async function sourceCommit(): Promise<string> {
  try {
    const out = await new Deno.Command("git", { args: ["rev-parse", "HEAD"], cwd: ROOT }).output();
    const id = new TextDecoder().decode(out.stdout).trim();
    if (out.success && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(id)) return id;
  } catch { /* no git here */ }
  return "0".repeat(40);
}
