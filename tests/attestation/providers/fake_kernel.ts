/**
 * Fakes that behave like the Linux guest drivers, for the provider tests: a configfs-tsm report
 * tree (Documentation/ABI/testing/configfs-tsm: mkdir/rmdir entries, a 64-byte inblob, privlevel
 * with its floor, a generation counter bumped by every write, outblob generated on read, the
 * provider name) and /dev/sev-guest and /dev/tdx_guest devices that read and write the ioctl
 * structures at the addresses the caller passes, like copy_from_user/copy_to_user.
 */
import type { FileSystem } from "../../../attestation/providers/provider.ts";
import type { Device } from "../../../attestation/providers/ioctl.ts";
import { TSM_REPORT_ROOT } from "../../../attestation/providers/configfs_tsm.ts";
import { SNP_GET_EXT_REPORT, SNP_GET_REPORT } from "../../../attestation/providers/sev_guest.ts";
import { TDX_CMD_GET_REPORT0 } from "../../../attestation/providers/tdx_guest.ts";
import { toHex, utf8 } from "../../../protocol/bytes.ts";

interface Entry {
  inblob: Uint8Array;
  privlevel: number;
  generation: number;
}

export interface TsmBackend {
  provider: "sev_guest" | "tdx_guest";
  outblob(inblob: Uint8Array, privlevel: number): Promise<Uint8Array>;
  auxblob?: Uint8Array;
}

export class FakeConfigfs implements FileSystem {
  readonly entries = new Map<string, Entry>();
  /** Other writers that touch the entry while outblob is read (simulates a race). */
  interferences = 0;
  readonly log: string[] = [];
  /** `backend` undefined: a kernel without configfs-tsm (only `devices` exist). */
  constructor(readonly backend: TsmBackend | undefined, readonly devices: string[] = []) {}

  #entry(path: string): [Entry, string] {
    const m = path.match(/^(.*)\/([a-z_]+)$/);
    const entry = m && this.entries.get(m[1]);
    if (!m || !entry) throw new Deno.errors.NotFound(`no such file: ${path}`);
    return [entry, m[2]];
  }

  exists(path: string): Promise<boolean> {
    if (this.devices.includes(path) || (this.backend && path === TSM_REPORT_ROOT)) {
      return Promise.resolve(true);
    }
    if (this.entries.has(path)) {
      return Promise.resolve(true);
    }
    try {
      const [, attr] = this.#entry(path);
      return Promise.resolve(attr !== "auxblob" || this.backend?.provider === "sev_guest");
    } catch {
      return Promise.resolve(false);
    }
  }

  mkdir(path: string): Promise<void> {
    if (!this.backend || !path.startsWith(`${TSM_REPORT_ROOT}/`)) {
      throw new Deno.errors.NotFound(path);
    }
    if (this.entries.has(path)) throw new Deno.errors.AlreadyExists(path);
    this.entries.set(path, { inblob: new Uint8Array(0), privlevel: 0, generation: 0 });
    this.log.push("mkdir");
    return Promise.resolve();
  }

  rmdir(path: string): Promise<void> {
    if (!this.entries.delete(path)) throw new Deno.errors.NotFound(path);
    this.log.push("rmdir");
    return Promise.resolve();
  }

  writeFile(path: string, data: Uint8Array): Promise<void> {
    const [entry, attr] = this.#entry(path);
    this.log.push(`write ${attr}`);
    if (attr === "inblob") {
      if (data.length > 64) throw new Error("EINVAL: inblob is at most 64 bytes");
      entry.inblob = data.slice();
    } else if (attr === "privlevel") {
      if (this.backend?.provider !== "sev_guest") {
        throw new Error("EINVAL: no privlevel for tdx_guest");
      }
      const level = Number(new TextDecoder().decode(data).trim());
      if (!(level >= 0 && level <= 3)) throw new Error("EINVAL: privlevel 0..3");
      entry.privlevel = level;
    } else throw new Deno.errors.PermissionDenied(`${attr} is read-only`);
    entry.generation++;
    return Promise.resolve();
  }

  async readFile(path: string): Promise<Uint8Array> {
    const [entry, attr] = this.#entry(path);
    const backend = this.backend!;
    this.log.push(`read ${attr}`);
    switch (attr) {
      case "provider":
        return utf8(`${backend.provider}\n`);
      case "generation":
        return utf8(`${entry.generation}\n`);
      case "privlevel_floor":
        return utf8("0\n");
      case "outblob": {
        const padded = new Uint8Array(64);
        padded.set(entry.inblob);
        const out = await backend.outblob(padded, entry.privlevel);
        if (this.interferences > 0) {
          this.interferences--;
          entry.generation++; // someone else wrote inblob meanwhile
        }
        return out;
      }
      case "auxblob":
        if (backend.provider !== "sev_guest") throw new Error("EINVAL");
        return backend.auxblob ?? new Uint8Array(0);
    }
    throw new Deno.errors.NotFound(path);
  }
}

/** A /dev/sev-guest whose firmware returns precomputed reports by REPORT_DATA. */
export class FakeSevGuest implements Device {
  readonly memory = new Map<bigint, Uint8Array>();
  #next = 0x10000n;
  closed = 0;
  calls: string[] = [];
  constructor(readonly reports: Map<string, Uint8Array>, readonly certTable = new Uint8Array(0)) {}

  address(buffer: Uint8Array): bigint {
    for (const [a, b] of this.memory) if (b === buffer) return a;
    const a = this.#next;
    this.#next += 0x10000n;
    this.memory.set(a, buffer);
    return a;
  }

  ioctl(request: number, arg: Uint8Array): number {
    const v = new DataView(arg.buffer, arg.byteOffset);
    if (arg.length !== 32 || arg[0] !== 1) return 22; // EINVAL
    const req = this.memory.get(v.getBigUint64(8, true));
    const resp = this.memory.get(v.getBigUint64(16, true));
    if (!req || !resp || resp.length < 4000) return 14; // EFAULT
    const reportData = req.subarray(0, 64);
    const vmpl = new DataView(req.buffer).getUint32(64, true);
    if (req.subarray(68, 96).some((b) => b !== 0)) return 22;
    this.calls.push(`${request === SNP_GET_REPORT ? "report" : "ext"} vmpl ${vmpl}`);
    if (request === SNP_GET_EXT_REPORT) {
      const rv = new DataView(req.buffer);
      const certs = this.memory.get(rv.getBigUint64(96, true));
      const length = rv.getUint32(104, true);
      if (!certs || certs.length !== length || length % 4096) return 22;
      const needed = Math.ceil(this.certTable.length / 4096) * 4096;
      if (length < needed) {
        rv.setUint32(104, needed, true);
        v.setUint32(28, 1, true); // SNP_GUEST_VMM_ERR_INVALID_LEN
        return 5; // EIO
      }
      certs.fill(0).set(this.certTable);
    } else if (request !== SNP_GET_REPORT) return 25; // ENOTTY
    const report = this.reports.get(toHex(reportData));
    if (!report) {
      v.setUint32(24, 0x16, true); // firmware: invalid parameter
      return 5;
    }
    const rv = new DataView(resp.buffer);
    rv.setUint32(0, 0, true);
    rv.setUint32(4, report.length, true);
    resp.set(report, 0x20);
    return 0;
  }

  close(): void {
    this.closed++;
  }
}

/** A /dev/tdx_guest that writes a TDREPORT derived from REPORT_DATA. */
export class FakeTdxGuest implements Device {
  closed = 0;
  address(): bigint {
    throw new Error("TDX_CMD_GET_REPORT0 passes its structure inline");
  }
  ioctl(request: number, arg: Uint8Array): number {
    if (request !== TDX_CMD_GET_REPORT0 || arg.length !== 1088) return 25;
    arg.fill(0xaa, 64, 64 + 1024);
    arg.set(arg.subarray(0, 64), 64 + 128); // REPORTMACSTRUCT.report_data at TDREPORT 0x80
    return 0;
  }
  close(): void {
    this.closed++;
  }
}
