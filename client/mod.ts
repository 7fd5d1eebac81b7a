/**
 * The device-side SDK of Cloister, the one import for apps and the demo (DESIGN.md "client/"):
 * the whole path in `CloisterClient.summarize`, and each step's module for callers that want one.
 *
 *   import { CloisterClient, fileStorage, TokenWallet } from "./client/mod.ts";
 *   const storage = fileStorage(".cache/client");
 *   const client = new CloisterClient({
 *     relay: "http://127.0.0.1:8200",
 *     policy,                                   // attestation/policy.ts parsePolicy(file)
 *     log: { vkey, url: "http://127.0.0.1:8400" },
 *     wallet: new TokenWallet({ issuer, account, fetch, storage, now }),
 *     storage,
 *   });
 *   const { summary, node, trail } = await client.summarize({ messages: [{ from, text }] });
 *
 * Refusals are `ClientError`s (stable `code`, human `reason`, `trail`); unusable configuration
 * or input is a `ClientInputError`.
 */
export { CloisterClient } from "./client.ts";
export type { ClientOptions, FleetCheck, Summarized } from "./client.ts";
export { ClientError, type ClientErrorCode, ClientInputError, REASONS } from "./errors.ts";
export { chooseUniformly, cryptoRandom, type RandomSource, uniformIndex } from "./choose.ts";
export { directFleet, type Node, relayFleet } from "./fleet.ts";
export { fetchEvidence } from "./evidence.ts";
export { LogCheck, type Logged } from "./log.ts";
export { MEASUREMENT_NAME } from "../protocol/logentry.ts";
export { type VerifiedNode, verifyNode } from "./verify.ts";
export { type Answered, type Message, sendSummarize, type SummarizeBody } from "./request.ts";
export { type Account, parseAccount, type Taken, TokenWallet } from "./tokens.ts";
export { fileStorage, memoryStorage, type Storage } from "./storage.ts";
export { summarizeBody } from "./input.ts";
export { Trail, type TrailStep } from "./trail.ts";
