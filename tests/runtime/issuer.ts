/**
 * A Privacy Pass issuer for runtime tests and benchmarks: the real services/issuer key store in a
 * temporary folder (its `origin-keys.json` is what the runtime's `--issuer-key` reads) and tokens
 * issued from it the way a client gets them (RFC 9578 §5: blind, evaluate with a DLEQ proof,
 * finalize), for Cloister's fixed challenge, as `Authorization` field values (RFC 9577 §2.2.2).
 */
import {
  cloisterChallenge,
  formatAuthorization,
  type IssuerKey,
  voprf,
} from "../../protocol/privacypass.ts";
import { IssuerKeyStore } from "../../services/issuer/keys.ts";

export const ISSUER_NAME = "issuer.runtime.test";

/** Tokens per batched issuance (one DLEQ proof per batch). */
const BATCH = 64;

export class TestIssuer {
  private constructor(readonly dir: string, readonly key: IssuerKey) {}

  static async open(): Promise<TestIssuer> {
    const dir = await Deno.makeTempDir({ prefix: "runtime-issuer-" });
    const now = Math.floor(Date.now() / 1000);
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

  /** `count` fresh tokens as `PrivateToken token=…` values, issued in batches. */
  tokens(count: number): string[] {
    const { secretKey, publicKey, keyId } = this.key;
    const issuer = { secretKey: secretKey!, publicKey, tokenKeyId: keyId };
    const challenge = cloisterChallenge(ISSUER_NAME, 1);
    const out: string[] = [];
    while (out.length < count) {
      const n = Math.min(BATCH, count - out.length);
      const { request, states } = voprf.createBatchTokenRequest(challenge, publicKey, n);
      const response = voprf.issueBatchTokenResponse(issuer, request);
      out.push(...voprf.finalizeBatchTokens(states, response).map(formatAuthorization));
    }
    return out;
  }

  token(): string {
    return this.tokens(1)[0];
  }

  async close(): Promise<void> {
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
