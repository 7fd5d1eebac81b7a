/**
 * Non-targetability over the whole path (issue 6): with two verified nodes, 200 real requests
 * through the relay land on each node about half the time. A fair choice puts node-a's count in
 * Binomial(200, 1/2): mean 100, σ ≈ 7.07; the bound is ±5σ (a fair chooser fails it about once
 * in 1.7 million runs; one that always picks the same node fails it every time).
 *
 *   deno task test:soak   (200 one-shot workers: about a minute or two here)
 */
import assert from "node:assert/strict";
import { Fleet } from "../../demo/fleet.ts";

Deno.test("the two nodes are each chosen about half the time over 200 requests", async () => {
  const fleet = await Fleet.create();
  try {
    await fleet.startLog();
    await fleet.startIssuer(["--rate", "1000"]); // 200 tokens in a minute or two
    const a = await fleet.startNode("node-a", ["--pool", "2"]);
    const b = await fleet.startNode("node-b", ["--pool", "2"]);
    await fleet.publish(await fleet.release(a.first.match(/measurement=([0-9a-f]+)/)![1]));
    await Promise.all([fleet.logged(a), fleet.logged(b)]);
    // One client makes every request here, so lift the relay's per-address rate limit.
    await fleet.startRelay({ "node-a": a.url, "node-b": b.url }, [
      "--rate",
      "1000",
      "--burst",
      "1000",
    ]);
    const client = await fleet.client(["node-a", "node-b"]);
    const counts = { "node-a": 0, "node-b": 0 } as Record<string, number>;
    const n = 200;
    for (let i = 0; i < n; i++) {
      const marker = `request ${i} asks about the parcel for flat ${1000 + i}.`;
      const { summary, node } = await client.summarize({
        messages: [
          { from: "Kim", text: marker },
          { from: "Lee", text: "It is at the front desk, you can pick it up any time." },
          { from: "Kim", text: "Thanks, I will go this evening." },
        ],
      });
      assert.ok(summary.includes(`flat ${1000 + i}`), `answer ${i} is not its own`);
      counts[node.node.name]++;
    }
    const sigma = Math.sqrt(n / 4);
    console.log(
      `node-a ${counts["node-a"]}, node-b ${counts["node-b"]} of ${n} (±5σ = ±${
        (5 * sigma).toFixed(1)
      })`,
    );
    assert.ok(Math.abs(counts["node-a"] - n / 2) <= 5 * sigma, JSON.stringify(counts));
  } finally {
    await fleet.stop();
  }
});
