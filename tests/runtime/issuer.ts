/**
 * A Privacy Pass issuer for runtime tests and benchmarks, issuing tokens the way a client gets
 * them, for Cloister's fixed challenge, as `Authorization` field values (RFC 9577 §2.2.2):
 * - type 0x0001 (the default): the real services/issuer key store in a temporary folder (its
 *   `origin-keys.json` is what the runtime's `--issuer-key` reads); RFC 9578 §5: blind, evaluate
 *   with a DLEQ proof, finalize, in batches;
 * - type 0x0002: a fresh RSA-2048 key, and an origin key file with its public key only (an origin
 *   verifies these publicly); RFC 9578 §6: blind, sign, finalize.
 */
import {
  blindrsa,
  cloisterChallenge,
  formatAuthorization,
  formatIssuerKeys,
  type IssuerKey,
  voprf,
} from "../../protocol/privacypass.ts";
import { generateRsaKey, type RsaPrivateKey } from "../../protocol/rsabssa.ts";
import { IssuerKeyStore } from "../../services/issuer/keys.ts";

export const ISSUER_NAME = "issuer.runtime.test";

/** Type 1 tokens per batched issuance (one DLEQ proof per batch). */
const BATCH = 64;

export class TestIssuer {
  private constructor(
    readonly dir: string,
    readonly key: IssuerKey,
    private readonly rsa?: RsaPrivateKey,
  ) {}

  static async open(options: { tokenType?: 1 | 2 } = {}): Promise<TestIssuer> {
    const dir = await Deno.makeTempDir({ prefix: "runtime-issuer-" });
    const now = Math.floor(Date.now() / 1000);
    if (options.tokenType === 2) {
      const rsa = await generateRsaKey();
      const publicKey = blindrsa.encodePublicKey(rsa);
      const key: IssuerKey = {
        tokenType: 2,
        epoch: 1,
        keyId: blindrsa.tokenKeyId(publicKey),
        publicKey,
        notBefore: now - 60,
        notAfter: now + 3600,
      };
      await Deno.writeTextFile(
        `${dir}/origin-keys.json`,
        formatIssuerKeys({ issuerName: ISSUER_NAME, keys: [key] }, false),
      );
      return new TestIssuer(dir, key, rsa);
    }
    const store = await IssuerKeyStore.open(
      dir,
      ISSUER_NAME,
      { rotate: 3600, accept: 3600 },
      now,
    );
    return new TestIssuer(dir, store.current(now));
  }

  /** The file to give the runtime as `--issuer-key`. */
  get keyFile(): string {
    return `${this.dir}/origin-keys.json`;
  }

  /** `count` fresh tokens as `PrivateToken token=…` values. */
  async tokens(count: number): Promise<string[]> {
    const { secretKey, publicKey, keyId } = this.key;
    const challenge = cloisterChallenge(ISSUER_NAME, this.key.tokenType);
    const out: string[] = [];
    if (this.rsa) {
      const issuer = { secretKey: this.rsa, publicKey, tokenKeyId: keyId };
      while (out.length < count) {
        const { request, state } = blindrsa.createTokenRequest(challenge, publicKey);
        const response = blindrsa.issueTokenResponse(issuer, request);
        out.push(formatAuthorization(await blindrsa.finalizeToken(state, response)));
      }
      return out;
    }
    const issuer = { secretKey: secretKey!, publicKey, tokenKeyId: keyId };
    while (out.length < count) {
      const n = Math.min(BATCH, count - out.length);
      const { request, states } = voprf.createBatchTokenRequest(challenge, publicKey, n);
      const response = voprf.issueBatchTokenResponse(issuer, request);
      out.push(...voprf.finalizeBatchTokens(states, response).map(formatAuthorization));
    }
    return out;
  }

  async token(): Promise<string> {
    return (await this.tokens(1))[0];
  }

  async close(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
