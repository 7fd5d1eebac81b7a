/**
 * onnxruntime ≥ 1.2x starts a telemetry system in native code on Linux (a device id from
 * `sh -c "blkid; hostname"`, an event queue in $HOME/.cache/Microsoft/DeveloperTools, HTTPS
 * uploads), beyond Deno's permissions. The runtime's children run with ORT_DISABLE_TELEMETRY:
 * after its workers have loaded the model and served their warm-up, nothing of it is under HOME.
 */
import assert from "node:assert/strict";
import { startRuntime } from "./process.ts";

Deno.test("the runtime's workers run onnxruntime with its telemetry off", async () => {
  const home = await Deno.makeTempDir({ prefix: "cloister-ort-home-" });
  // Deno's own cache stays where it is (it would default to $HOME/.cache/deno).
  const denoDir = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;
  const runtime = await startRuntime(["--emulated", "--no-tokens", "--pool", "1"], {
    env: { HOME: home, DENO_DIR: denoDir },
  });
  try {
    // "ready" comes after the pool is warm: the worker has created its ORT session and run it.
    const left = [...Deno.readDirSync(home)].map((e) => e.name);
    assert.deepEqual(left, [], `something wrote under HOME: ${left.join(", ")}`);
  } finally {
    await runtime.stop();
    await Deno.remove(home, { recursive: true });
  }
});
