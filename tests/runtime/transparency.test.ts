/**
 * runtime/transparency.ts against the real log (services/transparency) and the client's check
 * (client/log.ts): the proof a runtime fetches for its measurement is one the client accepts, for
 * each platform's measurement name.
 */
import assert from "node:assert/strict";
import { TransparencyLog } from "../../services/transparency/log.ts";
import { logHandler } from "../../services/transparency/server.ts";
import { generateSignerKey, parseSignerKey } from "../../protocol/note.ts";
import { encodeReleaseEntry, MEASUREMENT_NAME } from "../../protocol/logentry.ts";
import { toHex } from "../../protocol/bytes.ts";
import { fetchLogProof } from "../../runtime/transparency.ts";
import { LogCheck } from "../../client/log.ts";
import { memoryStorage } from "../../client/storage.ts";

Deno.test("the proof a runtime fetches for its measurement is the one a client accepts", async () => {
  for (const platform of ["sev-snp", "tdx"] as const) {
    const measurement = new Uint8Array(48).fill(platform === "tdx" ? 0xab : 0xcd);
    const dir = await Deno.makeTempDir();
    const signer = parseSignerKey(generateSignerKey("log.example"));
    const log = await TransparencyLog.open(dir, signer);
    try {
      await log.append([encodeReleaseEntry({
        measurements: { [MEASUREMENT_NAME[platform]]: toHex(measurement) },
        imageDigest: "11".repeat(32),
        sourceCommit: "22".repeat(20),
        recipeDigest: "33".repeat(32),
      })]);
      const handler = logHandler(log);
      const fetcher = ((input: URL | Request | string) =>
        handler(
          new Request(input),
          { remoteAddr: { hostname: "127.0.0.1" } } as never,
        )) as typeof fetch;
      const transparency = await fetchLogProof(
        "http://log.example/",
        platform,
        measurement,
        fetcher,
      );
      const check = await LogCheck.open({
        vkey: signer.vkey,
        url: "http://log.example/",
        fetch: fetcher,
        storage: memoryStorage(),
      });
      const logged = await check.check({ platform, measurement, transparency }, "node-a");
      assert.equal(logged.index, 0, platform);
    } finally {
      log.close();
      await Deno.remove(dir, { recursive: true });
    }
  }
});
