/**
 * Searches the live memory of processes for byte patterns: reads `/proc/PID/maps` and every
 * readable mapping through `/proc/PID/mem` (the proof of DESIGN.md "Forward security and
 * wiping"). Regions that vanish or refuse reading while we scan (the process is alive and
 * changing) are skipped and counted, never fatal.
 */

export interface Pattern {
  name: string;
  bytes: Uint8Array;
}

export interface Hit {
  pid: number;
  pattern: string;
  address: bigint;
  region: string;
}

export interface ScanResult {
  hits: Hit[];
  bytesScanned: number;
  regionsSkipped: number;
  /** Pages that could not be read (gone since maps was read); zeros in the scanned view. */
  pagesSkipped: number;
}

/** The canary's encodings that a leak could take: UTF-8 and UTF-16LE text. */
export function textPatterns(name: string, text: string): Pattern[] {
  const utf16 = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    utf16[2 * i] = c & 0xff;
    utf16[2 * i + 1] = c >> 8;
  }
  return [
    { name: `${name} utf-8`, bytes: new TextEncoder().encode(text) },
    { name: `${name} utf-16le`, bytes: utf16 },
  ];
}

/** A token-id sequence as int32 and int64 little-endian, as tensors and id buffers hold it. */
export function idPatterns(name: string, ids: ArrayLike<number>): Pattern[] {
  const i32 = new Int32Array(Array.from(ids));
  const i64 = new BigInt64Array(Array.from(ids, (x) => BigInt(x)));
  return [
    { name: `${name} int32`, bytes: new Uint8Array(i32.buffer) },
    { name: `${name} int64`, bytes: new Uint8Array(i64.buffer) },
  ];
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  outer: for (
    let i = hay.indexOf(first, from);
    i !== -1 && i <= last;
    i = hay.indexOf(first, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const CHUNK = 1 << 22;
const PAGE = 4096;

/** Scans every readable mapping of each process for each pattern. */
export async function scanProcesses(pids: number[], patterns: Pattern[]): Promise<ScanResult> {
  const result: ScanResult = { hits: [], bytesScanned: 0, regionsSkipped: 0, pagesSkipped: 0 };
  const overlap = Math.max(...patterns.map((p) => p.bytes.length)) - 1;
  for (const pid of pids) {
    let maps: string;
    try {
      maps = await Deno.readTextFile(`/proc/${pid}/maps`);
    } catch {
      continue; // exited: nothing left to find
    }
    const mem = await Deno.open(`/proc/${pid}/mem`, { read: true });
    try {
      for (const line of maps.split("\n")) {
        const m = line.match(/^([0-9a-f]+)-([0-9a-f]+) (\S+)/);
        if (!m || m[3][0] !== "r" || line.endsWith("[vvar]") || line.endsWith("[vsyscall]")) {
          continue;
        }
        const start = BigInt(`0x${m[1]}`);
        const end = BigInt(`0x${m[2]}`);
        try {
          for (let at = start; at < end; at += BigInt(CHUNK)) {
            const want = Number(
              end - at < BigInt(CHUNK + overlap) ? end - at : BigInt(CHUNK + overlap),
            );
            const buf = new Uint8Array(want);
            await mem.seek(at, Deno.SeekMode.Start);
            let got = 0;
            // The process runs on while we read: a page can vanish between reading maps and
            // reading it (malloc trims its heap, V8 releases pages). Skip that page and keep
            // scanning the rest, rather than drop the whole chunk and miss what it held.
            while (got < want) {
              let n: number | null;
              try {
                n = await mem.read(buf.subarray(got));
              } catch {
                result.pagesSkipped++;
                got = Math.min(want, (Math.floor(got / PAGE) + 1) * PAGE);
                await mem.seek(at + BigInt(got), Deno.SeekMode.Start);
                continue;
              }
              if (n === null || n === 0) break;
              got += n;
            }
            const view = buf.subarray(0, got);
            result.bytesScanned += Math.min(got, CHUNK);
            for (const p of patterns) {
              for (let i = indexOf(view, p.bytes, 0); i !== -1; i = indexOf(view, p.bytes, i + 1)) {
                if (i >= CHUNK) break; // found again in the next chunk's overlap
                result.hits.push({ pid, pattern: p.name, address: at + BigInt(i), region: line });
              }
            }
          }
        } catch {
          result.regionsSkipped++;
        }
      }
    } finally {
      mem.close();
    }
  }
  return result;
}
