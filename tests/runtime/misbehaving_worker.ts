/**
 * A worker for tests of the gateway's failure paths only (never started by the runtime): it says
 * ready as runtime/worker.ts does, takes its one request, then fails the way its argument says:
 *
 *   crash     exits without answering
 *   hang      never answers (the gateway's timeout must end it)
 *   garbage   answers with a message of an unknown tag
 *   torn      announces a frame and closes its output half way through it
 */
import { readOwnedFrame, writeOwnedFrame } from "../../runtime/frames.ts";
import { READY } from "../../runtime/pool.ts";

const how = Deno.args[0];
await writeOwnedFrame(Deno.stdout, READY);
await readOwnedFrame(Deno.stdin);
switch (how) {
  case "crash":
    Deno.exit(3);
    break;
  case "hang":
    setInterval(() => {}, 1 << 30);
    break;
  case "garbage":
    await writeOwnedFrame(Deno.stdout, Uint8Array.of(0x7f, 1, 2, 3));
    break;
  case "torn":
    await Deno.stdout.write(Uint8Array.of(0, 0, 1, 0, 4, 1, 2));
    Deno.exit(0);
    break;
  default:
    throw new Error(`unknown misbehaviour "${how}"`);
}
