// Opening the journal file: SQLite's settings for an SD card, the checks that tell a damaged file from a sound
// one, and the quarantine of a file SQLite reports corrupt (moved aside with a timestamp, never deleted, and
// what it may have held worked out so that a fresh journal can announce it).
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DbFacts } from './damage.js';
import { checkBeforeUse, checkNow } from './integrity.js';
import { ceilingOf, readSide, type SideRead } from './side-file.js';
import { walAfter, walBefore, walVerdict, type WalVerdict } from './wal-evidence.js';

/** SQLite's page cache for the journal's connection, in KiB. */
const CACHE_KIB = 2048;
/** No believable journal comes near this seq (2^50: 35 years at a million records a second); beyond is damage. */
const MAX_SEQ = 2 ** 50;

export interface JournalDamage {
  why: string;
  ranges: Array<[number, number]>;
  count: number;
}

export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code.startsWith('SQLITE_IOERR');
}

export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB' || (err as Error).message.startsWith('journal integrity check failed');
}

/** What a corrupt file still tells of its seqs, if anything believable (at most `ceiling`). */
function salvageRange(file: string, ceiling: number): { from?: number; to?: number } {
  const plausible = (n: number | null) => (n !== null && Number.isSafeInteger(n) && n > 0 && n <= ceiling ? n : undefined);
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const r = db.prepare('SELECT min(seq) AS lo, max(seq) AS hi FROM records').get() as { lo: number | null; hi: number | null };
      const from = plausible(r.lo);
      const to = plausible(r.hi);
      return from !== undefined && to !== undefined && from <= to ? { from, to } : {};
    } finally {
      db.close();
    }
  } catch {
    return {};
  }
}

/**
 * Moves a corrupt file (and its WAL and shared memory) aside; returns where, the first seq of the fresh journal
 * (above every seq the old one could have used), and from..to, the seqs the old file may have held unsent.
 */
export function quarantine(file: string): { movedTo: string; startSeq: number; from: number; to: number } {
  const { best: side } = readSide(file);
  // What a damaged file says may be garbage: with a sound side file, nothing above its ceiling was handed out.
  const salvaged = salvageRange(file, side.kind === 'ok' ? ceilingOf(side) : MAX_SEQ);
  const movedTo = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(file + suffix)) renameSync(file + suffix, movedTo + suffix);
  }
  // Above every seq the old file could have used; announced from the acknowledged mark, when it is known.
  const startSeq = Math.max(ceilingOf(side), side.kind === 'ok' ? (side.state.closedAt ?? 0) : 0, (salvaged.to ?? 0) + 1, 1);
  const from = side.kind === 'ok' ? side.state.acked + 1 : (salvaged.from ?? 1);
  return { movedTo, startSeq, from, to: startSeq - 1 };
}

/**
 * Opens the database with the journal's settings, checking it first when asked (`checkLater` when the file is
 * too large for that and a worker should check it after open); also returns the side file and what the WAL
 * evidence says. A failed open leaves the file closed.
 */
export function connect(
  file: string,
  options: { sync?: 'full' | 'normal'; syncCheckBytes?: number },
  checkIntegrity: boolean,
): { db: Database.Database; side: SideRead; walState: WalVerdict; checkLater: boolean } {
  mkdirSync(dirname(file), { recursive: true });
  // Read before SQLite rebuilds the WAL index from what is left of the WAL.
  const wal = walBefore(file);
  const { best: side } = readSide(file);
  const db = new Database(file);
  const exists = existsSync(file);
  const checkLater = checkIntegrity && exists && !checkBeforeUse(file, options.syncCheckBytes);
  // A failed open must not leave the file open: a retry loop would pile up handles (and, on a full disk,
  // the space they hold).
  try {
    if (checkIntegrity && exists && !checkLater) checkNow(db, file);
    db.prepare('SELECT count(*) FROM sqlite_master').get(); // the first read: SQLite recovers the WAL
    const walState = walVerdict(wal, walAfter(file));
    // Deleting rows does not shrink a SQLite file; incremental auto-vacuum lets housekeeping give pages back.
    // It takes effect only on a new file (before the first table exists).
    // 1 KiB pages: a commit at a low rate rewrites a quarter of what 4 KiB pages would (SD-card wear). Also
    // only for a new file.
    db.pragma('page_size = 1024');
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    // better-sqlite3 builds SQLite with a 16 MB page cache per connection, which a draining backlog fills
    // (some 19 MB resident with 1 KiB pages). The journal appends at one end and reads and deletes at the
    // other: the pages it touches again are the few B-tree pages above them, and 2 MB holds those.
    db.pragma(`cache_size = -${CACHE_KIB}`);
    return { db, side, walState, checkLater };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * The meta table, and what the file says of its seqs; throws (as a corruption) on numbers no journal reaches or
 * a file that belongs to another journal.
 */
export function readFacts(db: Database.Database, side: SideRead): { meta: Record<string, number>; facts: DbFacts } {
  const meta = Object.fromEntries((db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: number }>).map((r) => [r.key, r.value]));
  const max = db.prepare('SELECT max(seq) AS m FROM records').get() as { m: number | null };
  const deadMax = db.prepare('SELECT max(seq) AS m FROM dead_letters').get() as { m: number | null };
  const lowest = (db.prepare('SELECT min(seq) AS s FROM records').get() as { s: number | null }).s ?? undefined;
  const facts: DbFacts = {
    id: meta.journal_id,
    // Belt and braces: never hand out a sequence at or below one already present.
    next: Math.max(meta.next_seq ?? 1, (max.m ?? 0) + 1, (deadMax.m ?? 0) + 1),
    ceiling: meta.ceiling ?? 0,
    lowest,
  };
  if (facts.next > MAX_SEQ || facts.ceiling > MAX_SEQ || (lowest !== undefined && lowest < 1)) {
    // Numbers no journal reaches: the file is damaged in a way SQLite did not notice.
    throw new Error(`journal integrity check failed: implausible seq in the file (next ${facts.next})`);
  }
  if (side.kind === 'ok' && facts.id !== undefined && facts.id !== side.state.id && lowest !== undefined) {
    // Its records would go out under this journal's seqs: set the whole file aside instead.
    throw new Error(`journal integrity check failed: the file belongs to another journal (id ${facts.id}, expected ${side.state.id})`);
  }
  return { meta, facts };
}

/** The seqs of from..to that neither the records nor the dead letters hold, as ranges. */
export function missingRanges(db: Database.Database, from: number, to: number): { ranges: Array<[number, number]>; count: number } {
  const held = db.prepare('SELECT seq FROM records WHERE seq BETWEEN ? AND ? UNION SELECT seq FROM dead_letters WHERE seq BETWEEN ? AND ? ORDER BY seq').pluck();
  const ranges: Array<[number, number]> = [];
  let next = from;
  for (const seq of held.iterate(from, to, from, to) as Iterable<number>) {
    if (seq > next) ranges.push([next, seq - 1]);
    next = seq + 1;
  }
  if (next <= to) ranges.push([next, to]);
  return { ranges, count: ranges.reduce((n, [a, b]) => n + b - a + 1, 0) };
}
