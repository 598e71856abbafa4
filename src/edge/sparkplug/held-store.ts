// Data held for historical publishing on MQTT while the session or the primary host is down. It lives in memory
// and is mirrored to `data_dir/held.db`, so that a gateway restarted during an outage of the site broker or of the
// SCADA still hands the SCADA its history once it is back. The journal and Kafka keep everything regardless; this
// file only serves MQTT subscribers, so when it cannot be used the data stays in memory and the gateway goes on.
import { existsSync, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Metric } from './codec.js';

interface Entry {
  id: number;
  device: string;
  metric: Metric;
}

// JSON holds neither bigints (64-bit values) nor NaN and ±Infinity (a float register reporting a sensor fault).
const toJson = (metric: Metric) =>
  JSON.stringify(metric, (_k, v: unknown) => (typeof v === 'bigint' ? { $bigint: v.toString() } : typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v));
const fromJson = (text: string) =>
  JSON.parse(text, (_k, v: unknown) => {
    if (v === null || typeof v !== 'object') return v;
    const o = v as { $bigint?: unknown; $number?: unknown };
    if (typeof o.$bigint === 'string') return BigInt(o.$bigint);
    if (typeof o.$number === 'string') return Number(o.$number);
    return v;
  }) as Metric;

/** The database file and SQLite's companions, which belong to it. */
const FILES = (file: string) => [file, `${file}-wal`, `${file}-shm`];

export class HeldStore {
  private entries: Entry[] = [];
  private nextId = 1;
  private db: Database.Database | undefined;
  private insert: Database.Statement | undefined;
  /** Metrics dropped beyond the bound, oldest first. */
  dropped = 0;

  private constructor(
    private readonly file: string | undefined,
    private readonly max: number,
    private readonly log: Logger,
  ) {}

  /** Opens (or creates) the file and reads back what an earlier run held. `file` undefined: memory only. */
  static open(file: string | undefined, max: number, log: Logger): HeldStore {
    const store = new HeldStore(file, max, log);
    if (file !== undefined) store.load(file);
    return store;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Holds metrics (each marked historical); beyond the bound the oldest go. */
  push(device: string, metrics: readonly Metric[]): void {
    const added = metrics.map((m) => ({ id: this.nextId++, device, metric: { ...m, isHistorical: true } }));
    this.entries.push(...added);
    this.write(() => {
      for (const e of added) this.insert!.run(e.id, e.device, toJson(e.metric));
    });
    if (this.entries.length > this.max) this.drop(this.entries.length - this.max);
  }

  /** Everything held for one device, oldest first; it leaves the store. */
  take(device: string): Metric[] {
    const mine = this.entries.filter((e) => e.device === device);
    if (mine.length === 0) return [];
    this.entries = this.entries.filter((e) => e.device !== device);
    this.write((db) => db.prepare('DELETE FROM held WHERE device = ?').run(device));
    return mine.map((e) => e.metric);
  }

  /** Drops what belongs to devices or tags no longer configured (or of another datatype now); returns how many went. */
  retain(keep: (device: string, metric: Metric) => boolean): number {
    const gone = this.entries.filter((e) => !keep(e.device, e.metric));
    if (gone.length === 0) return 0;
    const ids = new Set(gone.map((e) => e.id));
    this.entries = this.entries.filter((e) => !ids.has(e.id));
    this.write((db) => {
      const del = db.prepare('DELETE FROM held WHERE id = ?');
      for (const id of ids) del.run(id);
    });
    return gone.length;
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }

  private drop(n: number): void {
    const last = this.entries[n - 1]!.id;
    this.entries.splice(0, n);
    this.dropped += n;
    this.write((db) => db.prepare('DELETE FROM held WHERE id <= ?').run(last));
  }

  /**
   * One transaction. A file that fails is given up and removed (logged once): the data stays in memory, and a later
   * start must not read back rows that were published or dropped meanwhile.
   */
  private write(change: (db: Database.Database) => unknown): void {
    const db = this.db;
    if (!db) return;
    try {
      db.transaction(() => change(db))();
    } catch (err) {
      this.log.error({ file: this.file, err: (err as Error).message }, 'The file of data held for MQTT cannot be written; it is removed and held data stays in memory only (the journal and Kafka keep everything).');
      this.close();
      try {
        for (const f of FILES(this.file!)) rmSync(f, { force: true });
      } catch (again) {
        this.log.error({ file: this.file, err: (again as Error).message }, 'The file of data held for MQTT cannot be removed either; remove it before the next start, or it publishes stale history.');
      }
    }
  }

  private load(file: string): void {
    try {
      this.db = this.openFile(file);
    } catch (err) {
      const movedTo = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      this.log.error({ file, movedTo, err: (err as Error).message }, 'The file of data held for MQTT cannot be read; it is moved aside and a fresh one started (the journal and Kafka keep everything).');
      try {
        const moved = FILES(movedTo);
        FILES(file).forEach((f, i) => {
          if (existsSync(f)) renameSync(f, moved[i]!);
        });
        this.db = this.openFile(file);
      } catch (again) {
        this.log.error({ file, err: (again as Error).message }, 'The file of data held for MQTT cannot be used; held data stays in memory only.');
        this.db = undefined;
        return;
      }
    }
    const rows = this.db.prepare('SELECT id, device, metric FROM held ORDER BY id').all() as Array<{ id: number; device: string; metric: string }>;
    const unreadable: number[] = [];
    for (const r of rows) {
      try {
        this.entries.push({ id: r.id, device: r.device, metric: fromJson(r.metric) });
      } catch {
        unreadable.push(r.id);
      }
    }
    if (unreadable.length > 0) {
      this.log.error({ file, rows: unreadable.length }, 'Rows of data held for MQTT could not be read back and are dropped (the journal and Kafka keep everything).');
      this.write((db) => {
        const del = db.prepare('DELETE FROM held WHERE id = ?');
        for (const id of unreadable) del.run(id);
      });
    }
    this.nextId = (rows.at(-1)?.id ?? 0) + 1;
    if (this.entries.length > this.max) this.drop(this.entries.length - this.max);
    if (this.entries.length > 0) this.log.info({ metrics: this.entries.length }, 'Data held for MQTT before the restart is kept; it is published as historical after the next births.');
  }

  private openFile(file: string): Database.Database {
    const db = new Database(file);
    try {
      if (db.pragma('quick_check', { simple: true }) !== 'ok') throw new Error('the file fails SQLite\'s quick_check');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec('CREATE TABLE IF NOT EXISTS held (id INTEGER PRIMARY KEY, device TEXT NOT NULL, metric TEXT NOT NULL)');
      db.exec('CREATE INDEX IF NOT EXISTS held_device ON held (device)');
      this.insert = db.prepare('INSERT INTO held (id, device, metric) VALUES (?, ?, ?)');
      return db;
    } catch (err) {
      db.close();
      throw err;
    }
  }
}
