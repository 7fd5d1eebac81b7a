/**
 * A worker for tests of the gateway's failure paths only (never started by the runtime): it
 * connects to the pool as runtime/worker.ts does, takes its one request, then fails the way its
 * first argument says (the second is the pool's socket):
 *
 *   crash     exits without answering
 *   hang      never answers (the gateway's timeout must end it)
 *   garbage   answers with a message of an unknown tag
 *   torn      announces a frame and closes its output half way through it
 *   twice     asks for two tokens to be redeemed (a worker spends one request's token only)
 */
import { readOwnedFrame, writeOwnedFrame } from "../../runtime/frames.ts";
import { connectToPool } from "../../runtime/channel.ts";
import { TAG, tagged } from "../../runtime/exchange.ts";

const [how, channel] = Deno.args;
const conn = await connectToPool(channel);
await readOwnedFrame(conn);
switch (how) {
  case "crash":
    Deno.exit(3);
    break;
  case "hang":
    setInterval(() => {}, 1 << 30);
    break;
  case "garbage":
    await writeOwnedFrame(conn, Uint8Array.of(0x7f, 1, 2, 3));
    break;
  case "twice":
    for (let i = 0; i < 2; i++) {
      await writeOwnedFrame(conn, tagged(TAG.TOKEN, new TextEncoder().encode(`token ${i}`)));
      await readOwnedFrame(conn);
    }
    break;
  case "torn":
    await conn.write(Uint8Array.of(0, 0, 1, 0, 4, 1, 2));
    Deno.exit(0);
    break;
  default:
    throw new Error(`unknown misbehaviour "${how}"`);
}
