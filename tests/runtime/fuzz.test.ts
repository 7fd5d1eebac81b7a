/**
 * The gateway under fuzz (issue 5, "Proofs"; `gateway_fuzz.ts`), default-suite size: 20 000
 * malformed requests that must all get a plain 4xx without reaching a worker, then 40 requests
 * with valid encryption and mutated Binary HTTP or JSON that reach real workers and must get
 * encrypted 4xx (or 200 when still well-formed), then a valid request that must still be
 * answered. The full 100 000 (and 600 reaching workers) run in `fuzz.slow.ts`
 * (`deno task test:soak`): here a malformed request costs about 0.3 ms (mostly the X25519 of a
 * decapsulation that then fails) and one reaching a worker about 0.4 s (a one-shot worker),
 * which would take the default suite over its budget. `FUZZ_SEED` reproduces a run.
 */
import { gatewayFuzz } from "./gateway_fuzz.ts";

const OUTER = 20_000;
const INNER = 40;

Deno.test(
  `gateway fuzz: ${OUTER} malformed requests, ${INNER} mutated inside valid encryption`,
  gatewayFuzz(OUTER, INNER),
);
