import assert from "node:assert/strict";
import * as pkijs from "pkijs";
import { AttestationError } from "../../attestation/errors.ts";
import {
  buildChain,
  type Certificate,
  clearCaches,
  parseCertificates,
  parseCrls,
  readBlocks,
} from "../../attestation/x509.ts";
import { readTlv, time } from "../../attestation/der.ts";
import { toHex, utf8 } from "../../protocol/bytes.ts";
import { tlv } from "../../protocol/der.ts";
import { vectorPath } from "../vectors.ts";
import { refusal as refusalOf } from "../refusal.ts";

const read = (p: string) => Deno.readFileSync(vectorPath(`attestation/${p}`));
const certs = (p: string) => parseCertificates(read(p), p);

const refusal = (p: Promise<unknown>) => refusalOf(p, AttestationError);

Deno.test("every certificate in the vectors decodes like pkijs decodes it", () => {
  const files: string[] = [];
  for (const dir of ["snp", "tdx"]) {
    for (const src of Deno.readDirSync(vectorPath(`attestation/${dir}`))) {
      for (const f of Deno.readDirSync(vectorPath(`attestation/${dir}/${src.name}`))) {
        if (/\.(pem|der)$|_chain\.txt$/.test(f.name) && !f.name.includes("crl")) {
          files.push(`${dir}/${src.name}/${f.name}`);
        }
      }
    }
  }
  assert.ok(files.length > 30);
  let n = 0;
  for (const file of files) {
    const ders = readBlocks(read(file), "CERTIFICATE", file);
    const ours = certs(file);
    assert.equal(ours.length, ders.length);
    ours.forEach((c, i) => {
      const theirs = pkijs.Certificate.fromBER(ders[i] as BufferSource);
      assert.equal(toHex(c.tbs), toHex(new Uint8Array(theirs.tbsView)), file);
      assert.equal(c.serialHex, toHex(theirs.serialNumber.valueBlock.valueHexView), file);
      assert.equal(c.notBefore.getTime(), theirs.notBefore.value.getTime(), file);
      assert.equal(c.notAfter.getTime(), theirs.notAfter.value.getTime(), file);
      assert.equal(
        toHex(c.publicKey.spki),
        toHex(new Uint8Array(theirs.subjectPublicKeyInfo.toSchema().toBER())),
        file,
      );
      assert.equal(
        toHex(c.signature),
        toHex(theirs.signatureValue.valueBlock.valueHexView),
        file,
      );
      const cn = theirs.subject.typesAndValues.find((t) => t.type === "2.5.4.3");
      assert.equal(c.label, cn?.value.valueBlock.value, file);
      assert.equal(c.extensions.size, theirs.extensions?.length ?? 0, file);
      n++;
    });
  }
  assert.ok(n > 50, `${n} certificates`);
});

Deno.test("PEM in any order, URL-encoded PEM and back-to-back DER all read", () => {
  const bundle = certs("snp/trustee/milan_ask_ark_asvk.pem").map((c) => c.label);
  assert.deepEqual(bundle, ["SEV-Milan", "ARK-Milan", "SEV-VLEK-Milan"]);
  const intel = certs("tdx/tinfoil-verifier/qe_identity_chain.txt").map((c) => c.label);
  assert.deepEqual(intel, ["Intel SGX TCB Signing", "Intel SGX Root CA"]);
  const [a, b] = certs("snp/go-sev-guest/ask_ark_milan.pem");
  const joined = new Uint8Array([...a.der, ...b.der]);
  assert.deepEqual(parseCertificates(joined).map((c) => c.id), [a.id, b.id]);
});

Deno.test("cached by content: the same DER gives the same object", () => {
  const [x] = certs("snp/go-sev-guest/vcek_milan_3ac3fe21.der");
  const [y] = certs("snp/go-sev-guest/vcek_milan_3ac3fe21.der");
  assert.equal(x, y);
  clearCaches();
  const [z] = certs("snp/go-sev-guest/vcek_milan_3ac3fe21.der");
  assert.notEqual(x, z);
  assert.equal(x.id, z.id);
});

Deno.test("undecodable certificates are chain refusals naming the byte offset", () => {
  const der = read("snp/go-sev-guest/vcek_milan_3ac3fe21.der").slice();
  for (const cut of [10, 500, der.length - 1]) {
    const e = (() => {
      try {
        parseCertificates(der.subarray(0, cut), "VCEK");
      } catch (e) {
        return e as AttestationError;
      }
    })();
    assert.ok(e instanceof AttestationError, `cut at ${cut}`);
    assert.equal(e.reason, "chain");
    assert.match(e.message, /cannot decode VCEK|neither DER nor PEM/);
  }
  assert.throws(() => parseCertificates(new TextEncoder().encode("hello")), /no CERTIFICATE/);
});

Deno.test("structures missing fields are chain refusals naming the field, not TypeErrors", () => {
  const b = (...x: number[]) => Uint8Array.from(x);
  const seq = (...p: Uint8Array[]) => tlv(0x30, ...p);
  const oid = (...x: number[]) => tlv(0x06, b(...x));
  const ecdsa384 = seq(oid(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03));
  const name = seq(tlv(0x31, seq(oid(0x55, 0x04, 0x03), tlv(0x0c, utf8("x")))));
  const time = tlv(0x17, utf8("250101000000Z"));
  const point = new Uint8Array(97);
  point[0] = 4;
  const spki = seq(
    seq(oid(0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01), oid(0x2b, 0x81, 0x04, 0x00, 0x22)),
    tlv(0x03, b(0), point),
  );
  const sig = tlv(0x03, b(0), seq(tlv(2, b(1)), tlv(2, b(1))));
  const cert = (
    o: { alg?: Uint8Array; issuer?: Uint8Array; spki?: Uint8Array; ext?: Uint8Array },
  ) => {
    const alg = o.alg ?? ecdsa384;
    const tbs = seq(
      tlv(0xa0, tlv(2, b(2))),
      tlv(2, b(1)),
      alg,
      o.issuer ?? name,
      seq(time, time),
      name,
      o.spki ?? spki,
      ...(o.ext ? [tlv(0xa3, seq(o.ext))] : []),
    );
    return seq(tbs, alg, sig);
  };
  const crl = (entry: Uint8Array) =>
    seq(seq(tlv(2, b(1)), ecdsa384, name, time, time, seq(entry)), ecdsa384, sig);
  assert.equal(parseCertificates(cert({})).length, 1, "the unmutated certificate decodes");
  const cases: [string, () => unknown, RegExp][] = [
    [
      "empty name attribute",
      () => parseCertificates(cert({ issuer: seq(tlv(0x31, seq())) })),
      /AttributeTypeAndValue: 0 fields, expected 2/,
    ],
    [
      "empty extension",
      () => parseCertificates(cert({ ext: seq() })),
      /Extension: 0 fields, expected 2 to 3/,
    ],
    [
      "extension of an OID only",
      () => parseCertificates(cert({ ext: seq(oid(0x55, 0x1d, 0x13)) })),
      /Extension: 1 fields/,
    ],
    [
      "empty key info",
      () => parseCertificates(cert({ spki: seq() })),
      /SubjectPublicKeyInfo: 0 fields/,
    ],
    [
      "empty algorithm",
      () => parseCertificates(cert({ alg: seq() })),
      /signatureAlgorithm: 0 fields/,
    ],
    ["empty revoked entry", () => parseCrls(crl(seq())), /revoked certificate: 0 fields/],
  ];
  for (const [what, parse, message] of cases) {
    assert.throws(parse, (e) => {
      assert.ok(e instanceof AttestationError, `${what}: ${e}`);
      assert.equal(e.reason, "chain");
      assert.match(e.message, message);
      assert.match(e.message, /at byte \d+/);
      return true;
    });
  }
});

Deno.test("times: UTCTime's two-digit years, GeneralizedTime's four, calendar checked", () => {
  const at = (tag: number, text: string) => time(readTlv(tlv(tag, utf8(text))));
  assert.equal(at(0x17, "491231235959Z").toISOString(), "2049-12-31T23:59:59.000Z");
  assert.equal(at(0x17, "500101000000Z").toISOString(), "1950-01-01T00:00:00.000Z");
  assert.equal(at(0x18, "99991231235959Z").toISOString(), "9999-12-31T23:59:59.000Z");
  // Years 0..99 of a GeneralizedTime are those years, not 1900..1999 (Date.UTC's reading).
  assert.equal(at(0x18, "00501231235959Z").getUTCFullYear(), 50);
  assert.equal(at(0x18, "20240229120000Z").toISOString(), "2024-02-29T12:00:00.000Z");
  for (const bad of ["20230229000000Z", "20231301000000Z", "20231231240000Z"]) {
    assert.throws(() => at(0x18, bad), /is not a calendar time/, bad);
  }
});

const milan = {
  vcek: () => certs("snp/go-sev-guest/vcek_milan_3ac3fe21.der")[0],
  chain: () => certs("snp/go-sev-guest/ask_ark_milan.pem"),
  root: () => certs("snp/virtee-sev/milan_ark.pem"),
};
const at = new Date("2025-10-01T08:00:00Z");

Deno.test("chain: VCEK → ASK → ARK, ending at a byte-equal root", async () => {
  const path = await buildChain(milan.vcek(), {
    now: at,
    roots: milan.root(),
    intermediates: milan.chain(),
  });
  assert.deepEqual(path.map((c: Certificate) => c.label), ["SEV-VCEK", "SEV-Milan", "ARK-Milan"]);
});

Deno.test("chain refusals: wrong root, wrong intermediate, missing intermediate", async () => {
  const wrongRoot = await refusal(
    buildChain(milan.vcek(), {
      now: at,
      roots: certs("snp/virtee-sev/genoa_ark.pem"),
      intermediates: milan.chain(),
    }),
  );
  assert.equal(wrongRoot.reason, "chain");
  assert.match(wrongRoot.message, /ARK-Milan is self-issued but is not one of the trusted roots/);

  const viaAsvk = await refusal(
    buildChain(milan.vcek(), {
      now: at,
      roots: milan.root(),
      intermediates: certs("snp/go-sev-guest/ask_ark_milan_vlek.pem"),
    }),
  );
  assert.equal(viaAsvk.reason, "chain");

  const missing = await refusal(buildChain(milan.vcek(), { now: at, roots: milan.root() }));
  assert.equal(missing.reason, "chain");
  assert.match(missing.message, /no given certificate has that subject/);

  const forged = await refusal(
    buildChain(certs("snp/trustee/test-vcek-invalid-legacy.der")[0], {
      now: at,
      roots: milan.root(),
      intermediates: milan.chain(),
    }),
  );
  assert.equal(forged.reason, "chain");
  assert.match(forged.message, /does not verify with the key of SEV-Milan/);
});

Deno.test("validity: before notBefore and after notAfter are expired", async () => {
  for (const when of ["2022-09-01T00:00:00Z", "2030-01-01T00:00:00Z"]) {
    const e = await refusal(
      buildChain(milan.vcek(), {
        now: new Date(when),
        roots: milan.root(),
        intermediates: milan.chain(),
      }),
    );
    assert.equal(e.reason, "expired");
    assert.match(e.message, /SEV-VCEK is (not yet valid|expired)/);
  }
});

Deno.test("CRL: signature, thisUpdate..nextUpdate, and an unrelated CRL is skipped", async () => {
  const chain = certs("tdx/tinfoil-verifier/tcb_info_90c06f000000_chain.txt");
  const roots = certs("tdx/tinfoil-verifier/sgx_root_ca.pem");
  const rootCrl = parseCrls(read("tdx/tinfoil-verifier/root_ca.crl"));
  const pckCrl = parseCrls(read("tdx/tinfoil-verifier/pck_crl_platform.crl"));
  const ok = await buildChain(chain[0], {
    now: new Date("2026-02-01T00:00:00Z"),
    roots,
    intermediates: chain,
    crls: [...rootCrl, ...pckCrl],
  });
  assert.deepEqual(ok.map((c) => c.label), ["Intel SGX TCB Signing", "Intel SGX Root CA"]);
  const stale = await refusal(
    buildChain(chain[0], {
      now: new Date("2026-05-01T00:00:00Z"),
      roots,
      intermediates: chain,
      crls: rootCrl,
    }),
  );
  assert.equal(stale.reason, "expired");
  assert.match(stale.message, /CRL of Intel SGX Root CA is not current/);
  // The 2023 root CRL is signed by the same root: a valid signature, but outdated in 2026.
  const old = parseCrls(read("tdx/go-tdx-guest/rootcrl.der"));
  const e = await refusal(
    buildChain(chain[0], {
      now: new Date("2026-02-01T00:00:00Z"),
      roots,
      intermediates: chain,
      crls: old,
    }),
  );
  assert.equal(e.reason, "expired");
});
