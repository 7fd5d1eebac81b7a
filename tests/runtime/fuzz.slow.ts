/**
 * The fuzz proof at full size (`deno task test:soak`): 100 000 malformed requests at the
 * gateway, then 600 with valid encryption and mutated Binary HTTP or JSON that reach real
 * workers, then a valid request (`gateway_fuzz.ts`; `fuzz.test.ts` is the default-suite size).
 */
import { gatewayFuzz } from "./gateway_fuzz.ts";

Deno.test(
  "gateway fuzz (soak): 100000 malformed requests, 600 mutated inside valid encryption",
  gatewayFuzz(100_000, 600),
);
