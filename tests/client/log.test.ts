/**
 * client/log.ts LogCheck.save(): runs that share a state folder each extend the checkpoint they
 * loaded; what they store is compared with what another run stored meanwhile, so a fork seen by
 * one run and the other fork seen by another cannot replace each other unnoticed.
 */
import assert from "node:assert/strict";
import { LogCheck } from "../../client/log.ts";
import { memoryStorage } from "../../client/storage.ts";
import { generateSignerKey, parseSignerKey } from "../../protocol/note.ts";
import { encodeReleaseEntry } from "../../protocol/logentry.ts";
import { toHex } from "../../protocol/bytes.ts";
import { TransparencyLog } from "../../services/transparency/log.ts";
import { logHandler } from "../../services/transparency/server.ts";
import { fetchLogProof } from "../../runtime/transparency.ts";

const URL_ = "http://log.example/";
/** A distinct 48-byte measurement for each release number. */
function measurement(i: number): Uint8Array {
  const m = new Uint8Array(48).fill(7);
  m[0] = i >> 8;
  m[1] = i & 0xff;
  return m;
}
const release = (i: number) =>
  encodeReleaseEntry({
    measurements: { snp: toHex(measurement(i)) },
    imageDigest: "11".repeat(32),
    sourceCommit: "22".repeat(20),
    recipeDigest: "33".repeat(32),
  });

/** A log under `signer` holding releases `ids`, served in process. */
async function served(signer: ReturnType<typeof parseSignerKey>, ids: number[]) {
  const dir = await Deno.makeTempDir();
  const log = await TransparencyLog.open(dir, signer);
  for (const i of ids) await log.append([release(i)]);
  const handler = logHandler(log);
  const fetch = ((input: URL | Request | string) =>
    handler(
      new Request(input),
      { remoteAddr: { hostname: "127.0.0.1" } } as never,
    )) as typeof globalThis.fetch;
  const bundle = async (i: number) => ({
    platform: "sev-snp" as const,
    measurement: measurement(i),
    transparency: await fetchLogProof(URL_, "sev-snp", measurement(i), fetch),
  });
  return {
    log,
    fetch,
    bundle,
    close: async () => (log.close(), await Deno.remove(dir, { recursive: true })),
  };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, k) => from + k);

Deno.test("two runs that saw two forks of the log cannot save both unnoticed", async () => {
  const signer = parseSignerKey(generateSignerKey("log.example"));
  const storage = memoryStorage();
  const open = (fetch: typeof globalThis.fetch) =>
    LogCheck.open({ vkey: signer.vkey, url: URL_, fetch, storage });
  const base = await served(signer, range(0, 10));
  const seed = await open(base.fetch);
  await seed.check(await base.bundle(0));
  await seed.save();
  // Two forks of that tree, each signed by the log's key (a log that shows runs different views).
  const x = await served(signer, [...range(0, 10), ...range(1000, 5)]);
  const y = await served(signer, [...range(0, 10), ...range(2000, 10)]);
  try {
    const a = await open(x.fetch);
    const b = await open(y.fetch);
    await a.check(await x.bundle(1000));
    await b.check(await y.bundle(2000));
    await a.save();
    await assert.rejects(b.save(), { code: "inconsistent" });
    // Runs that saw one log save the larger checkpoint, whichever saves first.
    const c = await open(x.fetch);
    await x.log.append(range(3000, 3).map(release));
    const d = await open(x.fetch);
    await d.check(await x.bundle(3002));
    await c.check(await x.bundle(1004));
    await d.save();
    await c.save();
    assert.equal((await open(x.fetch)).lastSeenSize, 18);
  } finally {
    await Promise.all([base.close(), x.close(), y.close()]);
  }
});
