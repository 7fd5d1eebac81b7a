import assert from "node:assert/strict";
import { BuildError, npmClosure } from "../../enclave-image/build.ts";

/** A node_modules folder of `name → package.json fields`. */
function modules(packages: Record<string, Record<string, unknown>>): string {
  const dir = Deno.makeTempDirSync({ prefix: "cloister-npm-" });
  for (const [name, manifest] of Object.entries(packages)) {
    Deno.mkdirSync(`${dir}/${name}`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/${name}/package.json`, JSON.stringify({ name, ...manifest }));
  }
  return dir;
}

Deno.test("npmClosure: what the runtime's packages import, through dependencies", () => {
  const dir = modules({
    pkijs: { dependencies: { asn1js: "4", bytestreamjs: "3" } },
    asn1js: { dependencies: { "@peculiar/utils": "4" } },
    "@peculiar/utils": {},
    bytestreamjs: {},
    // installed optional dependencies ship, absent ones (other platforms) do not
    "cbor-x": { optionalDependencies: { "cbor-extract": "2", "cbor-extract-win32": "2" } },
    "cbor-extract": { dependencies: { "nested-only": "1" } },
    "cbor-extract/node_modules/nested-only": {},
    // onnxruntime-node's dependencies serve its install script only
    "onnxruntime-node": { dependencies: { "adm-zip": "0.6", "onnxruntime-common": "1.30" } },
    "adm-zip": {},
    unrelated: {},
  });
  try {
    assert.deepEqual(npmClosure(["pkijs", "cbor-x", "onnxruntime-node"], dir), [
      "@peculiar/utils",
      "asn1js",
      "bytestreamjs",
      "cbor-extract",
      "cbor-x",
      "onnxruntime-node",
      "pkijs",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("npmClosure: a dependency node_modules lacks is a build error naming who needs it", () => {
  const dir = modules({ asn1js: { dependencies: { "@peculiar/utils": "4" } } });
  try {
    assert.throws(
      () => npmClosure(["asn1js"], dir),
      (e) =>
        e instanceof BuildError && e.code === "bad-graph" &&
        e.message === "asn1js needs the npm package @peculiar/utils, which node_modules lacks " +
            "(run npm ci)",
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
