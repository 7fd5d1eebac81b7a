/**
 * Oblivious HTTP, RFC 9458, over protocol/hpke.ts: key configurations and the
 * `application/ohttp-keys` list (§3), Encapsulated Requests and Responses (§4), the media types
 * (§9) and the gateway's error responses (§5.2, §5.3).
 *
 *   Key Config { Key Identifier (8), HPKE KEM ID (16), HPKE Public Key (8 * Npk),
 *                HPKE Symmetric Algorithms Length (16) = 4..65532,
 *                HPKE Symmetric Algorithms { HPKE KDF ID (16), HPKE AEAD ID (16) } ... }
 *   application/ohttp-keys = { Length (16), Key Config } ...
 *   Encapsulated Request  { Key Identifier (8), KEM ID (16), KDF ID (16), AEAD ID (16),
 *                           enc (8 * Nenc), HPKE-protected request }
 *   Encapsulated Response { Response Nonce (8 * max(Nn, Nk)), AEAD-protected response }
 *
 * Client:  const { encapsulatedRequest, context } = encapsulateRequest(config, bhttpRequest);
 *          const bhttpResponse = context.decapsulateResponse(encapsulatedResponse);
 * Gateway: const { request, context } = decapsulateRequest(gatewayKeys, encapsulatedRequest);
 *          const encapsulatedResponse = context.encapsulateResponse(bhttpResponse);
 *
 * Each context answers one response and then wipes its HPKE secrets (also on failure, and on
 * `dispose()` for a request that gets no answer); the response key, nonce, PRK and exported
 * secret are wiped before each call returns. The decrypted request and response are the caller's
 * to wipe. Every malformed input is an `OhttpError` naming the field and its byte offset.
 * Limits: a key config list is refused whole if any entry is malformed (§3.2 asks clients to
 * discard such configurations, and refusing uniformly cannot segregate clients); entries with a
 * KEM this module does not implement are skipped. The export-only AEAD cannot carry messages.
 */
import { concat, i2osp, utf8, wipe } from "./bytes.ts";
import { ProtocolError } from "./errors.ts";
import {
  CipherSuite,
  type Context,
  HpkeError,
  type Kem,
  type RecipientContext,
  type SenderContext,
} from "./hpke.ts";
import { idHex } from "./hpke/errors.ts";
import { kemById } from "./hpke/kem.ts";
import { Reader } from "./reader.ts";

/** The media types of RFC 9458 §9. */
export const MEDIA_TYPE_REQUEST = "message/ohttp-req";
export const MEDIA_TYPE_RESPONSE = "message/ohttp-res";
export const MEDIA_TYPE_KEYS = "application/ohttp-keys";

/** §5.3: the problem type for a request made with an unknown or outdated key configuration. */
export const PROBLEM_TYPE_OHTTP_KEY = "https://iana.org/assignments/http-problem-types#ohttp-key";

export type OhttpErrorCode =
  /** The input ends before a field does. */
  | "truncated"
  /** Bytes after the end of a single key configuration. */
  | "trailing-data"
  /** A field of a key configuration is out of range (lengths, public key). */
  | "invalid-key-config"
  /** A key configuration names a KEM this module does not implement. */
  | "unsupported-kem"
  /** An Encapsulated Request names a key the gateway does not hold (§5.3). */
  | "unknown-key-id"
  /** A KEM, KDF or AEAD the key configuration or this module does not offer. */
  | "unsupported-suite"
  /** The request's encapsulated key is not a valid public key (RFC 9180 §7.1.4). */
  | "invalid-encapsulated-key"
  /** The AEAD refused the request or response: wrong key, or tampered bytes. */
  | "decrypt-failed"
  /** A Content-Type other than the one expected. */
  | "wrong-media-type"
  /** A context used after it answered, or after dispose(). */
  | "disposed";

export class OhttpError extends ProtocolError {
  declare readonly code: OhttpErrorCode;

  constructor(code: OhttpErrorCode, message: string, offset?: number, cause?: unknown) {
    super(code, message, offset);
    if (cause !== undefined) this.cause = cause;
  }
}

export interface SymmetricAlgorithm {
  kdfId: number;
  aeadId: number;
}

export interface KeyConfig {
  /** 0..255, unique among the gateway's current configurations. */
  keyId: number;
  kemId: number;
  /** The KEM public key in its RFC 9180 serialisation (Npk bytes). */
  publicKey: Uint8Array;
  /** The (KDF, AEAD) pairs the gateway accepts with this key, in preference order. */
  algorithms: SymmetricAlgorithm[];
}

/** A key configuration the gateway holds the private key of. */
export interface GatewayKey {
  config: KeyConfig;
  privateKey: Uint8Array;
}

const REQUEST_LABEL = utf8("message/bhttp request");
const RESPONSE_LABEL = utf8("message/bhttp response");
const KEY = utf8("key");
const NONCE = utf8("nonce");
const EMPTY = new Uint8Array(0);
/** Key id, KEM id, KDF id, AEAD id. */
const HEADER_LENGTH = 7;

/** A Reader whose failures are OhttpErrors ("truncated", "trailing-data"). */
const reader = (bytes: Uint8Array, what: string) =>
  new Reader(bytes, what, (failure, message, at) => new OhttpError(failure, message, at));

function kemOf(kemId: number, offset: number): Kem {
  try {
    return kemById(kemId);
  } catch (e) {
    throw new OhttpError("unsupported-kem", `unsupported KEM ${idHex(kemId)}`, offset, e);
  }
}

// ---- Key configurations (§3) ----

function checkKeyConfig(config: KeyConfig): void {
  const { keyId, kemId, publicKey, algorithms } = config;
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > 255) {
    throw new OhttpError("invalid-key-config", `key id ${keyId} is not in 0..255`);
  }
  const kem = kemOf(kemId, 1);
  if (publicKey.length !== kem.Npk) {
    throw new OhttpError(
      "invalid-key-config",
      `${kem.name} public key of ${publicKey.length} bytes, expected ${kem.Npk}`,
    );
  }
  if (algorithms.length < 1 || algorithms.length > 16383) {
    throw new OhttpError(
      "invalid-key-config",
      `${algorithms.length} symmetric algorithms; 1..16383 allowed`,
    );
  }
  for (const [i, { kdfId, aeadId }] of algorithms.entries()) {
    for (const [name, id] of [["KDF", kdfId], ["AEAD", aeadId]] as const) {
      if (!Number.isInteger(id) || id < 0 || id > 0xffff) {
        throw new OhttpError(
          "invalid-key-config",
          `algorithm ${i}: ${name} id ${id} is not 16 bits`,
        );
      }
    }
  }
}

/** Encodes one Key Config (§3.1). */
export function encodeKeyConfig(config: KeyConfig): Uint8Array {
  checkKeyConfig(config);
  const { keyId, kemId, publicKey, algorithms } = config;
  const out = new Uint8Array(1 + 2 + publicKey.length + 2 + 4 * algorithms.length);
  const view = new DataView(out.buffer);
  out[0] = keyId;
  view.setUint16(1, kemId);
  out.set(publicKey, 3);
  let at = 3 + publicKey.length;
  view.setUint16(at, 4 * algorithms.length);
  at += 2;
  for (const { kdfId, aeadId } of algorithms) {
    view.setUint16(at, kdfId);
    view.setUint16(at + 2, aeadId);
    at += 4;
  }
  return out;
}

function readKeyConfig(r: Reader): KeyConfig {
  const keyId = r.u8("key identifier");
  const kemAt = r.at;
  const kemId = r.u16("KEM id");
  const kem = kemOf(kemId, kemAt);
  const keyAt = r.at;
  const publicKey = r.take(kem.Npk, `${kem.name} public key`).slice();
  try {
    kem.checkPublicKey(publicKey);
  } catch (e) {
    throw new OhttpError("invalid-key-config", `invalid ${kem.name} public key`, keyAt, e);
  }
  const lengthAt = r.at;
  const length = r.u16("symmetric algorithms length");
  if (length < 4 || length % 4 !== 0) {
    throw new OhttpError(
      "invalid-key-config",
      `symmetric algorithms length ${length} is not a non-zero multiple of 4`,
      lengthAt,
    );
  }
  const algs = r.sub(length, "symmetric algorithms");
  const algorithms: SymmetricAlgorithm[] = [];
  while (algs.remaining > 0) {
    algorithms.push({ kdfId: algs.u16("KDF id"), aeadId: algs.u16("AEAD id") });
  }
  return { keyId, kemId, publicKey, algorithms };
}

/** Decodes exactly one Key Config (§3.1); its KEM must be one this module implements. */
export function decodeKeyConfig(bytes: Uint8Array): KeyConfig {
  const r = reader(bytes, "key config");
  const config = readKeyConfig(r);
  r.end();
  return config;
}

/** Encodes an `application/ohttp-keys` list (§3.2): each config after a 2-byte length. */
export function encodeKeyConfigs(configs: readonly KeyConfig[]): Uint8Array {
  return concat(
    ...configs.flatMap((c) => {
      const encoded = encodeKeyConfig(c);
      if (encoded.length > 0xffff) {
        throw new OhttpError(
          "invalid-key-config",
          `key config ${c.keyId} is ${encoded.length} bytes, over the list's 2-byte length`,
        );
      }
      return [i2osp(encoded.length, 2), encoded];
    }),
  );
}

/**
 * Decodes an `application/ohttp-keys` list (§3.2). Entries whose KEM is not implemented here are
 * skipped; any malformed entry refuses the whole list.
 */
export function decodeKeyConfigs(bytes: Uint8Array): KeyConfig[] {
  const r = reader(bytes, "key config list");
  const configs: KeyConfig[] = [];
  while (!r.done) {
    const lengthAt = r.at;
    const length = r.u16("key config length");
    if (length === 0) throw new OhttpError("invalid-key-config", "empty key config", lengthAt);
    const entry = r.sub(length, "key config");
    try {
      configs.push(readKeyConfig(entry));
    } catch (e) {
      if (e instanceof OhttpError && e.code === "unsupported-kem") continue;
      throw e;
    }
    entry.end();
  }
  return configs;
}

// ---- Media types (§9) ----

/**
 * Refuses a Content-Type whose media type is not `expected` (case-insensitive, parameters
 * ignored), e.g. `checkMediaType(req.headers.get("content-type"), MEDIA_TYPE_REQUEST)`.
 */
export function checkMediaType(contentType: string | null | undefined, expected: string): void {
  const got = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (got !== expected) {
    throw new OhttpError(
      "wrong-media-type",
      got ? `media type ${got}, expected ${expected}` : `no media type, expected ${expected}`,
    );
  }
}

// ---- Encapsulation (§4) ----

/** The suite of a (KEM, KDF, AEAD) triple this module can carry messages with, if any. */
function suiteOf(kemId: number, { kdfId, aeadId }: SymmetricAlgorithm): CipherSuite | undefined {
  try {
    const suite = new CipherSuite(kemId, kdfId, aeadId);
    return suite.aead.Nk > 0 ? suite : undefined; // not the export-only AEAD
  } catch {
    return undefined; // an unsupported-kem/kdf/aead HpkeError
  }
}

function unsupportedSuite(kemId: number, a: SymmetricAlgorithm, why: string, at?: number) {
  const suite = `KEM ${idHex(kemId)}, KDF ${idHex(a.kdfId)}, AEAD ${idHex(a.aeadId)}`;
  return new OhttpError("unsupported-suite", `${why}: ${suite}`, at);
}

const offers = (config: KeyConfig, { kdfId, aeadId }: SymmetricAlgorithm) =>
  config.algorithms.some((a) => a.kdfId === kdfId && a.aeadId === aeadId);

function header(keyId: number, kemId: number, { kdfId, aeadId }: SymmetricAlgorithm): Uint8Array {
  return Uint8Array.of(keyId, kemId >> 8, kemId, kdfId >> 8, kdfId, aeadId >> 8, aeadId);
}

/** info = "message/bhttp request" || 0x00 || hdr (§4.3) */
function requestInfo(hdr: Uint8Array): Uint8Array {
  return concat(REQUEST_LABEL, Uint8Array.of(0), hdr);
}

/**
 * What either end keeps of one request to protect its one response (§4.4): the HPKE context and
 * enc. Answering, failing to, or `dispose()` wipes the HPKE context's secrets.
 */
abstract class ResponseContext implements Disposable {
  readonly #context: Context;
  readonly #enc: Uint8Array;

  constructor(protected readonly suite: CipherSuite, context: Context, enc: Uint8Array) {
    this.#context = context;
    this.#enc = enc;
  }

  /** True once the context has answered (or failed to) or was disposed: its secrets are zero. */
  get disposed(): boolean {
    return this.#context.disposed;
  }

  dispose(): void {
    this.#context.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** max(Nn, Nk): the length of the response nonce and of the exported secret (§4.4). */
  protected get nonceLength(): number {
    return Math.max(this.suite.aead.Nn, this.suite.aead.Nk);
  }

  protected checkLive(side: string): void {
    if (this.disposed) throw new OhttpError("disposed", `OHTTP ${side} context already used`);
  }

  /** The response AEAD key and nonce (§4.4), wiping the exported secret and the PRK. */
  protected responseKeys(responseNonce: Uint8Array): { key: Uint8Array; nonce: Uint8Array } {
    const { kdf, aead } = this.suite;
    const secret = this.#context.export(RESPONSE_LABEL, this.nonceLength);
    const prk = kdf.extract(concat(this.#enc, responseNonce), secret);
    try {
      return { key: kdf.expand(prk, KEY, aead.Nk), nonce: kdf.expand(prk, NONCE, aead.Nn) };
    } finally {
      wipe(secret, prk);
    }
  }
}

export interface EncapsulateOptions {
  /** The (KDF, AEAD) pair to use; default the config's first one this module implements. */
  algorithm?: SymmetricAlgorithm;
  /** A fixed HPKE ephemeral key pair, for test vectors only. */
  ephemeral?: { privateKey: Uint8Array; publicKey: Uint8Array };
}

/** Client side of one request: decapsulates its one response, then wipes itself. */
export class ClientContext extends ResponseContext {
  /** Opens an Encapsulated Response (§4.4); the context is disposed afterwards either way. */
  decapsulateResponse(encapsulatedResponse: Uint8Array): Uint8Array {
    this.checkLive("client");
    const { aead } = this.suite;
    try {
      const r = reader(encapsulatedResponse, "encapsulated response");
      const responseNonce = r.take(this.nonceLength, "response nonce");
      const ctAt = r.at;
      const ct = r.take(r.remaining, "response ciphertext");
      if (ct.length < aead.Nt) {
        throw new OhttpError("truncated", "response shorter than the AEAD tag", ctAt);
      }
      const { key, nonce } = this.responseKeys(responseNonce);
      try {
        return aead.open(key, nonce, EMPTY, ct);
      } catch (e) {
        throw new OhttpError("decrypt-failed", "response did not authenticate", ctAt, e);
      } finally {
        wipe(key, nonce);
      }
    } finally {
      this.dispose();
    }
  }
}

/** Encapsulates a request to a gateway's key configuration (§4.3). */
export function encapsulateRequest(
  config: KeyConfig,
  request: Uint8Array,
  options: EncapsulateOptions = {},
): { encapsulatedRequest: Uint8Array; context: ClientContext } {
  checkKeyConfig(config);
  const { kemId } = config;
  let algorithm = options.algorithm;
  let suite: CipherSuite | undefined;
  if (algorithm) {
    if (!offers(config, algorithm)) {
      throw unsupportedSuite(kemId, algorithm, "the key config does not offer");
    }
    suite = suiteOf(kemId, algorithm);
    if (!suite) throw unsupportedSuite(kemId, algorithm, "not implemented here");
  } else {
    algorithm = config.algorithms.find((a) => (suite = suiteOf(kemId, a)) !== undefined);
    if (!algorithm || !suite) {
      throw new OhttpError("unsupported-suite", "the key config offers no supported KDF and AEAD");
    }
  }
  const hdr = header(config.keyId, config.kemId, algorithm);
  let sender: { enc: Uint8Array; context: SenderContext };
  try {
    sender = suite.setupSender(config.publicKey, {
      info: requestInfo(hdr),
      ephemeral: options.ephemeral,
    });
  } catch (e) {
    if (e instanceof HpkeError && e.code === "invalid-public-key") {
      throw new OhttpError("invalid-key-config", e.message, undefined, e);
    }
    throw e;
  }
  const { enc, context } = sender;
  try {
    const ct = context.seal(request);
    return {
      encapsulatedRequest: concat(hdr, enc, ct),
      context: new ClientContext(suite, context, enc),
    };
  } catch (e) {
    context.dispose();
    throw e;
  }
}

/** Gateway side of one request: encapsulates its one response, then wipes itself. */
export class GatewayContext extends ResponseContext {
  /**
   * Encapsulates the response (§4.4); the context is disposed afterwards either way.
   * `responseNonce` fixes the otherwise random nonce, for test vectors only.
   */
  encapsulateResponse(response: Uint8Array, responseNonce?: Uint8Array): Uint8Array {
    this.checkLive("gateway");
    const length = this.nonceLength;
    try {
      const nonce = responseNonce ?? crypto.getRandomValues(new Uint8Array(length));
      if (nonce.length !== length) {
        throw new RangeError(`response nonce of ${nonce.length} bytes, expected ${length}`);
      }
      const keys = this.responseKeys(nonce);
      try {
        return concat(nonce, this.suite.aead.seal(keys.key, keys.nonce, EMPTY, response));
      } finally {
        wipe(keys.key, keys.nonce);
      }
    } finally {
      this.dispose();
    }
  }
}

/**
 * Decapsulates an Encapsulated Request (§4.3) with the gateway key its key id names. Returns the
 * request (the caller's to wipe) and the context that encapsulates the response.
 */
export function decapsulateRequest(
  keys: readonly GatewayKey[],
  encapsulatedRequest: Uint8Array,
): { request: Uint8Array; context: GatewayContext } {
  const r = reader(encapsulatedRequest, "encapsulated request");
  const keyId = r.u8("key identifier");
  const kemId = r.u16("KEM id");
  const algorithm = { kdfId: r.u16("KDF id"), aeadId: r.u16("AEAD id") };
  const key = keys.find((k) => k.config.keyId === keyId);
  if (!key) throw new OhttpError("unknown-key-id", `unknown key identifier ${keyId}`, 0);
  const { config } = key;
  if (kemId !== config.kemId) {
    throw new OhttpError(
      "unsupported-suite",
      `KEM ${idHex(kemId)} does not match key ${keyId}'s KEM ${idHex(config.kemId)}`,
      1,
    );
  }
  if (!offers(config, algorithm)) {
    throw unsupportedSuite(kemId, algorithm, `key ${keyId} does not accept`, 3);
  }
  const suite = suiteOf(kemId, algorithm);
  if (!suite) throw unsupportedSuite(kemId, algorithm, "not implemented here", 3);
  const enc = r.take(suite.kem.Nenc, "encapsulated key").slice();
  const ctAt = r.at;
  const ct = r.take(r.remaining, "request ciphertext");
  if (ct.length < suite.aead.Nt) {
    throw new OhttpError("truncated", "request shorter than the AEAD tag", ctAt);
  }
  const hdr = encapsulatedRequest.subarray(0, HEADER_LENGTH);
  let context: RecipientContext;
  try {
    context = suite.setupRecipient(
      enc,
      { privateKey: key.privateKey, publicKey: config.publicKey },
      { info: requestInfo(hdr) },
    );
  } catch (e) {
    if (e instanceof HpkeError && e.code === "invalid-public-key") {
      throw new OhttpError("invalid-encapsulated-key", e.message, HEADER_LENGTH, e);
    }
    throw e;
  }
  try {
    return { request: context.open(ct), context: new GatewayContext(suite, context, enc) };
  } catch (e) {
    context.dispose();
    throw new OhttpError("decrypt-failed", "request did not authenticate", ctAt, e);
  }
}

// ---- Errors (§5.2, §5.3) ----

/** What a gateway answers a refused request with: never the reason's details, bar §5.3's. */
export interface ErrorResponse {
  status: number;
  contentType?: string;
  body: Uint8Array;
}

function keyProblem(title: string): ErrorResponse {
  return {
    status: 400,
    contentType: "application/problem+json",
    body: utf8(JSON.stringify({ type: PROBLEM_TYPE_OHTTP_KEY, title })),
  };
}

/**
 * The HTTP response for an error of `decapsulateRequest` or `checkMediaType`: 415 for a wrong
 * media type; 400 with the `ohttp-key` problem (§5.3) when the client used a key configuration the
 * gateway does not hold, so it can fetch fresh keys; otherwise 400 with no body (§5.2).
 */
export function errorResponse(error: OhttpError): ErrorResponse {
  switch (error.code) {
    case "wrong-media-type":
      return { status: 415, body: EMPTY };
    case "unknown-key-id":
      return keyProblem("key identifier unknown");
    case "unsupported-suite":
      return keyProblem("key configuration not supported");
    default:
      return { status: 400, body: EMPTY };
  }
}
