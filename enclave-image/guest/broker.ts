/**
 * The evidence broker: the one privileged process in the guest, and the only one that opens a
 * device. Deno refuses `/dev` and `/proc` character devices to any process not run with all
 * permissions, so rather than giving the request-handling runtime `--allow-all`, init starts this
 * small relay as root and the runtime runs unprivileged (uid 1000, scoped permissions) and asks it
 * for reports over a unix socket that only group 1000 may open.
 *
 * It handles no request text: a request carries 64 bytes of REPORT_DATA (a hash of the runtime's
 * key binding), the answer is a signed report and its certificates. Messages are those of
 * attestation/emulated.ts `EMULATOR_PROTOCOL` (4-byte big-endian length, deterministic CBOR map),
 * so a client speaks the same protocol to the emulator on a host and to this broker in a guest.
 * Each request is checked (size, keys, types) before it reaches the device, and requests are
 * serialised because a virtio-serial port allows a single open handle.
 *
 * Evidence source, first found: the emulated secure processor on the virtio-serial port
 * `org.cloister.sp.0` (QEMU without SEV-SNP; the host's launcher provides it), else the guest's
 * own SEV-SNP interface through attestation/providers (`detectProvider`: configfs-tsm, then
 * /dev/sev-guest). A TDX guest gets a clear error: EMULATOR_PROTOCOL's answer has no platform
 * field to carry a quote (README.md "What remains").
 *
 *   deno run --allow-all broker.js --socket /run/cloister/evidence.sock --group 1000
 */
import { encodeMessage, readMessage } from "../../attestation/emulated.ts";
import { detectProvider } from "../../attestation/providers/detect.ts";
import type { EvidenceProvider } from "../../attestation/providers/provider.ts";
import { parseReport } from "../../attestation/snp/abi.ts";

const PORT_NAME = "org.cloister.sp.0";
const REPLY_TIMEOUT_MS = 15_000;

type Message = Map<string, unknown>;

function log(line: string): void {
  console.log(`cloister-broker: ${line}`);
}

/** Finds the virtio-serial port by name (no udev: /sys/class/virtio-ports/<dev>/name). */
function findPort(): string | undefined {
  try {
    for (const e of Deno.readDirSync("/sys/class/virtio-ports")) {
      const name = Deno.readTextFileSync(`/sys/class/virtio-ports/${e.name}/name`).trim();
      if (name === PORT_NAME) return `/dev/${e.name}`;
    }
  } catch { /* no virtio-serial */ }
  return undefined;
}

/** Refuses anything but `{report_data: bstr(64), ? vmpl: 0..3, ? version: 3 / 5}`. */
export function checkRequest(m: Message): Message {
  for (const key of m.keys()) {
    if (key !== "report_data" && key !== "vmpl" && key !== "version") {
      throw new Error(`unknown request key "${key}"`);
    }
  }
  const data = m.get("report_data");
  if (!(data instanceof Uint8Array) || data.length !== 64) {
    throw new Error("report_data must be a 64-byte byte string");
  }
  const vmpl = m.get("vmpl") ?? 0;
  if (typeof vmpl !== "number" || !Number.isInteger(vmpl) || vmpl < 0 || vmpl > 3) {
    throw new Error("vmpl must be 0..3");
  }
  const version = m.get("version") ?? 5;
  if (version !== 3 && version !== 5) throw new Error("version must be 3 or 5");
  return m;
}

/** Where reports come from: one request message in, one answer message out. */
export interface Source {
  readonly name: string;
  ask(request: Message): Promise<Message>;
}

/** The guest's own SEV-SNP interface, answering in EMULATOR_PROTOCOL's shape. */
export class ProviderSource implements Source {
  readonly name: string;
  constructor(readonly provider: EvidenceProvider) {
    this.name = provider.name;
  }

  async ask(request: Message): Promise<Message> {
    if (this.provider.platform !== "sev-snp") {
      return new Map([[
        "error",
        `the broker relays SEV-SNP reports only; this guest is ${this.provider.platform}`,
      ]]);
    }
    try {
      const e = await this.provider.getEvidence(request.get("report_data") as Uint8Array);
      return new Map<string, unknown>([["report", e.evidence], ["certs", e.certs ?? []]]);
    } catch (e) {
      return new Map([["error", `${this.name}: ${e instanceof Error ? e.message : e}`]]);
    }
  }
}

/** The virtio-serial link to the emulated secure processor: one message out, one back. */
class SerialSource implements Source {
  readonly name: string;
  #file: Deno.FsFile;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffered = { bytes: new Uint8Array(0) };
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.name = `emulated secure processor on ${path}`;
    this.#file = Deno.openSync(path, { read: true, write: true });
    this.#reader = this.#file.readable.getReader();
  }

  ask(request: Message): Promise<Message> {
    const next = this.#queue.then(() => this.#exchange(request));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #exchange(request: Message): Promise<Message> {
    const out = encodeMessage(request);
    for (let at = 0; at < out.length;) at += await this.#file.write(out.subarray(at));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = await Promise.race([
      readMessage(this.#reader, this.#buffered),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("the secure processor did not answer")),
          REPLY_TIMEOUT_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    if (!reply) throw new Error("the secure processor closed the port");
    return reply;
  }
}

export async function serve(conn: Deno.Conn, source: Source | undefined): Promise<void> {
  const reader = conn.readable.getReader();
  const writer = conn.writable.getWriter();
  const buffered = { bytes: new Uint8Array(0) };
  try {
    for (;;) {
      let reply: Message;
      try {
        const request = await readMessage(reader, buffered);
        if (!request) break;
        reply = source
          ? await source.ask(checkRequest(request))
          : new Map([["error", "this guest has no evidence source"]]);
      } catch (e) {
        await writer.write(encodeMessage(new Map([["error", (e as Error).message]])));
        break; // a malformed stream cannot be resynchronised
      }
      await writer.write(encodeMessage(reply));
    }
  } catch {
    /* the client went away */
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/**
 * Asks the source for one report (REPORT_DATA all zero: it binds nothing) and logs the
 * measurement it carries, so the console shows at boot whether evidence can be had at all.
 */
async function selfCheck(source: Source): Promise<void> {
  try {
    const reply = await source.ask(new Map([["report_data", new Uint8Array(64)]]));
    const error = reply.get("error");
    if (error !== undefined) throw new Error(String(error));
    const report = parseReport(reply.get("report") as Uint8Array);
    const hex = Array.from(report.measurement, (b) => b.toString(16).padStart(2, "0")).join("");
    log(`evidence source check: ok, report v${report.version}, measurement ${hex}`);
  } catch (e) {
    log(`evidence source check: FAILED: ${e instanceof Error ? e.message : e}`);
  }
}

async function findSource(): Promise<Source | undefined> {
  const port = findPort();
  if (port) return new SerialSource(port);
  try {
    return new ProviderSource(await detectProvider());
  } catch (e) {
    log(`no hardware evidence interface: ${e instanceof Error ? e.message : e}`);
    return undefined;
  }
}

async function main(args: string[]): Promise<void> {
  const socket = args[args.indexOf("--socket") + 1];
  const group = Number(args[args.indexOf("--group") + 1]);
  if (!args.includes("--socket") || !socket || !Number.isInteger(group)) {
    console.error("usage: broker.js --socket PATH --group GID");
    Deno.exit(2);
  }
  const source = await findSource();
  log(source ? `evidence source: ${source.name}` : "no evidence source found");
  if (source) await selfCheck(source);
  await Deno.remove(socket).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path: socket });
  Deno.chownSync(socket, 0, group);
  Deno.chmodSync(socket, 0o660);
  log(`listening on ${socket}`);
  for await (const conn of listener) serve(conn, source);
}

if (import.meta.main) await main(Deno.args);
