/** `deno task image` and `deno task boot` command lines: mistakes are one line and exit 2. */
import assert from "node:assert/strict";
import { BuildError, parseArgs } from "../../enclave-image/build.ts";
import { runScript } from "../task.ts";

const run = async (script: string, args: string[]) => {
  const { code, err } = await runScript(`enclave-image/${script}`, args);
  return { code, err: err.trim() };
};

Deno.test("image: --guest-features is 64-bit hex with SNP active, with 0x or 0X or without", () => {
  for (const v of ["0x11", "0X11", "11"]) {
    assert.equal(parseArgs(["--guest-features", v]).guestFeatures, 17n);
  }
  assert.throws(
    () => parseArgs(["--guest-features", "0xg"]),
    (e) => e instanceof BuildError && /not hex/.test(e.message),
  );
  // What SEV_FEATURES cannot hold, or a launch without SNP active: refused before any build.
  for (const v of ["0x10000000000000001", "0x10"]) {
    assert.throws(() => parseArgs(["--guest-features", v]), /bit 0 \(SNP active\) set/, v);
  }
});

Deno.test("image and boot: usage errors exit 2 with one line, nothing built", async () => {
  // An image built with --ovmf: its firmware is not in the checkout, so boot must be given it.
  const built = await Deno.makeTempDir();
  const firmware = { file: "OVMF.fd", sha256: "ab".repeat(32), bootable: true, about: "--ovmf" };
  await Deno.writeTextFile(
    `${built}/manifest.json`,
    JSON.stringify({ measurements: { snp: { firmware } } }),
  );
  const cases: [string, string[], RegExp][] = [
    [
      "boot.ts",
      ["--image", built],
      /was built with --ovmf \(firmware OVMF\.fd.*give the same file/,
    ],
    ["build.ts", ["--frobnicate"], /unknown option --frobnicate/],
    ["boot.ts", ["--frobnicate"], /unknown option|--frobnicate/],
    ["boot.ts", ["--port", "99999"], /--port must be 0\.\.65535/],
    // A mistyped --image is not built into: it has to hold an image already, or take --build.
    [
      "boot.ts",
      ["--image", "/nonexistent/typo"],
      /no image in \/nonexistent\/typo \(no manifest\.json\)/,
    ],
  ];
  for (const [script, args, message] of cases) {
    const { code, err } = await run(script, args);
    assert.equal(code, 2, `${script} ${args.join(" ")}: ${err}`);
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, message);
  }
  assert.equal(await Deno.stat("/nonexistent/typo").catch(() => undefined), undefined);
});
