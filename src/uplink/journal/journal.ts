// The store-and-forward journal: every message the gateway captures, in one SQLite file, until Kafka
// acknowledged it. `edge.seq` comes from a counter kept in the same transaction as the rows, never from
// SQLite's rowid: a drained `INTEGER PRIMARY KEY` table hands out rowid 1 again.
import Database from 'better-sqlite3';
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { AckedRanges } from './acked.js';
import { compactChecksum, recordChecksum } from './checksum.js';
import { ByteWriter } from './bytes.js';
import { encodeCompactInto, renderCompact, renderJson, type ContractMessage, type RecordType } from './compact.js';
import { Dictionary, type DictRow } from './dictionary.js';
import { prepareSchema, ROW_BYTES, ROW_OVERHEAD, TYPE_CODE, TYPE_NAME } from './schema.js';
import { judgeOpen, type DbFacts } from './damage.js';
import { checkBeforeUse, checkInBackground, checkNow } from './integrity.js';
import { ceilingOf, currentBoot, readSide, writeSide } from './side-file.js';
import { walAfter, walBefore, walVerdict } from './wal-evidence.js';

export type { ContractMessage, RecordType } from './compact.js';

export type DropReason = 'max_bytes' | 'max_age' | 'corrupt_journal' | 'journal_damaged';

/** What a gap record announces: `ranges` exactly, `from`..`to` spanning them, `count` seqs in all. */
export interface Gap {
  from: number;
  to: number;
  count: number;
  reason: DropReason;
  ranges: Array<[number, number]>;
}

interface EntryBase {
  /** Kafka key: `<group>/<node>/<device>`, or `<group>/<node>` for node-level messages. */
  key: string;
  type: RecordType;
  capturedAt: number;
  /** Samples (metrics) the record carries: the unit of the journal's capacity figures. */
  samples?: number;
}

/**
 * What is captured: a message, stored in the compact format (and written as the contract's JSON when it is
 * forwarded), or a Kafka value already written (gap records, tests).
 */
export type JournalEntry = EntryBase & ({ message: ContractMessage; value?: undefined } | { value: string; message?: undefined });

export interface JournalRecord extends EntryBase {
  /**
   * The record's JSON value, as Kafka receives it for a compact record (`"historical":true` when held back); a
   * value stored as JSON (gap records, the plain format) says false, rewritten on the way out when held back.
   */
  value: string;
  seq: number;
  /** True when the record was held back by an outage (uplink down, or the gateway itself not running). */
  held: boolean;
  /** Set when `value` was written from the compact format, with `historical` as `held` says. */
  rendered?: true;
}

export interface JournalStats {
  records: number;
  bytes: number;
  oldestCapturedAt: number | null;
  nextSeq: number;
  fileBytes: number;
  dropped: Record<DropReason, number>;
  writeErrors: number;
  lostInMemory: number;
  /** Records the cloud refused for good, kept in the dead_letters table. */
  deadLetters: number;
  /** Records found altered in the file (checksum mismatch), set aside in dead_letters and announced as a gap. */
  checksumMismatches: number;
  queued: number;
  /** The bound on `bytes` now in force; null when unbounded. */
  maxBytes: number | null;
  /** Journal bytes per sample of what was committed since open (null before the first sample). */
  bytesPerSample: number | null;
  /** What SQLite's check of the file found wrong; null while it is fine (or the check still runs). */
  corrupt: string | null;
}

export interface JournalProgress {
  commits: number;
  /** Messages queued, not yet committed. */
  waiting: number;
  /** When (ms since the epoch) the oldest message not yet committed was queued; null when none waits. */
  waitingSince: number | null;
  /** When the commit of what waits is due (the oldest message's time plus the commit interval); null when none waits. */
  dueAt: number | null;
  /** True while commits fail with a known error (disk full) and are retried; the messages wait in memory. */
  retrying: boolean;
}

export interface JournalOptions {
  /** `full` fsyncs every commit; `normal` (WAL default) may lose the last commits on power loss, never corrupts. */
  sync?: 'full' | 'normal';
  /** A failing write (err set, failing true) and its recovery (failing false): logged once each. */
  onWriteError?(err: Error | undefined, failing: boolean): void;
  /**
   * Longest a captured message waits for its group commit; 0 commits at the end of the event loop turn. A
   * commit comes sooner once COMMIT_SAMPLES samples (or 1,000 messages) wait, or a birth or death does.
   */
  commitIntervalMs?: number;
  /** The first edge.seq of a new file (a journal started after quarantining a corrupt one). */
  startSeq?: number;
  /** Bound on the records' bytes (key + value); unbounded when absent. */
  maxBytes?: number;
  /** When full: drop the oldest records to make room (keeps the newest data), or drop what arrives. */
  whenFull?: 'drop_oldest' | 'drop_newest';
  /** Longest the acknowledged mark waits to reach the side file (default 5 min: it runs on SD cards). */
  ackMarkIntervalMs?: number;
  /** Files larger than this are checked by a worker thread after open rather than before use. */
  syncCheckBytes?: number;
  /** The background check found the file corrupt: the next open sets it aside; the caller should restart. */
  onCorrupt?(why: string): void;
  /** The record announcing that edge.seq from..to will never arrive; required with maxBytes or pruning. */
  gapEntry?(gap: Gap): JournalEntry;
}

/**
 * Seqs are reserved in the side file in blocks before use: some ten seconds of capture, at least MIN_BLOCK and
 * at most SEQ_BLOCK, so that the side file is written rarely and what a damaged WAL forces to be announced
 * (everything up to the ceiling) stays small.
 */
const SEQ_BLOCK = 100_000;
const MIN_BLOCK = 1000;
/**
 * A commit is made at the end of the event-loop turn in which this many samples came to wait, whatever the
 * commit interval: a commit costs a few pages written whatever it carries, so past this many samples waiting
 * longer saves little wear, and at high rates the commit interval then never adds latency.
 */
export const COMMIT_SAMPLES = 256;
/** Messages that commit at once, in the turn they arrive (a burst of captures). */
const COMMIT_MESSAGES = 1000;
/**
 * The acknowledged mark reaches the side file at most once per this many ms: it runs on SD cards, and the mark
 * only narrows what damage to the files would announce as possibly lost (a later mark announces more).
 */
const ACK_WRITE_MS = 300_000;
/** Compact rows per INSERT statement. */
const MANY = 32;
/** SQLite's page cache for the journal's connection, in KiB. */
const CACHE_KIB = 2048;
/** No believable journal comes near this seq (2^50: 35 years at a million records a second); beyond is damage. */
const MAX_SEQ = 2 ** 50;
/** Messages held in memory while the disk refuses writes, before the oldest are given up. */
/** A record as written: compact bytes, or (when the format cannot hold it) its JSON text. */
interface StoredRow {
  capturedAt: number;
  type: number;
  data: Buffer | null;
  /** Where its compact bytes lie in the batch's buffer; end < start for a JSON row. */
  start: number;
  end: number;
  key: string | null;
  value: string | null;
  bytes: number;
  samples: number;
}

/**
 * A stored row as the forwarder reads it: an array, not an object (better-sqlite3's raw mode builds rows about
 * twice as fast, and a drain reads every row once). The columns, in the order of the peek statement:
 */
type StoredRowRead = [seq: number, capturedAt: number, type: number, data: Buffer | null, key: string | null, value: string | null, checksum: number | null];
const SEQ = 0;
const CAPTURED_AT = 1;
const TYPE = 2;
const DATA = 3;
const KEY = 4;
const VALUE = 5;
const CHECKSUM = 6;

/** The stored text of a record that could not be decoded: its bytes, for a person to look at. */
function undecodable(data: Buffer | null, why: string): string {
  return JSON.stringify({ undecodable: why, data: data ? data.toString('base64') : null });
}

const MAX_QUEUED = 100_000;

/** Sorted, with adjacent and overlapping ranges joined. */
function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

export interface OpenedJournal {
  journal: Journal;
  /** Set when the file was corrupt: where it was moved, and the range it may have held. */
  quarantined?: { movedTo: string; error: string; from: number; to: number };
  /** Set when the file or its WAL lost records that SQLite did not notice: why, and the seqs announced lost. */
  damaged?: JournalDamage;
}

export interface JournalDamage {
  why: string;
  ranges: Array<[number, number]>;
  count: number;
}

/**
 * Opens the journal; a file SQLite reports corrupt is moved aside with a timestamp (never deleted) and a fresh
 * journal starts above every seq the old one could have used, announcing what the old one held as a gap.
 */
export function openJournal(file: string, options: JournalOptions = {}): OpenedJournal {
  try {
    const journal = new Journal(file, options, true);
    return journal.damage ? { journal, damaged: journal.damage } : { journal };
  } catch (err) {
    if (!isCorruption(err)) throw err;
    const { best: side } = readSide(file);
    // What a damaged file says may be garbage: with a sound side file, nothing above its ceiling was handed out.
    const salvaged = salvageRange(file, side.kind === 'ok' ? ceilingOf(side) : MAX_SEQ);
    const movedTo = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    for (const suffix of ['', '-wal', '-shm']) {
      if (existsSync(file + suffix)) renameSync(file + suffix, movedTo + suffix);
    }
    // Above every seq the old file could have used; announced from the acknowledged mark, when it is known.
    const startSeq = Math.max(ceilingOf(side), side.kind === 'ok' ? (side.state.closedAt ?? 0) : 0, (salvaged.to ?? 0) + 1, 1);
    const journal = new Journal(file, { ...options, startSeq });
    const from = side.kind === 'ok' ? side.state.acked + 1 : (salvaged.from ?? 1);
    const to = startSeq - 1;
    if (to >= from && options.gapEntry) {
      journal.append([options.gapEntry({ from, to, count: to - from + 1, reason: 'corrupt_journal', ranges: [[from, to]] })]);
      journal.noteDropped('corrupt_journal', to - from + 1);
    }
    return { journal, quarantined: { movedTo, error: (err as Error).message, from, to } };
  }
}

/**
 * openJournal, waiting while the disk is too full to open the file (SQLite needs room for its WAL and shared
 * memory files): `waiting` is told once, and the gateway comes up when space returns instead of crash-looping.
 */
export async function openJournalWhenPossible(
  file: string,
  options: JournalOptions,
  waiting: (err: Error) => void,
  retryMs = 5000,
): Promise<OpenedJournal> {
  let told = false;
  for (;;) {
    try {
      return openJournal(file, options);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      if (!told) waiting(err as Error);
      told = true;
      await new Promise((r) => setTimeout(r, retryMs));
    }
  }
}

export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || code.startsWith('SQLITE_IOERR');
}

function isCorruption(err: unknown): boolean {
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

export class Journal {
  private readonly db: Database.Database;
  private nextSeq: number;
  private records: number;
  private bytes: number;
  private heldBack = false;
  private heldUpTo = 0;
  private deadLetters = 0;
  private queue: JournalEntry[] = [];
  /** When the oldest message still waiting for its commit was queued; null while nothing waits. */
  private waitingSince: number | null = null;
  /** The commit interval in force when the oldest waiting message was queued. */
  private waitingFor = 0;
  /** Samples in the messages waiting for their commit. */
  private queuedSamples = 0;
  /** Transactions committed since open: the watchdog's sign that capture makes progress. */
  private commits = 0;
  private committedCallbacks: Array<() => void> = [];
  private writeFailing = false;
  private writeErrors = 0;
  /** Messages never given a seq because the disk refused them for too long; counted, never silent. */
  private lostInMemory = 0;
  private flushTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** The pending flush is an immediate one (a birth or death waits). */
  private urgent = false;
  /** Seqs below this are reserved in the side file, so that no damage to the database makes one used twice. */
  private ceiling = 0;
  private block = MIN_BLOCK;
  private reservedAt = 0;
  private reservedFrom = 0;
  /** Written to the side file and the meta table: a database replaced or recreated empty is recognised. */
  private readonly id: number;
  private sideWrittenAt = 0;
  private sideTimer: NodeJS.Timeout | undefined;
  private checksumMismatches = 0;
  private committedBytes = 0;
  private maxBytes: number | undefined;
  private committedSamples = 0;
  /** What damage at open lost, announced as a gap. */
  readonly damage: JournalDamage | undefined;
  private readonly dropped: Record<DropReason, number> = { max_bytes: 0, max_age: 0, corrupt_journal: 0, journal_damaged: 0 };
  /** drop_newest: the seqs refused since the journal was last below its bound, announced once there is room. */
  private pendingGap: { from: number; to: number; count: number } | undefined;
  private readonly appendListeners = new Set<() => void>();
  private readonly dict: Dictionary;
  private readonly params: unknown[] = new Array(MANY * 5).fill(null);
  /** One buffer for the compact bytes of a whole batch: no allocation per record. */
  private readonly writer = new ByteWriter();
  /** Acknowledged, deleted with the next commit; already out of `records` and `bytes`. */
  private readonly acked = new AckedRanges();
  private ackTimer: NodeJS.Timeout | undefined;
  private stopCheck: (() => void) | undefined;
  /** What the background check found wrong with the file; null while it is fine or not yet checked. */
  private corrupt: string | null = null;
  /** Dictionary entries that failed their check at open. */
  readonly damagedEntries: number;
  /** Records moved from the plain format at this open. */
  readonly migrated: number;
  private readonly stmt: {
    insert: Database.Statement;
    insertEntry: Database.Statement;
    insertCompact: Database.Statement;
    insertCompactMany: Database.Statement;
    setNextSeq: Database.Statement;
    peek: Database.Statement;
    del: Database.Statement;
    delBytes: Database.Statement;
    oldest: Database.Statement;
    lowest: Database.Statement;
    head: Database.Statement;
    gaps: Database.Statement;
    delDropped: Database.Statement;
    delDroppedBytes: Database.Statement;
    setMeta: Database.Statement;
  };

  constructor(readonly file: string, private readonly options: JournalOptions = {}, checkIntegrity = false) {
    this.maxBytes = options.maxBytes;
    mkdirSync(dirname(file), { recursive: true });
    // Read before SQLite rebuilds the WAL index from what is left of the WAL.
    const wal = walBefore(file);
    const { best: side } = readSide(file);
    this.db = new Database(file);
    const exists = existsSync(file);
    const checkLater = checkIntegrity && exists && !checkBeforeUse(file, options.syncCheckBytes);
    // A failed open must not leave the file open: a retry loop would pile up handles (and, on a full disk,
    // the space they hold).
    try {
      if (checkIntegrity && exists && !checkLater) checkNow(this.db, file);
      this.db.prepare('SELECT count(*) FROM sqlite_master').get(); // the first read: SQLite recovers the WAL
      const walState = walVerdict(wal, walAfter(file));
      // Deleting rows does not shrink a SQLite file; incremental auto-vacuum lets housekeeping give pages back.
      // It takes effect only on a new file (before the first table exists).
      // 1 KiB pages: a commit at a low rate rewrites a quarter of what 4 KiB pages would (SD-card wear). Also
      // only for a new file.
      this.db.pragma('page_size = 1024');
      this.db.pragma('auto_vacuum = INCREMENTAL');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
      // better-sqlite3 builds SQLite with a 16 MB page cache per connection, which a draining backlog fills
      // (some 19 MB resident with 1 KiB pages). The journal appends at one end and reads and deletes at the
      // other: the pages it touches again are the few B-tree pages above them, and 2 MB holds those.
      this.db.pragma(`cache_size = -${CACHE_KIB}`);
      this.migrated = prepareSchema(this.db).migrated;
      this.dict = new Dictionary(this.db.prepare('SELECT id, entry, checksum FROM dictionary').iterate() as Iterable<DictRow>);
      this.damagedEntries = this.dict.damaged;
      this.stmt = {
        insert: this.db.prepare('INSERT INTO records (seq, captured_at, type, data, key, value, checksum) VALUES (?, ?, ?, ?, ?, ?, ?)'),
        insertCompact: this.db.prepare('INSERT INTO records (seq, captured_at, type, data, checksum) VALUES (?, ?, ?, ?, ?)'),
        // Rows go in by the MANY in one statement: a statement call costs about as much as the row it inserts.
        insertCompactMany: this.db.prepare(`INSERT INTO records (seq, captured_at, type, data, checksum) VALUES ${Array(MANY).fill('(?, ?, ?, ?, ?)').join(', ')}`),
        insertEntry: this.db.prepare('INSERT INTO dictionary (id, entry, checksum) VALUES (?, ?, ?)'),
        setNextSeq: this.db.prepare("UPDATE meta SET value = ? WHERE key = 'next_seq'"),
        peek: this.db.prepare('SELECT seq, captured_at, type, data, key, value, checksum FROM records WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?').raw(true),
        del: this.db.prepare('DELETE FROM records WHERE seq BETWEEN ? AND ?'),
        delBytes: this.db.prepare(`SELECT count(*) AS n, coalesce(sum(${ROW_BYTES}), 0) AS b FROM records WHERE seq BETWEEN ? AND ?`),
        oldest: this.db.prepare('SELECT captured_at FROM records ORDER BY seq LIMIT 1'),
        lowest: this.db.prepare('SELECT min(seq) AS s FROM records'),
        head: this.db.prepare(`SELECT seq, captured_at, type, ${ROW_BYTES} AS b FROM records WHERE seq > ? ORDER BY seq LIMIT 500`),
        gaps: this.db.prepare('SELECT seq, value FROM records WHERE type = 3 ORDER BY seq'),
        delDropped: this.db.prepare('DELETE FROM records WHERE seq BETWEEN ? AND ? AND type != 3'),
        delDroppedBytes: this.db.prepare(`SELECT count(*) AS n, coalesce(sum(${ROW_BYTES}), 0) AS b FROM records WHERE seq BETWEEN ? AND ? AND type != 3`),
        setMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      };
      const meta = Object.fromEntries((this.db.prepare('SELECT key, value FROM meta').all() as Array<{ key: string; value: number }>).map((r) => [r.key, r.value]));
      // Kept by every commit: nothing at open reads the backlog itself.
      this.records = meta.records ?? 0;
      this.bytes = meta.bytes ?? 0;
      const max = this.db.prepare('SELECT max(seq) AS m FROM records').get() as { m: number | null };
      const deadMax = this.db.prepare('SELECT max(seq) AS m FROM dead_letters').get() as { m: number | null };
      const lowest = (this.stmt.lowest.get() as { s: number | null }).s ?? undefined;
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
      const verdict = options.startSeq !== undefined ? { next: Math.max(facts.next, options.startSeq) } : judgeOpen(side, facts, walState, currentBoot());
      this.id = side.kind === 'ok' ? side.state.id : (facts.id ?? randomInt(1, 2 ** 47));
      this.nextSeq = verdict.next;
      const lost = verdict.lost && this.lostRanges(verdict.lost.from, verdict.lost.to);
      // Every seq handed out so far is below nextSeq now: a new, tight reservation replaces the old one.
      this.reserve(this.nextSeq);
      this.db.transaction(() => {
        this.stmt.setMeta.run('journal_id', this.id);
        this.stmt.setMeta.run('ceiling', this.ceiling);
        this.stmt.setNextSeq.run(this.nextSeq);
      })();
      this.deadLetters = (this.db.prepare('SELECT count(*) AS n FROM dead_letters').get() as { n: number }).n;
      // What a previous run left behind was held back while the gateway was not running.
      if (this.records > 0) this.heldUpTo = this.nextSeq - 1;
      if (meta.gap_count) this.pendingGap = { from: meta.gap_from!, to: meta.gap_to!, count: meta.gap_count };
      if (lost && lost.count > 0) {
        this.damage = { why: verdict.lost!.why, ...lost };
        this.dropped.journal_damaged += lost.count;
        if (options.gapEntry) this.announceRanges(lost.ranges, 'journal_damaged');
      }
    } catch (err) {
      this.db.close();
      throw err;
    }
    if (checkLater) {
      this.stopCheck = checkInBackground(file, (why) => {
        this.corrupt = why;
        options.onCorrupt?.(why);
      });
    }
  }

  /**
   * After damage: drops what reappeared at or below the acknowledged mark (delivered already), and returns the
   * seqs of from..to that the journal no longer holds, as ranges.
   */
  private lostRanges(from: number, to: number): { ranges: Array<[number, number]>; count: number } {
    if (from > 1) this.deleteRange(1, from - 1);
    const held = this.db.prepare('SELECT seq FROM records WHERE seq BETWEEN ? AND ? UNION SELECT seq FROM dead_letters WHERE seq BETWEEN ? AND ? ORDER BY seq').pluck();
    const ranges: Array<[number, number]> = [];
    let next = from;
    for (const seq of held.iterate(from, to, from, to) as Iterable<number>) {
      if (seq > next) ranges.push([next, seq - 1]);
      next = seq + 1;
    }
    if (next <= to) ranges.push([next, to]);
    return { ranges, count: ranges.reduce((n, [a, b]) => n + b - a + 1, 0) };
  }

  /** The entry as it is written: compact when the format holds it exactly, else its JSON. */
  private store(e: JournalEntry): StoredRow {
    const type = TYPE_CODE[e.type];
    const samples = e.samples ?? e.message?.metrics.length ?? 0;
    if (e.message) {
      const start = this.writer.length;
      if (encodeCompactInto(this.writer, e.message, e.key, e.capturedAt, this.dict)) {
        const end = this.writer.length;
        // The view is taken once the whole batch is written (the buffer may grow meanwhile).
        return { capturedAt: e.capturedAt, type, data: null, start, end, key: null, value: null, bytes: end - start + ROW_OVERHEAD, samples };
      }
    }
    const value = e.value ?? renderJson(e.message!);
    return { capturedAt: e.capturedAt, type, data: null, start: 0, end: -1, key: e.key, value, bytes: e.key.length + value.length, samples };
  }

  /** Commits the entries in one transaction; they are captured when this returns. */
  append(entries: readonly JournalEntry[]): { first: number; last: number; dropped: boolean } {
    if (entries.length === 0) return { first: this.nextSeq, last: this.nextSeq - 1, dropped: false };
    const first = this.nextSeq;
    this.writer.reset();
    const rows = entries.map((e) => this.store(e));
    for (const r of rows) if (r.end >= r.start) r.data = this.writer.view(r.start, r.end);
    const entriesToWrite = this.dict.takePending();
    const bytes = rows.reduce((n, r) => n + r.bytes, 0);
    const { maxBytes } = this;
    const { whenFull } = this.options;
    // Gap records are never refused: they are small, and a loss they announce must not become a silent one.
    if (maxBytes !== undefined && whenFull === 'drop_newest' && !entries.every((e) => e.type === 'gap')) {
      if (this.bytes + bytes > maxBytes) {
        this.dict.forget(entriesToWrite);
        return this.refuse(entries.length);
      }
    }
    const acked = this.acked.take();
    try {
      const reserved = this.reserve(first + entries.length);
      this.db.transaction(() => {
        // What Kafka acknowledged since the last commit goes in the same write.
        for (const [a, b] of acked) this.stmt.del.run(a, b);
        for (const d of entriesToWrite) this.stmt.insertEntry.run(d.id, d.entry, d.checksum);
        let seq = first;
        const params = this.params;
        for (let i = 0; i < rows.length; i++, seq++) {
          const r = rows[i]!;
          if (!r.data) {
            this.stmt.insert.run(seq, r.capturedAt, r.type, null, r.key, r.value, recordChecksum(seq, r.capturedAt, r.key!, TYPE_NAME[r.type]!, r.value!));
            continue;
          }
          // MANY compact rows in a row: one statement for all of them.
          let n = 0;
          while (n < MANY && i + n < rows.length && rows[i + n]!.data) n += 1;
          if (n < MANY) {
            this.stmt.insertCompact.run(seq, r.capturedAt, r.type, r.data, compactChecksum(seq, r.capturedAt, r.type, r.data));
            continue;
          }
          for (let k = 0; k < MANY; k++) {
            const row = rows[i + k]!;
            const at = k * 5;
            params[at] = seq + k;
            params[at + 1] = row.capturedAt;
            params[at + 2] = row.type;
            params[at + 3] = row.data;
            params[at + 4] = compactChecksum(seq + k, row.capturedAt, row.type, row.data!);
          }
          this.stmt.insertCompactMany.run(params);
          i += MANY - 1;
          seq += MANY - 1;
        }
        params.fill(null);
        this.stmt.setNextSeq.run(seq);
        if (reserved) this.stmt.setMeta.run('ceiling', this.ceiling);
        this.saveCounts(this.records + entries.length, this.bytes + bytes);
      })();
    } catch (err) {
      // Nothing was written: the entries numbered for this batch are numbered again when it is retried.
      this.dict.forget(entriesToWrite);
      throw err;
    }
    this.acked.done(acked);
    if (this.acked.size === 0) {
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
    }
    this.commits += 1;
    this.records += entries.length;
    this.bytes += bytes;
    this.nextSeq = first + entries.length;
    if (this.heldBack) this.heldUpTo = this.nextSeq - 1;
    this.committedBytes += bytes;
    for (const r of rows) this.committedSamples += r.samples;
    if (maxBytes !== undefined && this.bytes > maxBytes && whenFull !== 'drop_newest') this.dropOldest(maxBytes);
    for (const listener of this.appendListeners) listener();
    return { first, last: first + entries.length - 1, dropped: false };
  }

  /** drop_newest: the entries get their seqs, so that the loss can be announced exactly, but are not kept. */
  private refuse(count: number): { first: number; last: number; dropped: boolean } {
    const first = this.nextSeq;
    const last = first + count - 1;
    const reserved = this.reserve(last + 1);
    const gap = this.pendingGap ? { ...this.pendingGap, to: last, count: this.pendingGap.count + count } : { from: first, to: last, count };
    this.db.transaction(() => {
      this.stmt.setNextSeq.run(last + 1);
      this.stmt.setMeta.run('gap_from', gap.from);
      this.stmt.setMeta.run('gap_to', gap.to);
      this.stmt.setMeta.run('gap_count', gap.count);
      if (reserved) this.stmt.setMeta.run('ceiling', this.ceiling);
    })();
    this.nextSeq = last + 1;
    this.pendingGap = gap;
    this.dropped.max_bytes += count;
    return { first, last, dropped: true };
  }

  /**
   * Raises the reserved ceiling, written to the side file before a seq below it is used; returns true when it
   * did. A block lasts some ten seconds at the rate the last one was used up.
   */
  private reserve(next: number): boolean {
    if (next <= this.ceiling) return false;
    const now = Date.now();
    if (this.reservedAt > 0) {
      const perMs = (next - this.reservedFrom) / Math.max(1, now - this.reservedAt);
      this.block = Math.min(SEQ_BLOCK, Math.max(MIN_BLOCK, Math.ceil(perMs * 10_000)));
    }
    // The ceiling is raised only once the side file holds it: a write that fails (a full disk) leaves the old
    // ceiling, so the retry of the same batch tries the write again instead of using seqs no file reserved.
    const previous = this.ceiling;
    this.ceiling = next + this.block;
    try {
      this.writeSideFile(null);
    } catch (err) {
      this.ceiling = previous;
      throw err;
    }
    this.reservedAt = now;
    this.reservedFrom = next;
    return true;
  }

  /** Every seq at or below this left the journal: acknowledged, announced as dropped, or dead-lettered. */
  private ackedMark(): number {
    const first = this.heldRows(0, Number.MAX_SAFE_INTEGER, 1)[0];
    return (first?.[SEQ] ?? this.nextSeq) - 1;
  }

  private writeSideFile(closedAt: number | null): void {
    clearTimeout(this.sideTimer);
    this.sideTimer = undefined;
    writeSide(this.file, { id: this.id, ceiling: this.ceiling, acked: this.ackedMark(), closedAt, boot: currentBoot() });
    this.sideWrittenAt = Date.now();
  }

  /** The acknowledged mark reaches the side file within ACK_WRITE_MS, in one write however many acks came. */
  private ackedMoved(): void {
    if (this.sideTimer) return;
    const write = () => {
      this.sideTimer = undefined;
      if (!this.db.open) return;
      try {
        this.writeSideFile(null);
      } catch {
        // A full disk: the mark is only an optimisation of what damage would announce; the next ack tries again.
      }
    };
    const wait = this.sideWrittenAt + (this.options.ackMarkIntervalMs ?? ACK_WRITE_MS) - Date.now();
    if (wait <= 0) write();
    else this.sideTimer = setTimeout(write, wait).unref();
  }

  /** Counts records a caller announced as dropped (a quarantined file's). */
  noteDropped(reason: DropReason, count: number): void {
    this.dropped[reason] += count;
  }

  /** drop_oldest: deletes from the head down to 90% of the bound, and announces the range. */
  private dropOldest(maxBytes: number): void {
    const target = maxBytes * 0.9;
    let freed = 0;
    let count = 0;
    let from: number | undefined;
    let to = 0;
    let cursor = 0;
    while (this.bytes - freed > target) {
      const rows = this.stmt.head.all(cursor) as Array<{ seq: number; type: RecordType; b: number }>;
      if (rows.length === 0) break;
      for (const r of rows) {
        if (this.bytes - freed <= target) break;
        cursor = r.seq;
        if (r.type === 'gap') continue; // announcements are kept: dropping one would make its loss silent
        from ??= r.seq;
        to = r.seq;
        freed += r.b;
        count += 1;
      }
    }
    if (from === undefined) return;
    this.deleteDropped(from, to);
    this.dropped.max_bytes += count;
    this.announce({ from, to, count, reason: 'max_bytes' });
  }

  /** The counts open reads instead of the backlog; call inside the transaction that changed them. */
  private saveCounts(records: number, bytes: number): void {
    this.stmt.setMeta.run('records', records);
    this.stmt.setMeta.run('bytes', bytes);
  }

  /** Deletes the records captured before `cutoff` (ms) and announces them; returns how many. */
  pruneOlderThan(cutoff: number): number {
    this.deleteAcked();
    let count = 0;
    let from: number | undefined;
    let to = 0;
    let cursor = 0;
    for (;;) {
      const rows = this.stmt.head.all(cursor) as Array<{ seq: number; type: RecordType; captured_at: number }>;
      const old = rows.filter((r) => r.captured_at < cutoff);
      for (const r of old) {
        cursor = r.seq;
        if (r.type === 'gap') continue; // announcements are kept
        from ??= r.seq;
        to = r.seq;
        count += 1;
      }
      if (old.length < rows.length || rows.length === 0) break;
    }
    if (from === undefined) return 0;
    this.deleteDropped(from, to);
    this.dropped.max_age += count;
    this.announce({ from, to, count, reason: 'max_age' });
    return count;
  }

  private deleteRange(from: number, to: number, keepGaps = false): void {
    this.deleteAcked(); // its counts are out already: a range counted below must not count them again
    const [count, del] = keepGaps ? [this.stmt.delDroppedBytes, this.stmt.delDropped] : [this.stmt.delBytes, this.stmt.del];
    // The counts change only once the transaction committed (a full disk rolls it back).
    const gone = this.db.transaction(() => {
      const g = count.get(from, to) as { n: number; b: number };
      if (g.n === 0) return g;
      del.run(from, to);
      this.saveCounts(this.records - g.n, this.bytes - g.b);
      return g;
    })();
    this.records -= gone.n;
    this.bytes -= gone.b;
  }

  /** Drops the data records in from..to; gap records in the range stay and still reach the cloud. */
  private deleteDropped(from: number, to: number): void {
    this.deleteRange(from, to, true);
  }

  private announce(dropped: { from: number; to: number; count: number; reason: DropReason }): void {
    this.announceRanges([[dropped.from, dropped.to]], dropped.reason);
  }

  private announceRanges(lost: Array<[number, number]>, reason: DropReason): void {
    if (!this.options.gapEntry) throw new Error('journal: dropping records needs a gapEntry factory');
    // Announcements still waiting in the journal for the same reason merge into this one, so that a journal
    // that keeps dropping holds one announcement, not one per drop. The old record's own seq joins the ranges:
    // it will not arrive either.
    let ranges: Array<[number, number]> = [...lost];
    for (const row of this.stmt.gaps.all() as Array<{ seq: number; value: string }>) {
      let old: Partial<Gap>;
      try {
        old = JSON.parse(row.value) as Partial<Gap>;
      } catch {
        continue; // an announcement damaged in place: the checksum sets it aside when it is read
      }
      if (old.reason !== reason || !Array.isArray(old.ranges)) continue;
      ranges.push(...old.ranges, [row.seq, row.seq]);
      this.deleteRange(row.seq, row.seq);
    }
    ranges = mergeRanges(ranges);
    const count = ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
    const gap: Gap = { from: ranges[0]![0], to: ranges[ranges.length - 1]![1], count, reason, ranges };
    // Loss is never silent: the gap is a record of its own, forwarded like any other.
    this.append([this.options.gapEntry(gap)]);
  }

  /** drop_newest: once the journal is below its bound again, the refused range is announced. */
  private flushPendingGap(): void {
    const gap = this.pendingGap;
    const { maxBytes } = this;
    if (!gap || maxBytes === undefined || this.bytes > maxBytes * 0.9) return;
    this.pendingGap = undefined;
    this.db.prepare("DELETE FROM meta WHERE key LIKE 'gap_%'").run();
    this.announce({ ...gap, reason: 'max_bytes' });
  }

  /** Up to `limit` records with seq above `afterSeq`, oldest first. */
  /**
   * Up to `limit` records with seq above `afterSeq`, oldest first. A record whose checksum does not match is
   * never handed out: it is set aside in dead_letters, counted, and announced as a gap.
   */
  peek(afterSeq: number, limit: number, upTo = Number.MAX_SAFE_INTEGER): JournalRecord[] {
    const rows = this.heldRows(afterSeq, upTo, limit);
    const out: JournalRecord[] = [];
    const bad: Array<{ record: JournalRecord; reason: string }> = [];
    const heldUpTo = this.heldUpTo;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const seq = r[SEQ];
      const capturedAt = r[CAPTURED_AT];
      const code = r[TYPE];
      const data = r[DATA];
      const type = TYPE_NAME[code] ?? 'data';
      const held = seq <= heldUpTo;
      // Every record built with the same fields in the same order: one object shape for the whole drain.
      if (data !== null) {
        if (r[CHECKSUM] !== compactChecksum(seq, capturedAt, code, data) || TYPE_NAME[code] === undefined) {
          bad.push({ record: { key: '', type, capturedAt, samples: 0, value: undecodable(data, 'checksum mismatch'), seq, held }, reason: 'checksum mismatch' });
          continue;
        }
        let rendered: { key: string; value: string; samples: number };
        try {
          rendered = renderCompact(data, type, capturedAt, this.dict, held);
        } catch (err) {
          // The checksum matched, so the record is as written: a dictionary entry it names was damaged.
          bad.push({ record: { key: '', type, capturedAt, samples: 0, value: undecodable(data, (err as Error).message), seq, held }, reason: 'checksum mismatch' });
          continue;
        }
        out.push({ key: rendered.key, type, capturedAt, samples: rendered.samples, value: rendered.value, seq, held, rendered: true });
        continue;
      }
      const record: JournalRecord = { key: r[KEY] ?? '', type, capturedAt, samples: undefined, value: r[VALUE] ?? '', seq, held };
      // NULL: written before checksums existed.
      const checksum = r[CHECKSUM];
      if (checksum === null || checksum === recordChecksum(seq, capturedAt, record.key, type, record.value)) out.push(record);
      else bad.push({ record, reason: 'checksum mismatch' });
    }
    if (bad.length === 0) return out;
    const damaged: Array<[number, number]> = [];
    // Setting damaged records aside and announcing them is one transaction: a record never leaves the journal
    // unannounced (a failed announcement, a full disk, leaves it in place for the next peek).
    this.db.transaction(() => {
      for (const { record, reason } of bad) {
        this.deadLetter(record, reason);
        this.checksumMismatches += 1;
        damaged.push([record.seq, record.seq]);
      }
      if (damaged.length > 0) {
        if (this.options.gapEntry) this.announceRanges(damaged, 'journal_damaged');
        this.dropped.journal_damaged += damaged.length;
      }
    })();
    return out;
  }

  /** Rows above `afterSeq`, up to `upTo`, skipping those acknowledged and not yet deleted. */
  private heldRows(afterSeq: number, upTo: number, limit: number): StoredRowRead[] {
    let out: StoredRowRead[] = [];
    let cursor = afterSeq;
    while (out.length < limit && cursor < upTo) {
      const inside = this.acked.holding(cursor + 1);
      if (inside) {
        cursor = inside[1];
        continue;
      }
      const next = this.acked.after(cursor);
      const hi = next ? Math.min(upTo, next[0] - 1) : upTo;
      const rows = this.stmt.peek.all(cursor, hi, limit - out.length) as StoredRowRead[];
      if (out.length === 0) out = rows;
      else for (const row of rows) out.push(row);
      if (!next || hi >= upTo || out.length >= limit) break;
      cursor = next[1];
    }
    return out;
  }

  /**
   * Sets a record that the cloud refuses for good (too large, not authorized) aside in the dead_letters table,
   * where it stays for a person to look at; the queue moves on.
   */
  deadLetter(record: JournalRecord, reason: string): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT OR REPLACE INTO dead_letters (seq, captured_at, key, type, value, reason, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(record.seq, record.capturedAt, record.key, record.type, record.value, reason, Date.now());
      this.deleteRange(record.seq, record.seq);
    })();
    this.deadLetters += 1;
  }

  /** Deletes records first..last: call only once Kafka acknowledged all of them. */
  ack(first: number, last: number): void {
    // Out of the counts now, out of the file with the next commit (or within two commit intervals without one),
    // or at once when another batch still waits.
    for (const [a, b] of this.acked.uncovered(first, last)) {
      const gone = this.stmt.delBytes.get(a, b) as { n: number; b: number };
      this.records -= gone.n;
      this.bytes -= gone.b;
    }
    // At most one acknowledged batch waits for its deletion: a crash then sends at most that batch again.
    const waiting = this.acked.size > 0;
    this.acked.add(first, last);
    if (waiting) {
      this.deleteAcked();
      this.flushPendingGap();
      this.ackedMoved();
      return;
    }
    this.ackTimer ??= setTimeout(() => this.deleteAcked(), 2 * (this.options.commitIntervalMs ?? 0)).unref();
    this.flushPendingGap();
    this.ackedMoved();
  }

  /** Deletes what Kafka acknowledged, in a transaction of its own or inside the caller's. */
  private deleteAcked(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.acked.size === 0 || !this.db.open) return;
    const taken = this.acked.take();
    try {
      this.db.transaction(() => {
        for (const [a, b] of taken) this.stmt.del.run(a, b);
        this.saveCounts(this.records, this.bytes);
      })();
    } catch (err) {
      // A full disk: the records stay skipped, and the next commit deletes them.
      if (!isDiskFull(err)) throw err;
      return;
    }
    this.acked.done(taken);
  }

  /**
   * Marks what the journal holds, and what it takes from now on, as held back by an outage, until
   * setHeldBack(false). Records carry the flag to Kafka as `edge.historical`.
   */
  setHeldBack(held: boolean): void {
    // A boundary, not a flag per row: marking a backlog of 100,000 records costs no write.
    if (held) this.heldUpTo = this.nextSeq - 1;
    this.heldBack = held;
  }

  /** Every record at or below this seq is backlog (held back); above it, live. */
  backlogUpTo(): number {
    return this.heldUpTo;
  }

  /**
   * Whether a record at or below `upTo` (backlogUpTo() by default) is still waiting: not yet acknowledged, dropped
   * or set aside. One indexed read, no rendering.
   */
  backlogLeft(upTo = this.heldUpTo): boolean {
    return upTo > 0 && this.heldRows(0, upTo, 1).length > 0;
  }

  /**
   * Group commit: entries queued within `commitIntervalMs` share one transaction, so an SD card sees one write
   * per batch, not one per message. The commit comes at the end of the turn instead once COMMIT_SAMPLES samples
   * wait, or a birth or death does, and at once at COMMIT_MESSAGES messages. `onCommitted` runs after the commit,
   * in queue order.
   */
  enqueue(entry: JournalEntry, onCommitted?: () => void): void {
    if (this.waitingSince === null) {
      this.waitingSince = Date.now();
      this.waitingFor = this.options.commitIntervalMs ?? 0;
    }
    this.queue.push(entry);
    this.queuedSamples += entry.samples ?? 1;
    if (onCommitted) this.committedCallbacks.push(onCommitted);
    if (this.writeFailing) {
      // The retry timer runs; what arrives meanwhile waits with the rest.
    } else if (this.queue.length >= COMMIT_MESSAGES) {
      this.flush();
    } else if ((entry.type !== 'data' || this.queuedSamples >= COMMIT_SAMPLES) && !this.urgent) {
      // Births and deaths change what host applications see of the session, and enough samples make a commit
      // worth its writes: committed at the end of this turn, with whatever waits, not after the commit interval.
      clearTimeout(this.flushTimer as NodeJS.Timeout);
      clearImmediate(this.flushTimer as NodeJS.Immediate);
      this.urgent = true;
      this.flushTimer = setImmediate(() => this.flush());
    } else if (!this.flushTimer) {
      const interval = this.options.commitIntervalMs ?? 0;
      this.flushTimer = interval > 0 ? setTimeout(() => this.flush(), interval) : setImmediate(() => this.flush());
    }
  }

  /** Commits whatever is queued now. */
  flush(): void {
    this.urgent = false;
    if (this.flushTimer) {
      clearTimeout(this.flushTimer as NodeJS.Timeout);
      clearImmediate(this.flushTimer as NodeJS.Immediate);
      this.flushTimer = undefined;
    }
    if (this.queue.length === 0) return;
    const entries = this.queue;
    const callbacks = this.committedCallbacks;
    try {
      this.append(entries);
    } catch (err) {
      // Disk full or an I/O error: keep the batch in memory (bounded) and retry; capture resumes by itself.
      if (!this.writeFailing) this.options.onWriteError?.(err as Error, true);
      this.writeFailing = true;
      this.writeErrors += 1;
      const excess = this.queue.length - MAX_QUEUED;
      if (excess > 0) {
        for (const e of this.queue.splice(0, excess)) this.queuedSamples -= e.samples ?? 1;
        this.committedCallbacks.splice(0, Math.max(0, this.committedCallbacks.length - this.queue.length));
        this.lostInMemory += excess;
      }
      this.flushTimer ??= setTimeout(() => this.flush(), 1000);
      return;
    }
    this.queue = [];
    this.queuedSamples = 0;
    this.waitingSince = null;
    this.committedCallbacks = [];
    if (this.writeFailing) this.options.onWriteError?.(undefined, false);
    this.writeFailing = false;
    for (const fn of callbacks) fn();
  }

  /** Folds the WAL back into the database file and truncates it; returns the WAL pages checkpointed. */
  checkpoint(): number {
    this.deleteAcked();
    const [r] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    return r?.checkpointed ?? 0;
  }

  /**
   * Gives up to `pages` free pages back to the file system; returns how many it freed. Small steps, so that
   * capture never waits long behind it.
   */
  vacuumStep(pages: number): number {
    this.deleteAcked();
    if (this.db.pragma('auto_vacuum', { simple: true }) !== 2) return 0; // a file made before incremental vacuum
    const before = this.db.pragma('freelist_count', { simple: true }) as number;
    this.db.pragma(`incremental_vacuum(${Math.max(1, Math.floor(pages))})`);
    return before - (this.db.pragma('freelist_count', { simple: true }) as number);
  }

  freePages(): number {
    return this.db.pragma('freelist_count', { simple: true }) as number;
  }

  pageSize(): number {
    return this.db.pragma('page_size', { simple: true }) as number;
  }

  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** Cheap enough to read every second: commits so far, and how long the oldest uncommitted message has waited. */
  progress(): JournalProgress {
    const dueAt = this.waitingSince === null ? null : this.waitingSince + this.waitingFor;
    return { commits: this.commits, waiting: this.queue.length, waitingSince: this.waitingSince, dueAt, retrying: this.writeFailing };
  }

  /** Group commit's longest wait, from the next message queued. */
  setCommitInterval(ms: number): void {
    this.options.commitIntervalMs = ms;
  }

  /** A new bound (a share of the file system re-read by housekeeping); applies from the next commit. */
  setMaxBytes(maxBytes: number | undefined): void {
    this.maxBytes = maxBytes;
  }

  stats(): JournalStats {
    const oldest = this.records > 0 ? this.heldRows(0, Number.MAX_SAFE_INTEGER, 1)[0] : undefined;
    const page = this.db.pragma('page_count', { simple: true }) as number;
    const size = this.db.pragma('page_size', { simple: true }) as number;
    return { records: this.records, bytes: this.bytes, oldestCapturedAt: oldest?.[CAPTURED_AT] ?? null, nextSeq: this.nextSeq, fileBytes: page * size, dropped: { ...this.dropped }, writeErrors: this.writeErrors, deadLetters: this.deadLetters, checksumMismatches: this.checksumMismatches, lostInMemory: this.lostInMemory, queued: this.queue.length, maxBytes: this.maxBytes ?? null, bytesPerSample: this.committedSamples > 0 ? this.committedBytes / this.committedSamples : null, corrupt: this.corrupt };
  }

  close(): void {
    this.stopCheck?.();
    if (!this.db.open) return;
    this.flush();
    try {
      this.deleteAcked();
    } catch {
      // Not deleted: sent again after the next start, under the same edge.seq.
    }
    let checkpointed = true;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // A full disk can refuse the checkpoint; the WAL holds every commit and is replayed at the next open.
      checkpointed = false;
    }
    const acked = this.ackedMark();
    this.db.close();
    clearTimeout(this.sideTimer);
    this.sideTimer = undefined;
    try {
      // The exact next seq: the next open needs no reserve, and knows what a damaged file lost exactly. Not
      // after a failed checkpoint: then the WAL still matters, and the next open checks it as after a crash.
      if (checkpointed) writeSide(this.file, { id: this.id, ceiling: this.ceiling, acked, closedAt: this.nextSeq, boot: currentBoot() });
    } catch {
      // The side file still holds the reserved ceiling: the next open treats this as a crash, which is safe.
    }
  }
}
