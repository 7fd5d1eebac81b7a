import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { runTask } from "../task.ts";
import { ACCOUNT, EMULATED_STATE, ISSUER_NAME, release, World } from "./world.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const client = (args: string[], stdin?: string) => runTask("client", args, stdin);

Deno.test("cli: summarize through the relay prints the trail and the summary; --json from stdin", async () => {
  const world = await World.start();
  const state = `.cache/client/test-${crypto.randomUUID()}`;
  try {
    const logged = release(0xa1);
    await world.publish(logged.entry);
    world.startRelay([["node-a", world.gateway(logged)], ["node-b", world.gateway(release(0xee))]]);
    const file = await Deno.makeTempFile({ suffix: ".txt" });
    await Deno.writeTextFile(file, "Dinner moved to 8pm. I'll bring the wine.\n");
    const common = [
      "--relay",
      world.relayUrl,
      `--trust-emulated=${EMULATED_STATE}`,
      "--log-key",
      world.vkey,
      "--log",
      world.logUrl,
      "--issuer",
      world.issuerUrl,
      "--issuer-name",
      ISSUER_NAME,
      "--account",
      `${ACCOUNT.name}:${ACCOUNT.secret}`,
      "--state",
      state,
    ];
    const human = await client(["summarize", ...common, file]);
    assert.equal(human.code, 0, human.out + human.err);
    assert.match(human.out, /^EMULATED: trusting the emulated secure processor's root/);
    for (
      const line of [
        /^node node-a$/m,
        /^ {2}✓ report signature +ECDSA P-384/m,
        /^ {2}✓ chain to the EMULATED root +SEV-VCEK → SEV-Emulated → ARK-Emulated/m,
        /^ {2}✓ TCB +VCEK Genoa/m,
        /^ {2}✓ binding +REPORT_DATA = SHA-512/m,
        /^ {2}✓ logged at index 0 +a1a1/m,
        /^ {2}✗ logged +image measurement not in the transparency log: /m,
        /^ {2}✓ node chosen +node-a, uniformly at random among the 1 of 2 that verified$/m,
        /^ {2}✓ token +one unused token from issuer\.cloister\.test \(a batch of 10 just issued, 9 left\)$/m,
        /^summary:\n {2}1 message\(s\); first: Dinner moved to 8pm\. I'll bring the wine\.$/m,
      ]
    ) assert.match(human.out, line);
    assert.equal(human.err, "");
    const json = await client([
      "summarize",
      ...common,
      "--json",
      "-",
    ], JSON.stringify({ messages: [{ from: "Ana", text: "Flight lands at 6." }] }));
    assert.equal(json.code, 0, json.err);
    const o = JSON.parse(json.out);
    assert.deepEqual([o.ok, o.route, o.emulatedRootTrusted, o.node], [
      true,
      "relay",
      true,
      "node-a",
    ]);
    assert.equal(o.summary, "1 message(s); first: Flight lands at 6.");
    const token = o.trail.find((s: { step: string }) => s.step === "token");
    assert.match(token.detail, /kept from an earlier batch, 8 left/);
    assert.ok(Deno.statSync(`${ROOT}${state}`).isDirectory);
    // Only the unlogged node: refused by name, exit 1.
    const refused = await client(["summarize", ...common, "--gateway", "node-b", file]);
    assert.equal(refused.code, 1, refused.err);
    assert.match(refused.out, /^ {2}✗ logged +image measurement not in the transparency log/m);
    assert.match(
      refused.out,
      /\nREFUSED \(no-node\): no node verified: the fleet's only node was refused \(node-b: image measurement not in the transparency log\)\n$/,
    );
    await Deno.remove(file);
  } finally {
    await world.close();
    await Deno.remove(`${ROOT}${state}`, { recursive: true }).catch(() => {});
  }
});

Deno.test("cli: unusable input exits 2 with one line and no stack trace", async () => {
  const vkey = "log.cloister.test+e43348af+AS7zxnRKtmEoMPXIGnBzqwn4xHgWTVMAacEIeHiz0/i6";
  for (
    const [args, message] of [
      [["summarize", "--relay", "http://127.0.0.1:9", "x.txt"], /nothing ties the nodes' image/],
      [["summarize", "--frob", "x.txt"], /unknown option --frob/],
      [
        ["summarize", "--relay", "http://127.0.0.1:9", "--log-key", vkey, "/no/such"],
        /cannot read/,
      ],
      [
        ["summarize", "--log-key", "nokey", "--gateway", "http://127.0.0.1:9", "-"],
        /--log-key nokey/,
      ],
      [["summarize", "--issuer", "http://127.0.0.1:9", "x.txt"], /--issuer and --account/],
      // Before any network work (tokens bought and then not storable would be lost).
      [
        ["summarize", "--relay", "http://127.0.0.1:9", "--log-key", vkey, "--state", "/tmp", "-"],
        /--state \/tmp: this run may not write there/,
      ],
      [["translate", "x.txt"], /unknown command "translate"/],
    ] as const
  ) {
    const r = await client([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.out}${r.err}`);
    assert.equal(r.out, "");
    assert.match(r.err, /^client: [^\n]+\n(usage: [^\n]+\n)?$/);
    assert.match(r.err, message);
  }
});
