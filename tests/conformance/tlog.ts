/**
 * Conformance suite "tlog": RFC 6962/9162 Merkle proofs (transparency-dev/merkle probes and the
 * reference tree), C2SP signed notes (C2SP and golang.org/x/mod examples), checkpoints and
 * tlog-tiles paths and layouts. The path is the transparency folder (its manifest.json) or one of
 * its files; a file's kind is told by its content, not its name.
 */
import { type CaseResult, check, readJson, type Suite, vectorFiles } from "./harness.ts";
import { fromBase64, toBase64 } from "../../protocol/base64.ts";
import { equalBytes, fromHex, toHex } from "../../protocol/bytes.ts";
import { parseCheckpoint } from "../../protocol/checkpoint.ts";
import {
  consistencyProof,
  type HashReader,
  inclusionProof,
  leafHash,
  nodeHash,
  rootHash,
  verifyConsistency,
  verifyInclusion,
} from "../../protocol/merkle.ts";
import {
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
} from "../../protocol/note.ts";
import { formatTileIndex, parseTilePath, tileLayout, tilePath } from "../../protocol/tiles.ts";

type Json = Record<string, unknown>;

const b64 = (s: string | null | undefined) => (s ? fromBase64(s) : new Uint8Array(0));
const proofOf = (p: unknown) => ((p as string[] | null) ?? []).map(b64);

/** A reader over a list of leaves: the hash of the complete subtree computed from scratch. */
function leavesReader(leaves: Uint8Array[]): HashReader {
  const read: HashReader = (level, index) =>
    level === 0
      ? leafHash(leaves[index])
      : nodeHash(read(level - 1, 2 * index), read(level - 1, 2 * index + 1));
  return read;
}

function outcome(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

function* inclusionCases(cases: Json[], leaves?: Uint8Array[]): Iterable<CaseResult> {
  for (const c of cases) {
    yield check(`inclusion ${c.source_file}`, () => {
      const index = c.leafIdx as number;
      const size = c.treeSize as number;
      const proof = proofOf(c.proof);
      const err = outcome(() =>
        verifyInclusion(index, size, b64(c.leafHash as string), proof, b64(c.root as string))
      );
      if (c.wantErr && !err) return "accepted a proof that must fail";
      if (!c.wantErr && err) return `refused a valid proof: ${err}`;
      // A happy path on the reference tree: our generator must produce the same proof.
      if (!c.wantErr && leaves && size <= leaves.length) {
        const read = leavesReader(leaves);
        if (equalBytes(rootHash(size, read), b64(c.root as string))) {
          const mine = inclusionProof(index, size, read);
          if (mine.map(toHex).join() !== proof.map(toHex).join()) return "generated proof differs";
        }
      }
    });
  }
}

function* consistencyCases(cases: Json[], leaves?: Uint8Array[]): Iterable<CaseResult> {
  for (const c of cases) {
    yield check(`consistency ${c.source_file}`, () => {
      const [size1, size2] = [c.size1 as number, c.size2 as number];
      const proof = proofOf(c.proof);
      const err = outcome(() =>
        verifyConsistency(size1, size2, b64(c.root1 as string), b64(c.root2 as string), proof)
      );
      if (c.wantErr && !err) return "accepted a proof that must fail";
      if (!c.wantErr && err) return `refused a valid proof: ${err}`;
      if (!c.wantErr && leaves && size2 <= leaves.length && size1 > 0 && size1 < size2) {
        const read = leavesReader(leaves);
        if (equalBytes(rootHash(size2, read), b64(c.root2 as string))) {
          const mine = consistencyProof(size1, size2, read);
          if (mine.map(toHex).join() !== proof.map(toHex).join()) return "generated proof differs";
        }
      }
    });
  }
}

function* referenceTree(t: Json): Iterable<CaseResult> {
  const leaves = (t.leaf_inputs_hex as string[]).map(fromHex);
  const levels = t.node_hashes_by_level_hex as string[][];
  const read = leavesReader(leaves);
  const roots = t.root_hash_by_tree_size_hex as string[];
  for (const [size, root] of roots.entries()) {
    yield check(`reference tree size ${size}`, () => {
      const got = toHex(rootHash(size, read));
      if (got !== root) return `root ${got}, want ${root}`;
      // Node hashes of the complete subtrees inside this size.
      for (const [level, hashes] of levels.entries()) {
        for (const [index, h] of hashes.entries()) {
          if ((index + 1) * 2 ** level <= size && toHex(read(level, index)) !== h) {
            return `node ${level}/${index} differs`;
          }
        }
      }
    });
  }
}

function* signedNotes(doc: Json): Iterable<CaseResult> {
  for (const c of doc.note_cases as Json[]) {
    yield check(`note ${c.name}`, () => {
      const verifiers = (c.vkeys as string[]).map(parseVerifierKey);
      const expect = c.expect as string;
      let opened;
      try {
        opened = openNote(c.note as string, verifiers);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        if (expect === "valid") return `refused: ${msg}`;
        const want = expect.replace(/^error: /, "");
        return msg === want ? undefined : `refused with "${msg}", want "${want}"`;
      }
      if (expect !== "valid") return `accepted a note that must fail (${expect})`;
      const got = opened.verified.map((s) => s.name).sort().join();
      const want = (c.verified_signers as string[]).slice().sort().join();
      if (got !== want) return `verified signers ${got}, want ${want}`;
      if (c.unverified_signers) {
        const un = opened.unverified.map((s) => s.name).sort().join();
        if (un !== (c.unverified_signers as string[]).slice().sort().join()) {
          return `unverified signers ${un}`;
        }
      }
      if (c.skey) {
        // Ed25519 is deterministic: signing the text again must give the same note.
        const again = signNote(opened.text, parseSignerKey(c.skey as string));
        if (again !== c.note) return "re-signing with the skey gives a different note";
      }
    });
  }
  for (const c of doc.vkey_cases as Json[]) {
    yield check(`vkey ${c.vkey}`, () => {
      let v;
      try {
        v = parseVerifierKey(c.vkey as string);
      } catch (e) {
        if (c.expect === "valid") return `refused: ${e instanceof Error ? e.message : e}`;
        return;
      }
      if (c.expect !== "valid") return `accepted an invalid vkey (${c.expect})`;
      const id = v.keyId.toString(16).padStart(8, "0");
      if (id !== c.key_id) return `key id ${id}, want ${c.key_id}`;
    });
  }
}

function* checkpointsAndTiles(doc: Json): Iterable<CaseResult> {
  for (const c of doc.checkpoints as Json[]) {
    yield check(`checkpoint ${c.name}`, () => {
      const text = c.signed_note ? parseNote(c.signed_note as string).text : c.note_text as string;
      const want = c.expect_parse;
      let cp;
      try {
        cp = parseCheckpoint(text);
      } catch (e) {
        if (typeof want === "string") return;
        return `refused: ${e instanceof Error ? e.message : e}`;
      }
      if (typeof want === "string") return `accepted a checkpoint that must fail (${want})`;
      const w = want as Json;
      if (cp.origin !== w.origin) return `origin ${cp.origin}`;
      if (cp.size !== w.tree_size) return `size ${cp.size}`;
      if (w.root_hash_b64 && toBase64(cp.rootHash) !== w.root_hash_b64) return "root hash differs";
      if (w.root_hash_hex && toHex(cp.rootHash) !== w.root_hash_hex) return "root hash differs";
      if (
        w.extension_lines && cp.extensions.join("\n") !== (w.extension_lines as string[]).join("\n")
      ) {
        return "extension lines differ";
      }
    });
  }
  for (const c of doc.tile_paths as Json[]) {
    yield check(`tile path ${c.level}/${c.index}`, () => {
      if (formatTileIndex(c.index as number) !== c.path_index) return "index spelling differs";
      const path = tilePath({ level: c.level as number, index: c.index as number, width: 256 });
      if (path !== `tile/${c.level}/${c.path_index}`) return `path ${path}`;
      const back = parseTilePath(path);
      if (back.level !== c.level || back.index !== c.index) return "path does not parse back";
    });
  }
  for (const c of doc.tile_layout_examples as Json[]) {
    yield check(`tile layout ${c.tree_size}`, () => {
      const want: string[] = [];
      for (
        const m of (c.tiles as string).matchAll(
          /(\d+) (full|partial) level-(\d+) tiles?(?: of width (\d+))?/g,
        )
      ) {
        want.push(m[2] === "full" ? `${m[3]}:full:${m[1]}` : `${m[3]}:partial:${m[4]}`);
      }
      const got: string[] = [];
      for (const l of tileLayout(c.tree_size as number)) {
        if (l.full > 0) got.push(`${l.level}:full:${l.full}`);
        if (l.partial > 0) got.push(`${l.level}:partial:${l.partial}`);
      }
      if (want.length === 0) return "description not understood";
      if (got.join() !== want.join()) return `layout ${got.join()}, want ${want.join()}`;
    });
  }
}

function siblingLeaves(path: string): Uint8Array[] | undefined {
  const dir = path.replace(/\/[^/]*$/, "");
  try {
    const t = readJson(`${dir}/rfc6962-reference-tree.json`) as Json;
    return (t.leaf_inputs_hex as string[]).map(fromHex);
  } catch {
    return undefined;
  }
}

function* runFile(path: string): Iterable<CaseResult> {
  const doc = readJson(path);
  const leaves = siblingLeaves(path);
  if (Array.isArray(doc) && doc.length > 0 && "leafIdx" in doc[0]) {
    yield* inclusionCases(doc, leaves);
  } else if (Array.isArray(doc) && doc.length > 0 && "size1" in doc[0]) {
    yield* consistencyCases(doc, leaves);
  } else if (!Array.isArray(doc) && (doc as Json).leaf_inputs_hex) {
    yield* referenceTree(doc as Json);
  } else if (!Array.isArray(doc) && (doc as Json).note_cases) {
    yield* signedNotes(doc as Json);
  } else if (!Array.isArray(doc) && (doc as Json).checkpoints) {
    yield* checkpointsAndTiles(doc as Json);
  } else {
    throw new Error(`${path}: not a transparency vectors file this suite knows`);
  }
}

const suite: Suite = function* (path) {
  for (const file of vectorFiles(path)) yield* runFile(file);
};

export default suite;
