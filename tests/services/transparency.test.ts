import assert from "node:assert/strict";
import { encodeReleaseEntry, type ReleaseEntry } from "../../protocol/logentry.ts";
import { LogClient, logProofFromJson } from "../../protocol/logclient.ts";
import { generateSignerKey, parseSignerKey } from "../../protocol/note.ts";
import { startServer } from "../../services/common/http.ts";
import { expectUsageErrors } from "./cli.ts";
import { TransparencyLog } from "../../services/transparency/log.ts";
import { logHandler } from "../../services/transparency/server.ts";

const ORIGIN = "log.cloister.test";

function release(i: number): ReleaseEntry {
  const hex = (n: number, bytes: number) => n.toString(16).padStart(2 * bytes, "0");
  return {
    measurements: { snp: hex(i, 48) },
    imageDigest: hex(i + 1, 32),
    sourceCommit: hex(i + 2, 20),
    recipeDigest: hex(i + 3, 32),
  };
}

async function withLog(
  fn: (ctx: { log: TransparencyLog; url: string; dir: string; vkey: string }) => Promise<void>,
  opts: { appendToken?: string; dir?: string; skey?: string } = {},
) {
  const dir = opts.dir ?? await Deno.makeTempDir();
  const key = parseSignerKey(opts.skey ?? generateSignerKey(ORIGIN));
  const log = await TransparencyLog.open(dir, key);
  const server = startServer(logHandler(log, opts), { hostname: "127.0.0.1", port: 0 });
  try {
    await fn({ log, url: `http://127.0.0.1:${server.port}`, dir, vkey: key.vkey });
  } finally {
    await server.shutdown();
    log.close();
  }
}

const getter = (url: string) => async (path: string) => {
  const res = await fetch(`${url}/${path}`);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${path}: ${res.status}`);
  }
  return new Uint8Array(await res.arrayBuffer());
};

async function add(url: string, entry: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/add`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(entry),
  });
  return { status: res.status, body: await res.text() };
}

Deno.test("append over HTTP, then a pinned client verifies checkpoint, inclusion and proofs", async () => {
  await withLog(async ({ url, vkey }) => {
    for (let i = 0; i < 3; i++) assert.equal((await add(url, release(i))).status, 200);
    // The same release again is not a new entry.
    assert.equal(JSON.parse((await add(url, release(1))).body).index, 1);
    const client = new LogClient({ vkey, get: getter(url) });
    const c = await client.update();
    assert.equal(c.size, 3);
    await client.verifyIncluded(2, encodeReleaseEntry(release(2)));
    await assert.rejects(client.verifyIncluded(1, encodeReleaseEntry(release(2))), {
      code: "root-mismatch",
    });
    const res = await fetch(`${url}/proof?measurement=snp:${release(1).measurements.snp}`);
    const proof = logProofFromJson(await res.json());
    assert.equal(proof.index, 1);
    await client.verifyLogProof(proof);
    const head = await fetch(`${url}/checkpoint`);
    assert.equal(head.headers.get("content-type"), "text/plain; charset=utf-8");
    await head.body?.cancel();
    const tile = await fetch(`${url}/tile/0/000.p/3`);
    assert.equal(tile.headers.get("content-type"), "application/octet-stream");
    assert.match(tile.headers.get("cache-control") ?? "", /immutable/);
    assert.equal((await tile.arrayBuffer()).byteLength, 3 * 32);
  });
});

Deno.test("the client follows a growing log across tile boundaries and refuses a fork", async () => {
  const skey = generateSignerKey(ORIGIN);
  await withLog(async ({ log, url, vkey }) => {
    await log.append([encodeReleaseEntry(release(0))]);
    const client = new LogClient({ vkey, get: getter(url) });
    await client.update();
    const first = client.lastSeenNote!;
    await log.append(Array.from({ length: 300 }, (_, i) => encodeReleaseEntry(release(i + 1))));
    assert.equal((await client.update()).size, 301);
    await client.verifyIncluded(257, encodeReleaseEntry(release(257)));
    // A fork signed by the same key (a misbehaving log) is refused against the remembered state.
    await withLog(async ({ log: fork, url: forkUrl }) => {
      await fork.append([encodeReleaseEntry(release(99))]);
      await fork.append(Array.from({ length: 5 }, (_, i) => encodeReleaseEntry(release(i + 500))));
      const remembering = new LogClient({ vkey, get: getter(forkUrl), lastSeen: first });
      await assert.rejects(remembering.update(), { code: "inconsistent" });
      assert.equal(remembering.lastSeen!.size, 1);
    }, { skey });
    // A tile cut short in transit is not a fork: the check could not be made, and says so.
    const truncating = async (path: string) => {
      const body = await getter(url)(path);
      return path.startsWith("tile/") ? body.subarray(0, body.length - 7) : body;
    };
    const cut = new LogClient({ vkey, get: truncating, lastSeen: first });
    await assert.rejects(cut.update(), (e: Error & { code?: string }) => {
      assert.equal(e.code, "unproven");
      assert.match(e.message, /cannot check checkpoint of size 301 .*tile/);
      return true;
    });
    // A checkpoint that is not UTF-8 is refused before its signature is read.
    const garbled = new LogClient({
      vkey,
      get: async (path: string) =>
        path === "checkpoint" ? Uint8Array.of(0xff, ...await getter(url)(path)) : getter(url)(path),
    });
    await assert.rejects(garbled.update(), { code: "malformed-checkpoint" });
  }, { skey });
});

Deno.test("restart keeps the state; a tampered directory or a second owner is refused", async () => {
  const dir = await Deno.makeTempDir();
  const skey = generateSignerKey(ORIGIN);
  const key = parseSignerKey(skey);
  const log = await TransparencyLog.open(dir, key);
  await log.append([0, 1, 2].map((i) => encodeReleaseEntry(release(i))));
  const note = log.checkpointNote;
  await assert.rejects(TransparencyLog.open(dir, key), { code: "in-use" });
  log.close();
  // A crashed append's unsigned leftovers are removed; the signed state loads unchanged.
  await Deno.writeFile(`${dir}/tile/entries/000.p/4`, new Uint8Array(10));
  const again = await TransparencyLog.open(dir, key);
  assert.equal(again.checkpointNote, note);
  again.close();
  await assert.rejects(Deno.stat(`${dir}/tile/entries/000.p/4`));
  // An entry changed on disk no longer reproduces the signed root.
  const bundle = await Deno.readFile(`${dir}/tile/entries/000.p/3`);
  bundle[bundle.length - 2] ^= 1;
  await Deno.writeFile(`${dir}/tile/entries/000.p/3`, bundle);
  await assert.rejects(TransparencyLog.open(dir, key), { code: "state-mismatch" });
  // Another key cannot adopt the log.
  await assert.rejects(TransparencyLog.open(dir, parseSignerKey(generateSignerKey(ORIGIN))), {
    code: "bad-checkpoint",
  });
});

Deno.test("bad requests get their status and the log keeps serving", async () => {
  await withLog(async ({ url }) => {
    assert.equal((await add(url, release(0))).status, 403);
    assert.equal((await add(url, release(0), { authorization: "Bearer wrong" })).status, 403);
    const auth = { authorization: "Bearer s3cret" };
    assert.equal((await add(url, { measurements: {} }, auth)).status, 400);
    const res = await fetch(`${url}/add`, {
      method: "POST",
      headers: { ...auth, "content-type": "text/plain" },
      body: "x",
    });
    assert.equal(res.status, 415);
    await res.body?.cancel();
    for (
      const [path, status] of [["tile/0/001", 404], ["tile/0/0001", 400], ["proof?index=5", 404], [
        "nope",
        404,
      ]] as const
    ) {
      const r = await fetch(`${url}/${path}`);
      assert.equal(r.status, status, path);
      await r.body?.cancel();
    }
    assert.equal((await add(url, release(0), auth)).status, 200);
  }, { appendToken: "s3cret" });
});

Deno.test("CLI: one readable line and exit 2 on bad input", async () => {
  await expectUsageErrors("services/transparency/main.ts", "transparency", [
    ["--listen", "nowhere", "--dir", "/tmp/x", "--key", "/nonexistent"],
    ["--listen", "127.0.0.1:0", "--dir", "/tmp/x", "--key", "/nonexistent"],
    ["bogus"],
  ]);
});
