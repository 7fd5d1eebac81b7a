/** client/fleet.ts: the relay's listing of gateways, taken only as the relay's word. */
import assert from "node:assert/strict";
import { relayFleet } from "../../client/fleet.ts";
import { ClientError, ClientInputError } from "../../client/errors.ts";

const RELAY = new URL("http://relay.test/");

/** A relay whose GET /gateways answers `gateways`. */
const listing = (gateways: unknown) => () =>
  Promise.resolve(
    new Response(JSON.stringify({ gateways }), { headers: { "content-type": "application/json" } }),
  );

Deno.test("relay fleet: every listed gateway once; a listing that would weight the choice is refused", async () => {
  const names = (await relayFleet(RELAY, listing(["node-a", "node-b"]))).map((n) => n.name);
  assert.deepEqual(names, ["node-a", "node-b"]);
  // Listed twice, a node would be chosen twice as often: the relay's fault, named.
  await assert.rejects(relayFleet(RELAY, listing(["node-a", "node-a", "node-b"])), (e) => {
    assert.ok(e instanceof ClientError && !(e instanceof ClientInputError), String(e));
    assert.equal(e.code, "relay");
    assert.match(e.message, /lists "node-a" twice/);
    return true;
  });
  // A name that is no gateway name comes from the relay, not from the user's input.
  await assert.rejects(relayFleet(RELAY, listing(["../x"])), (e) => {
    assert.ok(e instanceof ClientError && e.code === "relay", String(e));
    return true;
  });
  // The user's own names: a typo is the user's input error.
  await assert.rejects(relayFleet(RELAY, listing(["node-a"]), ["node-z"]), ClientInputError);
});
