/**
 * `deno run -A services/issuer/main.ts` — the Privacy Pass issuer (token type 0x0001).
 *
 *   main.ts --listen HOST:PORT --dir DIR --name ISSUER --accounts FILE
 *           [--public-url URL] [--rotate SECONDS] [--accept SECONDS] [--rate PER_MINUTE]
 *       serve issuance; keys live in DIR/keys.json, and DIR/origin-keys.json is the
 *       `--issuer-key FILE` of the redeeming runtime (rewritten at every rotation)
 *   main.ts account --name NAME
 *       print a fresh secret for NAME and the line to add to the accounts file
 *   main.ts export-origin-keys --dir DIR --name ISSUER --out FILE
 *       write the origin key file now (creating the keys if DIR has none)
 *
 * Defaults: keys rotate daily and are redeemable one more day; 60 tokens a minute per account
 * (burst 60); public URL http://HOST:PORT.
 */
import { toBase64Url } from "../../protocol/base64.ts";
import { formatIssuerKeys, parseIssuerKeys } from "../../protocol/privacypass.ts";
import {
  intFlag,
  listenUrl,
  parseArgs,
  parseServerArgs,
  readFlagFile,
  required,
  runMain,
  UsageError,
} from "../common/cli.ts";
import { readIfExists, writeAtomic } from "../common/files.ts";
import { startServer } from "../common/http.ts";
import { RateLimiter } from "../common/ratelimit.ts";
import { accountLine, bearerAccounts, parseAccounts } from "./accounts.ts";
import { IssuerKeyStore } from "./keys.ts";
import { issuerHandler } from "./server.ts";

const USAGE = "usage: main.ts --listen HOST:PORT --dir DIR --name ISSUER --accounts FILE " +
  "[--public-url URL] [--rotate S] [--accept S] [--rate N] | account --name NAME | " +
  "export-origin-keys --dir DIR --name ISSUER --out FILE";
const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);

function issuerName(value: string): string {
  if (!/^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$/.test(value)) {
    throw new UsageError(
      `--name must be a host name (the issuer_name of challenges), not "${value}"`,
    );
  }
  return value;
}

async function serve(args: string[]): Promise<number> {
  const { p, listen } = parseServerArgs(args, [
    "dir",
    "name",
    "accounts",
    "public-url",
    "rotate",
    "accept",
    "rate",
  ], USAGE);
  const name = issuerName(required(p, "name"));
  const accountsPath = required(p, "accounts");
  const text = readFlagFile("accounts", accountsPath); // its errors name the flag already
  let accounts;
  try {
    accounts = parseAccounts(text);
  } catch (e) {
    throw new UsageError(`--accounts ${accountsPath}: ${(e as Error).message}`);
  }
  const policy = { rotate: intFlag(p, "rotate", DAY), accept: intFlag(p, "accept", DAY) };
  const rate = intFlag(p, "rate", 60);
  const publicUrl = p.flags.get("public-url");
  if (publicUrl !== undefined && !URL.canParse(publicUrl)) {
    throw new UsageError(`--public-url "${publicUrl}" is not a URL`);
  }
  // Last: it creates the key directory and the first keys.
  const keys = await IssuerKeyStore.open(required(p, "dir"), name, policy, now());
  const handler = issuerHandler({
    keys,
    accounts: bearerAccounts(accounts),
    limiter: new RateLimiter(rate / 60, rate),
    publicUrl,
  });
  const server = startServer(handler, listen, {
    signals: true,
    onListen: (addr) => console.log(`issuer ${name} on ${listenUrl(addr)}`),
  });
  // Rotate on time even when idle, so origin-keys.json always holds the next key in advance: at
  // least four checks per rotation (with --rotate 60 a minute's timer made keys just as used).
  const timer = setInterval(
    () => keys.refresh(now()).catch(() => {}),
    Math.min(60_000, policy.rotate * 250),
  );
  await server.finished;
  clearInterval(timer);
  return 0;
}

function account(args: string[]): number {
  const p = parseArgs(args, ["name"]);
  const name = required(p, "name");
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
    throw new UsageError(`--name "${name}" must be 1-64 of [A-Za-z0-9._-]`);
  }
  const secret = toBase64Url(crypto.getRandomValues(new Uint8Array(24)), false);
  console.log(
    `secret (give to the account holder; use as "Authorization: Bearer ${name}:<secret>"): ${secret}`,
  );
  console.log(`accounts file line: ${accountLine(name, secret)}`);
  return 0;
}

async function exportOriginKeys(args: string[]): Promise<number> {
  const p = parseArgs(args, ["dir", "name", "out"]);
  const dir = required(p, "dir");
  const name = issuerName(required(p, "name"));
  // A folder with keys belongs to its issuer, which may be serving (and rotating) right now:
  // read it, never write it. Only a folder without keys gets its first ones here.
  const existing = await readIfExists(`${dir}/keys.json`);
  if (!existing) await IssuerKeyStore.open(dir, name, { rotate: DAY, accept: DAY }, now());
  const origin = await readIfExists(`${dir}/origin-keys.json`);
  if (!origin) {
    throw new UsageError(`--dir ${dir} has keys but no origin-keys.json yet: start its issuer`);
  }
  const keys = parseIssuerKeys(new TextDecoder().decode(origin));
  if (keys.issuerName !== name) {
    throw new UsageError(
      `--dir ${dir} holds the keys of issuer "${keys.issuerName}", not "${name}"`,
    );
  }
  await writeAtomic(
    required(p, "out"),
    new TextEncoder().encode(formatIssuerKeys(keys)),
    0o600,
  );
  return 0;
}

if (import.meta.main) {
  runMain("issuer", () => {
    const [command, ...rest] = Deno.args;
    if (command === "account") return Promise.resolve(account(rest));
    if (command === "export-origin-keys") return exportOriginKeys(rest);
    if (command === undefined || command.startsWith("--")) return serve(Deno.args);
    throw new UsageError(`unknown command "${command}"; ${USAGE}`);
  });
}
