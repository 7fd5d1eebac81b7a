/**
 * The root of protocol/'s typed errors. Each codec or scheme has its own subclass (one error
 * family per concept) and a stable `code`, so callers and tests can tell a truncated message from
 * a failed authentication without matching on message text. Decoders also say where: `offset` is
 * the byte offset in the input at which the problem was found.
 */
export class ProtocolError extends Error {
  constructor(
    /** Stable, machine-readable reason, e.g. `truncated`, `invalid-public-key`, `open-failed`. */
    readonly code: string,
    message: string,
    /** Byte offset in the decoded input where the problem was found, when there is one. */
    readonly offset?: number,
  ) {
    super(offset === undefined ? message : `${message} (at byte ${offset})`);
    this.name = new.target.name;
    this.detail = message;
  }

  /** The message without the offset, for a codec that wraps this error in one of its own. */
  readonly detail: string;
}
