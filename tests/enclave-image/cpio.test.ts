import assert from "node:assert/strict";
import { CpioError, type Entry, newc } from "../../enclave-image/cpio.ts";

interface Parsed {
  name: string;
  fields: number[];
  data: Uint8Array;
}

/** An independent newc reader: the fields as the kernel's unpacker (init/initramfs.c) reads them. */
function parse(archive: Uint8Array): Parsed[] {
  const text = new TextDecoder();
  const out: Parsed[] = [];
  let at = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    assert.equal(text.decode(archive.subarray(at, at + 6)), "070701", `magic at ${at}`);
    const fields = Array.from(
      { length: 13 },
      (_, i) => parseInt(text.decode(archive.subarray(at + 6 + 8 * i, at + 14 + 8 * i)), 16),
    );
    const namesize = fields[11];
    const name = text.decode(archive.subarray(at + 110, at + 110 + namesize - 1));
    assert.equal(archive[at + 110 + namesize - 1], 0, "name is NUL-terminated");
    at = align(at + 110 + namesize);
    const data = archive.subarray(at, at + fields[6]);
    at = align(at + fields[6]);
    if (name === "TRAILER!!!") break;
    out.push({ name, fields, data });
  }
  assert.equal(at, archive.length, "nothing after the trailer");
  return out;
}

const entries: Entry[] = [
  { type: "file", path: "bin/busybox", mode: 0o755, data: new Uint8Array([1, 2, 3, 4, 5]) },
  { type: "symlink", path: "bin/sh", target: "busybox" },
  { type: "dir", path: "bin", mode: 0o755 },
  { type: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 },
  { type: "dir", path: "dev", mode: 0o755 },
  { type: "file", path: "init", mode: 0o755, data: new TextEncoder().encode("#!/bin/sh\n") },
  { type: "dir", path: "bin-extra", mode: 0o700 },
];

Deno.test("newc: sorted names, sequential inodes, fixed owner and mtime, exact modes", () => {
  const parsed = parse(newc(entries, 1700000000));
  assert.deepEqual(parsed.map((p) => p.name), [
    "bin",
    "bin-extra",
    "bin/busybox",
    "bin/sh",
    "dev",
    "dev/console",
    "init",
  ]);
  parsed.forEach((p, i) => {
    assert.equal(p.fields[0], i + 1, `${p.name} inode`);
    assert.equal(p.fields[2], 0, `${p.name} uid`);
    assert.equal(p.fields[3], 0, `${p.name} gid`);
    assert.equal(p.fields[5], 1700000000, `${p.name} mtime`);
  });
  const by = Object.fromEntries(parsed.map((p) => [p.name, p]));
  assert.equal(by["bin"].fields[1], 0o040755);
  assert.equal(by["bin"].fields[4], 2, "directories have nlink 2");
  assert.equal(by["bin-extra"].fields[1], 0o040700);
  assert.equal(by["bin/busybox"].fields[1], 0o100755);
  assert.deepEqual([...by["bin/busybox"].data], [1, 2, 3, 4, 5]);
  assert.equal(by["bin/sh"].fields[1], 0o120777);
  assert.equal(new TextDecoder().decode(by["bin/sh"].data), "busybox");
  assert.equal(by["dev/console"].fields[1], 0o020600);
  assert.deepEqual(by["dev/console"].fields.slice(9, 11), [5, 1], "rdev major, minor");
});

Deno.test("newc: the same entries in any order give the same bytes; the mtime changes them", () => {
  const a = newc(entries, 1700000000);
  const b = newc([...entries].reverse(), 1700000000);
  assert.deepEqual(a, b);
  assert.notDeepEqual(newc(entries, 1700000001), a);
});

Deno.test("newc: refuses bad paths, duplicates and missing parents by name", () => {
  const code = (e: Entry[]) => {
    try {
      newc(e, 0);
    } catch (err) {
      assert.ok(err instanceof CpioError);
      return err.code;
    }
    return "accepted";
  };
  assert.equal(code([{ type: "dir", path: "/etc", mode: 0o755 }]), "bad-path");
  assert.equal(code([{ type: "dir", path: "a/../b", mode: 0o755 }]), "bad-path");
  assert.equal(
    code([{ type: "dir", path: "a", mode: 0o755 }, { type: "dir", path: "a", mode: 0o755 }]),
    "duplicate",
  );
  assert.equal(code([{ type: "symlink", path: "x/y", target: "z" }]), "no-parent");
  // Names the kernel would read otherwise: cut at a NUL, the end marker, two spellings of U+FFFD.
  for (const path of ["init\0evil", "TRAILER!!!", "a\ud800", "x".repeat(4096)]) {
    assert.equal(code([{ type: "file", path, mode: 0o755, data: new Uint8Array(0) }]), "bad-path");
  }
  // Fields are 8 hex digits: type bits in a mode, or a negative number, would wrap.
  assert.equal(code([{ type: "dir", path: "a", mode: 0o140755 }]), "bad-field");
  assert.equal(code([{ type: "dir", path: "a", mode: -1 }]), "bad-field");
  assert.equal(code([{ type: "char", path: "c", mode: 0o600, major: -1, minor: 1 }]), "bad-field");
  assert.throws(() => newc([], 2 ** 32), CpioError);
});
