/**
 * The worker side of `fuzzInWorker` (tests/fuzz.ts): imports the targets module, runs one target,
 * reports a heartbeat every 1000 cases and then its statistics or the failure.
 */
/// <reference lib="deno.worker" />
import { type FuzzTarget, runFuzz } from "./fuzz.ts";

self.onmessage = async (
  { data }: MessageEvent<{ module: string; name: string; count: number; seed: number }>,
) => {
  const { module, name, count, seed } = data;
  try {
    const targets: Record<string, FuzzTarget> = (await import(module)).default;
    const target = targets[name];
    if (!target) throw new Error(`no fuzz target "${name}" in ${module}`);
    const stats = runFuzz(target, {
      count,
      seed,
      progress: (done) => self.postMessage({ done }),
    });
    self.postMessage({ stats });
  } catch (e) {
    self.postMessage({ failure: e instanceof Error ? e.message : String(e) });
  }
};
