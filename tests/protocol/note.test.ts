import assert from "node:assert/strict";
import {
  generateSignerKey,
  NoteError,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from "../../protocol/note.ts";
import {
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
} from "../../protocol/checkpoint.ts";
import { EMPTY_ROOT } from "../../protocol/merkle.ts";

Deno.test("a generated key signs notes its verifier key opens; others are ignored", () => {
  const a = parseSignerKey(generateSignerKey("log.example/a"));
  const b = parseSignerKey(generateSignerKey("witness.example"));
  const note = signNote("hello\nworld\n", a, b);
  const opened = openNote(note, [parseVerifierKey(a.vkey)]);
  assert.equal(opened.text, "hello\nworld\n");
  assert.deepEqual(opened.verified.map((s) => s.name), ["log.example/a"]);
  assert.deepEqual(opened.unverified.map((s) => s.name), ["witness.example"]);
  // Both known: both verified.
  assert.equal(openNote(note, [a, b].map((s) => parseVerifierKey(s.vkey))).verified.length, 2);
});

Deno.test("a tampered text or signature is refused by a known key", () => {
  const a = parseSignerKey(generateSignerKey("log"));
  const note = signNote("size 1\n", a);
  assert.throws(
    () => openNote(note.replace("size 1", "size 2"), [parseVerifierKey(a.vkey)]),
    { code: "invalid-signature" },
  );
  assert.throws(() => openNote(note, []), { code: "no-verified-signature" });
});

Deno.test("malformed notes name what is wrong", () => {
  const a = parseSignerKey(generateSignerKey("log"));
  for (
    const bad of [
      "no signature block\n",
      "text\n\n— log AAAA\n",
      "text\n\n— log\n",
      "text\n\n- log AAAAAAA=\n",
      "tab\there\n\n— log AAAAAAAA\n",
      "text\n\n— log AAAAAAAA",
    ]
  ) assert.throws(() => parseNote(bad), { code: "malformed-note" }, bad);
  assert.throws(() => signNote("no newline", a), NoteError);
  assert.throws(() => parseNote(Uint8Array.of(0xff, 0x0a)), { code: "malformed-note" });
  // A string with a lone surrogate has no UTF-8 bytes: not a second spelling of a signed note.
  assert.throws(() => parseNote("x\ud800\n\n— log AAAAAAAA\n"), { code: "malformed-note" });
});

Deno.test("checkpoints: round trip, strict parsing, origin bound to the log key", () => {
  const log = parseSignerKey(generateSignerKey("example.com/log"));
  const c = { origin: "example.com/log", size: 0, rootHash: EMPTY_ROOT, extensions: [] };
  const note = signCheckpoint(c, log);
  assert.deepEqual(openCheckpoint(note, parseVerifierKey(log.vkey)), c);
  assert.deepEqual(parseCheckpoint(formatCheckpoint(c)), c);
  for (
    const bad of [
      "o\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "o\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",
      "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",
      "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
      "o\n1\n",
    ]
  ) assert.throws(() => parseCheckpoint(bad), { code: "bad-checkpoint" }, bad);
  const other = parseSignerKey(generateSignerKey("other"));
  assert.throws(() => signCheckpoint(c, other), { code: "wrong-origin" });
  assert.throws(
    () => openCheckpoint(note, parseVerifierKey(other.vkey)),
    { code: "no-verified-signature" },
  );
});
