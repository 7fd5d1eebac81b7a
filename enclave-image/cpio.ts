/**
 * Deterministic initramfs archives: the "new ASCII" (newc, magic 070701) cpio format that the
 * Linux kernel unpacks into its root file system (Documentation/driver-api/early-userspace/
 * buffer-format.rst). Every header field that varies between machines is fixed here:
 *
 * - entries sorted by path bytes (a directory always precedes what it contains);
 * - inode numbers 1, 2, 3, … in that order; nlink 2 for directories, 1 otherwise;
 * - owner and group 0, mtime = SOURCE_DATE_EPOCH, device numbers 0 (except a node's rdev);
 * - modes exactly as given (no umask), names without a leading "/" or "./".
 *
 * Header: "070701" then 13 fields of 8 uppercase hex digits — ino, mode, uid, gid, nlink, mtime,
 * filesize, devmajor, devminor, rdevmajor, rdevminor, namesize (with NUL), check (0) — then the
 * NUL-terminated name padded to a multiple of 4, then the data padded to a multiple of 4. The
 * archive ends with the entry "TRAILER!!!". Hard links are not produced.
 */
import { Buffer } from "node:buffer";

const encoder = new TextEncoder();
const utf8 = (s: string) => encoder.encode(s);

export type Entry =
  | { type: "dir"; path: string; mode: number }
  | { type: "file"; path: string; mode: number; data: Uint8Array }
  | { type: "symlink"; path: string; target: string }
  | { type: "char"; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000, S_IFREG = 0o100000, S_IFLNK = 0o120000, S_IFCHR = 0o020000;

export class CpioError extends Error {
  constructor(
    readonly code: "bad-path" | "duplicate" | "no-parent" | "bad-field",
    message: string,
  ) {
    super(message);
    this.name = "CpioError";
  }
}

/** Longest path the kernel takes (PATH_MAX, NUL included). */
const PATH_MAX = 4096;

function checkPath(path: string): void {
  if (
    path === "" || path.startsWith("/") || path.endsWith("/") ||
    path.split("/").some((p) => p === "" || p === "." || p === "..")
  ) {
    throw new CpioError("bad-path", `archive path "${path}" must be relative and normalised`);
  }
  // The kernel reads a name up to its NUL and stops at "TRAILER!!!"; a lone surrogate would
  // encode as U+FFFD, so two names could become one.
  if (path.includes("\0") || !path.isWellFormed() || path === "TRAILER!!!") {
    throw new CpioError("bad-path", `archive path ${JSON.stringify(path)} cannot be archived`);
  }
  if (utf8(path).length >= PATH_MAX) {
    throw new CpioError("bad-path", `archive path of ${utf8(path).length} bytes is over PATH_MAX`);
  }
}

/** A newc header field: 8 hex digits, so a u32; a wider value would wrap into another. */
function checkField(path: string, what: string, n: number, max = 0xffffffff): void {
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new CpioError("bad-field", `archive path "${path}": ${what} ${n} is not in 0..${max}`);
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

const hex8 = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(8, "0");
const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** The archive bytes for `entries` with every mtime set to `mtime` (seconds since the epoch). */
export function newc(entries: readonly Entry[], mtime: number): Uint8Array {
  checkField("(every entry)", "mtime", mtime);
  const named = entries.map((e) => {
    checkPath(e.path);
    if (e.type !== "symlink") checkField(e.path, "mode", e.mode, 0o7777); // permission bits only
    if (e.type === "char") {
      checkField(e.path, "major", e.major);
      checkField(e.path, "minor", e.minor);
    }
    return { e, name: utf8(e.path) };
  }).sort((a, b) => compareBytes(a.name, b.name));
  const dirs = new Set<string>();
  for (let i = 0; i < named.length; i++) {
    const { e } = named[i];
    if (i > 0 && named[i - 1].e.path === e.path) {
      throw new CpioError("duplicate", `archive path "${e.path}" appears twice`);
    }
    const parent = e.path.includes("/") ? e.path.slice(0, e.path.lastIndexOf("/")) : "";
    if (parent !== "" && !dirs.has(parent)) {
      throw new CpioError(
        "no-parent",
        `archive path "${e.path}" has no directory entry "${parent}"`,
      );
    }
    if (e.type === "dir") dirs.add(e.path);
  }
  const parts: Uint8Array[] = [];
  const push = (b: Uint8Array) => parts.push(b);
  const header = (fields: number[], name: Uint8Array, data: Uint8Array) => {
    const text = "070701" + fields.map(hex8).join("");
    push(utf8(text));
    push(name);
    push(new Uint8Array(1 + pad4(110 + name.length + 1)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };
  named.forEach(({ e, name }, i) => {
    let mode: number, data: Uint8Array = new Uint8Array(0), rdev = [0, 0], nlink = 1;
    switch (e.type) {
      case "dir":
        mode = S_IFDIR | e.mode;
        nlink = 2;
        break;
      case "file":
        mode = S_IFREG | e.mode;
        data = e.data;
        break;
      case "symlink":
        mode = S_IFLNK | 0o777;
        data = utf8(e.target);
        break;
      case "char":
        mode = S_IFCHR | e.mode;
        rdev = [e.major, e.minor];
        break;
    }
    header(
      [i + 1, mode, 0, 0, nlink, mtime, data.length, 0, 0, rdev[0], rdev[1], name.length + 1, 0],
      name,
      data,
    );
  });
  const trailer = utf8("TRAILER!!!");
  header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, trailer.length + 1, 0], trailer, new Uint8Array(0));
  const out = Buffer.concat(parts);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
