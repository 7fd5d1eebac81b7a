/**
 * The messages between the runtime and a one-shot worker, one frame each (`frames.ts`): a tag
 * byte, then the payload. The runtime decapsulates and holds the HPKE context; the worker is the
 * only place request text is read.
 *
 *   runtime → worker  REQUEST   the decrypted Binary HTTP request
 *   worker  → runtime TOKEN     the Authorization field value, for redemption (the runtime holds
 *                               the issuer key and the spent-token set)
 *   runtime → worker  VERDICT   empty when the token was redeemed, else the one-line reason
 *   worker  → runtime RESPONSE  the Binary HTTP response, which the runtime encapsulates
 */

export const TAG = { REQUEST: 1, TOKEN: 2, VERDICT: 3, RESPONSE: 4 } as const;
export type Tag = typeof TAG[keyof typeof TAG];

/** `[tag] ‖ payload` in a new buffer (the caller wipes it after sending). */
export function tagged(tag: Tag, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + payload.length);
  out[0] = tag;
  out.set(payload, 1);
  return out;
}

export class ExchangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExchangeError";
  }
}

/** The payload of a frame that must carry `tag` (a view: wiping the frame wipes it). */
export function expect(frame: Uint8Array | null, tag: Tag): Uint8Array {
  if (!frame) throw new ExchangeError("the worker closed its side");
  if (frame.length === 0 || frame[0] !== tag) {
    throw new ExchangeError(`expected message ${tag}, got ${frame.length ? frame[0] : "nothing"}`);
  }
  return frame.subarray(1);
}
