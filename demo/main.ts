/**
 * `deno task demo`: the whole path of DESIGN.md on loopback, with the real processes
 * (demo/fleet.ts).
 *
 *   1. the transparency log and the Privacy Pass issuer;
 *   2. two runtime nodes with the EMULATED secure processor (on a host it measures the runtime's
 *      own files: changed code, changed measurement);
 *   3. the release — the nodes' measurement — is appended to the log, and the relay starts;
 *   4. a client gets tokens, verifies every node's evidence (signature, chain, TCB, policy, key
 *      binding, log inclusion under the log key it pins), chooses a node at random, and
 *      summarises a fixture of unread chat messages through the relay;
 *   5. a third node runs a model that was never published: the client refuses it by name.
 *
 * Exit 0 when the summary came back and the unpublished node was refused, 1 otherwise; every
 * process is stopped either way.
 */
import { ClientError, type TrailStep } from "../client/mod.ts";
import { cachedModel } from "../model/builders/cache.ts";
import { Fleet, ISSUER_NAME } from "./fleet.ts";

const bold = (s: string) => Deno.noColor ? s : `\x1b[1m${s}\x1b[22m`;
const say = (s = "") => console.log(s);
const section = (s: string) => say(`\n${bold(s)}`);

function printStep(s: TrailStep): void {
  say(`  ${s.ok ? "✓" : "✗"} ${s.node ? `${s.node}: ` : ""}${s.step} — ${s.detail}`);
}

async function main(fleet: Fleet): Promise<number> {
  const t0 = performance.now();
  section("1. The parties outside the TEE");
  await fleet.startLog();
  say(`  transparency log    ${fleet.logUrl}  (clients pin ${fleet.vkey.split("+")[0]}+…)`);
  await fleet.startIssuer();
  say(`  Privacy Pass issuer ${fleet.issuerUrl}  (${ISSUER_NAME}, VOPRF P-384 tokens)`);

  section("2. Two runtime nodes (EMULATED secure processor: this host has no SEV-SNP)");
  const a = await fleet.startNode("node-a");
  const b = await fleet.startNode("node-b");
  const measurement = a.first.match(/measurement=([0-9a-f]+)/)![1];
  say(`  node-a ${a.url}   node-b ${b.url}`);
  say(`  launch measurement ${measurement}`);
  say("  (SHA-384 over the runtime's module graph and dependency pins: change a line, change it)");

  section("3. The release is published in the transparency log");
  const index = await fleet.publish(await fleet.release(measurement));
  say(`  ${measurement.slice(0, 16)}… logged at index ${index}`);
  await Promise.all([fleet.logged(a), fleet.logged(b)]);
  say("  both nodes now serve the log's inclusion proof in their evidence bundles");
  const c = await fleet.startNode("node-c", ["--model", await cachedModel({ kind: "t5-tiny" })]);
  await fleet.startRelay({ "node-a": a.url, "node-b": b.url, "node-c": c.url });
  say(`  OHTTP relay ${fleet.relayUrl}: forwards ciphertext only, drops the client's address`);

  section("4. The device: tokens, verification of every node, a random choice, the request");
  say("  EMULATED: the emulated secure processor's root is trusted for this demo only");
  const body = JSON.parse(await Deno.readTextFile(new URL("unread.json", import.meta.url)));
  const client = await fleet.client(["node-a", "node-b"], { onStep: printStep });
  const { summary, node } = await client.summarize(body);
  say(
    `\n  ${bold(`Summary of ${body.messages.length} unread messages`)} (from ${node.node.name}):`,
  );
  for (const line of summary.split("\n")) say(`    ${line}`);

  section("5. A node running an unpublished model is refused");
  say(`  node-c ${c.url} serves a model that is in no logged release`);
  try {
    await (await fleet.client(["node-c"], { onStep: printStep })).summarize(body);
    say("  ✗ node-c was NOT refused: the demo failed");
    return 1;
  } catch (e) {
    if (!(e instanceof ClientError)) throw e;
    say(`  → refused: ${e.message}`);
  }
  say(`\nDone in ${((performance.now() - t0) / 1000).toFixed(1)} s; stopping every process.`);
  return 0;
}

const fleet = await Fleet.create();
let code = 1;
try {
  code = await main(fleet);
} catch (e) {
  console.error(`demo: ${e instanceof Error ? e.message : e}`);
  for (const c of fleet.children) {
    const last = c.stderr().trim().split("\n").slice(-2).join(" | ");
    if (last) console.error(`  ${c.name}: ${last}`);
  }
} finally {
  await fleet.stop();
}
Deno.exit(code);
