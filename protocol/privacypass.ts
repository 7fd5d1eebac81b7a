/**
 * Privacy Pass (RFC 9576 architecture, RFC 9577 auth scheme, RFC 9578 issuance), the one import
 * for clients, the issuer and the redeeming origin. The modules under `privacypass/`:
 * - `token.ts`: TokenChallenge, Token, token types, `PrivacyPassError`;
 * - `auth.ts`: `WWW-Authenticate` / `Authorization: PrivateToken` headers;
 * - `voprf.ts`: type 0x0001, VOPRF(P-384, SHA-384), single and batched issuance;
 * - `blindrsa.ts`: type 0x0002, RSABSSA-SHA384-PSS-Deterministic (2048-bit);
 * - `directory.ts`: the issuer directory and media types;
 * - `redeem.ts`: the issuer key file, spent sets and `redeem` for origins.
 */
export * from "./privacypass/token.ts";
export * from "./privacypass/auth.ts";
export * as voprf from "./privacypass/voprf.ts";
export * as blindrsa from "./privacypass/blindrsa.ts";
export * from "./privacypass/directory.ts";
export * from "./privacypass/redeem.ts";
