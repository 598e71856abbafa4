// The store-and-forward journal: every message the gateway captures, in one SQLite file, until Kafka
// acknowledged it. `edge.seq` comes from a counter kept in the same transaction as the rows, never from
// SQLite's rowid: a drained `INTEGER PRIMARY KEY` table hands out rowid 1 again. The class composes the
// file's opening (open.ts), the seq ceiling (ceiling.ts), the records (store.ts), the bound and its gap
// records (quota.ts) and group commit (commit.ts).
import type Database from 'better-sqlite3';
import { randomInt } from 'node:crypto';
import { AckedRanges } from './acked.js';
import { SeqCeiling } from './ceiling.js';
import { GroupCommit, type JournalProgress } from './commit.js';
import { judgeOpen } from './damage.js';
import { Dictionary, type DictRow } from './dictionary.js';
import { checkInBackground } from './integrity.js';
import { connect, isCorruption, isDiskFull, missingRanges, quarantine, readFacts, type JournalDamage } from './open.js';
import { Quota, type DropReason, type Gap } from './quota.js';
import { prepareSchema, ROW_BYTES } from './schema.js';
import { currentBoot } from './side-file.js';
import { CAPTURED_AT, RecordStore, SEQ, type JournalEntry, type JournalRecord } from './store.js';

export type { ContractMessage, RecordType } from './compact.js';
export { COMMIT_SAMPLES, type JournalProgress } from './commit.js';
export { isDiskFull, type JournalDamage } from './open.js';
export type { DropReason, Gap } from './quota.js';
export type { JournalEntry, JournalRecord } from './store.js';

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

export interface OpenedJournal {
  journal: Journal;
  /** Set when the file was corrupt: where it was moved, and the range it may have held. */
  quarantined?: { movedTo: string; error: string; from: number; to: number };
  /** Set when the file or its WAL lost records that SQLite did not notice: why, and the seqs announced lost. */
  damaged?: JournalDamage;
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
    const { movedTo, startSeq, from, to } = quarantine(file);
    const journal = new Journal(file, { ...options, startSeq });
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

export class Journal {
  private readonly db: Database.Database;
  private nextSeq: number;
  private records: number;
  private bytes: number;
  private heldBack = false;
  private heldUpTo = 0;
  private deadLetters = 0;
  /** Transactions committed since open: the watchdog's sign that capture makes progress. */
  private commits = 0;
  private readonly group: GroupCommit;
  private readonly seqs: SeqCeiling;
  private readonly store: RecordStore;
  private readonly quota: Quota;
  private checksumMismatches = 0;
  private committedBytes = 0;
  private committedSamples = 0;
  /** What damage at open lost, announced as a gap. */
  readonly damage: JournalDamage | undefined;
  private readonly appendListeners = new Set<() => void>();
  private readonly dict: Dictionary;
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
    setNextSeq: Database.Statement;
    del: Database.Statement;
    delBytes: Database.Statement;
    delDropped: Database.Statement;
    delDroppedBytes: Database.Statement;
    setMeta: Database.Statement;
  };

  constructor(readonly file: string, private readonly options: JournalOptions = {}, checkIntegrity = false) {
    this.group = new GroupCommit(options, (entries) => this.append(entries));
    const { db, side, walState, checkLater } = connect(file, options, checkIntegrity);
    this.db = db;
    // A failed open must not leave the file open.
    try {
      this.migrated = prepareSchema(this.db).migrated;
      this.dict = new Dictionary(this.db.prepare('SELECT id, entry, checksum FROM dictionary').iterate() as Iterable<DictRow>);
      this.damagedEntries = this.dict.damaged;
      this.store = new RecordStore(this.db, this.dict, this.acked);
      this.stmt = {
        setNextSeq: this.db.prepare("UPDATE meta SET value = ? WHERE key = 'next_seq'"),
        del: this.db.prepare('DELETE FROM records WHERE seq BETWEEN ? AND ?'),
        delBytes: this.db.prepare(`SELECT count(*) AS n, coalesce(sum(${ROW_BYTES}), 0) AS b FROM records WHERE seq BETWEEN ? AND ?`),
        delDropped: this.db.prepare('DELETE FROM records WHERE seq BETWEEN ? AND ? AND type != 3'),
        delDroppedBytes: this.db.prepare(`SELECT count(*) AS n, coalesce(sum(${ROW_BYTES}), 0) AS b FROM records WHERE seq BETWEEN ? AND ? AND type != 3`),
        setMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      };
      const { meta, facts } = readFacts(this.db, side);
      this.quota = new Quota(this.db, options, meta);
      // Kept by every commit: nothing at open reads the backlog itself.
      this.records = meta.records ?? 0;
      this.bytes = meta.bytes ?? 0;
      const verdict = options.startSeq !== undefined ? { next: Math.max(facts.next, options.startSeq) } : judgeOpen(side, facts, walState, currentBoot());
      const id = side.kind === 'ok' ? side.state.id : (facts.id ?? randomInt(1, 2 ** 47));
      this.seqs = new SeqCeiling(file, id, options, () => this.ackedMark(), () => this.db.open);
      this.nextSeq = verdict.next;
      const lost = verdict.lost && this.lostRanges(verdict.lost.from, verdict.lost.to);
      // Every seq handed out so far is below nextSeq now: a new, tight reservation replaces the old one.
      this.seqs.reserve(this.nextSeq);
      this.db.transaction(() => {
        this.stmt.setMeta.run('journal_id', id);
        this.stmt.setMeta.run('ceiling', this.seqs.ceiling);
        this.stmt.setNextSeq.run(this.nextSeq);
      })();
      this.deadLetters = (this.db.prepare('SELECT count(*) AS n FROM dead_letters').get() as { n: number }).n;
      // What a previous run left behind was held back while the gateway was not running.
      if (this.records > 0) this.heldUpTo = this.nextSeq - 1;
      if (lost && lost.count > 0) {
        this.damage = { why: verdict.lost!.why, ...lost };
        this.quota.dropped.journal_damaged += lost.count;
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
    return missingRanges(this.db, from, to);
  }

  /** Commits the entries in one transaction; they are captured when this returns. */
  append(entries: readonly JournalEntry[]): { first: number; last: number; dropped: boolean } {
    if (entries.length === 0) return { first: this.nextSeq, last: this.nextSeq - 1, dropped: false };
    const first = this.nextSeq;
    const { rows, bytes } = this.store.rows(entries);
    const entriesToWrite = this.dict.takePending();
    if (this.quota.refuses(this.bytes + bytes, entries)) {
      this.dict.forget(entriesToWrite);
      return this.refuse(entries.length);
    }
    const acked = this.acked.take();
    try {
      const reserved = this.seqs.reserve(first + entries.length);
      this.db.transaction(() => {
        // What Kafka acknowledged since the last commit goes in the same write.
        for (const [a, b] of acked) this.stmt.del.run(a, b);
        const seq = this.store.insert(entriesToWrite, rows, first);
        this.stmt.setNextSeq.run(seq);
        if (reserved) this.stmt.setMeta.run('ceiling', this.seqs.ceiling);
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
    if (this.quota.over(this.bytes)) this.dropOldest(this.quota.maxBytes!);
    for (const listener of this.appendListeners) listener();
    return { first, last: first + entries.length - 1, dropped: false };
  }

  /** drop_newest: the entries get their seqs, so that the loss can be announced exactly, but are not kept. */
  private refuse(count: number): { first: number; last: number; dropped: boolean } {
    const first = this.nextSeq;
    const last = first + count - 1;
    const reserved = this.seqs.reserve(last + 1);
    const gap = this.quota.widened(first, last, count);
    this.db.transaction(() => {
      this.stmt.setNextSeq.run(last + 1);
      this.quota.savePending(gap);
      if (reserved) this.stmt.setMeta.run('ceiling', this.seqs.ceiling);
    })();
    this.nextSeq = last + 1;
    this.quota.refused(gap, count);
    return { first, last, dropped: true };
  }

  /** Every seq at or below this left the journal: acknowledged, announced as dropped, or dead-lettered. */
  private ackedMark(): number {
    const first = this.store.held(0, Number.MAX_SAFE_INTEGER, 1)[0];
    return (first?.[SEQ] ?? this.nextSeq) - 1;
  }

  /** Counts records a caller announced as dropped (a quarantined file's). */
  noteDropped(reason: DropReason, count: number): void {
    this.quota.dropped[reason] += count;
  }

  /** drop_oldest: deletes from the head down to 90% of the bound, and announces the range. */
  private dropOldest(maxBytes: number): void {
    const run = this.quota.oldest(this.bytes, maxBytes);
    if (!run) return;
    this.deleteDropped(run.from, run.to);
    this.quota.dropped.max_bytes += run.count;
    this.announce({ ...run, reason: 'max_bytes' });
  }

  /** The counts open reads instead of the backlog; call inside the transaction that changed them. */
  private saveCounts(records: number, bytes: number): void {
    this.stmt.setMeta.run('records', records);
    this.stmt.setMeta.run('bytes', bytes);
  }

  /** Deletes the records captured before `cutoff` (ms) and announces them; returns how many. */
  pruneOlderThan(cutoff: number): number {
    this.deleteAcked();
    const run = this.quota.olderThan(cutoff);
    if (!run) return 0;
    this.deleteDropped(run.from, run.to);
    this.quota.dropped.max_age += run.count;
    this.announce({ ...run, reason: 'max_age' });
    return run.count;
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
    const gap = this.quota.merged(lost, reason, (seq) => this.deleteRange(seq, seq));
    // Loss is never silent: the gap is a record of its own, forwarded like any other.
    this.append([this.options.gapEntry(gap)]);
  }

  /** drop_newest: once the journal is below its bound again, the refused range is announced. */
  private flushPendingGap(): void {
    const gap = this.quota.due(this.bytes);
    if (gap) this.announce({ ...gap, reason: 'max_bytes' });
  }

  /**
   * Up to `limit` records with seq above `afterSeq`, oldest first. A record whose checksum does not match is
   * never handed out: it is set aside in dead_letters, counted, and announced as a gap.
   */
  peek(afterSeq: number, limit: number, upTo = Number.MAX_SAFE_INTEGER): JournalRecord[] {
    const { out, bad } = this.store.read(this.store.held(afterSeq, upTo, limit), this.heldUpTo);
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
        this.quota.dropped.journal_damaged += damaged.length;
      }
    })();
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
      this.seqs.ackedMoved();
      return;
    }
    this.ackTimer ??= setTimeout(() => this.deleteAcked(), 2 * (this.options.commitIntervalMs ?? 0)).unref();
    this.flushPendingGap();
    this.seqs.ackedMoved();
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
    return upTo > 0 && this.store.held(0, upTo, 1).length > 0;
  }

  /**
   * Group commit: entries queued within `commitIntervalMs` share one transaction, so an SD card sees one write
   * per batch, not one per message. The commit comes at the end of the turn instead once COMMIT_SAMPLES samples
   * wait, or a birth or death does, and at once at COMMIT_MESSAGES messages. `onCommitted` runs after the commit,
   * in queue order.
   */
  enqueue(entry: JournalEntry, onCommitted?: () => void): void {
    this.group.enqueue(entry, onCommitted);
  }

  /** Commits whatever is queued now. */
  flush(): void {
    this.group.flush();
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
    return this.group.progress(this.commits);
  }

  /** Group commit's longest wait, from the next message queued. */
  setCommitInterval(ms: number): void {
    this.options.commitIntervalMs = ms;
  }

  /** A new bound (a share of the file system re-read by housekeeping); applies from the next commit. */
  setMaxBytes(maxBytes: number | undefined): void {
    this.quota.maxBytes = maxBytes;
  }

  stats(): JournalStats {
    const oldest = this.records > 0 ? this.store.held(0, Number.MAX_SAFE_INTEGER, 1)[0] : undefined;
    const page = this.db.pragma('page_count', { simple: true }) as number;
    const size = this.db.pragma('page_size', { simple: true }) as number;
    return { records: this.records, bytes: this.bytes, oldestCapturedAt: oldest?.[CAPTURED_AT] ?? null, nextSeq: this.nextSeq, fileBytes: page * size, dropped: { ...this.quota.dropped }, writeErrors: this.group.errors, deadLetters: this.deadLetters, checksumMismatches: this.checksumMismatches, lostInMemory: this.group.lost, queued: this.group.queued, maxBytes: this.quota.maxBytes ?? null, bytesPerSample: this.committedSamples > 0 ? this.committedBytes / this.committedSamples : null, corrupt: this.corrupt };
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
    this.seqs.closed(acked, this.nextSeq, checkpointed);
  }
}
