/**
 * The emulated secure processor: a stand-in for the AMD-SP for QEMU without SEV-SNP, the demo and
 * tests. It holds a locally generated root → intermediate → endorsement key chain shaped like
 * AMD's (ARK and ASK/ASVK RSA-4096 signing with RSASSA-PSS SHA-384 / MGF1 SHA-384 / salt 48; VCEK
 * or VLEK EC P-384 with the KDS extensions of VCEK spec #57230 §3.1: structVersion, productName,
 * SPLs, hwID or cspID) and signs reports in the exact ATTESTATION_REPORT layout (SEV-SNP ABI
 * §7.3, version 3 or 5) for a given measurement, report_data, TCB, guest policy and chip_id.
 *
 * Nothing trusts it by default. Its CAs are named `ARK-Emulated`, `SEV-Emulated` and
 * `SEV-VLEK-Emulated` (with O=Cloister, OU=EMULATED secure processor - not AMD) while the
 * endorsement key carries the real product line it emulates (CPUID, productName, TCB layout), so
 * the normal verifier checks it with the normal rules and marks the result `emulated` — but only
 * once a caller passes its root in `roots` (`--trust-emulated`).
 *
 * State: `create()` makes new keys (two or three RSA-4096 keys: about a second each); `save(dir)`
 * writes keys (PKCS#8 PEM, mode 0600), certificates (PEM) and `emulated-sp.json`; `load(dir)`
 * restores them, so a restarted emulator keeps its root. `serveEmulator` answers guests over a
 * byte stream (QEMU virtio-serial on the host side, a Unix socket, TCP) with the message format of
 * `EMULATOR_PROTOCOL`.
 *
 * Limits: one chip and one TCB per state (a different TCB needs a new state, as a real VCEK is
 * derived per TCB); no migration agent, ID block or author key; the guest's measurement is what
 * the host says it launched (`launch()`), exactly like the real AMD-SP records it.
 */
import { fileURLToPath } from "node:url";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import type { Product } from "./policy.ts";
import { type Certificate, parseCertificate, readPem } from "./x509.ts";
import {
  encodeReport,
  encodeTcb,
  POLICY,
  PRODUCT_CPUID,
  type Report,
  SIG_COMPONENT_SIZE,
  SIGNATURE_ALGO_ECDSA_P384_SHA384,
  SIGNED_SIZE,
  type SigningKey,
  type Tcb,
  tcbLayout,
} from "./snp/abi.ts";
import { EMULATED, intermediateName, isEmulatedRoot, KDS_OID, rootName } from "./snp/kds.ts";
import { decodeCbor, encodeCbor } from "../protocol/cbor.ts";
import { fromHex, toHex } from "../protocol/bytes.ts";

const RSA_PSS: RsaHashedKeyGenParams = {
  name: "RSA-PSS",
  modulusLength: 4096,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-384",
};
const P384: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-384" };
const YEAR = 365 * 24 * 3600 * 1000;

/** What a chip's state says about itself. */
export interface EmulatedIdentity {
  product: Product;
  /** 64 bytes; on Turin only the first 8 are the hwID, the rest zero. */
  chipId: Uint8Array;
  tcb: Tcb;
  signingKey: SigningKey;
  /** Firmware version reported as current and committed. */
  firmware: { major: number; minor: number; build: number };
}

export interface CreateOptions {
  product?: Product;
  chipId?: Uint8Array;
  tcb?: Tcb;
  signingKey?: SigningKey;
  /** Start of every certificate's validity (default: now minus one day). */
  notBefore?: Date;
}

/** The guest a report is about: fixed at launch, like the AMD-SP's guest context. */
export interface GuestLaunch {
  measurement: Uint8Array;
  policy?: bigint;
  hostData?: Uint8Array;
  familyId?: Uint8Array;
  imageId?: Uint8Array;
  guestSvn?: number;
  idKeyDigest?: Uint8Array;
}

export interface ReportRequest {
  reportData: Uint8Array;
  vmpl?: number;
  /** 3 or 5 (default 5). */
  version?: 3 | 5;
}

interface KeyPair {
  privateKey: CryptoKey;
  cert: Certificate;
}

const DEFAULT_TCB: Record<Product, Tcb> = {
  Milan: { bl: 4, tee: 0, snp: 24, ucode: 219 },
  Genoa: { bl: 10, tee: 0, snp: 25, ucode: 84 },
  Turin: { fmc: 1, bl: 1, tee: 1, snp: 3, ucode: 9 },
};

function name(cn: string): pkijs.RelativeDistinguishedNames {
  const attr = (type: string, value: string) =>
    new pkijs.AttributeTypeAndValue({ type, value: new asn1js.Utf8String({ value }) });
  return new pkijs.RelativeDistinguishedNames({
    typesAndValues: [
      attr("2.5.4.6", "US"),
      attr("2.5.4.10", "Cloister"),
      attr("2.5.4.11", "EMULATED secure processor - not AMD"),
      attr("2.5.4.3", cn),
    ],
  });
}

/** UTCTime through 2049, GeneralizedTime from 2050, whole seconds (RFC 5280 §4.1.2.5). */
function time(at: Date): pkijs.Time {
  const value = new Date(Math.floor(at.getTime() / 1000) * 1000);
  return new pkijs.Time({ type: value.getUTCFullYear() < 2050 ? 0 : 1, value });
}

function ext(oid: string, value: Uint8Array | asn1js.BaseBlock, critical = false): pkijs.Extension {
  const bytes = value instanceof Uint8Array ? value : new Uint8Array(value.toBER());
  return new pkijs.Extension({ extnID: oid, critical, extnValue: bytes.slice().buffer });
}

export interface IssueOptions {
  serial: number;
  /** Subject and issuer common names (the rest of both names is the emulator's). */
  subject: string;
  issuer: string;
  publicKey: CryptoKey;
  /** The issuer's private key: RSA-PSS signs with SHA-384, MGF1 SHA-384, salt 48. */
  signer: CryptoKey;
  notBefore: Date;
  years: number;
  extensions: pkijs.Extension[];
}

/** Builds and signs one certificate of an emulated chain. */
export async function issueCertificate(options: IssueOptions): Promise<Certificate> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ value: options.serial });
  cert.subject = name(options.subject);
  cert.issuer = name(options.issuer);
  cert.notBefore = time(options.notBefore);
  cert.notAfter = time(new Date(options.notBefore.getTime() + options.years * YEAR));
  await cert.subjectPublicKeyInfo.importKey(options.publicKey);
  cert.extensions = options.extensions;
  await cert.sign(options.signer, "SHA-384");
  return parseCertificate(new Uint8Array(cert.toSchema().toBER()), options.subject);
}

function caExtensions(pathLen?: number): pkijs.Extension[] {
  const usage = new asn1js.BitString({ valueHex: new Uint8Array([0x06]).buffer, unusedBits: 1 });
  return [
    ext("2.5.29.15", usage, true), // keyCertSign, cRLSign
    ext(
      "2.5.29.19",
      new pkijs.BasicConstraints(
        pathLen === undefined ? { cA: true } : { cA: true, pathLenConstraint: pathLen },
      ).toSchema(),
      true,
    ),
  ];
}

/** The KDS extensions of a VCEK or VLEK for this identity (#57230 §3.1 Table 8). */
export function kdsExtensions(id: EmulatedIdentity): pkijs.Extension[] {
  const int = (n: number) => new asn1js.Integer({ value: n });
  const turin = id.product === "Turin";
  const list = [
    ext(KDS_OID.structVersion, int(turin ? 1 : 0)),
    ext(
      KDS_OID.productName,
      new asn1js.IA5String({
        value: id.signingKey === "vlek" ? id.product : productName(id.product),
      }),
    ),
    ext(KDS_OID.blSpl, int(id.tcb.bl)),
    ext(KDS_OID.teeSpl, int(id.tcb.tee)),
    ext(KDS_OID.snpSpl, int(id.tcb.snp)),
    ext(KDS_OID.ucodeSpl, int(id.tcb.ucode)),
  ];
  if (turin) list.push(ext(KDS_OID.fmcSpl, int(id.tcb.fmc ?? 0)));
  if (id.signingKey === "vcek") list.push(ext(KDS_OID.hwId, id.chipId.slice(0, turin ? 8 : 64)));
  else {list.push(
      ext(KDS_OID.cspId, new asn1js.IA5String({ value: "CN=emulated.cloister.invalid" })),
    );}
  return list;
}

/** KDS writes "Milan-B0" for Milan VCEKs and the bare line name otherwise (VLEKs: "Milan"). */
function productName(product: Product): string {
  return product === "Milan" ? "Milan-B0" : product;
}

function pem(label: string, der: Uint8Array): string {
  const b64 = der.toBase64().replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** Little-endian 72-byte field of a big-endian 48-byte integer (ABI Appendix A). */
function leField(be: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIG_COMPONENT_SIZE);
  for (let i = 0; i < 48; i++) out[i] = be[47 - i];
  return out;
}

export class EmulatedSecureProcessor {
  #launch?: GuestLaunch;
  readonly #reportId = crypto.getRandomValues(new Uint8Array(32));

  private constructor(
    readonly identity: EmulatedIdentity,
    readonly ark: KeyPair,
    readonly intermediate: KeyPair,
    readonly endorsement: KeyPair,
  ) {}

  /** Generates a new chip: keys, certificates and identity. */
  static async create(options: CreateOptions = {}): Promise<EmulatedSecureProcessor> {
    const product = options.product ?? "Genoa";
    const chipId = options.chipId ?? crypto.getRandomValues(new Uint8Array(64));
    if (chipId.length !== 64) throw new RangeError("chipId must be 64 bytes");
    if (product === "Turin") chipId.fill(0, 8);
    const identity: EmulatedIdentity = {
      product,
      chipId,
      tcb: options.tcb ?? DEFAULT_TCB[product],
      signingKey: options.signingKey ?? "vcek",
      firmware: { major: 1, minor: 57, build: 3 },
    };
    const notBefore = options.notBefore ?? new Date(Date.now() - 24 * 3600 * 1000);
    const [arkKeys, midKeys] = await Promise.all([
      crypto.subtle.generateKey(RSA_PSS, true, ["sign", "verify"]),
      crypto.subtle.generateKey(RSA_PSS, true, ["sign", "verify"]),
    ]);
    const leafKeys = await crypto.subtle.generateKey(P384, true, ["sign", "verify"]);
    const arkName = rootName(EMULATED);
    const midName = intermediateName(identity.signingKey, EMULATED);
    const ark = await issueCertificate({
      serial: 0x10000,
      subject: arkName,
      issuer: arkName,
      publicKey: arkKeys.publicKey,
      signer: arkKeys.privateKey,
      notBefore,
      years: 25,
      extensions: caExtensions(),
    });
    const mid = await issueCertificate({
      serial: 0x10001,
      subject: midName,
      issuer: arkName,
      publicKey: midKeys.publicKey,
      signer: arkKeys.privateKey,
      notBefore,
      years: 25,
      extensions: caExtensions(0),
    });
    const leaf = await issueCertificate({
      serial: 0,
      subject: identity.signingKey === "vcek" ? "SEV-VCEK" : "SEV-VLEK",
      issuer: midName,
      publicKey: leafKeys.publicKey,
      signer: midKeys.privateKey,
      notBefore,
      years: 7,
      extensions: kdsExtensions(identity),
    });
    return new EmulatedSecureProcessor(
      identity,
      { privateKey: arkKeys.privateKey, cert: ark },
      { privateKey: midKeys.privateKey, cert: mid },
      { privateKey: leafKeys.privateKey, cert: leaf },
    );
  }

  /** The root to name in `roots` (or `--root`) when the emulator is to be trusted. */
  get root(): Certificate {
    return this.ark.cert;
  }

  /** Endorsement key, intermediate, root: what an extended report's certificate table holds. */
  get certificates(): Certificate[] {
    return [this.endorsement.cert, this.intermediate.cert, this.ark.cert];
  }

  /** Records the guest being launched: what every later report says about it. */
  launch(guest: GuestLaunch): void {
    if (guest.measurement.length !== 48) throw new RangeError("measurement must be 48 bytes");
    this.#launch = { ...guest };
  }

  /** MSG_REPORT_REQ (ABI §7.3): a signed report for the launched guest. */
  async report(request: ReportRequest): Promise<Uint8Array> {
    const guest = this.#launch;
    if (!guest) throw new Error("no guest launched: call launch() with its measurement first");
    const { reportData, vmpl = 0, version = 5 } = request;
    if (reportData.length !== 64) throw new RangeError("report_data must be 64 bytes");
    if (!Number.isInteger(vmpl) || vmpl < 0 || vmpl > 3) throw new RangeError("vmpl must be 0..3");
    const id = this.identity;
    const tcb = encodeTcb(id.tcb, tcbLayout(id.product));
    const zeros = (n: number) => new Uint8Array(n);
    const report: Report = {
      version,
      guestSvn: guest.guestSvn ?? 0,
      policy: guest.policy ?? (POLICY.SMT | POLICY.RESERVED_ONE),
      familyId: guest.familyId ?? zeros(16),
      imageId: guest.imageId ?? zeros(16),
      vmpl,
      signatureAlgo: SIGNATURE_ALGO_ECDSA_P384_SHA384,
      currentTcb: tcb,
      platformInfo: 1n, // SMT_EN
      signerInfo: (id.signingKey === "vlek" ? 1 : 0) << 2,
      reportData,
      measurement: guest.measurement,
      hostData: guest.hostData ?? zeros(32),
      idKeyDigest: guest.idKeyDigest ?? zeros(48),
      authorKeyDigest: zeros(48),
      reportId: this.#reportId,
      reportIdMa: new Uint8Array(32).fill(0xff), // no migration agent
      reportedTcb: tcb,
      cpuid: PRODUCT_CPUID[id.product],
      chipId: id.signingKey === "vlek" ? zeros(64) : id.chipId,
      committedTcb: tcb,
      currentVersion: id.firmware,
      committedVersion: id.firmware,
      launchTcb: tcb,
      ...(version >= 5 ? { launchMitVector: 0n, currentMitVector: 0n } : {}),
      signatureR: zeros(SIG_COMPONENT_SIZE),
      signatureS: zeros(SIG_COMPONENT_SIZE),
    };
    const unsigned = encodeReport(report);
    const sig = new Uint8Array(
      await crypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-384" },
        this.endorsement.privateKey,
        unsigned.subarray(0, SIGNED_SIZE) as BufferSource,
      ),
    );
    report.signatureR = leField(sig.subarray(0, 48));
    report.signatureS = leField(sig.subarray(48));
    return encodeReport(report);
  }

  /** An ARK-signed CRL (KDS's `/crl`) listing the given serials of intermediate certificates. */
  async crl(revoked: Certificate[] = [], thisUpdate = new Date(), days = 30): Promise<Uint8Array> {
    const crl = new pkijs.CertificateRevocationList();
    crl.version = 1;
    crl.issuer = name(rootName(EMULATED));
    crl.thisUpdate = time(thisUpdate);
    crl.nextUpdate = time(new Date(thisUpdate.getTime() + days * 86_400_000));
    if (revoked.length) {
      crl.revokedCertificates = revoked.map((c) =>
        new pkijs.RevokedCertificate({
          userCertificate: new asn1js.Integer({ valueHex: c.serial.slice().buffer }),
          revocationDate: time(thisUpdate),
        })
      );
    }
    await crl.sign(this.ark.privateKey, "SHA-384");
    return new Uint8Array(crl.toSchema().toBER());
  }

  /** Writes the state: keys (mode 0600), certificates and identity. */
  async save(dir: string): Promise<void> {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const pairs = { ark: this.ark, intermediate: this.intermediate, endorsement: this.endorsement };
    for (const [file, pair] of Object.entries(pairs)) {
      const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
      await Deno.writeTextFile(`${dir}/${file}.key.pem`, pem("PRIVATE KEY", pkcs8), {
        mode: 0o600,
      });
      await Deno.writeTextFile(`${dir}/${file}.pem`, pem("CERTIFICATE", pair.cert.der));
    }
    const id = this.identity;
    const state = { format: STATE_FORMAT, ...id, chipId: toHex(id.chipId) };
    await Deno.writeTextFile(`${dir}/emulated-sp.json`, JSON.stringify(state, null, 2) + "\n");
  }

  /** Restores a state written by `save`. */
  static async load(dir: string): Promise<EmulatedSecureProcessor> {
    const state = JSON.parse(await Deno.readTextFile(`${dir}/emulated-sp.json`));
    if (state.format !== STATE_FORMAT) {
      throw new Error(
        `${dir}/emulated-sp.json is not an emulated secure processor state (${STATE_FORMAT})`,
      );
    }
    const identity: EmulatedIdentity = { ...state, chipId: fromHex(state.chipId) };
    delete (identity as { format?: string }).format;
    const pair = async (file: string, alg: RsaHashedImportParams | EcKeyImportParams) => {
      const [key] = readPem(await Deno.readTextFile(`${dir}/${file}.key.pem`));
      const [cert] = readPem(await Deno.readTextFile(`${dir}/${file}.pem`));
      return {
        privateKey: await crypto.subtle.importKey("pkcs8", key.der as BufferSource, alg, true, [
          "sign",
        ]),
        cert: parseCertificate(cert.der, `${dir}/${file}.pem`),
      };
    };
    const rsa = { name: "RSA-PSS", hash: "SHA-384" };
    return new EmulatedSecureProcessor(
      identity,
      await pair("ark", rsa),
      await pair("intermediate", rsa),
      await pair("endorsement", P384),
    );
  }

  /** `load(dir)` if it holds a state, else `create(options)` and `save(dir)`. */
  static async open(dir: string, options: CreateOptions = {}): Promise<EmulatedSecureProcessor> {
    try {
      await Deno.stat(`${dir}/emulated-sp.json`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      const sp = await EmulatedSecureProcessor.create(options);
      await sp.save(dir);
      return sp;
    }
    return await EmulatedSecureProcessor.load(dir);
  }
}

const STATE_FORMAT = "cloister-emulated-sp/v1";

/**
 * Where the emulated secure processor keeps its state unless told otherwise:
 * `$CLOISTER_EMULATED_SP`, else `.cache/emulated-sp` in the checkout (never committed).
 */
export function defaultEmulatedState(): string {
  return Deno.env.get("CLOISTER_EMULATED_SP") ??
    fileURLToPath(new URL("../.cache/emulated-sp", import.meta.url));
}

/**
 * The emulated root of a state folder, for verifiers that were asked to trust it
 * (`--trust-emulated`): reads only the public `ark.pem`, never a private key.
 */
export async function loadEmulatedRoot(dir = defaultEmulatedState()): Promise<Certificate> {
  const path = `${dir}/ark.pem`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(
      `no emulated secure processor root at ${path} (${e instanceof Error ? e.message : e})`,
    );
  }
  const [block] = readPem(text);
  const cert = block && parseCertificate(block.der, path);
  if (!cert || !isEmulatedRoot(cert)) {
    throw new Error(`${path} is not an emulated secure processor root`);
  }
  return cert;
}

/**
 * The guest ⇄ emulator message format (one request, one response, over any byte stream: QEMU
 * virtio-serial, a Unix socket, TCP). Each message is a 4-byte big-endian length and that many
 * bytes of deterministic CBOR (`protocol/cbor.ts`), at most `MAX_MESSAGE` bytes:
 *
 *   request:  {"report_data": bstr(64), ? "vmpl": uint, ? "version": 3 / 5}
 *   response: {"report": bstr(1184), "certs": [bstr DER, …]}   — VCEK/VLEK, ASK/ASVK, ARK
 *           / {"error": tstr}
 */
export const EMULATOR_PROTOCOL = "cloister-emulated-sp/v1";
export const MAX_MESSAGE = 64 * 1024;

export function encodeMessage(value: Map<string, unknown>): Uint8Array {
  const body = encodeCbor(value as Parameters<typeof encodeCbor>[0]);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Reads one framed message from a stream; undefined at a clean end of stream. */
export async function readMessage(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  buffered: { bytes: Uint8Array },
): Promise<Map<string, unknown> | undefined> {
  const need = async (n: number) => {
    while (buffered.bytes.length < n) {
      const { value, done } = await reader.read();
      if (done) return false;
      const joined = new Uint8Array(buffered.bytes.length + value.length);
      joined.set(buffered.bytes);
      joined.set(value, buffered.bytes.length);
      buffered.bytes = joined;
    }
    return true;
  };
  if (!(await need(4))) {
    if (buffered.bytes.length) throw new Error("stream ended inside a message length");
    return undefined;
  }
  const length = new DataView(buffered.bytes.buffer, buffered.bytes.byteOffset).getUint32(0);
  if (length > MAX_MESSAGE) throw new Error(`message of ${length} bytes exceeds ${MAX_MESSAGE}`);
  if (!(await need(4 + length))) throw new Error("stream ended inside a message");
  const body = buffered.bytes.slice(4, 4 + length);
  buffered.bytes = buffered.bytes.slice(4 + length);
  const value = decodeCbor(body);
  if (!(value instanceof Map)) throw new Error("message is not a CBOR map");
  return value as Map<string, unknown>;
}

/** Answers one request map (the emulator's side of `EMULATOR_PROTOCOL`). */
export async function answer(
  sp: EmulatedSecureProcessor,
  request: Map<string, unknown>,
): Promise<Map<string, unknown>> {
  try {
    for (const key of request.keys()) {
      if (!["report_data", "vmpl", "version"].includes(key)) {
        throw new Error(`unknown request key "${key}"`);
      }
    }
    const reportData = request.get("report_data");
    if (!(reportData instanceof Uint8Array)) throw new Error("report_data must be a byte string");
    const vmpl = request.get("vmpl") ?? 0;
    const version = request.get("version") ?? 5;
    if (typeof vmpl !== "number") throw new Error("vmpl must be an integer");
    if (version !== 3 && version !== 5) throw new Error("version must be 3 or 5");
    const report = await sp.report({ reportData, vmpl, version });
    return new Map<string, unknown>([["report", report], [
      "certs",
      sp.certificates.map((c) => c.der),
    ]]);
  } catch (e) {
    return new Map([["error", e instanceof Error ? e.message : String(e)]]);
  }
}

/** Serves guests on a listener until it closes; each connection may send many requests. */
export async function serveEmulator(
  sp: EmulatedSecureProcessor,
  listener: Deno.Listener,
): Promise<void> {
  for await (const conn of listener) {
    (async () => {
      const reader = conn.readable.getReader();
      const writer = conn.writable.getWriter();
      const buffered = { bytes: new Uint8Array(0) };
      try {
        for (;;) {
          const request = await readMessage(reader, buffered);
          if (!request) break;
          await writer.write(encodeMessage(await answer(sp, request)));
        }
      } catch (e) {
        await writer.write(
          encodeMessage(new Map([["error", e instanceof Error ? e.message : String(e)]])),
        )
          .catch(() => {});
      } finally {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    })();
  }
}
