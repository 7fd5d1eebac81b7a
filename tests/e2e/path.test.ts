/**
 * The whole path with the real processes on loopback (issue 6 "End-to-end tests"): the
 * transparency log, the issuer, EMULATED runtime nodes and the relay as separate processes
 * (demo/fleet.ts), and the client SDK. One world is started for all the steps.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Fleet, LOG_ORIGIN } from "../../demo/fleet.ts";
import { ClientError, memoryStorage } from "../../client/mod.ts";
import { cachedModel } from "../../model/builders/cache.ts";
import { decodeEvidenceBundle, encodeEvidenceBundle } from "../../protocol/evidence.ts";
import { parseSignerKey } from "../../protocol/note.ts";
import { signCheckpoint } from "../../protocol/checkpoint.ts";
import { leafHash } from "../../protocol/merkle.ts";
import { encodeReleaseEntry } from "../../protocol/logentry.ts";
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex, utf8 } from "../../protocol/bytes.ts";
import { textPatterns } from "../runtime/memscan.ts";
import { refusal as refusalOf } from "../refusal.ts";

const MESSAGES = {
  messages: [
    { from: "Ana", text: "The school trip is moved to Friday because of the rain." },
    { from: "Ben", text: "Do the kids still need packed lunches?" },
    { from: "Ana", text: "Yes, packed lunches and a rain coat, the bus leaves at 8:15." },
    { from: "Ben", text: "Thanks, I will tell Sam tonight." },
  ],
};

const refusal = (p: Promise<unknown>) => refusalOf(p, ClientError);

/** Everything the gateway side of the relay receives and answers, for one node. */
function captureProxy(target: string) {
  const seen: { headers: [string, string][]; body: Uint8Array; answer: Uint8Array }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    const url = new URL(req.url);
    const res = await fetch(`${target}${url.pathname}${url.search}`, {
      method: req.method,
      headers: req.headers,
      body: req.method === "GET" ? undefined : body,
    });
    const answer = new Uint8Array(await res.arrayBuffer());
    seen.push({ headers: [...req.headers], body, answer });
    return new Response(answer, { status: res.status, headers: res.headers });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

Deno.test("end to end with the real processes", async (t) => {
  const fleet = await Fleet.create();
  let proxy: ReturnType<typeof captureProxy> | undefined;
  try {
    await fleet.startLog();
    await fleet.startIssuer();
    const a = await fleet.startNode("node-a");
    const b = await fleet.startNode("node-b");
    const c = await fleet.startNode("node-c", ["--model", await cachedModel({ kind: "t5-tiny" })]);
    const measurement = a.first.match(/measurement=([0-9a-f]+)/)![1];
    const release = await fleet.release(measurement);
    await fleet.publish(release);
    await Promise.all([fleet.logged(a), fleet.logged(b)]);
    proxy = captureProxy(a.url);
    await fleet.startRelay({ "node-a": proxy.url, "node-b": b.url, "node-c": c.url });

    await t.step("success: a summary of the request, from a node that verified", async () => {
      const client = await fleet.client(["node-a", "node-b"]);
      const { summary, node, trail } = await client.summarize(MESSAGES);
      assert.match(summary, /packed lunches and a rain coat/);
      assert.ok(["node-a", "node-b"].includes(node.node.name));
      for (const step of ["report signature", "binding", "logged", "token", "node chosen"]) {
        assert.ok(trail.some((s) => s.ok && s.step.startsWith(step)), `no ✓ ${step}`);
      }
    });

    await t.step("an unlogged measurement is refused by name", async () => {
      const e = await refusal((await fleet.client(["node-c"])).summarize(MESSAGES));
      const step = (e.trail ?? []).find((s) => s.node === "node-c" && !s.ok)!;
      assert.equal(step.code, "unlogged");
      assert.match(step.detail, /image measurement not in the transparency log/);
    });

    await t.step("tampered evidence is refused: report signature invalid", async () => {
      const tampering: typeof fetch = async (input, init) => {
        const res = await fetch(input, init);
        if (!String(input instanceof Request ? input.url : input).includes("/evidence")) return res;
        const bundle = decodeEvidenceBundle(new Uint8Array(await res.arrayBuffer()));
        const evidence = bundle.evidence.slice();
        evidence[0x2a] ^= 1; // family_id, inside the signed region
        const body = encodeEvidenceBundle({ ...bundle, evidence });
        return new Response(body as Uint8Array<ArrayBuffer>, { headers: res.headers });
      };
      const client = await fleet.client(["node-a"], { fetch: tampering });
      const e = await refusal(client.summarize(MESSAGES));
      const step = (e.trail ?? []).find((s) => s.node === "node-a" && !s.ok)!;
      assert.equal(step.code, "signature");
      assert.match(step.detail, /report signature invalid/);
    });

    await t.step("a spent token is refused by the node", async () => {
      const storage = memoryStorage();
      const first = await fleet.client(["node-a"], { storage });
      await first.summarize(MESSAGES); // the wallet now holds the rest of its batch
      const backup = memoryStorage();
      for (const [k, v] of storage.values) backup.values.set(k, v);
      await first.summarize(MESSAGES); // spends the next token
      const replay = await fleet.client(["node-a"], { storage: backup });
      const e = await refusal(replay.summarize(MESSAGES)); // the same token again
      assert.equal(e.code, "token-refused");
      assert.match(e.message, /double-spend|already redeemed/);
    });

    await t.step("a checkpoint inconsistent with the last one seen is refused", async () => {
      // The log's own key signs a fork: a tree of the same size with another root.
      const signer = parseSignerKey((await Deno.readTextFile(`${fleet.dir}/log.key`)).trim());
      const other = encodeReleaseEntry({ ...release, sourceCommit: "f".repeat(40) });
      const forged = signCheckpoint(
        { origin: LOG_ORIGIN, size: 1, rootHash: leafHash(other), extensions: [] },
        signer,
      );
      const storage = memoryStorage();
      storage.values.set(`checkpoint-${toHex(sha256(utf8(fleet.vkey))).slice(0, 16)}`, forged);
      const e = await refusal((await fleet.client(["node-a"], { storage })).summarize(MESSAGES));
      const step = (e.trail ?? []).find((s) => s.node === "node-a" && !s.ok)!;
      assert.equal(step.code, "inconsistent");
    });

    await t.step("the relay forwards ciphertext only, and no client identity", async () => {
      const canary = toHex(crypto.getRandomValues(new Uint8Array(16)));
      proxy!.seen.length = 0;
      const client = await fleet.client(["node-a"]);
      await client.summarize({
        messages: [...MESSAGES.messages, { from: "Ana", text: `My locker code is ${canary}.` }],
      });
      const posts = proxy!.seen.filter((s) => s.body.length > 0);
      assert.ok(posts.length >= 1, "no request reached the gateway through the relay");
      const patterns = textPatterns("canary", canary);
      for (const s of proxy!.seen) {
        for (const bytes of [s.body, s.answer]) {
          for (const p of patterns) {
            assert.equal(Buffer.from(bytes).indexOf(p.bytes), -1, `${p.name} crossed the relay`);
          }
        }
        const names = s.headers.map(([n]) => n);
        for (
          const n of [
            "x-forwarded-for",
            "forwarded",
            "via",
            "user-agent",
            "cookie",
            "authorization",
          ]
        ) {
          assert.ok(!names.includes(n), `the gateway side received ${n}`);
        }
      }
    });
  } finally {
    await proxy?.close();
    await fleet.stop();
  }
});
