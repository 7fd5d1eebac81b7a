/**
 * `deno task conformance measure <folder>`: every case of `cases.json` (virtee/sev-snp-measure's
 * own test vectors, `snp:svsm` included) and, when present beside it, `derived_cases.json`, through
 * `launchDigest`; the `dump_vmsa` cases also compare each VMSA page; `aux.json`'s CPU-signature
 * and mode-name vectors run too.
 * Should-fail cases must fail with the error family upstream raises.
 */
import { type CaseResult, check, readJson, type Suite } from "./harness.ts";
import { fromHex, toHex } from "../../protocol/bytes.ts";
import { type MeasureCode, MeasureError } from "../../attestation/measure/errors.ts";
import { launchDigest, parseMode } from "../../attestation/measure/launch.ts";
import { parseOvmf, sevEsResetEip } from "../../attestation/measure/ovmf.ts";
import { sevHashesOf, sha256 } from "../../attestation/measure/sev-hashes.ts";
import { sha384 } from "../../attestation/measure/snp.ts";
import { svsmLaunchVmsaPages } from "../../attestation/measure/svsm.ts";
import {
  cpuSig,
  VCPU_SIGS,
  vcpuSigOf,
  type VmmType,
  vmsaPages,
} from "../../attestation/measure/vmsa.ts";

interface Blob {
  bytes_hex?: string;
  file?: string;
  sha256?: string;
}

interface Case {
  id: string;
  mode: string;
  ovmf: string;
  vcpus: number | null;
  vcpu_type: string | null;
  vcpu_sig: string | null;
  vmm_type: string | null;
  kernel: Blob | null;
  initrd: Blob | null;
  append: string | null;
  guest_features: string | null;
  ovmf_hash: string | null;
  /** snp:svsm: the SVSM image file and OVMF's variable-store size. */
  svsm?: string;
  ovmf_vars_size?: number;
  fixture_sha256?: Record<string, string>;
  expected: string | null;
  expected_error?: { type: string; message: string };
  dump_vmsa?: { files_exist: string[]; files_absent: string[]; vmsa_sha384: string[] };
}

/** Upstream's exception messages and the error family each corresponds to here. */
const UPSTREAM_ERRORS: Record<string, MeasureCode> = {
  "Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section":
    "no-kernel-hashes",
  "Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement": "no-kernel-hashes",
};

function blob(folder: string, b: Blob | null): Uint8Array | undefined {
  if (b === null) return undefined;
  if (b.file !== undefined) {
    const bytes = Deno.readFileSync(`${folder}/${b.file}`);
    if (b.sha256 && toHex(sha256(bytes)) !== b.sha256) {
      throw new Error(`${b.file} does not have the SHA-256 the case states`);
    }
    return bytes;
  }
  return fromHex(b.bytes_hex ?? "");
}

function vmm(type: string | null): VmmType | undefined {
  if (type === null) return undefined;
  if (type === "QEMU" || type === "ec2" || type === "gce") return type;
  throw new Error(`unknown vmm_type "${type}"`);
}

/** A fixture file, checked against the SHA-256 the case records for it. */
function fixture(folder: string, c: Case, file: string): Uint8Array {
  const bytes = Deno.readFileSync(`${folder}/${file}`);
  const want = c.fixture_sha256?.[file];
  if (want && toHex(sha256(bytes)) !== want) {
    throw new Error(`${file} does not have the SHA-256 the case states`);
  }
  return bytes;
}

function runCase(folder: string, c: Case): string | undefined {
  const ovmf = parseOvmf(fixture(folder, c, c.ovmf));
  const svsm = c.svsm ? fixture(folder, c, c.svsm) : undefined;
  const kernel = blob(folder, c.kernel);
  // The signature comes from our vCPU table where the case names a type, so the table is tested.
  const vcpuSig = c.vcpu_type ? vcpuSigOf(c.vcpu_type) : undefined;
  if (c.vcpu_type && c.vcpu_sig && vcpuSig !== Number(c.vcpu_sig)) {
    return `vCPU type ${c.vcpu_type} maps to 0x${vcpuSig!.toString(16)}, want ${c.vcpu_sig}`;
  }
  const inputs = {
    mode: parseMode(c.mode),
    ovmf,
    vcpus: c.vcpus ?? undefined,
    vcpuSig,
    vmm: vmm(c.vmm_type),
    guestFeatures: c.guest_features === null ? undefined : BigInt(c.guest_features),
    kernel: kernel && sevHashesOf(kernel, blob(folder, c.initrd), c.append ?? undefined),
    ovmfHash: c.ovmf_hash ? fromHex(c.ovmf_hash) : undefined,
    svsm,
    varsSize: c.ovmf_vars_size,
  };
  if (c.expected_error) {
    const want = UPSTREAM_ERRORS[c.expected_error.message];
    if (!want) return `no mapping for upstream error "${c.expected_error.message}"`;
    try {
      const got = launchDigest(inputs);
      return `expected error ${want}, got digest ${toHex(got)}`;
    } catch (e) {
      if (e instanceof MeasureError && e.code === want) return;
      throw e;
    }
  }
  const got = toHex(launchDigest(inputs));
  if (got !== c.expected) return `digest ${got}, want ${c.expected}`;
  if (c.dump_vmsa) {
    const mode = parseMode(c.mode);
    const pages = mode === "snp:svsm"
      ? svsmLaunchVmsaPages({
        ovmf,
        svsm: svsm!,
        varsSize: c.ovmf_vars_size!,
        vcpus: c.vcpus ?? 1,
        vcpuSig: vcpuSig ?? 0,
      })
      : vmsaPages(c.vcpus ?? 1, sevEsResetEip(ovmf), {
        sevFeatures: mode === "seves" ? 0n : BigInt(c.guest_features ?? 1),
        vcpuSig: vcpuSig ?? 0,
        vmm: vmm(c.vmm_type) ?? "QEMU",
      });
    const hashes = pages.map((p) => toHex(sha384(p)));
    const want = c.dump_vmsa.vmsa_sha384;
    if (hashes.length !== c.dump_vmsa.files_exist.length) {
      return `${hashes.length} VMSA pages, want ${c.dump_vmsa.files_exist.length}`;
    }
    const bad = hashes.findIndex((h, i) => h !== want[i]);
    if (bad >= 0) return `VMSA page ${bad} SHA-384 ${hashes[bad]}, want ${want[bad]}`;
  }
}

interface Aux {
  cpu_sig: {
    cases: { family: number; model: number; stepping: number; expected: string }[];
    vcpu_type_table: Record<string, string>;
  };
  mode_strings?: { accepted: Record<string, string[]>; rejected: string[] };
}

function* auxCases(folder: string): Iterable<CaseResult> {
  const aux = readJson(`${folder}/aux.json`) as Aux;
  for (const c of aux.cpu_sig.cases) {
    yield check(`aux/cpu_sig(${c.family},${c.model},${c.stepping})`, () => {
      const got = `0x${cpuSig(c.family, c.model, c.stepping).toString(16)}`;
      if (got !== c.expected) return `${got}, want ${c.expected}`;
    });
  }
  yield check("aux/vcpu_type_table", () => {
    const want = Object.entries(aux.cpu_sig.vcpu_type_table);
    const bad = want.filter(([type, sig]) => VCPU_SIGS[type] !== Number(sig)).map(([t]) => t);
    if (bad.length > 0 || Object.keys(VCPU_SIGS).length !== want.length) {
      return `table differs for ${bad.join(", ") || "the set of names"}`;
    }
  });
  const modes = aux.mode_strings;
  if (modes) {
    yield check("aux/mode_strings", () => {
      for (const [mode, texts] of Object.entries(modes.accepted)) {
        for (const text of texts) {
          const got = parseMode(text);
          if (got !== mode) return `"${text}" parses as ${got}, want ${mode}`;
        }
      }
      for (const text of modes.rejected) {
        try {
          return `"${text}" parses as ${parseMode(text)}, want a usage error`;
        } catch (e) {
          if (!(e instanceof MeasureError && e.code === "usage")) throw e;
        }
      }
    });
  }
}

function* cases(folder: string, file: string): Iterable<CaseResult> {
  const doc = readJson(`${folder}/${file}`) as { cases: Case[] };
  for (const c of doc.cases) yield check(c.id, () => runCase(folder, c));
}

const suite: Suite = function* (path: string) {
  const isFolder = Deno.statSync(path).isDirectory;
  const folder = isFolder ? path : path.replace(/\/[^/]*$/, "") || ".";
  if (!isFolder) {
    yield* cases(folder, path.slice(folder.length + 1));
    return;
  }
  yield* cases(folder, "cases.json");
  for (const extra of ["derived_cases.json"]) {
    try {
      Deno.statSync(`${folder}/${extra}`);
    } catch {
      continue;
    }
    yield* cases(folder, extra);
  }
  try {
    Deno.statSync(`${folder}/aux.json`);
  } catch {
    return;
  }
  yield* auxCases(folder);
};

export default suite;
