/**
 * The root of model/'s typed errors. Each failure family has its own subclass and every error a
 * stable `code`, so the runtime, the CLI and tests can tell bad input from a broken model folder
 * without matching on message text. Messages are one human sentence; they never quote the input's
 * text (it is private request plaintext), only sizes, counts, field names and line numbers.
 */
export class ModelError extends Error {
  constructor(
    /** Stable, machine-readable reason, e.g. `empty-input`, `input-too-long`, `bad-model`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Codes of {@link InputError}. */
export type InputErrorCode =
  /** nothing to summarise: no text, no messages, or only whitespace */
  | "empty-input"
  /** more characters or units than the summariser accepts (see `SummarizeOptions.limits`) */
  | "input-too-long"
  /** the input has the wrong shape: not a string or a list of `{from, text}`, a bad field */
  | "bad-input";

/** The request itself is unusable; the model is fine and the next request may succeed. */
export class InputError extends ModelError {
  constructor(override readonly code: InputErrorCode, message: string) {
    super(code, message);
  }
}

/** Codes of {@link ModelFolderError}. */
export type ModelFolderCode =
  /** a file the folder needs is absent (the message lists what was looked for) */
  | "missing-file"
  /** config.json or generation_config.json is unreadable, or a field it needs is missing or wrong */
  | "bad-config"
  /** an ONNX file ONNX Runtime cannot load (corrupt, truncated, or using ops it lacks) */
  | "bad-onnx"
  /** config.json's model_type is not a seq2seq family this loader runs (t5, mt5, bart) */
  | "unsupported-model"
  /** an ONNX graph lacks an input or output the Optimum interface has, or has one it does not */
  | "bad-interface"
  /** an ONNX input or output has the wrong element type */
  | "bad-dtype"
  /** a fixed dimension of an ONNX input or output disagrees with config.json */
  | "bad-shape"
  /** tokenizer.json or tokenizer_config.json is unreadable or disagrees with config.json */
  | "bad-tokenizer";

/** A seq2seq model folder that cannot be loaded; `path` names the file at fault. */
export class ModelFolderError extends ModelError {
  constructor(
    override readonly code: ModelFolderCode,
    message: string,
    readonly path?: string,
  ) {
    super(code, path === undefined ? message : `${path}: ${message}`);
  }
}

/** ONNX Runtime failed while running a loaded model (the message is ORT's, with the graph). */
export class InferenceError extends ModelError {
  constructor(override readonly code: "inference-failed", message: string) {
    super(code, message);
  }
}
