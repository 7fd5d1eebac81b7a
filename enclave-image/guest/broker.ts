/**
 * The evidence broker: the one privileged process in the guest, and the only one that opens a
 * device. Deno refuses `/dev` and `/proc` character devices to any process not run with all
 * permissions, so rather than giving the request-handling runtime `--allow-all`, init starts this
 * small relay as root and the runtime runs unprivileged (uid 1000, scoped permissions) and asks it
 * for reports over a unix socket that only group 1000 may open.
 *
 * It handles no request text: a report request carries 64 bytes of REPORT_DATA (a hash of the
 * runtime's public key binding) and the answer is the signed report and its certificates. Each
 * request is validated (sp-protocol.ts), sent to the evidence source, and its one-line answer
 * returned; requests are serialised because the device allows a single open handle.
 *
 * Evidence source: the emulated secure processor on the virtio-serial port `org.cloister.sp.0`
 * (QEMU without SEV-SNP; the host's launcher provides it). On SEV-SNP hardware the source is the
 * guest's own firmware interface (configfs-tsm or /dev/sev-guest) — see README.md for its status.
 *
 *   deno run --allow-all broker.js --socket /run/cloister/evidence.sock --group 1000
 */
import { errorLine, LineReader, parseRequest, SpProtocolError } from "../sp-protocol.ts";

const PORT_NAME = "org.cloister.sp.0";
const REPLY_TIMEOUT_MS = 15_000;

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

/** The virtio-serial link to the emulated secure processor: one line out, one line back. */
class SerialSource {
  #file: Deno.FsFile;
  #lines = new LineReader();
  #pending: string[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.#file = Deno.openSync(path, { read: true, write: true });
  }

  ask(line: string): Promise<string> {
    const next = this.#queue.then(() => this.#exchange(line));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #exchange(line: string): Promise<string> {
    await this.#writeAll(new TextEncoder().encode(line + "\n"));
    const deadline = Date.now() + REPLY_TIMEOUT_MS;
    const buf = new Uint8Array(65536);
    while (this.#pending.length === 0) {
      if (Date.now() > deadline) throw new Error("the secure processor did not answer in time");
      const n = await this.#file.read(buf);
      if (n === null) throw new Error("the secure processor closed the port");
      this.#pending.push(...this.#lines.push(buf.subarray(0, n)));
    }
    return this.#pending.shift()!;
  }

  async #writeAll(b: Uint8Array): Promise<void> {
    for (let at = 0; at < b.length;) at += await this.#file.write(b.subarray(at));
  }
}

async function serve(conn: Deno.Conn, source: SerialSource | undefined): Promise<void> {
  const reader = new LineReader();
  const buf = new Uint8Array(4096);
  let answer: string;
  try {
    let lines: string[] = [];
    while (lines.length === 0) {
      const n = await conn.read(buf);
      if (n === null) return;
      lines = reader.push(buf.subarray(0, n));
    }
    const request = parseRequest(lines[0]);
    answer = source
      ? await source.ask(JSON.stringify(request))
      : errorLine("no-source", "this guest has no evidence source (no secure processor port)");
  } catch (e) {
    const code = e instanceof SpProtocolError ? e.code : "source-failed";
    answer = errorLine(code, e instanceof Error ? e.message : String(e));
  }
  try {
    const out = new TextEncoder().encode(answer + "\n");
    for (let at = 0; at < out.length;) at += await conn.write(out.subarray(at));
  } finally {
    conn.close();
  }
}

async function main(args: string[]): Promise<void> {
  const socket = args[args.indexOf("--socket") + 1];
  const group = Number(args[args.indexOf("--group") + 1]);
  if (!args.includes("--socket") || !socket || !Number.isInteger(group)) {
    console.error("usage: broker.js --socket PATH --group GID");
    Deno.exit(2);
  }
  const port = findPort();
  const source = port ? new SerialSource(port) : undefined;
  log(port ? `evidence source: emulated secure processor on ${port}` : "no evidence source found");
  await Deno.remove(socket).catch(() => {});
  const listener = Deno.listen({ transport: "unix", path: socket });
  Deno.chownSync(socket, 0, group);
  Deno.chmodSync(socket, 0o660);
  log(`listening on ${socket}`);
  for await (const conn of listener) {
    serve(conn, source).catch(() => {});
  }
}

if (import.meta.main) await main(Deno.args);
