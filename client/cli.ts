/**
 * `deno task client summarize [options] FILE` (DESIGN.md "Commands"): the device side of the
 * whole path on the SDK of this folder — fleet, evidence, verification of every node, a node
 * chosen at random among those that verified, a token, the request through the relay — and the
 * trail of every check with ✓ or ✗, then the summary (or, with `--json`, one JSON object).
 *
 * Exit status: 0 summarised, 1 refused (the reason and its stable code are printed), 2 unusable
 * input (an unknown option, an unreadable file, a bad policy or log key, a configuration that
 * pins nothing). Errors are one line, never a stack trace.
 *
 * Permissions (deno.json): net (relay, nodes, issuer, log); read (FILE, --policy, --log-key,
 * --account @FILE, the emulated root's public ark.pem); write only to the state folder
 * (`.cache/client`: the last checkpoint seen per log key, unused tokens, mode 0600); env only
 * CLOISTER_EMULATED_SP (where --trust-emulated looks by default). A `--state` elsewhere needs a
 * run with `--allow-write` for that folder.
 */
import { fileURLToPath } from "node:url";
import { defaultEmulatedState, loadEmulatedRoot } from "../attestation/emulated.ts";
import { parsePolicy, type Policy, PolicyError } from "../attestation/policy.ts";
import type { Certificate } from "../attestation/x509.ts";
import { parseVerifierKey } from "../protocol/note.ts";
import { CloisterClient } from "./client.ts";
import { ClientError, ClientInputError } from "./errors.ts";
import { summarizeBody } from "./input.ts";
import { fileStorage } from "./storage.ts";
import { parseAccount, TokenWallet } from "./tokens.ts";
import type { TrailStep } from "./trail.ts";

const USAGE = `usage: deno task client summarize [options] FILE

FILE is plain text, a JSON request {"messages": [{"from": "…", "text": "…"}, …]} or {"text": "…"},
or - for standard input.

  --relay URL             the OHTTP relay: the nodes see its address, not yours
  --gateway G             a node (repeatable). With --relay: the relay's name for it (default:
                          every gateway the relay lists). Without: its base URL, reached
                          directly (your address is then NOT hidden from it)
  --trust-emulated[=DIR]  also trust the emulated secure processor's root (state DIR, default
                          $CLOISTER_EMULATED_SP or .cache/emulated-sp): NOT real hardware
  --policy FILE           attestation policy (JSON or CBOR; default: no debug, production roots)
  --log-key VKEY|FILE     pin the transparency log's verifier key (C2SP signed-note vkey)
  --log URL               the log itself: tiles proving a grown log extends the checkpoint last
                          seen, and proofs for bundles that carry none
  --issuer URL            the Privacy Pass issuer, with --account NAME:SECRET (or @FILE)
  --issuer-name NAME      the issuer's name in token challenges (default: the --issuer host)
  --fresh                 ask each node for evidence bound to a fresh nonce
  --state DIR             last checkpoint seen and unused tokens (default .cache/client)
  --json                  print the trail and the summary as one JSON object
exit status: 0 summarised, 1 refused, 2 unusable input`;

interface Args {
  relay?: string;
  gateways: string[];
  trustEmulated?: string;
  policy?: string;
  logKey?: string;
  log?: string;
  issuer?: string;
  issuerName?: string;
  account?: string;
  fresh: boolean;
  state: string;
  json: boolean;
  file: string;
}

const VALUED = [
  "relay",
  "gateway",
  "policy",
  "log-key",
  "log",
  "issuer",
  "issuer-name",
  "account",
  "state",
];

function parseArgs(argv: string[]): Args {
  const [command, ...rest] = argv;
  if (command === "-h" || command === "--help") throw new ClientInputError(USAGE);
  if (command !== "summarize") {
    throw new ClientInputError(
      command === undefined ? "no command given" : `unknown command "${command}" (try summarize)`,
    );
  }
  const args: Partial<Args> & { gateways: string[]; files: string[] } = {
    gateways: [],
    files: [],
    fresh: false,
    json: false,
    state: fileURLToPath(new URL("../.cache/client", import.meta.url)),
  };
  const seen = new Set<string>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "-" || !arg.startsWith("-")) {
      args.files.push(arg);
      continue;
    }
    const [flag, inline] = arg.split(/=(.*)/s, 2);
    const name = flag.replace(/^--?/, "");
    if (name === "h" || name === "help") throw new ClientInputError(USAGE);
    if (name !== "gateway" && seen.has(name)) throw new ClientInputError(`${flag} is given twice`);
    seen.add(name);
    if (name === "json" || name === "fresh") {
      if (inline !== undefined) throw new ClientInputError(`${flag} takes no value`);
      args[name] = true;
    } else if (name === "trust-emulated") {
      args.trustEmulated = inline ?? defaultEmulatedState();
    } else if (VALUED.includes(name) && flag.startsWith("--")) {
      const value = inline ?? rest[++i];
      if (value === undefined || (inline === undefined && value.startsWith("--"))) {
        throw new ClientInputError(`${flag} needs a value`);
      }
      if (name === "gateway") args.gateways.push(value);
      else {
        const key = name.replace(/-(.)/g, (_, c: string) => c.toUpperCase()) as keyof Args;
        (args as Record<string, unknown>)[key] = value;
      }
    } else throw new ClientInputError(`unknown option ${flag}`);
  }
  if (args.files.length !== 1) {
    throw new ClientInputError(args.files.length ? "give one FILE" : "no FILE to summarise given");
  }
  if ((args.issuer === undefined) !== (args.account === undefined)) {
    throw new ClientInputError("--issuer and --account go together");
  }
  if (args.log !== undefined && args.logKey === undefined) {
    throw new ClientInputError("--log needs --log-key (the key to pin)");
  }
  if (args.issuerName !== undefined && args.issuer === undefined) {
    throw new ClientInputError("--issuer-name needs --issuer");
  }
  return { ...args, file: args.files[0] } as Args;
}

function readText(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw new ClientInputError(`${what} ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

/** A verifier key given inline, or the file that holds one. */
function logKey(value: string): string {
  let vkey = value;
  if (!value.includes("+")) {
    try {
      vkey = Deno.readTextFileSync(value).trim();
    } catch {
      throw new ClientInputError(
        `--log-key ${value}: neither a verifier key (NAME+HASH+KEY) nor a readable file`,
      );
    }
  }
  try {
    parseVerifierKey(vkey);
  } catch (e) {
    throw new ClientInputError(`--log-key ${value}: ${(e as Error).message}`);
  }
  return vkey;
}

async function input(file: string): Promise<string> {
  if (file !== "-") return readText(file, "cannot read");
  return await new Response(Deno.stdin.readable).text();
}

function policyOf(path: string | undefined): Policy {
  try {
    return parsePolicy(path === undefined ? undefined : Deno.readFileSync(path));
  } catch (e) {
    if (e instanceof PolicyError) throw new ClientInputError(`--policy ${path}: ${e.message}`);
    throw new ClientInputError(`--policy ${path}: ${e instanceof Error ? e.message : e}`);
  }
}

async function emulatedRoot(dir: string | undefined): Promise<Certificate | undefined> {
  if (dir === undefined) return undefined;
  try {
    return await loadEmulatedRoot(dir);
  } catch (e) {
    throw new ClientInputError(`--trust-emulated: ${(e as Error).message}`);
  }
}

interface Outcome {
  ok: boolean;
  route: "relay" | "direct";
  emulatedRootTrusted: boolean;
  node?: string;
  summary?: string;
  error?: { code: string; reason: string; detail: string };
  trail: TrailStep[];
}

async function run(args: Args): Promise<Outcome> {
  // Checked before any network work: tokens bought and then not storable would be lost.
  if (Deno.permissions.querySync({ name: "write", path: args.state }).state !== "granted") {
    throw new ClientInputError(
      `--state ${args.state}: this run may not write there (deno task client writes only to ` +
        ".cache/client; give deno --allow-write for that folder)",
    );
  }
  const storage = fileStorage(args.state);
  const account = args.account?.startsWith("@")
    ? readText(args.account.slice(1), "--account").trim()
    : args.account;
  const root = await emulatedRoot(args.trustEmulated);
  const client = new CloisterClient({
    ...(args.relay ? { relay: args.relay } : {}),
    gateways: args.gateways,
    policy: policyOf(args.policy),
    ...(root ? { emulatedRoot: root } : {}),
    ...(args.logKey
      ? { log: { vkey: logKey(args.logKey), ...(args.log ? { url: args.log } : {}) } }
      : {}),
    ...(args.issuer
      ? {
        wallet: new TokenWallet({
          issuer: args.issuer,
          account: parseAccount(account!),
          ...(args.issuerName ? { issuerName: args.issuerName } : {}),
          fetch,
          storage,
          now: () => Math.floor(Date.now() / 1000),
        }),
      }
      : {}),
    freshEvidence: args.fresh,
    storage,
  });
  const source = args.file === "-" ? "standard input" : args.file;
  const body = summarizeBody(await input(args.file), source);
  const outcome: Outcome = {
    ok: false,
    route: args.relay ? "relay" : "direct",
    emulatedRootTrusted: root !== undefined,
    trail: [],
  };
  try {
    const done = await client.summarize(body);
    return {
      ...outcome,
      ok: true,
      node: done.node.node.name,
      summary: done.summary,
      trail: done.trail,
    };
  } catch (e) {
    if (!(e instanceof ClientError)) throw e;
    return {
      ...outcome,
      error: { code: e.code, reason: e.reason, detail: e.detail },
      trail: e.trail ?? [],
      ...(e.node ? { node: e.node } : {}),
    };
  }
}

function print(o: Outcome, trustDir: string | undefined): void {
  if (o.emulatedRootTrusted) {
    console.log(
      `EMULATED: trusting the emulated secure processor's root (${trustDir}): its reports are not from AMD hardware`,
    );
  }
  const width = Math.min(30, Math.max(...o.trail.map((s) => s.step.length)));
  let node: string | undefined;
  for (const s of o.trail) {
    if (s.node !== node) {
      node = s.node;
      console.log(node === undefined ? "" : `node ${node}`);
    }
    console.log(`  ${s.ok ? "✓" : "✗"} ${s.step.padEnd(width)}  ${s.detail}`);
  }
  if (o.ok) {
    console.log("\nsummary:");
    for (const line of o.summary!.trimEnd().split("\n")) console.log(`  ${line}`);
  } else {
    console.log(`\nREFUSED (${o.error!.code}): ${o.error!.reason}: ${o.error!.detail}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    const message = (e as Error).message;
    console.error(message === USAGE ? USAGE : `client: ${message}\n${USAGE.split("\n")[0]}`);
    return 2;
  }
  try {
    const outcome = await run(args);
    if (args.json) console.log(JSON.stringify(outcome, null, 2));
    else print(outcome, args.trustEmulated);
    return outcome.ok ? 0 : 1;
  } catch (e) {
    const message = e instanceof Error ? e.message.split("\n")[0] : String(e);
    if (e instanceof ClientInputError) {
      console.error(`client: ${message}`);
      return 2;
    }
    console.error(`client: ${e instanceof Error ? e.name : "error"}: ${message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
