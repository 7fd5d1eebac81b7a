/**
 * Interop (issue 5, "Proofs"): a client that shares no code with Cloister — HPKE from @hpke/core
 * and @hpke/dhkem-x25519, HKDF and AES-GCM from WebCrypto, and the RFC encodings written out
 * below from the RFCs, nothing from protocol/ — completes a summarise request against the real
 * runtime. If the runtime's OHTTP or Binary HTTP drifted from the RFCs while its own client
 * drifted with it, this test is where it shows.
 */
import assert from "node:assert/strict";
import { Aes128Gcm, CipherSuite, HkdfSha256 } from "@hpke/core";
import { DhkemX25519HkdfSha256 } from "@hpke/dhkem-x25519";
import { startRuntime } from "./process.ts";

const te = new TextEncoder();
const td = new TextDecoder();

function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---- RFC 9000 §16: variable-length integers (Binary HTTP's lengths) ----

function varint(n: number): Uint8Array {
  if (n < 0x40) return Uint8Array.of(n);
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  if (n < 0x4000_0000) {
    return Uint8Array.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  }
  throw new RangeError("the test encodes lengths below 2^30 only");
}

class Cursor {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}
  byte(): number {
    if (this.at >= this.bytes.length) throw new Error(`truncated at ${this.at}`);
    return this.bytes[this.at++];
  }
  varint(): number {
    const first = this.byte();
    const size = 1 << (first >> 6);
    let v = first & 0x3f;
    for (let i = 1; i < size; i++) v = v * 256 + this.byte();
    return v;
  }
  take(n: number): Uint8Array {
    if (this.at + n > this.bytes.length) throw new Error(`truncated at ${this.at}`);
    return this.bytes.subarray(this.at, this.at += n);
  }
  lengthPrefixed(): Uint8Array {
    return this.take(this.varint());
  }
}

// ---- RFC 9292 §3: known-length Binary HTTP ----

const prefixed = (b: Uint8Array) => join(varint(b.length), b);

function fieldSection(fields: [string, string][]): Uint8Array {
  const lines = fields.map(([n, v]) => join(prefixed(te.encode(n)), prefixed(te.encode(v))));
  return prefixed(join(...lines));
}

/** §3.1 Known-Length Request: framing 0, control data, headers, content, trailers (§3.2–3.7). */
function bhttpRequest(
  method: string,
  authority: string,
  path: string,
  headers: [string, string][],
  content: Uint8Array,
): Uint8Array {
  return join(
    varint(0),
    prefixed(te.encode(method)),
    prefixed(te.encode("https")),
    prefixed(te.encode(authority)),
    prefixed(te.encode(path)),
    fieldSection(headers),
    prefixed(content),
    fieldSection([]),
  );
}

/** §3.1 Known-Length Response (framing 1): informational responses, status, fields, content. */
function bhttpResponse(bytes: Uint8Array) {
  const c = new Cursor(bytes);
  if (c.varint() !== 1) throw new Error("not a known-length response");
  const fields = () => {
    const section = new Cursor(c.lengthPrefixed());
    const out = new Map<string, string>();
    while (section.at < section.bytes.length) {
      const name = td.decode(section.lengthPrefixed());
      out.set(name, td.decode(section.lengthPrefixed()));
    }
    return out;
  };
  let status = c.varint();
  while (status >= 100 && status < 200) { // §3.5.1: informational responses come first
    fields();
    status = c.varint();
  }
  const headers = fields();
  const content = c.lengthPrefixed();
  return { status, headers, content };
}

// ---- RFC 9458 §3: key configurations ----

interface Config {
  keyId: number;
  kemId: number;
  publicKey: Uint8Array;
  algorithms: { kdfId: number; aeadId: number }[];
}

/** §3.2 application/ohttp-keys: each Key Config after its 2-byte length. */
function keyConfigs(bytes: Uint8Array): Config[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: Config[] = [];
  for (let at = 0; at < bytes.length;) {
    const length = view.getUint16(at);
    const end = at + 2 + length;
    at += 2;
    const keyId = bytes[at];
    const kemId = view.getUint16(at + 1);
    if (kemId !== 0x0020) throw new Error(`the test speaks X25519 only, not KEM ${kemId}`);
    const publicKey = bytes.slice(at + 3, at + 3 + 32);
    at += 3 + 32;
    const algsEnd = at + 2 + view.getUint16(at);
    at += 2;
    const algorithms = [];
    for (; at < algsEnd; at += 4) {
      algorithms.push({ kdfId: view.getUint16(at), aeadId: view.getUint16(at + 2) });
    }
    if (at !== end) throw new Error("key config length mismatch");
    out.push({ keyId, kemId, publicKey, algorithms });
  }
  return out;
}

// ---- RFC 5869 HKDF over WebCrypto HMAC (RFC 9458 §4.4 needs Extract and Expand apart) ----

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as Uint8Array<ArrayBuffer>));
}

const extract = (salt: Uint8Array, ikm: Uint8Array) => hmac(salt, ikm);

async function expand(prk: Uint8Array, info: string, length: number): Promise<Uint8Array> {
  if (length > 32) throw new Error("one HMAC-SHA256 block is all the test needs");
  return (await hmac(prk, join(te.encode(info), Uint8Array.of(1)))).slice(0, length);
}

// ---- RFC 9458 §4.3, §4.4: one request, one response, HKDF-SHA256 + AES-128-GCM ----

const KDF_HKDF_SHA256 = 0x0001;
const AEAD_AES_128_GCM = 0x0001;
const NK = 16;
const NN = 12;

async function obliviousRequest(gateway: string, config: Config, request: Uint8Array) {
  assert.ok(
    config.algorithms.some((a) => a.kdfId === KDF_HKDF_SHA256 && a.aeadId === AEAD_AES_128_GCM),
    "the gateway must offer HKDF-SHA256 with AES-128-GCM",
  );
  const suite = new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Aes128Gcm(),
  });
  const hdr = Uint8Array.of(
    config.keyId,
    config.kemId >> 8,
    config.kemId & 0xff,
    KDF_HKDF_SHA256 >> 8,
    KDF_HKDF_SHA256 & 0xff,
    AEAD_AES_128_GCM >> 8,
    AEAD_AES_128_GCM & 0xff,
  );
  const info = join(te.encode("message/bhttp request"), Uint8Array.of(0), hdr);
  const sender = await suite.createSenderContext({
    recipientPublicKey: await suite.kem.importKey(
      "raw",
      config.publicKey.buffer as ArrayBuffer,
      true,
    ),
    info: info.buffer as ArrayBuffer,
  });
  const enc = new Uint8Array(sender.enc);
  const ct = new Uint8Array(await sender.seal(request.buffer as ArrayBuffer));
  const res = await fetch(gateway, {
    method: "POST",
    headers: { "content-type": "message/ohttp-req" },
    body: join(hdr, enc, ct) as Uint8Array<ArrayBuffer>,
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "message/ohttp-res");
  const encapsulated = new Uint8Array(await res.arrayBuffer());

  // §4.4: secret = Export("message/bhttp response", max(Nn, Nk)); salt = enc || response_nonce
  const length = Math.max(NN, NK);
  const secret = new Uint8Array(
    await sender.export(te.encode("message/bhttp response").buffer as ArrayBuffer, length),
  );
  const responseNonce = encapsulated.subarray(0, length);
  const prk = await extract(join(enc, responseNonce), secret);
  const aeadKey = await crypto.subtle.importKey(
    "raw",
    await expand(prk, "key", NK) as Uint8Array<ArrayBuffer>,
    "AES-GCM",
    false,
    ["decrypt"],
  );
  const aeadNonce = await expand(prk, "nonce", NN);
  return new Uint8Array(
    await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: aeadNonce as Uint8Array<ArrayBuffer> },
      aeadKey,
      encapsulated.subarray(length) as Uint8Array<ArrayBuffer>,
    ),
  );
}

Deno.test("a client on @hpke/core and the RFC encodings alone completes a request", async () => {
  const runtime = await startRuntime(["--emulated", "--no-tokens", "--pool", "1"]);
  try {
    const keys = await fetch(`${runtime.url}/.well-known/ohttp-gateway`);
    assert.equal(keys.headers.get("content-type"), "application/ohttp-keys");
    const [config] = keyConfigs(new Uint8Array(await keys.arrayBuffer()));
    const messages = [
      { from: "Ann", text: "The interop client speaks only what the RFCs say." },
      { from: "Bob", text: "Then the runtime must speak exactly that too." },
      { from: "Ann", text: "Let us check it with a real request through the gateway." },
      { from: "Bob", text: "Agreed, and the answer must come back sealed to us." },
    ];
    const request = bhttpRequest(
      "POST",
      "cloister.example",
      "/v1/summarize",
      [["content-type", "application/json"]],
      te.encode(JSON.stringify({ messages })),
    );
    const response = bhttpResponse(
      await obliviousRequest(`${runtime.url}/.well-known/ohttp-gateway`, config, request),
    );
    assert.equal(response.status, 200, td.decode(response.content));
    assert.equal(response.headers.get("content-type"), "application/json");
    const { summary } = JSON.parse(td.decode(response.content));
    const lines = messages.map((m) => `${m.from}: ${m.text}`);
    assert.ok(summary.length > 0);
    for (const line of summary.split("\n")) assert.ok(lines.includes(line), line);
  } finally {
    await runtime.stop();
  }
});
