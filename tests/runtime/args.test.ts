/** runtime/main.ts's command line: every mistake is one line and exit 2, before anything starts. */
import assert from "node:assert/strict";
import { parseArgs } from "../../runtime/main.ts";
import { listenUrl, UsageError } from "../../services/common/cli.ts";
import { runScript } from "../task.ts";

const BASE = ["--listen", "127.0.0.1:0", "--no-tokens"];

Deno.test("runtime arguments: defaults, and the token rule of issue 5", () => {
  const c = parseArgs(BASE);
  assert.deepEqual(
    [c.hostname, c.port, c.epoch, c.grace, c.pool, c.maxBody, c.workerTimeout],
    ["127.0.0.1", 0, 600, 60, 2, 256 * 1024, 30_000],
  );
  assert.equal(parseArgs([...BASE, "--epoch", "30"]).grace, 30, "the default grace fits the epoch");
  const v6 = parseArgs(["--listen", "[::1]:8080", "--no-tokens"]);
  assert.equal(v6.hostname, "::1");
  assert.equal(listenUrl(v6), "http://[::1]:8080"); // as the runtime's ready line and services say
  assert.equal(listenUrl({ hostname: "127.0.0.1", port: 80 }), "http://127.0.0.1:80");
  assert.equal(parseArgs(["--listen", "0.0.0.0:8080", "--issuer-key", "k"]).issuerKey, "k");
});

Deno.test("runtime arguments: each mistake is a UsageError naming the option", () => {
  const cases: [string[], RegExp][] = [
    [["--listen", "127.0.0.1:0"], /no --issuer-key given: refusing to serve without token checks/],
    [[...BASE, "--issuer-key", "k"], /--issuer-key and --no-tokens conflict/],
    [["--no-tokens"], /--listen HOST:PORT is required/],
    [["--listen", "no such host:0", "--no-tokens"], /--listen must be HOST:PORT/],
    [["--listen", "127.0.0.1:70000", "--no-tokens"], /--listen must be HOST:PORT/],
    [[...BASE, "--pool", "0"], /--pool must be an integer 1\.\.64, not "0"/],
    [[...BASE, "--pool", "abc"], /--pool must be an integer/],
    // setTimeout fires at once for more than 2^31 − 1 ms: every request would have timed out.
    [
      [...BASE, "--worker-timeout", "3000000000"],
      /--worker-timeout must be an integer 1\.\.2147483647/,
    ],
    [[...BASE, "--max-body", String(2 ** 30)], /--max-body must be an integer 1\.\.16777216/],
    [[...BASE, "--epoch", "99999999"], /--epoch must be an integer 2\.\.2592000/],
    [[...BASE, "--epoch", "60", "--grace", "61"], /--grace must be an integer 2\.\.60, not "61"/],
    // Below two seconds the successor's evidence could come after the old claims end.
    [[...BASE, "--grace", "1"], /--grace must be an integer 2\.\.600/],
    [[...BASE, "--epoch", "1"], /--epoch must be an integer 2\.\.2592000/],
    // Number() reads these as 0, 16 and 100: not a decimal integer, refused.
    [[...BASE, "--grace="], /--grace must be an integer 2\.\.600, not ""/],
    [[...BASE, "--pool", "0x10"], /--pool must be an integer 1\.\.64, not "0x10"/],
    [[...BASE, "--epoch", "1e2"], /--epoch must be an integer/],
    [[...BASE, "--int8"], /--int8 needs --model/],
    [[...BASE, "--pool"], /--pool needs a value/],
    [[...BASE, "--frobnicate"], /unknown option "--frobnicate"/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseArgs(args), (e) => {
      assert.ok(e instanceof UsageError, `${args.join(" ")}: ${e}`);
      assert.match(e.message, message, args.join(" "));
      return true;
    });
  }
});

Deno.test("runtime: an unusable --issuer-key file is one line and exit 2, before any evidence", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.json`, "{not json");
    for (
      const [file, message] of [[`${dir}/none.json`, /No such file/], [
        `${dir}/bad.json`,
        /not JSON/,
      ]] as const
    ) {
      const out = await runScript("runtime/main.ts", [
        "--listen",
        "127.0.0.1:0",
        "--emulated",
        "--emulated-state",
        `${dir}/sp`,
        "--issuer-key",
        file,
      ]);
      const { err } = out;
      assert.equal(out.code, 2, err);
      assert.match(err, new RegExp(`^runtime: --issuer-key ${file}: `));
      assert.match(err, message);
      assert.equal(err.trim().split("\n").length, 1, err);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
