/**
 * For tests/runtime/forward.test.ts only: one key epoch serves requests, is superseded, and is
 * retired after its grace (KeyEpochs.expire, as the runtime's timer calls it), in a process run as
 * the runtime runs (MALLOC_PERTURB_, --clear-free-memory, --expose-gc). Then it prints the retired
 * and the live private keys (hex) and idles, for the test to scan its memory. With the argument
 * `no-collect` the epochs skip their collection after a wipe (the scan's positive control).
 */
import { KeyEpochs } from "../../runtime/epochs.ts";
import type { EvidenceProvider } from "../../attestation/providers/provider.ts";
import { decapsulateRequest, encapsulateRequest } from "../../protocol/ohttp.ts";
import { toHex, utf8, wipe } from "../../protocol/bytes.ts";

const provider: EvidenceProvider = {
  platform: "sev-snp",
  name: "fake",
  getEvidence: (data) =>
    Promise.resolve({ platform: "sev-snp", evidence: data.slice(), source: "fake" }),
};
let now = 1_800_000_000;
const epochs = new KeyEpochs({
  provider,
  lengthSeconds: 600,
  graceSeconds: 60,
  now: () => now,
  ...(Deno.args[0] === "no-collect" ? { collect: () => {} } : {}),
});

/** One request sealed to the current keys and opened as the gateway opens it. */
function serve(config = epochs.current.key.config): void {
  const { encapsulatedRequest, context: client } = encapsulateRequest(config, utf8("a request"));
  client.dispose();
  const { request, context } = decapsulateRequest(epochs.gatewayKeys(), encapsulatedRequest);
  wipe(request);
  context.dispose();
}

const retired = await epochs.rotate();
const retiredHex = toHex(retired.key.privateKey);
for (let i = 0; i < 20; i++) serve();
now += 600;
const live = await epochs.rotate();
for (let i = 0; i < 5; i++) serve(retired.key.config); // in its grace
now += 61;
epochs.expire();
console.log(JSON.stringify({ retired: retiredHex, live: toHex(live.key.privateKey) }));
setInterval(() => {}, 1 << 30);
