/**
 * RFC 9180 conformance on the official test vectors (test-vectors.json schema): per vector one
 * "setup" case (DeriveKeyPair of every key, Encap and Decap, enc, shared_secret, key, base_nonce,
 * exporter_secret on both sides), one case per encryption (nonce, Seal to the exact ciphertext,
 * Open back to the plaintext, in sequence) and one per export (both sides). `path` is a vectors
 * file or a folder whose manifest.json lists them. A vector whose setup fails reports each of its
 * encryptions and exports as failed too, so the count always covers every case in the file.
 */
import {
  CipherSuite,
  type KeyPair,
  type RecipientContext,
  type SenderContext,
} from "../../protocol/hpke.ts";
import { idHex } from "../../protocol/hpke/errors.ts";
import { equalBytes, fromHex, i2osp, toHex } from "../../protocol/bytes.ts";
import { type CaseResult, check, errorLine, readJson, type Suite, vectorFiles } from "./harness.ts";

interface Vector {
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmR: string;
  ikmE: string;
  skRm: string;
  skEm: string;
  pkRm: string;
  pkEm: string;
  ikmS?: string;
  skSm?: string;
  pkSm?: string;
  psk?: string;
  psk_id?: string;
  enc: string;
  shared_secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: { aad: string; pt: string; nonce: string; ct: string }[] | null;
  exports: { exporter_context: string; L: number; exported_value: string }[] | null;
}

/** `what` differs: a one-line reason naming the field, or nothing. */
function differs(what: string, got: Uint8Array, want: string): string | undefined {
  return toHex(got) === want.toLowerCase() ? undefined : `${what} ${toHex(got)} != ${want}`;
}

function derive(suite: CipherSuite, ikm: string, sk: string, pk: string, who: string) {
  const kp = suite.kem.deriveKeyPair(fromHex(ikm));
  const problem = differs(`${who} private key`, kp.privateKey, sk) ??
    differs(`${who} public key`, kp.publicKey, pk);
  if (problem) throw new Error(`DeriveKeyPair: ${problem}`);
  return kp;
}

interface Setup {
  sender: SenderContext;
  recipient: RecipientContext;
}

/** Runs the vector's setup on both sides; returns the problem, or the two contexts. */
function setup(v: Vector): Setup | string {
  const suite = new CipherSuite(v.kem_id, v.kdf_id, v.aead_id);
  const ephemeral = derive(suite, v.ikmE, v.skEm, v.pkEm, "ephemeral");
  const recipientKey = derive(suite, v.ikmR, v.skRm, v.pkRm, "recipient");
  let senderKey: KeyPair | undefined;
  if (v.ikmS) senderKey = derive(suite, v.ikmS, v.skSm!, v.pkSm!, "sender");
  const psk = v.psk ? { key: fromHex(v.psk), id: fromHex(v.psk_id!) } : undefined;
  const info = fromHex(v.info);
  const { enc, context: sender } = suite.setupSender(recipientKey.publicKey, {
    info,
    psk,
    sender: senderKey,
    ephemeral,
  });
  const recipient = suite.setupRecipient(fromHex(v.enc), recipientKey, {
    info,
    psk,
    senderPublicKey: senderKey?.publicKey,
  });
  if (sender.mode !== v.mode) return `mode ${sender.mode} != ${v.mode}`;
  for (const [who, ctx] of [["sender", sender], ["recipient", recipient]] as const) {
    const problem = differs(`${who} shared_secret`, ctx.sharedSecret, v.shared_secret) ??
      differs(`${who} key`, ctx.key, v.key) ??
      differs(`${who} base_nonce`, ctx.baseNonce, v.base_nonce) ??
      differs(`${who} exporter_secret`, ctx.exporterSecret, v.exporter_secret);
    if (problem) return problem;
  }
  return differs("enc", enc, v.enc) ?? { sender, recipient };
}

function* runVector(v: Vector, name: string): Generator<CaseResult> {
  let ctx: Setup | string;
  try {
    ctx = setup(v);
  } catch (e) {
    ctx = errorLine(e);
  }
  const failed = typeof ctx === "string" ? ctx : undefined;
  yield failed
    ? { name: `${name} setup`, ok: false, detail: failed }
    : { name: `${name} setup`, ok: true };

  for (const [i, e] of (v.encryptions ?? []).entries()) {
    yield check(`${name} encryption ${i}`, () => {
      if (typeof ctx === "string") return `not run: setup failed`;
      const { sender, recipient } = ctx;
      const nonce = i2osp(sender.sequence, sender.baseNonce.length);
      for (let k = 0; k < nonce.length; k++) nonce[k] ^= sender.baseNonce[k];
      const aad = fromHex(e.aad);
      const pt = fromHex(e.pt);
      const sealed = sender.seal(pt, aad);
      // Opening our own ciphertext (the vector's, when they match) keeps both sides in step.
      const opened = recipient.open(sealed, aad);
      return differs(`nonce (seq ${sender.sequence - 1n})`, nonce, e.nonce) ??
        differs("ct", sealed, e.ct) ??
        (equalBytes(opened, pt) ? undefined : `Open gave ${toHex(opened)}, expected ${e.pt}`);
    });
  }
  for (const [i, x] of (v.exports ?? []).entries()) {
    yield check(`${name} export ${i}`, () => {
      if (typeof ctx === "string") return `not run: setup failed`;
      const exporterContext = fromHex(x.exporter_context);
      return differs("sender export", ctx.sender.export(exporterContext, x.L), x.exported_value) ??
        differs("recipient export", ctx.recipient.export(exporterContext, x.L), x.exported_value);
    });
  }
  if (typeof ctx !== "string") {
    ctx.sender.dispose();
    ctx.recipient.dispose();
  }
}

const suite: Suite = function* (path) {
  for (const file of vectorFiles(path)) {
    const vectors = readJson(file);
    if (!Array.isArray(vectors)) throw new Error(`${file}: expected a JSON array of HPKE vectors`);
    for (const [i, v] of (vectors as Vector[]).entries()) {
      const name = `vector ${i} (mode ${v.mode}, kem ${idHex(v.kem_id)}, kdf ${idHex(v.kdf_id)}, ` +
        `aead ${idHex(v.aead_id)})`;
      yield* runVector(v, name);
    }
  }
};

export default suite;
