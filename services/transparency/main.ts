/**
 * `deno run -A services/transparency/main.ts` — the transparency log of image measurements.
 *
 *   main.ts --listen HOST:PORT --dir DIR --key FILE [--token-file FILE]
 *       serve the log in DIR (created if new), signing checkpoints with the signer key in FILE
 *   main.ts keygen --origin NAME --key FILE
 *       write a new Ed25519 signer key (C2SP/sumdb skey format) to FILE; print its verifier key
 *   main.ts vkey --key FILE
 *       print the verifier key (what clients pin)
 *   main.ts append --dir DIR --key FILE ENTRY.json...
 *       append release entries to a log that no server is running on
 *   main.ts append --log URL [--token-file FILE] ENTRY.json...
 *       append through a running log's POST /add
 *
 * An entry file is a ReleaseEntry as JSON (protocol/logentry.ts). The key file holds a secret:
 * keep it readable by the log's owner only.
 */
import { encodeReleaseEntry, type ReleaseEntry } from "../../protocol/logentry.ts";
import { generateSignerKey, parseSignerKey } from "../../protocol/note.ts";
import {
  listenUrl,
  parseArgs,
  parseServerArgs,
  readFlagFile,
  required,
  runMain,
  UsageError,
} from "../common/cli.ts";
import { startServer } from "../common/http.ts";
import { TransparencyLog } from "./log.ts";
import { logHandler } from "./server.ts";

const USAGE = "usage: main.ts --listen HOST:PORT --dir DIR --key FILE [--token-file FILE] | " +
  "keygen --origin NAME --key FILE | vkey --key FILE | " +
  "append (--dir DIR --key FILE | --log URL [--token-file FILE]) ENTRY.json...";

function signer(path: string) {
  const text = readFlagFile("key", path).trim();
  try {
    return parseSignerKey(text);
  } catch (e) {
    throw new UsageError(`--key ${path}: ${(e as Error).message}`);
  }
}

function readEntry(path: string): ReleaseEntry {
  let doc: unknown;
  try {
    doc = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    throw new UsageError(
      `${path}: ${e instanceof SyntaxError ? "not JSON" : (e as Error).message}`,
    );
  }
  try {
    encodeReleaseEntry(doc as ReleaseEntry);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as Error).message}`);
  }
  return doc as ReleaseEntry;
}

async function serve(args: string[]): Promise<number> {
  const { p, listen } = parseServerArgs(args, ["dir", "key", "token-file"], USAGE);
  const key = signer(required(p, "key"));
  const tokenFile = p.flags.get("token-file");
  const appendToken = tokenFile === undefined
    ? undefined
    : readFlagFile("token-file", tokenFile).trim();
  if (appendToken === "") throw new UsageError(`--token-file ${tokenFile} is empty`);
  const log = await TransparencyLog.open(required(p, "dir"), key);
  const server = startServer(logHandler(log, { appendToken }), listen, {
    signals: true,
    onListen: (addr) =>
      console.log(`transparency log ${log.origin} (size ${log.size}) on ${listenUrl(addr)}`),
  });
  await server.finished;
  log.close();
  return 0;
}

async function append(args: string[]): Promise<number> {
  const p = parseArgs(args, ["dir", "key", "log", "token-file"]);
  if (p.positionals.length === 0) throw new UsageError(`append needs ENTRY.json files; ${USAGE}`);
  const entries = p.positionals.map(readEntry);
  const url = p.flags.get("log");
  if (url !== undefined) {
    if (p.flags.has("dir") || p.flags.has("key")) {
      throw new UsageError("give --log or --dir/--key, not both");
    }
    const tokenFile = p.flags.get("token-file");
    const token = tokenFile === undefined
      ? undefined
      : readFlagFile("token-file", tokenFile).trim();
    for (const [i, e] of entries.entries()) {
      const res = await fetch(new URL("add", url.endsWith("/") ? url : `${url}/`), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(e),
      });
      const body = await res.text();
      if (!res.ok) {
        throw new Error(`${p.positionals[i]}: log answered ${res.status}: ${body.trim()}`);
      }
      console.log(`${p.positionals[i]}: logged at index ${JSON.parse(body).index}`);
    }
    return 0;
  }
  const log = await TransparencyLog.open(required(p, "dir"), signer(required(p, "key")));
  try {
    const indexes = await log.append(entries.map(encodeReleaseEntry));
    indexes.forEach((index, i) => console.log(`${p.positionals[i]}: logged at index ${index}`));
    console.log(log.checkpointNote.trimEnd());
  } finally {
    log.close();
  }
  return 0;
}

async function keygen(args: string[]): Promise<number> {
  const p = parseArgs(args, ["origin", "key"]);
  const origin = required(p, "origin");
  const path = required(p, "key");
  let skey: string;
  try {
    skey = generateSignerKey(origin);
  } catch (e) {
    throw new UsageError(`--origin: ${(e as Error).message}`);
  }
  try {
    await Deno.writeTextFile(path, skey + "\n", { createNew: true, mode: 0o600 });
  } catch (e) {
    throw new UsageError(
      `--key ${path}: ${
        e instanceof Deno.errors.AlreadyExists ? "already exists" : (e as Error).message
      }`,
    );
  }
  console.log(parseSignerKey(skey).vkey);
  return 0;
}

function vkey(args: string[]): number {
  const p = parseArgs(args, ["key"]);
  console.log(signer(required(p, "key")).vkey);
  return 0;
}

if (import.meta.main) {
  runMain("transparency", () => {
    const [command, ...rest] = Deno.args;
    if (command === "keygen") return keygen(rest);
    if (command === "vkey") return Promise.resolve(vkey(rest));
    if (command === "append") return append(rest);
    if (command === undefined || command.startsWith("--")) return serve(Deno.args);
    throw new UsageError(`unknown command "${command}"; ${USAGE}`);
  });
}
