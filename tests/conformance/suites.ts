/**
 * The conformance suites by name (DESIGN.md "Commands"). Each module's default export is a
 * `Suite`; modules load lazily so one suite's dependencies never slow another.
 */
import type { Suite } from "./harness.ts";

type Loader = () => Promise<Suite>;

export const SUITES: Record<string, Loader> = {
  hpke: () => import("./hpke.ts").then((m) => m.default),
  ohttp: () => import("./ohttp.ts").then((m) => m.default),
  bhttp: () => import("./bhttp.ts").then((m) => m.default),
  wycheproof: () => import("./wycheproof.ts").then((m) => m.default),
  snp: () => import("./snp.ts").then((m) => m.default),
  tdx: () => import("./tdx.ts").then((m) => m.default),
  measure: () => import("./measure.ts").then((m) => m.default),
  privacypass: () => import("./privacypass.ts").then((m) => m.default),
  oprf: () => import("./oprf.ts").then((m) => m.default),
  tlog: () => import("./tlog.ts").then((m) => m.default),
};
