import assert from "node:assert/strict";
import { fileStorage, memoryStorage } from "../../client/storage.ts";

Deno.test("storage: file storage replaces atomically, mode 0600 in a 0700 folder, deletes on undefined", async () => {
  const dir = `${await Deno.makeTempDir()}/state`;
  const s = fileStorage(dir);
  assert.equal(await s.get("tokens-x"), undefined);
  await Promise.all(
    Array.from({ length: 20 }, () => s.update("count", (v) => String(Number(v ?? 0) + 1))),
  );
  assert.equal(await s.get("count"), "20");
  assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
  assert.equal((await Deno.stat(`${dir}/count`)).mode! & 0o777, 0o600);
  await s.update("count", () => undefined);
  assert.equal(await s.get("count"), undefined);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [".lock"]);
  await assert.rejects(s.get("../escape"), TypeError);
  await assert.rejects(memoryStorage().update("A B", () => "x"), TypeError);
});
