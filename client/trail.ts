/**
 * The verification trail: every check the client made, in order, passed (✓) or failed (✗) with
 * its detail — what the CLI prints and `--json` returns, so a person can see why a node was used
 * or refused. Steps about one node carry its name; steps about the whole request (route, node
 * choice, token, sending) do not. A trail never holds request or answer text.
 */
import type { ClientError, ClientErrorCode } from "./errors.ts";

export interface TrailStep {
  /** The node the step is about; absent for steps of the whole request. */
  node?: string;
  step: string;
  ok: boolean;
  detail: string;
  /** On a failed step: the refusal's stable code. */
  code?: ClientErrorCode;
}

export class Trail {
  readonly steps: TrailStep[] = [];

  /** `onStep` sees each step as it is recorded (to print progress live). */
  constructor(readonly onStep?: (step: TrailStep) => void) {}

  ok(step: string, detail: string, node?: string): void {
    this.#push({ ...(node === undefined ? {} : { node }), step, ok: true, detail });
  }

  /** Records `error` as the failed `step` and returns it, for `throw trail.fail(...)`. */
  fail(step: string, error: ClientError): ClientError {
    this.#push({
      ...(error.node === undefined ? {} : { node: error.node }),
      step,
      ok: false,
      detail: error.message,
      code: error.code,
    });
    return error;
  }

  #push(step: TrailStep): void {
    this.steps.push(step);
    this.onStep?.(step);
  }
}
