import assert from "node:assert/strict";
import { type RsaHash, rsaPublicKey, verifyPkcs1, verifyPss } from "../../attestation/rsa.ts";
import { parseCertificates } from "../../attestation/x509.ts";
import { vectorPath } from "../vectors.ts";

async function keyFor(name: "RSA-PSS" | "RSASSA-PKCS1-v1_5", hash: RsaHash, bits: number) {
  const kp = await crypto.subtle.generateKey(
    { name, modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash },
    true,
    ["sign", "verify"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", kp.publicKey);
  const key = rsaPublicKey(
    Uint8Array.fromBase64(jwk.n!, { alphabet: "base64url" }),
    Uint8Array.fromBase64(jwk.e!, { alphabet: "base64url" }),
  );
  return { kp, key };
}

Deno.test("RSASSA-PSS: WebCrypto signatures verify for each hash; any change refuses", async () => {
  for (const [hash, bits] of [["SHA-256", 2048], ["SHA-384", 3072], ["SHA-512", 2048]] as const) {
    const { kp, key } = await keyFor("RSA-PSS", hash, bits);
    const salt = { "SHA-256": 32, "SHA-384": 48, "SHA-512": 64 }[hash];
    const msg = crypto.getRandomValues(new Uint8Array(300));
    const sig = new Uint8Array(
      await crypto.subtle.sign({ name: "RSA-PSS", saltLength: salt }, kp.privateKey, msg),
    );
    assert.ok(verifyPss(key, hash, salt, msg, sig), hash);
    assert.ok(!verifyPss(key, hash, salt - 1, msg, sig), "salt length is part of the check");
    assert.ok(!verifyPss(key, hash === "SHA-256" ? "SHA-384" : "SHA-256", salt, msg, sig));
    const m2 = msg.slice();
    m2[7] ^= 1;
    assert.ok(!verifyPss(key, hash, salt, m2, sig));
    const s2 = sig.slice();
    s2[100] ^= 1;
    assert.ok(!verifyPss(key, hash, salt, msg, s2));
    assert.ok(!verifyPss(key, hash, salt, msg, sig.subarray(1)), "signature length must be k");
  }
});

Deno.test("RSASSA-PKCS1-v1_5: WebCrypto signatures verify; changes and a signature ≥ n refuse", async () => {
  const { kp, key } = await keyFor("RSASSA-PKCS1-v1_5", "SHA-256", 2048);
  const msg = new TextEncoder().encode("attestation");
  const sig = new Uint8Array(await crypto.subtle.sign("RSASSA-PKCS1-v1_5", kp.privateKey, msg));
  assert.ok(verifyPkcs1(key, "SHA-256", msg, sig));
  assert.ok(!verifyPkcs1(key, "SHA-384", msg, sig));
  assert.ok(!verifyPkcs1(key, "SHA-256", msg.subarray(1), sig));
  assert.ok(!verifyPkcs1(key, "SHA-256", msg, new Uint8Array(256).fill(0xff)));
});

Deno.test("AMD's own chain: ARK → ASK → VCEK, RSA-4096 with PSS SHA-384 salt 48", () => {
  const read = (f: string) =>
    parseCertificates(Deno.readFileSync(vectorPath(`attestation/snp/${f}`)));
  const [ask, ark] = read("go-sev-guest/ask_ark_milan.pem");
  const [vcek] = read("go-sev-guest/vcek_milan_3ac3fe21.der");
  const rsa = (
    c: typeof ark,
  ) => (c.publicKey.kind === "rsa" ? c.publicKey.rsa : assert.fail("not RSA"));
  assert.equal(rsa(ark).bits, 4096);
  assert.equal(rsa(ark).e, 65537n);
  for (const [child, issuer] of [[ark, ark], [ask, ark], [vcek, ask]]) {
    assert.ok(verifyPss(rsa(issuer), "SHA-384", 48, child.tbs, child.signature), child.label);
  }
  assert.ok(
    !verifyPss(rsa(ask), "SHA-384", 48, ask.tbs, ask.signature),
    "the ASK is not self-signed",
  );
});
