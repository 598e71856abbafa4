// The store-and-forward journal: every message the gateway captures, in one SQLite file, until Kafka
// acknowledged it. `edge.seq` comes from a counter kept in the same transaction as the rows, never from
// SQLite's rowid: a drained `INTEGER PRIMARY KEY` table hands out rowid 1 again.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type RecordType = 'data' | 'birth' | 'death';

export interface JournalEntry {
  /** Kafka key: `<group>/<node>/<device>`, or `<group>/<node>` for node-level messages. */
  key: string;
  type: RecordType;
  /** The record's JSON value as stored; `"historical":false` is rewritten on the way out when held back. */
  value: string;
  capturedAt: number;
}

export interface JournalRecord extends JournalEntry {
  seq: number;
  /** True when the record was held back by an outage (uplink down, or the gateway itself not running). */
  held: boolean;
}

export interface JournalStats {
  records: number;
  bytes: number;
  oldestCapturedAt: number | null;
  nextSeq: number;
  fileBytes: number;
}

export interface JournalOptions {
  /** `full` fsyncs every commit; `normal` (WAL default) may lose the last commits on power loss, never corrupts. */
  sync?: 'full' | 'normal';
}

export class Journal {
  private readonly db: Database.Database;
  private nextSeq: number;
  private records: number;
  private bytes: number;
  private heldBack = false;
  private readonly appendListeners = new Set<() => void>();
  private readonly stmt: {
    insert: Database.Statement;
    setNextSeq: Database.Statement;
    peek: Database.Statement;
    del: Database.Statement;
    delBytes: Database.Statement;
    markHeld: Database.Statement;
    oldest: Database.Statement;
  };

  constructor(readonly file: string, options: JournalOptions = {}) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
      INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', 1);
      CREATE TABLE IF NOT EXISTS records (
        seq INTEGER PRIMARY KEY,
        captured_at INTEGER NOT NULL,
        key TEXT NOT NULL,
        type TEXT NOT NULL,
        value TEXT NOT NULL,
        held INTEGER NOT NULL DEFAULT 0
      ) STRICT;
    `);
    this.stmt = {
      insert: this.db.prepare('INSERT INTO records (seq, captured_at, key, type, value, held) VALUES (?, ?, ?, ?, ?, ?)'),
      setNextSeq: this.db.prepare("UPDATE meta SET value = ? WHERE key = 'next_seq'"),
      peek: this.db.prepare('SELECT seq, captured_at, key, type, value, held FROM records WHERE seq > ? ORDER BY seq LIMIT ?'),
      del: this.db.prepare('DELETE FROM records WHERE seq BETWEEN ? AND ?'),
      delBytes: this.db.prepare('SELECT count(*) AS n, coalesce(sum(length(key) + length(value)), 0) AS b FROM records WHERE seq BETWEEN ? AND ?'),
      markHeld: this.db.prepare('UPDATE records SET held = 1 WHERE held = 0'),
      oldest: this.db.prepare('SELECT captured_at FROM records ORDER BY seq LIMIT 1'),
    };
    const meta = this.db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").get() as { value: number };
    const max = this.db.prepare('SELECT max(seq) AS m FROM records').get() as { m: number | null };
    // Belt and braces: never hand out a sequence at or below one already present.
    this.nextSeq = Math.max(meta.value, (max.m ?? 0) + 1);
    const totals = this.db.prepare('SELECT count(*) AS n, coalesce(sum(length(key) + length(value)), 0) AS b FROM records').get() as { n: number; b: number };
    this.records = totals.n;
    this.bytes = totals.b;
    // What a previous run left behind was held back while the gateway was not running.
    if (this.records > 0) this.stmt.markHeld.run();
  }

  /** Commits the entries in one transaction; they are captured when this returns. */
  append(entries: readonly JournalEntry[]): { first: number; last: number } {
    if (entries.length === 0) return { first: this.nextSeq, last: this.nextSeq - 1 };
    const first = this.nextSeq;
    const held = this.heldBack ? 1 : 0;
    let bytes = 0;
    this.db.transaction(() => {
      let seq = first;
      for (const e of entries) {
        this.stmt.insert.run(seq++, e.capturedAt, e.key, e.type, e.value, held);
        bytes += e.key.length + e.value.length;
      }
      this.stmt.setNextSeq.run(seq);
    })();
    this.nextSeq = first + entries.length;
    this.records += entries.length;
    this.bytes += bytes;
    for (const listener of this.appendListeners) listener();
    return { first, last: this.nextSeq - 1 };
  }

  /** Up to `limit` records with seq above `afterSeq`, oldest first. */
  peek(afterSeq: number, limit: number): JournalRecord[] {
    const rows = this.stmt.peek.all(afterSeq, limit) as Array<{
      seq: number; captured_at: number; key: string; type: RecordType; value: string; held: number;
    }>;
    return rows.map((r) => ({ seq: r.seq, capturedAt: r.captured_at, key: r.key, type: r.type, value: r.value, held: r.held === 1 }));
  }

  /** Deletes records first..last: call only once Kafka acknowledged all of them. */
  ack(first: number, last: number): void {
    this.db.transaction(() => {
      const gone = this.stmt.delBytes.get(first, last) as { n: number; b: number };
      this.stmt.del.run(first, last);
      this.records -= gone.n;
      this.bytes -= gone.b;
    })();
  }

  /**
   * Marks what the journal holds, and what it takes from now on, as held back by an outage, until
   * setHeldBack(false). Records carry the flag to Kafka as `edge.historical`.
   */
  setHeldBack(held: boolean): void {
    if (held) this.stmt.markHeld.run();
    this.heldBack = held;
  }

  onAppend(listener: () => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  stats(): JournalStats {
    const oldest = this.records > 0 ? (this.stmt.oldest.get() as { captured_at: number } | undefined) : undefined;
    const page = this.db.pragma('page_count', { simple: true }) as number;
    const size = this.db.pragma('page_size', { simple: true }) as number;
    return { records: this.records, bytes: this.bytes, oldestCapturedAt: oldest?.captured_at ?? null, nextSeq: this.nextSeq, fileBytes: page * size };
  }

  close(): void {
    if (!this.db.open) return;
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}
