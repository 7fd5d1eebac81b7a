import assert from "node:assert/strict";
import { ProtocolError } from "../../protocol/errors.ts";
import { Reader, type ReadFailure } from "../../protocol/reader.ts";

class TestError extends ProtocolError {}
const reader = (bytes: number[]) =>
  new Reader(
    Uint8Array.from(bytes),
    "thing",
    (failure: ReadFailure, message, at) => new TestError(failure, message, at),
  );

function refused(fn: () => unknown, code: ReadFailure, offset: number, text: RegExp) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof TestError, `expected the codec's own error, got ${e}`);
    assert.equal(e.code, code);
    assert.equal(e.offset, offset);
    assert.match(e.message, text);
    return true;
  });
}

Deno.test("big-endian fields, views into the input, and the end of the structure", () => {
  const bytes = Uint8Array.of(1, 0x12, 0x34, 9, 9);
  const r = new Reader(bytes, "thing", (f, m, at) => new TestError(f, m, at));
  assert.equal(r.u8("a"), 1);
  assert.equal(r.u16("b"), 0x1234);
  assert.equal(r.at, 3);
  const rest = r.take(r.remaining, "rest");
  rest[0] = 7; // a view, not a copy
  assert.equal(bytes[3], 7);
  assert.ok(r.done);
  r.end();
});

Deno.test("a short input or trailing bytes throw the codec's error, at the absolute offset", () => {
  refused(() => reader([1]).u16("length"), "truncated", 0, /thing: length needs 2 bytes, 1 left/);
  const r = reader([0, 0, 1, 2, 3, 4, 5]);
  r.take(2, "header");
  const sub = r.sub(3, "body");
  assert.equal(r.at, 5);
  assert.equal(sub.at, 2);
  assert.equal(sub.u16("x"), 0x0102);
  refused(() => sub.u16("y"), "truncated", 4, /body: y needs 2 bytes, 1 left/);
  refused(() => sub.end(), "trailing-data", 4, /body: 1 bytes after its end/);
  refused(() => r.sub(3, "tail"), "truncated", 5, /tail needs 3 bytes, 2 left/);
});
