import assert from "node:assert/strict";
import {
  Aes128Gcm,
  Aes256Gcm,
  CipherSuite as CoreSuite,
  DhkemP256HkdfSha256,
  DhkemP384HkdfSha384,
  DhkemP521HkdfSha512,
  DhkemX25519HkdfSha256,
  ExportOnly,
  HkdfSha256,
  HkdfSha384,
  HkdfSha512,
  type KemInterface,
} from "@hpke/core";
import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { DhkemX448HkdfSha512 } from "@hpke/dhkem-x448";
import { p256, p384 } from "@noble/curves/nist.js";
import { concat, fromHex, i2osp, isZero, utf8 } from "../../protocol/bytes.ts";
import {
  AES_128_GCM,
  CipherSuite,
  DHKEM_P256_HKDF_SHA256,
  DHKEM_P384_HKDF_SHA384,
  DHKEM_P521_HKDF_SHA512,
  DHKEM_X25519_HKDF_SHA256,
  DHKEM_X448_HKDF_SHA512,
  HKDF_SHA256,
  HpkeError,
  type Kem,
  Mode,
} from "../../protocol/hpke.ts";
import { RecipientContext, SenderContext } from "../../protocol/hpke/context.ts";
import { deriveNistScalar } from "../../protocol/hpke/kem.ts";

const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const bytes = (b: ArrayBuffer) => new Uint8Array(b);

function refusedWith(code: string) {
  return (e: unknown) => {
    assert.ok(e instanceof HpkeError, `expected an HpkeError, got ${e}`);
    assert.equal(e.code, code, e.message);
    return true;
  };
}

const KEMS: [Kem, () => KemInterface][] = [
  [DHKEM_P256_HKDF_SHA256, () => new DhkemP256HkdfSha256()],
  [DHKEM_P384_HKDF_SHA384, () => new DhkemP384HkdfSha384()],
  [DHKEM_P521_HKDF_SHA512, () => new DhkemP521HkdfSha512()],
  [DHKEM_X25519_HKDF_SHA256, () => new DhkemX25519HkdfSha256()],
  [DHKEM_X448_HKDF_SHA512, () => new DhkemX448HkdfSha512()],
];
const KDFS = [
  [0x0001, () => new HkdfSha256()],
  [0x0002, () => new HkdfSha384()],
  [0x0003, () => new HkdfSha512()],
] as const;
const AEADS = [
  [0x0001, () => new Aes128Gcm()],
  [0x0002, () => new Aes256Gcm()],
  [0x0003, () => new Chacha20Poly1305()],
  [0xffff, () => new ExportOnly()],
] as const;

Deno.test("interop with @hpke/core: every KEM, KDF, AEAD and mode, in both directions", async (t) => {
  for (const [kem, coreKem] of KEMS) {
    await t.step(kem.name, async () => {
      // DeriveKeyPair from the same ikm must give both libraries the same keys (the only check
      // KEM 0x0011 has, lacking RFC vectors).
      const ikmR = random(kem.Nsk);
      const ikmS = random(kem.Nsk);
      const probe = new CoreSuite({ kem: coreKem(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
      const coreR = await probe.kem.deriveKeyPair(ikmR);
      const coreS = await probe.kem.deriveKeyPair(ikmS);
      const ourR = kem.deriveKeyPair(ikmR);
      const ourS = kem.deriveKeyPair(ikmS);
      assert.deepEqual(bytes(await probe.kem.serializePublicKey(coreR.publicKey)), ourR.publicKey);
      assert.deepEqual(
        bytes(await probe.kem.serializePrivateKey(coreR.privateKey)),
        ourR.privateKey,
      );
      assert.deepEqual(bytes(await probe.kem.serializePublicKey(coreS.publicKey)), ourS.publicKey);

      for (const [kdfId, coreKdf] of KDFS) {
        for (const [aeadId, coreAead] of AEADS) {
          const ours = new CipherSuite(kem, kdfId, aeadId);
          const core = new CoreSuite({ kem: coreKem(), kdf: coreKdf(), aead: coreAead() });
          for (const mode of Object.values(Mode)) {
            const label = `${ours.name} mode ${mode}`;
            const info = random(1 + (mode * 7) % 40);
            const psk = mode & 1 ? { key: random(32), id: random(9) } : undefined;
            const auth = (mode & 2) !== 0;
            const sender = { info, psk, sender: auth ? ourS : undefined };
            const recipient = { info, psk, senderPublicKey: auth ? ourS.publicKey : undefined };
            const coreSender = { info, psk, senderKey: auth ? coreS : undefined };
            const coreRecipient = {
              info,
              psk,
              senderPublicKey: auth ? coreS.publicKey : undefined,
            };
            const exporterContext = random(5);

            if (aeadId === 0xffff) {
              const { enc, secret } = ours.sendExport(ourR.publicKey, exporterContext, 40, sender);
              const rctx = await core.createRecipientContext({
                ...coreRecipient,
                recipientKey: coreR,
                enc,
              });
              assert.deepEqual(bytes(await rctx.export(exporterContext, 40)), secret, label);
              const sctx = await core.createSenderContext({
                ...coreSender,
                recipientPublicKey: coreR.publicKey,
              });
              const theirs = bytes(await sctx.export(exporterContext, 40));
              const mine = ours.receiveExport(
                bytes(sctx.enc),
                ourR,
                exporterContext,
                40,
                recipient,
              );
              assert.deepEqual(mine, theirs, label);
              continue;
            }
            const pt = random(Math.floor(Math.random() * 300));
            const aad = random(mode * 3);
            // Cloister seals, @hpke/core opens.
            const sealed = ours.seal(ourR.publicKey, pt, { ...sender, aad });
            const opened = await core.open(
              { ...coreRecipient, recipientKey: coreR, enc: sealed.enc },
              sealed.ciphertext,
              aad,
            );
            assert.deepEqual(bytes(opened), pt, label);
            // @hpke/core seals, Cloister opens.
            const theirs = await core.seal(
              { ...coreSender, recipientPublicKey: coreR.publicKey },
              pt,
              aad,
            );
            const mine = ours.open(bytes(theirs.enc), ourR, bytes(theirs.ct), {
              ...recipient,
              aad,
            });
            assert.deepEqual(mine, pt, label);
          }
        }
      }
    });
  }
});

Deno.test("interop with @hpke/core: bulk messages through the WebCrypto path and multi-message contexts", async () => {
  const ours = new CipherSuite(0x0020, 0x0001, 0x0001);
  const core = new CoreSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Aes128Gcm(),
  });
  const ikm = random(32);
  const ourR = ours.kem.deriveKeyPair(ikm);
  const coreR = await core.kem.deriveKeyPair(ikm);
  const messages = [random(65536), random(10), random(5000), random(0)];

  const { enc, context } = ours.setupSender(ourR.publicKey);
  const rctx = await core.createRecipientContext({ recipientKey: coreR, enc });
  for (const m of messages) {
    const ct = m.length % 2 ? context.seal(m) : await context.sealAsync(m);
    assert.deepEqual(bytes(await rctx.open(ct)), m);
  }
  context.dispose();

  const sctx = await core.createSenderContext({ recipientPublicKey: coreR.publicKey });
  const recipient = ours.setupRecipient(bytes(sctx.enc), ourR);
  for (const m of messages) {
    const ct = bytes(await sctx.seal(m));
    assert.deepEqual(m.length % 2 ? await recipient.openAsync(ct) : recipient.open(ct), m);
  }
  assert.equal(recipient.sequence, BigInt(messages.length));
});

Deno.test("concurrent async seals never share a nonce", async () => {
  const suite = new CipherSuite(0x0020, 0x0001, 0x0002);
  const kp = suite.kem.generateKeyPair();
  const { enc, context } = suite.setupSender(kp.publicKey);
  const messages = [random(8192), random(4096), random(9000)];
  const sealed = await Promise.all(messages.map((m) => context.sealAsync(m)));
  using recipient = suite.setupRecipient(enc, kp);
  for (const [i, ct] of sealed.entries()) {
    assert.deepEqual(await recipient.openAsync(ct), messages[i]);
  }
});

Deno.test("a failed Open leaves the sequence number where it was (RFC 9180 §5.2)", async () => {
  const suite = new CipherSuite(0x0010, 0x0001, 0x0003);
  const kp = suite.kem.generateKeyPair();
  const { enc, context } = suite.setupSender(kp.publicKey);
  const ct0 = context.seal(utf8("first"));
  const ct1 = context.seal(utf8("second"), utf8("aad"));
  using recipient = suite.setupRecipient(enc, kp);
  assert.throws(() => recipient.open(ct1, utf8("aad")), refusedWith("open-failed")); // out of order
  const tampered = ct0.slice();
  tampered[0] ^= 1;
  assert.throws(() => recipient.open(tampered), refusedWith("open-failed"));
  await assert.rejects(() => recipient.openAsync(tampered), refusedWith("open-failed"));
  assert.equal(recipient.sequence, 0n);
  assert.deepEqual(recipient.open(ct0), utf8("first"));
  assert.throws(() => recipient.open(ct1), refusedWith("open-failed")); // wrong aad
  assert.deepEqual(recipient.open(ct1, utf8("aad")), utf8("second"));
});

Deno.test("nonce overflow: the last sequence number 2^96 - 1 is never used (RFC 9180 §5.2)", () => {
  const suite = new CipherSuite(0x0020, 0x0001, 0x0001);
  const params = {
    id: concat(utf8("HPKE"), i2osp(0x0020, 2), i2osp(0x0001, 2), i2osp(0x0001, 2)),
    kdf: HKDF_SHA256,
    aead: AES_128_GCM,
  };
  const secrets = () => ({
    sharedSecret: new Uint8Array(32),
    key: fromHex("000102030405060708090a0b0c0d0e0f"),
    baseNonce: fromHex("a0a1a2a3a4a5a6a7a8a9aaab"),
    exporterSecret: new Uint8Array(32),
  });
  const limit = (1n << 96n) - 1n;
  const sender = new SenderContext(params, Mode.Base, secrets(), limit - 1n);
  const recipient = new RecipientContext(params, Mode.Base, secrets(), limit - 1n);

  const ct = sender.seal(utf8("last message"));
  // The nonce of sequence number 2^96 - 2 is base_nonce XOR 0xff..fe.
  const nonce = fromHex("5f5e5d5c5b5a595857565555");
  assert.deepEqual(
    ct,
    suite.aead.seal(secrets().key, nonce, new Uint8Array(0), utf8("last message")),
  );
  assert.equal(sender.sequence, limit);
  assert.throws(() => sender.seal(utf8("one too many")), refusedWith("message-limit"));
  assert.equal(sender.sequence, limit);

  assert.deepEqual(recipient.open(ct), utf8("last message"));
  assert.throws(() => recipient.open(ct), refusedWith("message-limit"));
  assert.throws(() => new SenderContext(params, Mode.Base, secrets(), limit + 1n), RangeError);
});

Deno.test("dispose wipes the shared secret, key, base nonce and exporter secret", async () => {
  for (const aead of [0x0001, 0x0003, 0xffff]) {
    const suite = new CipherSuite(0x0011, 0x0002, aead);
    const kp = suite.kem.generateKeyPair();
    const { enc, context } = suite.setupSender(kp.publicKey, { info: utf8("wipe") });
    const recipient = suite.setupRecipient(enc, kp, { info: utf8("wipe") });
    for (const ctx of [context, recipient]) {
      const buffers = [ctx.sharedSecret, ctx.key, ctx.baseNonce, ctx.exporterSecret];
      assert.ok(buffers.every((b) => b.length === 0 || !isZero(b)), "secrets are set before");
      ctx.dispose();
      assert.ok(buffers.every(isZero), "every secret buffer is zero after dispose");
      assert.equal(ctx.disposed, true);
      assert.throws(() => ctx.export(utf8("x"), 32), refusedWith("disposed"));
      ctx.dispose(); // idempotent
    }
    assert.throws(() => context.seal(utf8("x")), refusedWith("disposed"));
    await assert.rejects(() => context.sealAsync(utf8("x")), refusedWith("disposed"));
    assert.throws(() => recipient.open(new Uint8Array(16)), refusedWith("disposed"));
  }
  // `using` disposes at the end of the block.
  const suite = new CipherSuite(0x0020, 0x0001, 0x0001);
  const kp = suite.kem.generateKeyPair();
  let key: Uint8Array;
  {
    using ctx = suite.setupRecipient(suite.setupSender(kp.publicKey).enc, kp);
    key = ctx.key;
    assert.ok(!isZero(key));
  }
  assert.ok(isZero(key));
});

Deno.test("export-only suites export and refuse Seal/Open", () => {
  const suite = new CipherSuite(0x0020, 0x0001, 0xffff);
  const kp = suite.kem.generateKeyPair();
  const { enc, context } = suite.setupSender(kp.publicKey);
  assert.throws(() => context.seal(utf8("x")), refusedWith("export-only"));
  assert.throws(() => suite.open(enc, kp, new Uint8Array(32)), refusedWith("export-only"));
  const recipient = suite.setupRecipient(enc, kp);
  assert.deepEqual(context.export(utf8("ctx"), 64), recipient.export(utf8("ctx"), 64));
  assert.throws(() => context.export(utf8("ctx"), 255 * 32 + 1), refusedWith("invalid-length"));
});

Deno.test("PSK inputs are verified (RFC 9180 §5.1)", () => {
  const suite = new CipherSuite(0x0020, 0x0001, 0x0001);
  const kp = suite.kem.generateKeyPair();
  for (
    const psk of [{ key: random(32), id: new Uint8Array(0) }, {
      key: new Uint8Array(0),
      id: random(4),
    }, {
      key: random(31),
      id: random(4),
    }]
  ) {
    assert.throws(() => suite.setupSender(kp.publicKey, { psk }), refusedWith("invalid-psk"));
  }
  const psk = { key: random(32), id: utf8("id") };
  const { enc, context } = suite.setupSender(kp.publicKey, { psk });
  assert.equal(context.mode, Mode.Psk);
  const ct = context.seal(utf8("hello"));
  assert.throws(() => suite.open(enc, kp, ct), refusedWith("open-failed")); // base mode: no PSK
  assert.deepEqual(suite.open(enc, kp, ct, { psk }), utf8("hello"));
});

Deno.test("unsupported algorithm identifiers are refused by name", () => {
  assert.throws(() => new CipherSuite(0x0030, 1, 1), refusedWith("unsupported-kem"));
  assert.throws(() => new CipherSuite(0x0020, 4, 1), refusedWith("unsupported-kdf"));
  assert.throws(() => new CipherSuite(0x0020, 1, 4), refusedWith("unsupported-aead"));
});

Deno.test("invalid public keys are refused (RFC 9180 §7.1.4)", async (t) => {
  /** `pk` as the recipient's key, as enc, and as the auth sender's key; `own`: also as the
   * sender's own key pair (which only enters kem_context, so only its encoding is checked). */
  const setupBoth = (suite: CipherSuite, pk: Uint8Array, own = true) => {
    const kp = suite.kem.generateKeyPair();
    assert.throws(() => suite.setupSender(pk), refusedWith("invalid-public-key"));
    assert.throws(() => suite.setupRecipient(pk, kp), refusedWith("invalid-public-key"));
    const sender = { privateKey: kp.privateKey, publicKey: pk };
    if (own) {
      assert.throws(
        () => suite.setupSender(kp.publicKey, { sender }),
        refusedWith("invalid-public-key"),
      );
    }
    const { enc } = suite.setupSender(kp.publicKey);
    assert.throws(
      () => suite.setupRecipient(enc, kp, { senderPublicKey: pk }),
      refusedWith("invalid-public-key"),
    );
  };

  for (const [kem] of KEMS) {
    await t.step(`${kem.name}: wrong lengths`, () => {
      const suite = new CipherSuite(kem, 0x0001, 0x0001);
      const pk = kem.generateKeyPair().publicKey;
      for (const bad of [new Uint8Array(0), pk.subarray(1), concat(pk, Uint8Array.of(0))]) {
        setupBoth(suite, bad);
      }
    });
  }

  await t.step("NIST curves: off the curve, compressed, identity, coordinates out of range", () => {
    for (
      const [kem, curve] of [[DHKEM_P256_HKDF_SHA256, p256], [
        DHKEM_P384_HKDF_SHA384,
        p384,
      ]] as const
    ) {
      const suite = new CipherSuite(kem, 0x0001, 0x0001);
      const pk = kem.generateKeyPair().publicKey;
      const offCurve = pk.slice();
      offCurve[offCurve.length - 1] ^= 1;
      const compressedPrefix = pk.slice();
      compressedPrefix[0] = 0x02;
      const identity = new Uint8Array(pk.length);
      identity[0] = 0x04;
      const size = (pk.length - 1) / 2;
      const p = curve.Point.Fp.ORDER;
      const xTooLarge = concat(Uint8Array.of(4), i2osp(p, size), pk.subarray(1 + size));
      for (
        const bad of [offCurve, compressedPrefix, identity, xTooLarge, new Uint8Array(pk.length)]
      ) {
        setupBoth(suite, bad);
      }
      const compressed = curve.Point.fromBytes(pk).toBytes(true);
      setupBoth(suite, compressed);
    }
  });

  await t.step("X25519 and X448: low-order points give an all-zero secret and are refused", () => {
    const p25519 = (1n << 255n) - 19n;
    const le = (n: bigint, size: number) => i2osp(n, size).reverse();
    const lowOrder25519 = [
      0n,
      1n,
      p25519 - 1n,
      p25519, // non-canonical 0
      p25519 + 1n, // non-canonical 1
      325606250916557431795983626356110631294008115727848805560023387167927233504n,
      39382357235489614581723060781553021112529911719440698176882885853963445705823n,
    ];
    const x25519 = new CipherSuite(DHKEM_X25519_HKDF_SHA256, 0x0001, 0x0001);
    for (const u of lowOrder25519) setupBoth(x25519, le(u, 32), false);
    const p448 = (1n << 448n) - (1n << 224n) - 1n;
    const x448 = new CipherSuite(DHKEM_X448_HKDF_SHA512, 0x0003, 0x0001);
    for (const u of [0n, 1n, p448 - 1n]) setupBoth(x448, le(u, 56), false);
  });
});

Deno.test("invalid private keys are refused (RFC 9180 §7.1.2)", () => {
  const kem = DHKEM_P256_HKDF_SHA256;
  const n = p256.Point.Fn.ORDER;
  for (
    const sk of [new Uint8Array(32), i2osp(n, 32), i2osp(n + 1n, 32), new Uint8Array(31).fill(1)]
  ) {
    assert.throws(() => kem.publicKey(sk), refusedWith("invalid-private-key"));
    assert.throws(() => kem.checkPrivateKey(sk), refusedWith("invalid-private-key"));
  }
  assert.throws(
    () => DHKEM_X448_HKDF_SHA512.publicKey(new Uint8Array(32)),
    refusedWith("invalid-private-key"),
  );
});

Deno.test("DeriveKeyPair: the NIST rejection loop (RFC 9180 §7.1.3) and short ikm", () => {
  // A stand-in LabeledExpand whose candidates count down from 0xff: with order 5 the loop must
  // reject 251 candidates, take counter 251 (value 4), and apply the bitmask to the top byte.
  const seen: number[] = [];
  const countdown = (_prk: Uint8Array, _label: Uint8Array, info: Uint8Array) => {
    seen.push(info[0]);
    return Uint8Array.of(0xff - info[0]);
  };
  assert.deepEqual(deriveNistScalar(countdown, new Uint8Array(32), 1, 0xff, 5n), Uint8Array.of(4));
  assert.deepEqual(seen, Array.from({ length: 252 }, (_, i) => i));
  assert.deepEqual(deriveNistScalar(countdown, new Uint8Array(32), 1, 0x01, 5n), Uint8Array.of(1));
  // Zero is rejected like a value past the order; 256 rejections are DeriveKeyPairError.
  const zeros = () => Uint8Array.of(0);
  assert.throws(
    () => deriveNistScalar(zeros, new Uint8Array(32), 1, 0xff, 5n),
    refusedWith("derive-key-pair-failed"),
  );
  assert.throws(
    () => DHKEM_P384_HKDF_SHA384.deriveKeyPair(new Uint8Array(47)),
    refusedWith("derive-key-pair-failed"),
  );
});
