/**
 * Token redemption at the runtime (RFC 9577 §2.2.2; the runtime is the redeeming origin): the
 * issuer's key file (`--issuer-key`, written by services/issuer, re-read when the issuer rotates
 * it) and the bounded spent-token sets live in this process, never in a worker. A worker sends
 * the `Authorization` field value; the answer is undefined (redeemed) or a one-line reason.
 */
import { parseAuthorization } from "../protocol/privacypass/auth.ts";
import {
  type IssuerKeys,
  parseIssuerKeys,
  redeem,
  SpentTokens,
} from "../protocol/privacypass/redeem.ts";
import { ProtocolError } from "../protocol/errors.ts";

export type Redeemer = (authorization: Uint8Array) => Promise<string | undefined>;

/** How often, at most, the key file's modification time is checked (ms). */
const RECHECK_MS = 1000;

export class IssuerKeyFile {
  #keys: IssuerKeys;
  #mtime: number;
  #checked = 0;
  readonly #spent = new SpentTokens();

  private constructor(readonly path: string, keys: IssuerKeys, mtime: number) {
    this.#keys = keys;
    this.#mtime = mtime;
  }

  static async open(path: string): Promise<IssuerKeyFile> {
    const { keys, mtime } = await IssuerKeyFile.#read(path);
    return new IssuerKeyFile(path, keys, mtime);
  }

  static async #read(path: string): Promise<{ keys: IssuerKeys; mtime: number }> {
    const info = await Deno.stat(path);
    return {
      keys: parseIssuerKeys(await Deno.readTextFile(path)),
      mtime: info.mtime?.getTime() ?? 0,
    };
  }

  /** Picks up a rotated key file; a file that fails to parse leaves the last good keys. */
  async #refresh(): Promise<void> {
    const now = Date.now();
    if (now - this.#checked < RECHECK_MS) return;
    this.#checked = now;
    try {
      const mtime = (await Deno.stat(this.path)).mtime?.getTime() ?? 0;
      if (mtime === this.#mtime) return;
      const next = await IssuerKeyFile.#read(this.path);
      this.#keys = next.keys;
      this.#mtime = next.mtime;
    } catch (e) {
      console.error(
        `runtime: issuer key file ${this.path} unreadable, keeping the previous keys (${
          e instanceof Error ? e.message : e
        })`,
      );
    }
  }

  async redeem(authorization: Uint8Array): Promise<string | undefined> {
    if (authorization.length === 0) return "missing Authorization: PrivateToken token=…";
    await this.#refresh();
    try {
      const token = parseAuthorization(new TextDecoder().decode(authorization));
      await redeem(token, this.#keys, this.#spent);
      return undefined;
    } catch (e) {
      if (e instanceof ProtocolError) return `${e.code}: ${e.message}`;
      throw e;
    }
  }
}
