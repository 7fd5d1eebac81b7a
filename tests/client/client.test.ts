import assert from "node:assert/strict";
import { generateSignerKey, parseSignerKey } from "../../protocol/note.ts";
import { encodeReleaseEntry } from "../../protocol/logentry.ts";
import { toHex, utf8 } from "../../protocol/bytes.ts";
import { parsePolicy } from "../../attestation/policy.ts";
import { TransparencyLog } from "../../services/transparency/log.ts";
import {
  ClientError,
  ClientInputError,
  type ClientOptions,
  CloisterClient,
  memoryStorage,
  type Storage,
  TokenWallet,
  type TrailStep,
} from "../../client/mod.ts";
import { ACCOUNT, ISSUER_NAME, LOG_ORIGIN, release, World } from "./world.ts";

const MESSAGES = {
  messages: [
    { from: "Ana", text: "Dinner moved to 8pm at Luigi's." },
    { from: "Ben", text: "I'll bring the wine." },
  ],
};

function wallet(world: World, storage: Storage, batch = 4): TokenWallet {
  return new TokenWallet({
    issuer: world.issuerUrl,
    account: ACCOUNT,
    issuerName: ISSUER_NAME,
    batch,
    fetch,
    storage,
    now: () => Math.floor(Date.now() / 1000),
  });
}

function clientFor(world: World, extra: Partial<ClientOptions> = {}): CloisterClient {
  const storage = extra.storage ?? memoryStorage();
  return new CloisterClient({
    relay: world.relayUrl,
    emulatedRoot: world.sp.root,
    log: { vkey: world.vkey, url: world.logUrl },
    wallet: wallet(world, storage),
    storage,
    ...extra,
  });
}

async function withWorld(fn: (world: World) => Promise<void>): Promise<void> {
  const world = await World.start();
  try {
    await fn(world);
  } finally {
    await world.close();
  }
}

/** Runs a summarize that must be refused; returns the error. */
async function refused(client: CloisterClient, code: string): Promise<ClientError> {
  try {
    await client.summarize(MESSAGES);
  } catch (e) {
    assert.ok(e instanceof ClientError, String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(e.trail && e.trail.length > 0);
    return e;
  }
  assert.fail(`expected a refusal with code ${code}`);
}

function failed(trail: TrailStep[] | undefined, node: string): TrailStep {
  const step = trail?.find((s) => !s.ok && s.node === node);
  assert.ok(step, `no failed step for ${node}: ${JSON.stringify(trail)}`);
  return step;
}

Deno.test("client: the whole path through the relay, with tokens and the log; state carries over", async () => {
  await withWorld(async (world) => {
    const a = release(0xa1);
    const b = release(0xb2);
    await world.publish(a.entry);
    await world.publish(b.entry);
    const ga = world.gateway(a);
    const gb = world.gateway(b);
    world.startRelay([["node-a", ga], ["node-b", gb]]);
    const storage = memoryStorage();
    const client = clientFor(world, { storage });
    const done = await client.summarize(MESSAGES);
    assert.equal(done.summary, "2 message(s); first: Dinner moved to 8pm at Luigi's.");
    assert.equal(ga.answered + gb.answered, 1);
    const steps = done.trail.map((s) => `${s.ok ? "✓" : "✗"} ${s.node ?? "-"} ${s.step}`);
    for (const node of ["node-a", "node-b"]) {
      for (
        const step of [
          "evidence",
          "report signature",
          "chain to the EMULATED root",
          "TCB",
          "binding",
          "attested key",
        ]
      ) {
        assert.ok(steps.includes(`✓ ${node} ${step}`), `${node} ${step}: ${steps.join("\n")}`);
      }
    }
    assert.ok(steps.includes("✓ node-a logged at index 0"), steps.join("\n"));
    assert.ok(steps.includes("✓ node-b logged at index 1"), steps.join("\n"));
    assert.ok(steps.includes("✓ - node chosen"));
    assert.match(done.trail.find((s) => s.step === "route")!.detail, /relay's address, not yours/);
    assert.match(
      done.trail.find((s) => s.step === "token")!.detail,
      /a batch of 4 just issued, 3 left/,
    );
    assert.ok(done.trail.every((s) => s.ok));
    assert.equal(done.node.emulated, true);
    // The checkpoint seen is kept, and the next run uses a kept token.
    const [name, note] = [...storage.values].find(([k]) => k.startsWith("checkpoint-"))!;
    assert.match(note, /^log\.cloister\.test\n2\n/);
    // The log grows; the next run proves the new checkpoint extends the kept one from tiles.
    await world.publish(release(0xc3).entry);
    const again = await client.summarize({ text: "Second request." });
    assert.equal(again.summary, "1 message(s); first: Second request.");
    assert.match(
      again.trail.find((s) => s.step === "token")!.detail,
      /kept from an earlier batch, 2 left/,
    );
    assert.match(storage.values.get(name)!, /^log\.cloister\.test\n3\n/);
  });
});

Deno.test("client: direct to gateways says the address is not hidden; fresh nonces are checked", async () => {
  await withWorld(async (world) => {
    const a = release(0xa1);
    await world.publish(a.entry);
    const honest = world.gateway(a);
    const replaying = world.gateway(a, { misbehave: { ignoreNonce: true } });
    const direct = clientFor(world, {
      relay: undefined,
      gateways: [honest.url],
      freshEvidence: true,
    });
    const done = await direct.summarize(MESSAGES);
    assert.match(done.trail[0].detail, /your address is NOT hidden/);
    assert.ok(done.trail.some((s) => s.step === "freshness" && s.ok));
    const stale = clientFor(world, {
      relay: undefined,
      gateways: [replaying.url],
      freshEvidence: true,
    });
    const e = await refused(stale, "no-node");
    const step = failed(e.trail, new URL(replaying.url).host);
    assert.equal(step.code, "stale-evidence");
    assert.match(step.detail, /^evidence not fresh \(nonce mismatch\)/);
  });
});

Deno.test("client: a node whose measurement is not logged is refused by name; the others serve", async () => {
  await withWorld(async (world) => {
    const logged = release(0xa1);
    const unlogged = release(0xee);
    await world.publish(logged.entry);
    const good = world.gateway(logged);
    const bad = world.gateway(unlogged);
    // A node that shows the proof of another, logged, image.
    const borrowing = world.gateway(unlogged, { proof: () => world.proofOf(logged.entry) });
    world.startRelay([["good", good], ["bad", bad], ["borrowing", borrowing]]);
    const done = await clientFor(world).summarize(MESSAGES);
    assert.equal(good.answered, 1);
    for (const name of ["bad", "borrowing"]) {
      const step = failed(done.trail, name);
      assert.equal(step.step, "logged");
      assert.equal(step.code, "unlogged");
      assert.match(step.detail, /^image measurement not in the transparency log: /);
    }
    assert.match(
      failed(done.trail, "bad").detail,
      /the log log\.cloister\.test has no entry with snp ee/,
    );
    assert.match(failed(done.trail, "borrowing").detail, /the log proof is for another image/);
    // Alone, the unlogged node leaves nothing to send to; without the log's URL the bundle's
    // missing proof is enough.
    world.startRelay([["bad", bad]]);
    const e = await refused(clientFor(world, { log: { vkey: world.vkey } }), "no-node");
    assert.match(
      e.message,
      /^no node verified: the fleet's only node was refused \(bad: image measurement not in the transparency log\)$/,
    );
    assert.match(failed(e.trail, "bad").detail, /carries no transparency-log proof/);
    assert.equal(bad.answered + borrowing.answered, 0);
  });
});

Deno.test("client: tampered evidence, a key binding mismatch and an unattested advertised key are refused", async () => {
  await withWorld(async (world) => {
    const r = release(0xa1);
    await world.publish(r.entry);
    const cases = [
      [
        "tampered",
        { tamperReport: true },
        "report signature",
        "signature",
        /^report signature invalid: /,
      ],
      [
        "rebound",
        { claimAnotherKey: true },
        "binding",
        "binding",
        /^key binding mismatch: REPORT_DATA/,
      ],
      [
        "otherkey",
        { advertiseAnotherKey: true },
        "attested key",
        "unattested-key",
        /^advertised key is not the attested one: /,
      ],
    ] as const;
    for (const [name, misbehave, step, code, words] of cases) {
      const g = world.gateway(r, { misbehave });
      world.startRelay([[name, g]]);
      const e = await refused(clientFor(world), "no-node");
      const s = failed(e.trail, name);
      assert.deepEqual([s.step, s.code], [step, code]);
      assert.match(s.detail, words);
      assert.equal(g.answered, 0);
    }
  });
});

Deno.test("client: the emulated root is trusted only when given", async () => {
  await withWorld(async (world) => {
    const r = release(0xa1);
    await world.publish(r.entry);
    world.startRelay([["node", world.gateway(r)]]);
    const e = await refused(clientFor(world, { emulatedRoot: undefined }), "no-node");
    const s = failed(e.trail, "node");
    assert.equal(s.code, "chain");
    assert.match(s.detail, /^certificate chain not trusted: .*ARK-Emulated/);
  });
});

Deno.test("client: a spent or foreign token is refused by the node, by name", async () => {
  await withWorld(async (world) => {
    const r = release(0xa1);
    await world.publish(r.entry);
    const g = world.gateway(r);
    world.startRelay([["node", g]]);
    const storage = memoryStorage();
    await clientFor(world, { storage }).summarize(MESSAGES);
    // A restored backup of the device's state holds tokens already spent since.
    const backup = memoryStorage();
    for (const [k, v] of storage.values) backup.values.set(k, v);
    await clientFor(world, { storage }).summarize(MESSAGES);
    const e = await refused(clientFor(world, { storage: backup }), "token-refused");
    assert.match(e.message, /^token refused: token was already redeemed/);
    assert.deepEqual(e.trail!.at(-1)!.step, "token");
    // A token of another issuer's key.
    const foreign = clientFor(world, {
      wallet: new TokenWallet({
        issuer: world.issuerUrl,
        account: ACCOUNT,
        issuerName: "other.issuer.test",
        fetch,
        storage: memoryStorage(),
        now: () => Math.floor(Date.now() / 1000),
      }),
    });
    const f = await refused(foreign, "token-refused");
    assert.match(f.message, /token is for another challenge/);
    assert.equal(g.answered, 2);
  });
});

Deno.test("client: a checkpoint inconsistent with the last one seen is refused; so is one signed by another key", async () => {
  await withWorld(async (world) => {
    const r = release(0xa1);
    await world.publish(r.entry);
    await world.publish(release(0xa2).entry);
    world.startRelay([["node", world.gateway(r)]]);
    const storage = memoryStorage();
    await clientFor(world, { storage }).summarize(MESSAGES);
    // The same log key signs a fork: same first entry, a different second one.
    const forkDir = await Deno.makeTempDir({ prefix: "client-fork-" });
    const fork = await TransparencyLog.open(forkDir, world.signer);
    await fork.append([encodeReleaseEntry(r.entry), encodeReleaseEntry(release(0xf0).entry)]);
    const p = fork.proof(0);
    const forked = world.gateway(r, {
      proof: () => ({
        checkpoint: utf8(p.checkpoint),
        leafIndex: p.index,
        inclusionProof: p.proof,
        entry: p.entry,
      }),
    });
    world.startRelay([["forked", forked]]);
    const e = await refused(clientFor(world, { storage }), "no-node");
    const s = failed(e.trail, "forked");
    assert.deepEqual([s.step, s.code], ["logged", "inconsistent"]);
    assert.match(s.detail, /^checkpoint not consistent with the last one seen: /);
    fork.close();
    // A log of the same name under another key.
    const otherDir = await Deno.makeTempDir({ prefix: "client-other-" });
    const other = await TransparencyLog.open(
      otherDir,
      parseSignerKey(generateSignerKey(LOG_ORIGIN)),
    );
    await other.append([encodeReleaseEntry(r.entry)]);
    const q = other.proof(0);
    const impostor = world.gateway(r, {
      proof: () => ({
        checkpoint: utf8(q.checkpoint),
        leafIndex: 0,
        inclusionProof: q.proof,
        entry: q.entry,
      }),
    });
    world.startRelay([["impostor", impostor]]);
    const i = await refused(clientFor(world, { storage }), "no-node");
    assert.equal(failed(i.trail, "impostor").code, "log-signature");
    other.close();
  });
});

Deno.test("client: without a log, only a policy measurement allow-list admits a node", async () => {
  await withWorld(async (world) => {
    const r = release(0xa1);
    const stranger = release(0x5a);
    world.startRelay([["pinned", world.gateway(r)], ["stranger", world.gateway(stranger)]]);
    assert.throws(() => clientFor(world, { log: undefined }), ClientInputError);
    const policy = parsePolicy({ measurement: [toHex(r.measurement)] });
    const done = await clientFor(world, { log: undefined, policy }).summarize(MESSAGES);
    assert.equal(done.node.node.name, "pinned");
    assert.ok(done.trail.some((s) => s.node === "pinned" && s.step === "measurement pinned"));
    const s = failed(done.trail, "stranger");
    assert.deepEqual([s.step, s.code], ["policy", "measurement"]);
    assert.match(s.detail, /^image measurement not allowed by the policy: measurement 5a5a/);
  });
});

Deno.test("client: node choice is uniform among the verified nodes (2000 choices, ±5σ)", async () => {
  await withWorld(async (world) => {
    const a = release(0xa1);
    const b = release(0xb2);
    await world.publish(a.entry);
    await world.publish(b.entry);
    world.startRelay([
      ["a", world.gateway(a)],
      ["b", world.gateway(b)],
      ["unlogged", world.gateway(release(0xee))],
    ]);
    const client = clientFor(world);
    const { verified, refused } = await client.verifyFleet();
    assert.deepEqual(verified.map((v) => v.node.name), ["a", "b"]);
    assert.deepEqual(refused.map((e) => e.node), ["unlogged"]);
    const n = 2000;
    let a0 = 0;
    for (let i = 0; i < n; i++) if (client.choose(verified).node.name === "a") a0++;
    // Binomial(2000, 1/2): mean 1000, σ = √(2000/4) ≈ 22.4; ±5σ fails once in ~1.7 million runs.
    const sigma = Math.sqrt(n / 4);
    assert.ok(Math.abs(a0 - n / 2) <= 5 * sigma, `node a chosen ${a0} of ${n} times`);
  });
});

Deno.test("client: a verified node is not sent to once its attested key epoch has ended", async () => {
  await withWorld(async (world) => {
    const r = release(0xa1);
    await world.publish(r.entry);
    world.startRelay([["node", world.gateway(r)]]);
    let now = new Date();
    const client = clientFor(world, { now: () => now });
    const { verified } = await client.verifyFleet();
    now = new Date(verified[0].epochEnd * 1000);
    await assert.rejects(client.send(verified[0], MESSAGES), (e: ClientError) => {
      assert.equal(e.code, "expired");
      assert.match(
        e.message,
        /^evidence expired: the key node attested was valid until .*verify the fleet again$/,
      );
      return true;
    });
  });
});
