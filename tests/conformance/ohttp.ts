/**
 * RFC 9458 conformance on the Appendix A example ("Complete Example of a Request and Response"):
 * the key config decodes to the stated fields and encodes back byte for byte (alone and in an
 * `application/ohttp-keys` list), the client's Encapsulated Request is reproduced from the fixed
 * ephemeral key, the gateway decapsulates it and encapsulates the response with the fixed
 * response nonce to the stated bytes, the client opens it, and every intermediate the example
 * prints (HPKE info, shared secret, key schedule, exported secret, salt, PRK, AEAD key and nonce)
 * matches. `path` is the example file or a folder whose manifest.json lists such files.
 */
import { concat, equalBytes, fromHex, toHex } from "../../protocol/bytes.ts";
import { CipherSuite } from "../../protocol/hpke.ts";
import {
  decapsulateRequest,
  decodeKeyConfig,
  decodeKeyConfigs,
  encapsulateRequest,
  encodeKeyConfig,
  encodeKeyConfigs,
  type KeyConfig,
} from "../../protocol/ohttp.ts";
import { type CaseResult, check, readJson, type Suite, vectorFiles } from "./harness.ts";

interface Example {
  rfc_values: Record<string, string | number> & {
    key_config_meaning: {
      key_id: number;
      kem_id: string;
      public_key: string;
      symmetric_algorithms: { kdf_id: string; aead_id: string }[];
    };
  };
  derived_not_in_rfc?: Record<string, string>;
}

function same(what: string, got: Uint8Array, want: unknown): string | undefined {
  return toHex(got) === String(want).toLowerCase() ? undefined : `${what} ${toHex(got)} != ${want}`;
}

const utf8 = new TextEncoder();

function* runExample(example: Example, name: string): Generator<CaseResult> {
  const v = example.rfc_values;
  const hex = (field: string) => fromHex(String(v[field]));
  const m = v.key_config_meaning;
  const expectedConfig: KeyConfig = {
    keyId: m.key_id,
    kemId: Number(m.kem_id),
    publicKey: fromHex(m.public_key),
    algorithms: m.symmetric_algorithms.map((a) => ({
      kdfId: Number(a.kdf_id),
      aeadId: Number(a.aead_id),
    })),
  };
  const config = decodeKeyConfig(hex("key_config"));
  const algorithm = { kdfId: Number(v.selected_kdf_id), aeadId: Number(v.selected_aead_id) };
  const suite = new CipherSuite(config.kemId, algorithm.kdfId, algorithm.aeadId);
  const server = { privateKey: hex("server_skR"), publicKey: config.publicKey };
  const ephemeral = { privateKey: hex("client_skE"), publicKey: hex("client_pkE_enc") };

  yield check(`${name} key config decodes`, () => {
    const fields = (c: KeyConfig) => JSON.stringify({ ...c, publicKey: toHex(c.publicKey) });
    if (fields(config) !== fields(expectedConfig)) {
      return `decoded ${fields(config)}, expected ${fields(expectedConfig)}`;
    }
  });
  yield check(
    `${name} key config encodes`,
    () => same("key config", encodeKeyConfig(config), v.key_config),
  );
  yield check(`${name} application/ohttp-keys round trip`, () => {
    const list = encodeKeyConfigs([config, config]);
    const one = hex("key_config");
    const want = concat(Uint8Array.of(one.length >> 8, one.length), one);
    if (!equalBytes(list, concat(want, want))) return `list ${toHex(list)}`;
    const back = decodeKeyConfigs(list);
    if (back.length !== 2 || !equalBytes(encodeKeyConfig(back[1]), one)) {
      return "list did not decode to the two configs";
    }
  });
  yield check(
    `${name} server public key`,
    () => same("pkR", suite.kem.publicKey(server.privateKey), m.public_key),
  );
  yield check(
    `${name} ephemeral public key`,
    () => same("pkE", suite.kem.publicKey(ephemeral.privateKey), v.client_pkE_enc),
  );

  // The HPKE layer as the example runs it, with the info string it prints.
  yield check(`${name} HPKE setup with the stated info`, () => {
    const info = hex("hpke_info");
    const d = example.derived_not_in_rfc ?? {};
    const { enc, context } = suite.setupSender(config.publicKey, { info, ephemeral });
    using ctx = context;
    const ct = ctx.seal(hex("request_bhttp"));
    const request = hex("encapsulated_request");
    return same("enc", enc, v.client_pkE_enc) ??
      same("request ciphertext", ct, toHex(request.subarray(7 + enc.length))) ??
      (d.shared_secret ? same("shared_secret", ctx.sharedSecret, d.shared_secret) : undefined) ??
      (d.hpke_key ? same("key", ctx.key, d.hpke_key) : undefined) ??
      (d.hpke_base_nonce ? same("base_nonce", ctx.baseNonce, d.hpke_base_nonce) : undefined) ??
      (d.hpke_exporter_secret
        ? same("exporter_secret", ctx.exporterSecret, d.hpke_exporter_secret)
        : undefined);
  });
  yield check(`${name} response secret, salt, PRK, key and nonce`, () => {
    using ctx = suite.setupRecipient(ephemeral.publicKey, server, { info: hex("hpke_info") });
    const length = Math.max(suite.aead.Nn, suite.aead.Nk);
    const secret = ctx.export(utf8.encode("message/bhttp response"), length);
    const salt = concat(ephemeral.publicKey, hex("response_nonce"));
    const prk = suite.kdf.extract(salt, secret);
    return same("exported secret", secret, v.response_export_secret) ??
      same("salt", salt, v.response_salt) ??
      same("prk", prk, v.response_prk) ??
      same(
        "aead key",
        suite.kdf.expand(prk, utf8.encode("key"), suite.aead.Nk),
        v.response_aead_key,
      ) ??
      same(
        "aead nonce",
        suite.kdf.expand(prk, utf8.encode("nonce"), suite.aead.Nn),
        v.response_aead_nonce,
      );
  });

  // The OHTTP API end to end, byte for byte.
  const client = encapsulateRequest(config, hex("request_bhttp"), { algorithm, ephemeral });
  yield check(
    `${name} client encapsulates the request`,
    () => same("encapsulated request", client.encapsulatedRequest, v.encapsulated_request),
  );
  yield check(`${name} gateway decapsulates the request and encapsulates the response`, () => {
    const gateway = decapsulateRequest(
      [{ config, privateKey: server.privateKey }],
      hex("encapsulated_request"),
    );
    const response = gateway.context.encapsulateResponse(
      hex("response_bhttp"),
      hex("response_nonce"),
    );
    return same("request", gateway.request, v.request_bhttp) ??
      same("encapsulated response", response, v.encapsulated_response);
  });
  yield check(
    `${name} client decapsulates the response`,
    () =>
      same(
        "response",
        client.context.decapsulateResponse(hex("encapsulated_response")),
        v.response_bhttp,
      ),
  );
}

const suite: Suite = function* (path) {
  for (const file of vectorFiles(path)) {
    const examples = readJson(file);
    const list = (Array.isArray(examples) ? examples : [examples]) as Example[];
    for (const [i, example] of list.entries()) {
      if (!example?.rfc_values) throw new Error(`${file}: example ${i} has no rfc_values`);
      yield* runExample(example, list.length === 1 ? file.split("/").pop()! : `${file} #${i}`);
    }
  }
};

export default suite;
