/**
 * The PrivateToken HTTP authentication scheme (RFC 9577 §2): `WWW-Authenticate` challenges and
 * `Authorization` credentials, on the RFC 9110 §11 grammar.
 *
 *   WWW-Authenticate: PrivateToken challenge="<base64url TokenChallenge>",
 *                     token-key="<base64url issuer key>", max-age="10"
 *   Authorization: PrivateToken token="<base64url Token>"
 *
 * A header may carry several challenges, of several schemes (RFC 9110 §11.6.1); challenges of
 * other schemes are skipped, unknown parameters ignored (RFC 9577 §2.1), a repeated parameter is
 * refused (RFC 9110 §11.2). base64url values are written with padding and read with or without.
 * Values that are not RFC 9110 tokens (base64url with "=" padding, unquoted) are accepted as seen
 * in deployments; nothing else lenient is.
 */
import { fromBase64Url, toBase64Url } from "../base64.ts";
import {
  decodeToken,
  decodeTokenChallenge,
  encodeToken,
  PrivacyPassError,
  type Token,
  type TokenChallenge,
} from "./token.ts";

export const AUTH_SCHEME = "PrivateToken";

/** One challenge or credentials of any scheme: lowercased parameter names. */
export interface AuthChallenge {
  scheme: string;
  params: Map<string, string>;
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/** Parses an RFC 9110 §11.6.1 challenge list (also one §11.6.2 credentials value). */
export function parseAuthChallenges(header: string): AuthChallenge[] {
  const s = header;
  let i = 0;
  const fail = (msg: string): never => {
    throw new PrivacyPassError("malformed-header", `${msg} in authentication header`, i);
  };
  const ows = () => {
    while (s[i] === " " || s[i] === "\t") i++;
  };
  const token = (): string => {
    const start = i;
    while (i < s.length && TCHAR.test(s[i])) i++;
    return s.slice(start, i);
  };
  /** A parameter value: token, quoted-string, or base64 with "=" padding (seen in the wild). */
  const value = (): string => {
    if (s[i] === '"') {
      let out = "";
      for (i++; i < s.length && s[i] !== '"'; i++) {
        if (s[i] === "\\") i++;
        if (i >= s.length) break;
        out += s[i];
      }
      if (s[i] !== '"') fail("unterminated quoted string");
      i++;
      return out;
    }
    const t = token();
    const start = i;
    while (s[i] === "=") i++;
    const v = t + s.slice(start, i);
    if (v === "") fail("missing parameter value");
    return v;
  };
  /** True when the text at `i` is `token BWS "=" BWS <not "=">`, i.e. an auth-param. */
  const atParam = (): boolean => {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*=[ \t]*(?!=)/.exec(s.slice(i));
    return m !== null && !/^[ \t]*(,|$)/.test(s.slice(i + m[0].length));
  };
  const skipSeparators = () => {
    ows();
    while (s[i] === ",") {
      i++;
      ows();
    }
  };

  const out: AuthChallenge[] = [];
  skipSeparators();
  while (i < s.length) {
    const scheme = token();
    if (scheme === "") fail("expected an authentication scheme");
    const challenge: AuthChallenge = { scheme, params: new Map() };
    out.push(challenge);
    if (s[i] === " ") {
      ows();
      if (!atParam()) {
        const m = TOKEN68.exec(s.slice(i));
        if (m) {
          challenge.token68 = m[0];
          i += m[0].length;
        }
      } else {
        while (atParam()) {
          const name = token().toLowerCase();
          ows();
          i++; // "="
          ows();
          const v = value();
          if (challenge.params.has(name)) fail(`repeated parameter "${name}"`);
          challenge.params.set(name, v);
          ows();
          if (s[i] !== ",") break;
          const before = i;
          skipSeparators();
          if (!atParam()) {
            i = before;
            break;
          }
        }
      }
    }
    ows();
    if (i < s.length && s[i] !== ",") fail(`unexpected "${s[i]}"`);
    skipSeparators();
  }
  return out;
}

/** One PrivateToken challenge as the client uses it. */
export interface PrivateTokenChallenge {
  /** The TokenChallenge bytes exactly as received (their SHA-256 is the challenge_digest). */
  challengeBytes: Uint8Array;
  challenge: TokenChallenge;
  /** The issuer key for the challenge's token type (SerializeElement or SPKI). */
  tokenKey: Uint8Array;
  /** Seconds the challenge may be cached, when given. */
  maxAge?: number;
}

function decodeParam(value: string, what: string): Uint8Array {
  try {
    return fromBase64Url(value);
  } catch (e) {
    throw new PrivacyPassError(
      "malformed-header",
      `${what} is not base64url: ${(e as Error).message}`,
    );
  }
}

/**
 * Parses every PrivateToken challenge of a WWW-Authenticate value (RFC 9577 §2.1), in order.
 * Challenges of unknown token types (grease) are returned too; `supported` filters them.
 */
export function parseWwwAuthenticate(header: string): PrivateTokenChallenge[] {
  const out: PrivateTokenChallenge[] = [];
  for (const c of parseAuthChallenges(header)) {
    if (c.scheme.toLowerCase() !== AUTH_SCHEME.toLowerCase()) continue;
    const challenge = c.params.get("challenge");
    const tokenKey = c.params.get("token-key");
    if (challenge === undefined || tokenKey === undefined) {
      throw new PrivacyPassError(
        "malformed-header",
        "PrivateToken challenge needs both challenge= and token-key=",
      );
    }
    const challengeBytes = decodeParam(challenge, "challenge");
    const maxAge = c.params.get("max-age");
    if (maxAge !== undefined && !/^[0-9]{1,10}$/.test(maxAge)) {
      throw new PrivacyPassError("malformed-header", `max-age "${maxAge}" is not a number`);
    }
    out.push({
      challengeBytes,
      challenge: decodeTokenChallenge(challengeBytes),
      tokenKey: decodeParam(tokenKey, "token-key"),
      ...(maxAge === undefined ? {} : { maxAge: Number(maxAge) }),
    });
  }
  return out;
}

/** The challenges whose token type is one of `types` (clients ignore the rest, e.g. grease). */
export function supported(
  challenges: PrivateTokenChallenge[],
  types: number[],
): PrivateTokenChallenge[] {
  return challenges.filter((c) => types.includes(c.challenge.tokenType));
}

/** Formats a WWW-Authenticate value with one PrivateToken challenge per item. */
export function formatWwwAuthenticate(
  challenges: { challengeBytes: Uint8Array; tokenKey: Uint8Array; maxAge?: number }[],
): string {
  return challenges.map((c) =>
    `${AUTH_SCHEME} challenge="${toBase64Url(c.challengeBytes)}", ` +
    `token-key="${toBase64Url(c.tokenKey)}"` +
    (c.maxAge === undefined ? "" : `, max-age="${c.maxAge}"`)
  ).join(", ");
}

/** `PrivateToken token="<base64url Token>"` (RFC 9577 §2.2). */
export function formatAuthorization(token: Token): string {
  return `${AUTH_SCHEME} token="${toBase64Url(encodeToken(token))}"`;
}

/** Parses an Authorization value into its Token; anything but one PrivateToken token is refused. */
export function parseAuthorization(header: string): Token {
  const parsed = parseAuthChallenges(header);
  if (parsed.length !== 1 || parsed[0].scheme.toLowerCase() !== AUTH_SCHEME.toLowerCase()) {
    throw new PrivacyPassError("malformed-header", "Authorization is not one PrivateToken value");
  }
  const value = parsed[0].params.get("token");
  if (value === undefined) {
    throw new PrivacyPassError("malformed-header", "PrivateToken credentials have no token=");
  }
  return decodeToken(decodeParam(value, "token"));
}
