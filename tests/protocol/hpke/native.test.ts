/**
 * The node:crypto arithmetic (protocol/hpke/native.ts) against @noble, the reference: the same
 * public keys, shared secrets, encapsulations and ciphertexts for random inputs on every curve
 * and AEAD, and the same refusals.
 */
import assert from "node:assert/strict";
import { gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { i2osp } from "../../../protocol/bytes.ts";
import {
  AES_128_GCM,
  AES_256_GCM,
  CHACHA20_POLY1305,
  DHKEM_P256_HKDF_SHA256,
  DHKEM_P384_HKDF_SHA384,
  DHKEM_P521_HKDF_SHA512,
  DHKEM_X25519_HKDF_SHA256,
  DHKEM_X448_HKDF_SHA512,
  HpkeError,
  type Kem,
  nobleKem,
} from "../../../protocol/hpke.ts";

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const KEMS = [
  DHKEM_P256_HKDF_SHA256,
  DHKEM_P384_HKDF_SHA384,
  DHKEM_P521_HKDF_SHA512,
  DHKEM_X25519_HKDF_SHA256,
  DHKEM_X448_HKDF_SHA512,
];
const ROUNDS = 8;

function refusedWith(code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof HpkeError, `expected an HpkeError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  };
}

Deno.test("Deno runs every KEM and AEAD on node:crypto (so the vectors test that path)", () => {
  for (const kem of KEMS) assert.equal(kem.arithmetic, "node:crypto", kem.name);
  for (const aead of [AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305]) {
    assert.equal(aead.arithmetic, "node:crypto", aead.name);
  }
  for (const kem of KEMS) assert.equal(nobleKem(kem.id).arithmetic, "@noble", kem.name);
});

Deno.test("node:crypto and @noble KEMs agree on random keys", async (t) => {
  const check = (native: Kem, noble: Kem) => {
    // Keys from either side, derived (noble-only code) or generated.
    const r = native.generateKeyPair();
    const s = noble.generateKeyPair();
    const ikm = random(native.Nsk);
    const d = native.deriveKeyPair(ikm);
    assert.deepEqual(noble.publicKey(r.privateKey), r.publicKey, "generated key pair");
    assert.deepEqual(native.publicKey(s.privateKey), s.publicKey, "public key");
    assert.deepEqual(noble.deriveKeyPair(ikm), d, "derived key pair");

    assert.deepEqual(native.dh(r.privateKey, s.publicKey), noble.dh(r.privateKey, s.publicKey));
    assert.deepEqual(native.dh(s.privateKey, d.publicKey), noble.dh(d.privateKey, s.publicKey));

    // Encap with a fixed ephemeral is deterministic: the same enc and shared secret.
    for (const sender of [undefined, s]) {
      const opts = { ephemeral: d, sender };
      assert.deepEqual(native.encap(r.publicKey, opts), noble.encap(r.publicKey, opts));
      // A random (natively generated) ephemeral decapsulates on noble and the reverse.
      const a = native.encap(r.publicKey, { sender });
      assert.deepEqual(noble.decap(a.enc, r, sender?.publicKey), a.sharedSecret);
      const b = noble.encap(r.publicKey, { sender });
      assert.deepEqual(native.decap(b.enc, r, sender?.publicKey), b.sharedSecret);
    }
  };
  for (const kem of KEMS) {
    await t.step(kem.name, () => {
      for (let i = 0; i < ROUNDS; i++) check(kem, nobleKem(kem.id));
    });
  }
});

Deno.test("node:crypto and @noble KEMs refuse the same invalid keys", () => {
  const le = (n: bigint, size: number) => i2osp(n, size).reverse();
  const p25519 = (1n << 255n) - 19n;
  const p448 = (1n << 448n) - (1n << 224n) - 1n;
  const cases: [Kem, Uint8Array[]][] = [
    // Low-order u-coordinates give the all-zero shared secret (RFC 9180 §7.1.4).
    [DHKEM_X25519_HKDF_SHA256, [0n, 1n, p25519 - 1n, p25519, p25519 + 1n].map((u) => le(u, 32))],
    [DHKEM_X448_HKDF_SHA512, [0n, 1n, p448 - 1n].map((u) => le(u, 56))],
  ];
  for (const kem of [DHKEM_P256_HKDF_SHA256, DHKEM_P384_HKDF_SHA384, DHKEM_P521_HKDF_SHA512]) {
    const pk = kem.generateKeyPair().publicKey;
    const offCurve = pk.slice();
    offCurve[offCurve.length - 1] ^= 1;
    const identity = new Uint8Array(pk.length);
    identity[0] = 0x04;
    cases.push([kem, [offCurve, identity, pk.subarray(1)]]);
  }
  for (const [kem, bad] of cases) {
    for (const k of [kem, nobleKem(kem.id)]) {
      const kp = k.generateKeyPair();
      for (const pk of bad) {
        assert.throws(() => k.dh(kp.privateKey, pk), refusedWith("invalid-public-key"), k.name);
        assert.throws(() => k.encap(pk), refusedWith("invalid-public-key"), k.name);
        assert.throws(() => k.decap(pk, kp), refusedWith("invalid-public-key"), k.name);
      }
    }
  }
});

Deno.test("node:crypto AEADs give @noble's ciphertexts and refuse what it refuses", () => {
  const pairs = [
    [AES_128_GCM, gcm],
    [AES_256_GCM, gcm],
    [CHACHA20_POLY1305, chacha20poly1305],
  ] as const;
  for (const [aead, noble] of pairs) {
    for (const size of [0, 1, 15, 16, 17, 1024, 65536]) {
      const key = random(aead.Nk);
      const nonce = random(aead.Nn);
      const aad = random(size % 7);
      const pt = random(size);
      const ct = aead.seal(key, nonce, aad, pt);
      assert.deepEqual(ct, noble(key, nonce, aad).encrypt(pt), `${aead.name} ${size}`);
      const opened = aead.open(key, nonce, aad, ct);
      assert.deepEqual(opened, pt);
      // Its own buffer, not a view of Buffer's shared pool the caller could not wipe alone.
      assert.equal(opened.buffer.byteLength, size);
      const tampered = ct.slice();
      tampered[size % ct.length] ^= 1;
      assert.throws(() => aead.open(key, nonce, aad, tampered), refusedWith("open-failed"));
      assert.throws(() => aead.open(key, nonce, random(3), ct), refusedWith("open-failed"));
    }
  }
});
