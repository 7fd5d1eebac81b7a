/**
 * TDX TCB status: which TCB info level a quote's platform is at, the TDX module's own level,
 * the QE's level, and how their statuses combine.
 *
 * Rules: `shared/vectors/attestation/README.md` "TDX TCB status" and `shared/specs/attestation.md`
 * (c) items 7-8, after Intel's QVL (`TcbLevelCheck`, `convergeTcbStatus…`):
 * 1. the platform level is the first of `tcbLevels` (newest first) where every PCK SGX component
 *    and the PCESVN are ≥ the level's, and every `tee_tcb_svn[i]` ≥ `tdxtcbcomponents[i]`,
 *    skipping i = 0, 1 when `tee_tcb_svn[1]` > 0 (the module's version and SVN are judged by
 *    its own identity instead);
 * 2. when `tee_tcb_svn[1]` > 0, the module level is the first of `tdxModuleIdentities
 *    ["TDX_%02X" % tee_tcb_svn[1]].tcbLevels` with `isvsvn` ≤ `tee_tcb_svn[0]`;
 * 3. the QE level is the first QE identity level with `isvsvn` ≤ the QE report's ISVSVN.
 * Statuses merge as Intel converges them: out of date, configuration needed and SW hardening
 * needed are independent flags (their union names the result: OutOfDate + ConfigurationNeeded =
 * OutOfDateConfigurationNeeded, OutOfDate absorbs SWHardeningNeeded), and Revoked wins over all.
 *
 * Module and QE identity matching (mrsigner, attributes, …) is `collateral`; no level = `tcb`.
 */
import { AttestationError } from "../errors.ts";
import { equalBytes, toHex } from "../../protocol/bytes.ts";
import type { QeReport, TdReport } from "./abi.ts";
import type { PckExtensions } from "./pck.ts";
import type { IsvLevel, QeIdentity, TcbInfo, TcbLevel, TcbStatus, TdxModule } from "./pcs.ts";

const SW = 1;
const CONF = 2;
const OOD = 4;
const REVOKED = 8;

const FLAGS: Record<TcbStatus, number> = {
  UpToDate: 0,
  SWHardeningNeeded: SW,
  ConfigurationNeeded: CONF,
  ConfigurationAndSWHardeningNeeded: CONF | SW,
  OutOfDate: OOD,
  OutOfDateConfigurationNeeded: OOD | CONF,
  Revoked: REVOKED,
};

/** The combined status of two levels that both apply. */
export function mergeStatus(a: TcbStatus, b: TcbStatus): TcbStatus {
  const f = FLAGS[a] | FLAGS[b];
  if (f & REVOKED) return "Revoked";
  if (f & OOD) return f & CONF ? "OutOfDateConfigurationNeeded" : "OutOfDate";
  if (f & CONF) return f & SW ? "ConfigurationAndSWHardeningNeeded" : "ConfigurationNeeded";
  return f & SW ? "SWHardeningNeeded" : "UpToDate";
}

export interface TcbResult {
  /** The merged status, or "NoMatchingTcbLevel" when the platform, module or QE has no level. */
  status: TcbStatus | "NoMatchingTcbLevel";
  platform?: TcbLevel;
  module?: IsvLevel;
  qe?: IsvLevel;
  /** Advisories of every level that applied, without repeats. */
  advisoryIds: string[];
  /** Why no level matched, for the refusal's message. */
  detail?: string;
}

/** The first level the platform is at (step 1), or undefined. */
export function platformLevel(
  info: TcbInfo,
  pck: PckExtensions,
  teeTcbSvn: Uint8Array,
): TcbLevel | undefined {
  const skip = teeTcbSvn[1] > 0 ? 2 : 0;
  return info.levels.find((level) => {
    for (let i = 0; i < 16; i++) if (pck.sgxTcbComponents[i] < level.sgxComponents[i]) return false;
    if (pck.pceSvn < level.pceSvn) return false;
    const tdx = level.tdxComponents;
    if (!tdx) return false;
    for (let i = skip; i < 16; i++) if (teeTcbSvn[i] < tdx[i]) return false;
    return true;
  });
}

/** First isvsvn-indexed level at or below `svn`. */
export function isvLevel(levels: IsvLevel[], svn: number): IsvLevel | undefined {
  return levels.find((l) => l.isvSvn <= svn);
}

/** "TDX_%02X" of the module major version in `tee_tcb_svn[1]`. */
export function moduleIdentityId(teeTcbSvn: Uint8Array): string {
  return `TDX_${teeTcbSvn[1].toString(16).toUpperCase().padStart(2, "0")}`;
}

function masked(value: Uint8Array, mask: Uint8Array): Uint8Array {
  return value.map((b, i) => b & mask[i]);
}

function mismatch(field: string, message: string): never {
  throw new AttestationError("collateral", message, field);
}

function checkModule(m: TdxModule, body: TdReport, name: string): void {
  if (!equalBytes(body.mrSignerSeam, m.mrSigner)) {
    mismatch(
      "mrsignerseam",
      `TDX module signer ${toHex(body.mrSignerSeam)} is not ${name}'s ${toHex(m.mrSigner)}`,
    );
  }
  if (!equalBytes(masked(body.seamAttributes, m.attributesMask), m.attributes)) {
    mismatch(
      "seam_attributes",
      `TDX module attributes ${toHex(body.seamAttributes)} under mask ${toHex(m.attributesMask)} ` +
        `are not ${name}'s ${toHex(m.attributes)}`,
    );
  }
}

/**
 * The TDX module the quote reports is the one the TCB info describes: `tdxModule`, and when
 * `tee_tcb_svn[1]` > 0 the identity of that version, which must exist. Throws `collateral`.
 */
export function checkTdxModule(info: TcbInfo, body: TdReport): void {
  if (!info.tdxModule) mismatch("tdxModule", "the TCB info describes no TDX module");
  checkModule(info.tdxModule, body, "TCB info tdxModule");
  if (body.teeTcbSvn[1] === 0) return;
  const id = moduleIdentityId(body.teeTcbSvn);
  const identity = info.tdxModuleIdentities.find((m) => m.id === id);
  if (!identity) {
    mismatch(
      "tdxModuleIdentities",
      `the TCB info has no TDX module identity ${id} (tee_tcb_svn[1])`,
    );
  }
  checkModule(identity, body, `TCB info ${id}`);
}

/**
 * The quoting enclave is the one the QE identity describes: mrsigner and isvprodid equal,
 * miscselect and attributes equal under their masks. Throws `collateral`.
 */
export function checkQeIdentity(identity: QeIdentity, qe: QeReport): void {
  if (identity.id !== "TD_QE") {
    mismatch(
      "enclaveIdentity.id",
      `QE identity "${identity.id}" is not the TD quoting enclave's (TD_QE)`,
    );
  }
  if (!equalBytes(qe.mrSigner, identity.mrSigner)) {
    mismatch("qe.mrsigner", `QE mrsigner ${toHex(qe.mrSigner)} is not ${toHex(identity.mrSigner)}`);
  }
  if (qe.isvProdId !== identity.isvProdId) {
    mismatch("qe.isvprodid", `QE isvprodid ${qe.isvProdId} is not ${identity.isvProdId}`);
  }
  if (!equalBytes(masked(qe.miscSelect, identity.miscSelectMask), identity.miscSelect)) {
    mismatch(
      "qe.miscselect",
      `QE miscselect ${toHex(qe.miscSelect)} under mask ${toHex(identity.miscSelectMask)} is not ` +
        toHex(identity.miscSelect),
    );
  }
  if (!equalBytes(masked(qe.attributes, identity.attributesMask), identity.attributes)) {
    mismatch(
      "qe.attributes",
      `QE attributes ${toHex(qe.attributes)} under mask ${
        toHex(identity.attributesMask)
      } are not ` +
        toHex(identity.attributes),
    );
  }
}

/**
 * The TCB status of a quote whose collateral already matched (`checkTdxModule`,
 * `checkQeIdentity`). Never throws: the caller's policy decides what an outcome means.
 */
export function tdxTcbStatus(
  info: TcbInfo,
  qeIdentity: QeIdentity,
  pck: PckExtensions,
  body: TdReport,
  qe: QeReport,
): TcbResult {
  const none = (detail: string): TcbResult => ({
    status: "NoMatchingTcbLevel",
    advisoryIds: [],
    detail,
  });
  const platform = platformLevel(info, pck, body.teeTcbSvn);
  if (!platform) {
    return none(
      `no TCB level of FMSPC ${toHex(info.fmspc)} matches PCK SGX components ` +
        `${pck.sgxTcbComponents.join(",")}, PCESVN ${pck.pceSvn} and tee_tcb_svn ${
          toHex(body.teeTcbSvn)
        }`,
    );
  }
  let status = platform.status;
  const advisories = new Set(platform.advisoryIds);
  let module: IsvLevel | undefined;
  if (body.teeTcbSvn[1] > 0) {
    const id = moduleIdentityId(body.teeTcbSvn);
    const identity = info.tdxModuleIdentities.find((m) => m.id === id);
    module = identity && isvLevel(identity.levels, body.teeTcbSvn[0]);
    if (!module) return none(`no ${id} module level has isvsvn ≤ ${body.teeTcbSvn[0]}`);
    status = mergeStatus(status, module.status);
    module.advisoryIds.forEach((a) => advisories.add(a));
  }
  const qeLevel = isvLevel(qeIdentity.levels, qe.isvSvn);
  if (!qeLevel) return none(`no QE identity level has isvsvn ≤ ${qe.isvSvn}`);
  status = mergeStatus(status, qeLevel.status);
  qeLevel.advisoryIds.forEach((a) => advisories.add(a));
  return { status, platform, module, qe: qeLevel, advisoryIds: [...advisories] };
}
