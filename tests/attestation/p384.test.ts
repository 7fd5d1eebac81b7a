import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { p384 } from "@noble/curves/nist.js";
import { invert, N, P384Key } from "../../attestation/p384.ts";

const int = (b: Uint8Array) =>
  BigInt("0x" + (Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("") || "0"));
const sha384 = (m: Uint8Array) => new Uint8Array(createHash("sha384").update(m).digest());

async function keyPair() {
  const kp = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ]);
  const point = new Uint8Array(await crypto.subtle.exportKey("raw", kp.publicKey));
  const sign = async (m: Uint8Array) => {
    const sig = new Uint8Array(
      await crypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-384" },
        kp.privateKey,
        m as BufferSource,
      ),
    );
    return { r: int(sig.subarray(0, 48)), s: int(sig.subarray(48)) };
  };
  return { point, sign };
}

Deno.test("WebCrypto signatures verify, before and after precompute; any change refuses", async () => {
  for (let k = 0; k < 3; k++) {
    const { point, sign } = await keyPair();
    const key = P384Key.fromPoint(point);
    for (let i = 0; i < 8; i++) {
      if (i === 4) {
        key.precompute();
        assert.ok(key.precomputed);
      }
      const msg = crypto.getRandomValues(new Uint8Array(64 + i));
      const { r, s } = await sign(msg);
      const d = sha384(msg);
      assert.ok(key.verify(d, r, s));
      // FIPS 186-5 ECDSA has no low-s rule: (r, n−s) is valid too, as every verifier must accept.
      assert.ok(key.verify(d, r, N - s));
      assert.ok(!key.verify(d, s, r));
      d[i] ^= 0x80;
      assert.ok(!key.verify(d, r, s));
    }
  }
});

Deno.test("agrees with @noble/curves on noble's own signatures", () => {
  const secret = p384.utils.randomSecretKey();
  const point = p384.getPublicKey(secret, false);
  const key = P384Key.fromPoint(point);
  for (let i = 0; i < 5; i++) {
    const d = sha384(new Uint8Array([i]));
    const sig = p384.sign(d, secret, { prehash: false });
    assert.ok(key.verify(d, int(sig.subarray(0, 48)), int(sig.subarray(48))));
  }
});

Deno.test("out-of-range r and s, and short digests, are false, not exceptions", async () => {
  const { point, sign } = await keyPair();
  const key = P384Key.fromPoint(point);
  const msg = new Uint8Array(10);
  const { r, s } = await sign(msg);
  const d = sha384(msg);
  for (const [rr, ss] of [[0n, s], [r, 0n], [N, s], [r, N], [r + N, s], [-r, s]]) {
    assert.equal(key.verify(d, rr, ss), false);
  }
  assert.equal(key.verify(d.subarray(0, 32), r, s), false);
});

Deno.test("public keys off the curve or badly encoded are refused", async () => {
  const { point } = await keyPair();
  const off = point.slice();
  off[96] ^= 1;
  assert.throws(() => P384Key.fromPoint(off), /not on the curve/);
  assert.throws(() => P384Key.fromPoint(point.subarray(0, 49)), /97 bytes/);
  const compressed = point.slice();
  compressed[0] = 0x02;
  assert.throws(() => P384Key.fromPoint(compressed), /uncompressed/);
  const big = new Uint8Array(97).fill(0xff);
  big[0] = 4;
  assert.throws(() => P384Key.fromPoint(big), /out of range/);
});

Deno.test("invert mod n", () => {
  for (const a of [1n, 2n, 12345678901234567890n, N - 1n]) assert.equal((a * invert(a, N)) % N, 1n);
  assert.throws(() => invert(0n, N), /not invertible/);
});
