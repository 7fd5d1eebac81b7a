/**
 * `deno task bench protocol`: HPKE (RFC 9180) and OHTTP (RFC 9458) against @hpke/core 1.9.0 in
 * the same run, interleaved (bench/harness.ts `compare`).
 *
 * - HPKE seal+open: one single-shot Seal to a recipient's public key (a fresh ephemeral key, Encap,
 *   key schedule, AEAD) and the matching single-shot Open with the recipient's key pair (Decap, key
 *   schedule, AEAD), for 1 KiB and 64 KiB messages, in DHKEM(X25519)/HKDF-SHA256/AES-128-GCM and
 *   DHKEM(P-384)/HKDF-SHA384/AES-256-GCM. Both libraries get their keys deserialised once, outside
 *   the timing. Cloister's 64 KiB rows run twice: the synchronous API (AES-GCM on node:crypto)
 *   and `sealAsync`/`openAsync` (bulk AES-GCM on WebCrypto, as @hpke/core does throughout).
 *   Cloister's curve and AEAD arithmetic runs on node:crypto (protocol/hpke/native.ts); the setup
 *   refuses to time a suite that fell back to @noble, so the rows always measure the same code.
 * - OHTTP round trip: the client encapsulates a 1 KiB request, the gateway decapsulates it and
 *   encapsulates a 1 KiB response, the client decapsulates that (X25519, HKDF-SHA256,
 *   AES-128-GCM, as in RFC 9458 Appendix A). The baseline builds the same messages from
 *   @hpke/core's contexts, KDF (Expand; Extract on WebCrypto HMAC, as @hpke/core's own takes only
 *   Nh-byte salts) and AEAD; before timing, each side's messages are opened by the other, so both
 *   do the real protocol.
 *
 * Ratios are @hpke/core's median / Cloister's (> 1: Cloister faster). Each named ratio takes the
 * WORSE of its two suites (`hpke-1k-vs-hpkecore`, `hpke-64k-vs-hpkecore`); the per-suite ratios
 * are reported beside them. `hpke-64k-vs-hpkecore` uses the async API, the one meant for bulk
 * messages; `hpke-64k-sync-*` show the synchronous API's.
 *
 * Every case is timed twice: on the wall clock (the named ratios) and on the process's CPU clock
 * (unit "ms cpu", ratios suffixed `-cpu`), which counts @hpke/core's WebCrypto threads too and is
 * what to read on a machine shared with other work, where wall-clock medians swing widely.
 */
import {
  Aes128Gcm,
  Aes256Gcm,
  CipherSuite as CoreSuite,
  DhkemP384HkdfSha384,
  DhkemX25519HkdfSha256,
  HkdfSha256,
  HkdfSha384,
} from "@hpke/core";
import { type Case, compare, type Ratio, ratio, type Result } from "./harness.ts";
import type { BenchSuite } from "./main.ts";
import { concat, equalBytes, utf8 } from "../protocol/bytes.ts";
import { CipherSuite } from "../protocol/hpke.ts";
import {
  decapsulateRequest,
  encapsulateRequest,
  type GatewayKey,
  type KeyConfig,
} from "../protocol/ohttp.ts";

const PEER = "@hpke/core 1.9.0";
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const bytes = (b: ArrayBuffer) => new Uint8Array(b);

interface Pair {
  label: string;
  ours: CipherSuite;
  core: CoreSuite;
}

const PAIRS: Pair[] = [
  {
    label: "x25519/aes-128-gcm",
    ours: new CipherSuite(0x0020, 0x0001, 0x0001),
    core: new CoreSuite({
      kem: new DhkemX25519HkdfSha256(),
      kdf: new HkdfSha256(),
      aead: new Aes128Gcm(),
    }),
  },
  {
    label: "p384/aes-256-gcm",
    ours: new CipherSuite(0x0011, 0x0002, 0x0002),
    core: new CoreSuite({
      kem: new DhkemP384HkdfSha384(),
      kdf: new HkdfSha384(),
      aead: new Aes256Gcm(),
    }),
  },
];

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`benchmark setup: ${what}`);
}

/** The seal+open functions of one suite pair and size, checked to round-trip and interoperate. */
async function hpkeFunctions(pair: Pair, size: number) {
  const { ours, core } = pair;
  check(
    ours.kem.arithmetic === "node:crypto" && ours.aead.arithmetic === "node:crypto",
    `${pair.label} runs on ${ours.kem.arithmetic} / ${ours.aead.arithmetic}, not node:crypto`,
  );
  const ikm = random(ours.kem.Nsk);
  const ourKey = ours.kem.deriveKeyPair(ikm);
  const coreKey = await core.kem.deriveKeyPair(ikm);
  const pt = random(size);
  const aad = utf8("bench");

  const sync = () => {
    const { enc, ciphertext } = ours.seal(ourKey.publicKey, pt, { aad });
    return ours.open(enc, ourKey, ciphertext, { aad });
  };
  const async = async () => {
    const { enc, ciphertext } = await ours.sealAsync(ourKey.publicKey, pt, { aad });
    return await ours.openAsync(enc, ourKey, ciphertext, { aad });
  };
  const peer = async () => {
    const { enc, ct } = await core.seal({ recipientPublicKey: coreKey.publicKey }, pt, aad);
    return bytes(await core.open({ recipientKey: coreKey, enc }, ct, aad));
  };
  check(equalBytes(sync(), pt) && equalBytes(await async(), pt), `${pair.label} round trip`);
  check(equalBytes(await peer(), pt), `${pair.label} @hpke/core round trip`);
  const sealed = ours.seal(ourKey.publicKey, pt, { aad });
  const opened = await core.open(
    { recipientKey: coreKey, enc: sealed.enc },
    sealed.ciphertext,
    aad,
  );
  check(equalBytes(bytes(opened), pt), `${pair.label}: @hpke/core opens Cloister's message`);
  return { sync, async, peer };
}

const kib = (size: number) => `${size / 1024} KiB`;

/** Per suite pair: Cloister (sync, and async when asked) and @hpke/core, checked first. */
async function hpkeCases(size: number, withAsync: boolean): Promise<Case[][]> {
  const groups: Case[][] = [];
  for (const pair of PAIRS) {
    const { sync, async, peer } = await hpkeFunctions(pair, size);
    const name = (who: string) => `hpke ${pair.label} ${kib(size)} seal+open (${who})`;
    groups.push([
      { name: name("cloister"), fn: sync },
      ...(withAsync ? [{ name: name("cloister, async"), fn: async }] : []),
      { name: name(PEER), fn: peer },
    ]);
  }
  return groups;
}

const REQUEST_LABEL = utf8("message/bhttp request");
const RESPONSE_LABEL = utf8("message/bhttp response");
const KEY = utf8("key");
const NONCE = utf8("nonce");
const EMPTY = new Uint8Array(0);

/** OHTTP with @hpke/core's contexts, KDF and AEAD: the same bytes RFC 9458 §4.3/§4.4 define. */
function coreOhttp(core: CoreSuite, config: KeyConfig, keyPair: CryptoKeyPair) {
  const hdr = Uint8Array.of(config.keyId, 0, 0x20, 0, 1, 0, 1);
  const info = concat(REQUEST_LABEL, Uint8Array.of(0), hdr);
  const responseKeys = async (secret: ArrayBuffer, enc: Uint8Array, nonce: Uint8Array) => {
    // HKDF-Extract = HMAC(salt, ikm); @hpke/core's extract() only takes Nh-byte salts.
    const hmacKey = await crypto.subtle.importKey(
      "raw",
      concat(enc, nonce) as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const prk = await crypto.subtle.sign("HMAC", hmacKey, secret);
    return {
      aead: core.aead.createEncryptionContext(await core.kdf.expand(prk, KEY, 16)),
      nonce: await core.kdf.expand(prk, NONCE, 12),
    };
  };
  return {
    async encapsulateRequest(request: Uint8Array) {
      const sender = await core.createSenderContext({
        recipientPublicKey: keyPair.publicKey,
        info,
      });
      const enc = bytes(sender.enc);
      const ct = bytes(await sender.seal(request));
      return {
        encapsulatedRequest: concat(hdr, enc, ct),
        async decapsulateResponse(response: Uint8Array) {
          const secret = await sender.export(RESPONSE_LABEL, 16);
          const keys = await responseKeys(secret, enc, response.subarray(0, 16));
          return bytes(await keys.aead.open(keys.nonce, response.subarray(16), EMPTY));
        },
      };
    },
    async decapsulateRequest(encapsulated: Uint8Array) {
      const enc = encapsulated.slice(7, 39);
      const recipient = await core.createRecipientContext({ recipientKey: keyPair, enc, info });
      const request = bytes(await recipient.open(encapsulated.subarray(39)));
      return {
        request,
        async encapsulateResponse(response: Uint8Array) {
          const secret = await recipient.export(RESPONSE_LABEL, 16);
          const responseNonce = random(16);
          const keys = await responseKeys(secret, enc, responseNonce);
          return concat(responseNonce, bytes(await keys.aead.seal(keys.nonce, response, EMPTY)));
        },
      };
    },
  };
}

async function ohttpCases(): Promise<Case[]> {
  const { ours, core } = PAIRS[0];
  const ikm = random(32);
  const keyPair = ours.kem.deriveKeyPair(ikm);
  const config: KeyConfig = {
    keyId: 1,
    kemId: 0x0020,
    publicKey: keyPair.publicKey,
    algorithms: [{ kdfId: 1, aeadId: 1 }],
  };
  const keys: GatewayKey[] = [{ config, privateKey: keyPair.privateKey }];
  const peer = coreOhttp(core, config, await core.kem.deriveKeyPair(ikm));
  const request = random(1024);
  const response = random(1024);

  const mine = () => {
    const client = encapsulateRequest(config, request);
    const gateway = decapsulateRequest(keys, client.encapsulatedRequest);
    const encapsulated = gateway.context.encapsulateResponse(response);
    return client.context.decapsulateResponse(encapsulated);
  };
  const theirs = async () => {
    const client = await peer.encapsulateRequest(request);
    const gateway = await peer.decapsulateRequest(client.encapsulatedRequest);
    return client.decapsulateResponse(await gateway.encapsulateResponse(response));
  };
  check(equalBytes(mine(), response), "OHTTP round trip");
  check(equalBytes(await theirs(), response), "@hpke/core OHTTP round trip");
  // Each side's messages open on the other: the baseline speaks the same protocol.
  const client = encapsulateRequest(config, request);
  const gateway = await peer.decapsulateRequest(client.encapsulatedRequest);
  const answer = client.context.decapsulateResponse(await gateway.encapsulateResponse(response));
  check(equalBytes(gateway.request, request) && equalBytes(answer, response), "OHTTP interop");
  const peerClient = await peer.encapsulateRequest(request);
  const ourGateway = decapsulateRequest(keys, peerClient.encapsulatedRequest);
  const back = await peerClient.decapsulateResponse(
    ourGateway.context.encapsulateResponse(response),
  );
  check(equalBytes(ourGateway.request, request) && equalBytes(back, response), "OHTTP interop");

  return [
    { name: "ohttp x25519/aes-128-gcm 1 KiB round trip (cloister)", fn: mine },
    { name: `ohttp x25519/aes-128-gcm 1 KiB round trip (${PEER})`, fn: theirs },
  ];
}

/** The worse (smaller) of several ratios, under one name. */
function worst(name: string, ratios: Ratio[]): Ratio {
  const w = ratios.reduce((a, b) => (b.value < a.value ? b : a));
  return { ...w, name };
}

const CLOCKS = [
  { clock: "wall", suffix: "", rounds: 60 },
  { clock: "cpu", suffix: "-cpu", rounds: 30 },
] as const;

const run: BenchSuite = async () => {
  const results: Result[] = [];
  const ratios: Ratio[] = [];
  const small = await hpkeCases(1024, false);
  const large = await hpkeCases(65536, true);
  const ohttp = await ohttpCases();
  const tag = (i: number) => PAIRS[i].label.split("/")[0];

  for (const { clock, suffix, rounds } of CLOCKS) {
    // Warm-up long enough for the BigInt-heavy curve code to reach its optimised tier.
    const time = (cases: Case[], warmup: number) => compare(cases, { rounds, warmup, clock });
    const r1k: Result[][] = [];
    for (const cases of small) r1k.push(await time(cases, 40));
    const per1k = r1k.map(([ours, peer], i) =>
      ratio(`hpke-1k-${tag(i)}-vs-hpkecore${suffix}`, peer, ours)
    );
    ratios.push(worst(`hpke-1k-vs-hpkecore${suffix}`, per1k), ...per1k);

    const r64k: Result[][] = [];
    for (const cases of large) r64k.push(await time(cases, 10));
    const per64k = r64k.map(([, async, peer], i) =>
      ratio(`hpke-64k-${tag(i)}-vs-hpkecore${suffix}`, peer, async)
    );
    const per64kSync = r64k.map(([sync, , peer], i) =>
      ratio(`hpke-64k-sync-${tag(i)}-vs-hpkecore${suffix}`, peer, sync)
    );
    ratios.push(
      worst(`hpke-64k-vs-hpkecore${suffix}`, per64k),
      ...per64k,
      worst(`hpke-64k-sync-vs-hpkecore${suffix}`, per64kSync),
      ...per64kSync,
    );

    const [ours, peer] = await time(ohttp, 40);
    ratios.push(ratio(`ohttp-vs-hpkecore${suffix}`, peer, ours));
    results.push(...r1k.flat(), ...r64k.flat(), ours, peer);
  }
  return { results, ratios };
};

export default run;
