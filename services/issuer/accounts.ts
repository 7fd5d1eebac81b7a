/**
 * Who may get tokens: a pluggable account check. The built-in one reads bearer secrets from an
 * accounts file, one account a line, storing only SHA-256 of each secret:
 *
 *   # name  sha256(secret), hex
 *   alice   9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 *
 * A request authenticates with `Authorization: Bearer <name>:<secret>`. The issuer learns the
 * account at issuance and nothing at redemption: the tokens it signs are blinded.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { equalBytes, fromHex, toHex, utf8 } from "../../protocol/bytes.ts";

/** Returns the account a request authenticates as, or undefined. */
export type AccountCheck = (req: Request) => Promise<string | undefined> | string | undefined;

/** Parses an accounts file; throws with the line number of the first bad line. */
export function parseAccounts(text: string): Map<string, Uint8Array> {
  const accounts = new Map<string, Uint8Array>();
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([A-Za-z0-9._-]{1,64})\s+([0-9a-f]{64})$/.exec(line);
    if (!m) throw new Error(`line ${i + 1}: expected "<name> <sha256 hex of secret>"`);
    if (accounts.has(m[1])) throw new Error(`line ${i + 1}: account "${m[1]}" appears twice`);
    accounts.set(m[1], fromHex(m[2]));
  }
  return accounts;
}

/** The accounts-file line for an account with this secret. */
export function accountLine(name: string, secret: string): string {
  return `${name} ${toHex(sha256(utf8(secret)))}`;
}

/** The bearer-secret check over parsed accounts. */
export function bearerAccounts(accounts: Map<string, Uint8Array>): AccountCheck {
  return (req) => {
    // The scheme is case-insensitive (RFC 9110 §11.1); name and secret are not.
    const m = /^[Bb][Ee][Aa][Rr][Ee][Rr] ([A-Za-z0-9._-]{1,64}):(\S{1,256})$/.exec(
      req.headers.get("authorization") ?? "",
    );
    if (!m) return undefined;
    const stored = accounts.get(m[1]);
    // Hash even for unknown names so timing does not tell which accounts exist.
    const presented = sha256(utf8(m[2]));
    return stored && equalBytes(presented, stored) ? m[1] : undefined;
  };
}
