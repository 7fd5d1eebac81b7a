/**
 * Evidence from the emulated secure processor (`../emulated.ts`): in-process (tests, `deno task
 * demo`, a runtime started with `--emulated` on a development host) or remote — the emulator runs
 * as a host process, outside the guest like the real AMD-SP, and the guest reaches it over a byte
 * stream: a QEMU virtio-serial port (`/dev/virtio-ports/<name>` in the guest), a Unix socket or
 * TCP. The messages are `EMULATOR_PROTOCOL`'s: length-prefixed deterministic CBOR,
 * `{report_data}` → `{report, certs}` or `{error}`.
 *
 * Evidence from here verifies only against the emulator's own root, which nothing trusts unless
 * told to (`--trust-emulated`); `source` says `emulated` so logs never mistake it for hardware.
 */
import {
  answer,
  EmulatedSecureProcessor,
  encodeMessage,
  readMessage,
  type ReportRequest,
} from "../emulated.ts";
import {
  checkReportData,
  type Evidence,
  type EvidenceProvider,
  ProviderError,
} from "./provider.ts";

/** A connected byte stream to a remote emulator. */
export interface Stream {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
  close(): void;
}

export type EmulatorAddress =
  | { path: string; transport: "unix" }
  | { hostname: string; port: number }
  /** A virtio-serial port (character device) inside the guest. */
  | { device: string };

/** Opens a stream to an emulator at `address`. */
export async function connectEmulator(address: EmulatorAddress): Promise<Stream> {
  try {
    if ("device" in address) return await Deno.open(address.device, { read: true, write: true });
    if ("path" in address) return await Deno.connect(address);
    return await Deno.connect(address);
  } catch (e) {
    throw new ProviderError(
      "unavailable",
      `cannot reach the emulated secure processor at ${JSON.stringify(address)}: ${
        e instanceof Error ? e.message : e
      }`,
    );
  }
}

export interface EmulatedProviderOptions {
  vmpl?: number;
  version?: ReportRequest["version"];
}

export class EmulatedProvider implements EvidenceProvider {
  readonly platform = "sev-snp" as const;
  readonly name: string;

  /** `source`: an in-process emulator, or a function that connects to a remote one. */
  constructor(
    readonly source: EmulatedSecureProcessor | (() => Promise<Stream>),
    readonly options: EmulatedProviderOptions = {},
  ) {
    this.name = source instanceof EmulatedSecureProcessor
      ? "emulated (in-process)"
      : "emulated (remote)";
  }

  async getEvidence(reportData: Uint8Array): Promise<Evidence> {
    checkReportData(reportData);
    const request = new Map<string, unknown>([["report_data", reportData]]);
    if (this.options.vmpl !== undefined) request.set("vmpl", this.options.vmpl);
    if (this.options.version !== undefined) request.set("version", this.options.version);
    const response = this.source instanceof EmulatedSecureProcessor
      ? await answer(this.source, request)
      : await this.#remote(request);
    const error = response.get("error");
    if (error !== undefined) {
      throw new ProviderError("device", `emulated secure processor: ${error}`);
    }
    const report = response.get("report");
    const certs = response.get("certs");
    if (
      !(report instanceof Uint8Array) || !Array.isArray(certs) ||
      !certs.every((c) => c instanceof Uint8Array)
    ) {
      throw new ProviderError(
        "protocol",
        "emulated secure processor answered without report and certs",
      );
    }
    return {
      platform: "sev-snp",
      evidence: report,
      certs: certs as Uint8Array[],
      source: this.name,
    };
  }

  async #remote(request: Map<string, unknown>): Promise<Map<string, unknown>> {
    const stream = await (this.source as () => Promise<Stream>)();
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    try {
      await writer.write(encodeMessage(request));
      const response = await readMessage(reader, { bytes: new Uint8Array(0) });
      if (!response) {
        throw new ProviderError("protocol", "emulated secure processor closed the stream");
      }
      return response;
    } catch (e) {
      if (e instanceof ProviderError) throw e;
      throw new ProviderError(
        "protocol",
        `emulated secure processor: ${e instanceof Error ? e.message : e}`,
      );
    } finally {
      reader.releaseLock();
      writer.releaseLock();
      try {
        stream.close();
      } catch { /* already closed */ }
    }
  }
}
