// What a crashed run's WAL index (`-shm`) says about its WAL, read before SQLite rebuilds the index. SQLite
// opens a WAL that was deleted, truncated or overwritten with garbage as if nothing happened, using the frames
// that still check out; the index of the crashed run still counts the frames it had committed. Fewer frames
// after recovery than the index counted, beyond those already copied into the database file, means committed
// transactions are gone. Layout: sqlite.org/walformat.html ("The WAL-Index Header").
import { readFileSync, statSync } from 'node:fs';

export interface WalIndex {
  /** Frames of committed transactions in the WAL. */
  mxFrame: number;
  /** Of those, frames already copied into the database file. */
  nBackfill: number;
  salt: [number, number];
}

export type WalBefore =
  /** No WAL index: the last run closed the journal (SQLite removes both files), or it was deleted. */
  | { kind: 'none'; walBytes: number }
  | { kind: 'index'; index: WalIndex }
  /** An index that is not one (zero length, garbage): the WAL cannot be checked. */
  | { kind: 'unreadable' };

const WAL_INDEX_VERSION = 3007000;

function parseIndex(b: Buffer): WalIndex | undefined {
  if (b.length < 136) return undefined;
  // Two copies of the 48-byte header: a writer that died between them leaves them different.
  if (!b.subarray(0, 48).equals(b.subarray(48, 96))) return undefined;
  const le = b.readUInt32LE(0) === WAL_INDEX_VERSION;
  if (!le && b.readUInt32BE(0) !== WAL_INDEX_VERSION) return undefined;
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (b[12] !== 1) return undefined; // isInit
  return { mxFrame: u32(16), nBackfill: u32(96), salt: [u32(32), u32(36)] };
}

function size(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export function walBefore(file: string): WalBefore {
  let b: Buffer;
  try {
    b = readFileSync(`${file}-shm`);
  } catch {
    return { kind: 'none', walBytes: size(`${file}-wal`) };
  }
  const index = parseIndex(b);
  return index ? { kind: 'index', index } : { kind: 'unreadable' };
}

/** The index as SQLite rebuilt it from the WAL at open (call after the first read). */
export function walAfter(file: string): WalIndex | undefined {
  try {
    return parseIndex(readFileSync(`${file}-shm`));
  } catch {
    return undefined;
  }
}

export type WalVerdict = 'intact' | 'lost' | 'unverifiable' | 'none';

export function walVerdict(before: WalBefore, after: WalIndex | undefined): WalVerdict {
  if (before.kind === 'unreadable') return 'unverifiable';
  if (before.kind === 'none') return before.walBytes > 0 ? 'unverifiable' : 'none';
  const { mxFrame, nBackfill, salt } = before.index;
  if (mxFrame <= nBackfill) return 'intact'; // every committed frame is in the database file already
  const now = after ?? { mxFrame: 0, nBackfill: 0, salt: [0, 0] };
  if (now.mxFrame < mxFrame || now.salt[0] !== salt[0] || now.salt[1] !== salt[1]) return 'lost';
  return 'intact';
}
