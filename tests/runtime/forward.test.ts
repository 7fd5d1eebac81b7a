/**
 * Forward security of key epochs (DESIGN.md "Forward security and wiping"; issue 5, "Proofs"):
 * once a key's epoch and grace are over, its private key buffer is zero and nothing opens a
 * request sealed to it — the client gets RFC 9458 §5.3's key problem and fetches fresh keys.
 * Unit tests with an injected clock, then the real runtime with short epochs.
 */
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { KeyEpochs, NoEpochError } from "../../runtime/epochs.ts";
import { gateway } from "../../runtime/gateway.ts";
import { Metrics } from "../../runtime/metrics.ts";
import type { WorkerPool } from "../../runtime/pool.ts";
import type { Evidence, EvidenceProvider } from "../../attestation/providers/provider.ts";
import { equalBytes, fromHex, isZero, utf8 } from "../../protocol/bytes.ts";
import { scanProcesses } from "./memscan.ts";
import { type BindingClaims, reportData } from "../../protocol/evidence.ts";
import {
  decapsulateRequest,
  decodeKeyConfigs,
  encapsulateRequest,
  encodeKeyConfig,
  type KeyConfig,
  OhttpError,
  PROBLEM_TYPE_OHTTP_KEY,
} from "../../protocol/ohttp.ts";
import { verifyBundle } from "../../attestation/verify.ts";
import { defaultPolicy } from "../../attestation/policy.ts";
import { loadEmulatedRoot } from "../../attestation/emulated.ts";
import { startRuntime } from "./process.ts";
import { keyConfig, sendBhttp, summarizeRequest } from "./send.ts";
import { emulatedSp } from "../attestation/fixtures.ts";
import { EMULATED_STATE } from "../client/world.ts";

/** Evidence that is just the REPORT_DATA it was asked for: enough to see what was bound. */
class FakeProvider implements EvidenceProvider {
  readonly platform = "sev-snp" as const;
  readonly name = "fake";
  asked: Uint8Array[] = [];
  fail = false;
  getEvidence(data: Uint8Array): Promise<Evidence> {
    if (this.fail) return Promise.reject(new Error("the secure processor is busy"));
    this.asked.push(data.slice());
    return Promise.resolve({ platform: "sev-snp", evidence: data.slice(), source: "fake" });
  }
}

const LENGTH = 600;
const GRACE = 60;

function clock(start = 1_800_000_000) {
  const c = { now: start, tick: (s: number) => (c.now += s) };
  return c;
}

function sealed(config: KeyConfig) {
  return encapsulateRequest(config, utf8("a request")).encapsulatedRequest;
}

Deno.test("key epochs: evidence binds each key; after rotation plus grace the old key is zero and refused", async () => {
  const provider = new FakeProvider();
  const time = clock();
  const epochs = new KeyEpochs({
    provider,
    lengthSeconds: LENGTH,
    graceSeconds: GRACE,
    now: () => time.now,
  });
  assert.equal(epochs.due(), true);
  const first = await epochs.rotate();
  const firstKey = first.key.privateKey; // the very buffer the gateway decrypts with
  assert.ok(!isZero(firstKey));
  assert.ok(equalBytes(provider.asked[0], reportData(first.claims)));
  assert.ok(equalBytes(first.claims.keyConfig, encodeKeyConfig(first.key.config)));
  assert.equal(first.claims.epochEnd - first.claims.epochStart, LENGTH + GRACE);
  assert.ok(equalBytes(epochs.keyConfigs().subarray(2), first.keyConfig));

  time.tick(LENGTH - 1);
  assert.equal(epochs.due(), false);
  time.tick(1);
  assert.equal(epochs.due(), true);
  const second = await epochs.rotate();
  assert.notEqual(second.key.config.keyId, first.key.config.keyId);
  // Only the new key is advertised; both are accepted during the grace period.
  assert.deepEqual(decodeKeyConfigs(epochs.keyConfigs()).map((c) => c.keyId), [
    second.key.config.keyId,
  ]);
  time.tick(GRACE - 1);
  assert.deepEqual(epochs.gatewayKeys().map((k) => k.config.keyId), [
    second.key.config.keyId,
    first.key.config.keyId,
  ]);
  const within = decapsulateRequest(epochs.gatewayKeys(), sealed(first.key.config));
  assert.deepEqual(within.request, utf8("a request"));
  within.context.dispose();

  time.tick(1); // rotation + grace: wiped by the runtime's timer, even with no request coming
  epochs.expire();
  assert.ok(isZero(firstKey), "the retired private key is not zero");
  assert.deepEqual(epochs.gatewayKeys().map((k) => k.config.keyId), [second.key.config.keyId]);
  assert.equal(firstKey.length, 32);
  assert.throws(
    () => decapsulateRequest(epochs.gatewayKeys(), sealed(first.key.config)),
    (e: unknown) => e instanceof OhttpError && e.code === "unknown-key-id",
  );
  // The new key still works, and was never touched by the wipe.
  assert.ok(!isZero(second.key.privateKey));
  decapsulateRequest(epochs.gatewayKeys(), sealed(second.key.config)).context.dispose();
  epochs.close();
  assert.ok(isZero(second.key.privateKey), "close() leaves a key behind");
});

Deno.test("key epochs: a rotation during a grace period wipes the older key at once", async () => {
  const time = clock();
  const epochs = new KeyEpochs({
    provider: new FakeProvider(),
    lengthSeconds: LENGTH,
    graceSeconds: GRACE,
    now: () => time.now,
  });
  const a = await epochs.rotate();
  const b = await epochs.rotate();
  assert.ok(!isZero(a.key.privateKey), "a is still in its grace period");
  const c = await epochs.rotate();
  assert.ok(isZero(a.key.privateKey));
  assert.deepEqual(epochs.gatewayKeys().map((k) => k.config.keyId), [
    c.key.config.keyId,
    b.key.config.keyId,
  ]);
  epochs.close();
  for (const e of [a, b, c]) assert.ok(isZero(e.key.privateKey));
});

Deno.test("key epochs: a provider failure keeps the running epoch", async () => {
  const provider = new FakeProvider();
  const time = clock();
  const epochs = new KeyEpochs({ provider, now: () => time.now });
  const running = await epochs.rotate();
  provider.fail = true;
  await assert.rejects(epochs.rotate(), /busy/);
  assert.equal(epochs.current, running);
  assert.equal(epochs.gatewayKeys().length, 1);
  assert.ok(!isZero(running.key.privateKey));
  epochs.close();
});

/** The gateway over `epochs` alone: its key and evidence paths (no request reaches a worker). */
function keysOnly(epochs: KeyEpochs) {
  return gateway({
    epochs,
    pool: {} as WorkerPool,
    redeem: () => Promise.resolve(undefined),
    bundle: () => new Uint8Array(1),
    bundleWithNonce: () => Promise.resolve(new Uint8Array(1)),
    metrics: new Metrics(),
  });
}

Deno.test("key epochs: a key whose successor is never attested is wiped at its epoch's end", async () => {
  const provider = new FakeProvider();
  const time = clock();
  const epochs = new KeyEpochs({ provider, now: () => time.now });
  const running = await epochs.rotate();
  provider.fail = true;
  time.tick(LENGTH + GRACE - 1); // the last second its evidence vouches for
  assert.equal(epochs.current, running);
  time.tick(1);
  assert.throws(() => epochs.current, NoEpochError);
  assert.deepEqual(epochs.gatewayKeys(), []);
  assert.ok(isZero(running.key.privateKey), "the key is zero though no rotation came");
  // The gateway says so instead of serving a key or evidence past its epoch.
  const handler = keysOnly(epochs);
  for (const path of ["/.well-known/ohttp-gateway", "/.well-known/cloister/evidence"]) {
    const res = await handler(new Request(`http://runtime${path}`));
    assert.equal(res.status, 503, path);
    assert.match(await res.text(), /no current key epoch/);
  }
  const post = await handler(
    new Request("http://runtime/.well-known/ohttp-gateway", {
      method: "POST",
      headers: { "content-type": "message/ohttp-req" },
      body: sealed(running.key.config) as Uint8Array<ArrayBuffer>,
    }),
  );
  assert.equal(post.status, 400);
  assert.equal((await post.json()).type, PROBLEM_TYPE_OHTTP_KEY);
  // Rotation comes back: a fresh epoch serves again.
  provider.fail = false;
  assert.ok(epochs.due());
  await epochs.rotate();
  assert.equal(
    (await handler(new Request("http://runtime/.well-known/ohttp-gateway"))).status,
    200,
  );
  epochs.close();
});

Deno.test("key configs are cached no longer than a superseded key is accepted", async () => {
  for (const [grace, maxAge] of [[5, "max-age=5"], [GRACE, "max-age=60"], [120, "max-age=60"]]) {
    const epochs = new KeyEpochs({
      provider: new FakeProvider(),
      lengthSeconds: LENGTH,
      graceSeconds: grace as number,
    });
    await epochs.rotate();
    const handler = keysOnly(epochs);
    const res = await handler(new Request("http://runtime/.well-known/ohttp-gateway"));
    await res.body?.cancel();
    assert.equal(res.headers.get("cache-control"), maxAge);
    epochs.close();
  }
});

Deno.test("a retired key leaves no copy in the process, native ones included", async () => {
  // node:crypto copies the key into a KeyObject at each decapsulation: without the collection
  // after a wipe, those copies outlive it (the control run finds them; the scan can fail).
  const child = fileURLToPath(new URL("./epoch_child.ts", import.meta.url));
  const found: Record<string, { retired: number; live: number }> = {};
  for (const mode of ["collect", "no-collect"]) {
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--v8-flags=--clear-free-memory,--expose-gc", child, mode],
      env: { MALLOC_PERTURB_: "165" },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = process.stdout.getReader();
    try {
      const keys = JSON.parse(new TextDecoder().decode((await reader.read()).value));
      const { hits } = await scanProcesses([process.pid], [
        { name: "retired", bytes: fromHex(keys.retired) },
        { name: "live", bytes: fromHex(keys.live) },
      ]);
      const count = (name: string) => hits.filter((h) => h.pattern === name).length;
      found[mode] = { retired: count("retired"), live: count("live") };
    } finally {
      reader.releaseLock();
      process.kill("SIGKILL");
      await process.status;
    }
  }
  assert.ok(found["collect"].live >= 1, `the live key is found: ${JSON.stringify(found)}`);
  assert.ok(found["no-collect"].retired >= 1, `control: copies remain: ${JSON.stringify(found)}`);
  assert.equal(found["collect"].retired, 0, JSON.stringify(found));
});

Deno.test("key epochs: nonce evidence binds the current key, its epoch and the nonce", async () => {
  const provider = new FakeProvider();
  const epochs = new KeyEpochs({ provider, now: () => 1_800_000_000 });
  const epoch = await epochs.rotate();
  const nonce = Uint8Array.of(1, 2, 3);
  const { claims, evidence } = await epochs.evidenceWithNonce(nonce);
  const expected: BindingClaims = { ...epoch.claims, nonce };
  assert.deepEqual(claims, expected);
  assert.ok(equalBytes(evidence.evidence, reportData(expected)));
  epochs.close();
});

const EPOCH = 5;
const GRACE_E2E = 3;

async function until(what: string, ok: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("runtime: after rotation plus grace a request to the old key gets the key problem", async () => {
  await emulatedSp("genoa");
  const runtime = await startRuntime([
    "--emulated",
    "--emulated-state",
    EMULATED_STATE,
    "--no-tokens",
    "--epoch",
    String(EPOCH),
    "--grace",
    String(GRACE_E2E),
    "--pool",
    "1",
  ]);
  const body = { text: "The old key was retired. The new key is served. Clients fetch it again." };
  try {
    const old = await keyConfig(runtime.url);
    let fresh = old;
    await until("a key rotation", async () => {
      fresh = await keyConfig(runtime.url);
      return fresh.keyId !== old.keyId;
    });
    const seen = Date.now();

    // Within the grace period (at least GRACE_E2E - 1 s remain: the runtime counts whole
    // seconds), the old key still opens requests.
    const within = await sendBhttp(runtime.url, old, summarizeRequest(body));
    const took = Date.now() - seen;
    assert.equal(within.outer, 200, `${JSON.stringify(within)} ${took} ms after the rotation`);
    assert.equal(within.status, 200, JSON.stringify(within));

    // The new epoch's evidence names the new key.
    const bundle = new Uint8Array(
      await (await fetch(`${runtime.url}/.well-known/cloister/evidence`)).arrayBuffer(),
    );
    const verified = await verifyBundle(bundle, defaultPolicy(), {
      now: new Date(),
      roots: [await loadEmulatedRoot(EMULATED_STATE)],
    });
    assert.ok(equalBytes(verified.claims.keyConfig, encodeKeyConfig(fresh)));
    const start = verified.claims.epochStart;
    assert.equal(verified.claims.epochEnd, start + EPOCH + GRACE_E2E);

    // After rotation plus grace: refused with RFC 9458 §5.3's problem; the new key works.
    await new Promise((r) =>
      setTimeout(r, Math.max(0, (start + GRACE_E2E + 0.2) * 1000 - Date.now()))
    );
    const late = await sendBhttp(runtime.url, old, summarizeRequest(body));
    assert.equal(late.outer, 400);
    assert.equal(late.outerType, "application/problem+json");
    assert.equal(JSON.parse(late.outerBody!).type, PROBLEM_TYPE_OHTTP_KEY);
    const current = await sendBhttp(
      runtime.url,
      await keyConfig(runtime.url),
      summarizeRequest(body),
    );
    assert.equal(current.status, 200);
    assert.doesNotMatch(runtime.stderr(), /rotation failed/);
  } finally {
    await runtime.stop();
  }
});
