// The journal file's tables, and the move of a journal written in the plain format (one JSON text per record)
// into the compact one. The move keeps every record as it was (its JSON, its checksum) and goes in small
// transactions, each moving rows and deleting them from the old table, so that a full disk needs little room
// and a crash in the middle resumes at the next open.
import type Database from 'better-sqlite3';

/** Record types as the compact table stores them. */
export const TYPE_CODE = { data: 0, birth: 1, death: 2, gap: 3 } as const;
export const TYPE_NAME = ['data', 'birth', 'death', 'gap'] as const;

/**
 * Bytes a compact record is counted for beyond its data: its other columns, SQLite's cell and page overhead,
 * measured (a file of 10-metric records holds about data + 27 bytes per record), so that `buffer.max_bytes`
 * bounds what the file takes on disk.
 */
export const ROW_OVERHEAD = 27;

/** The bytes a row counts for in `buffer.max_bytes`, in SQL: compact rows their data, plain rows their text. */
export const ROW_BYTES = `coalesce(length(data) + ${ROW_OVERHEAD}, length(key) + length(value))`;

const MOVE_CHUNK = 20_000;

const RECORDS = (name: string) => `
  CREATE TABLE IF NOT EXISTS ${name} (
    seq INTEGER PRIMARY KEY,
    captured_at INTEGER NOT NULL,
    type INTEGER NOT NULL,
    data BLOB,
    key TEXT,
    value TEXT,
    checksum INTEGER
  ) STRICT`;

export interface SchemaOutcome {
  /** Records moved from the plain format at this open. */
  migrated: number;
}

function columns(db: Database.Database, table: string): string[] {
  return (db.pragma(`table_info(${table})`) as Array<{ name: string; type: string }>).map((c) => `${c.name}:${c.type}`);
}

export function prepareSchema(db: Database.Database): SchemaOutcome {
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
    INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', 1);
    CREATE TABLE IF NOT EXISTS dead_letters (
      seq INTEGER PRIMARY KEY,
      captured_at INTEGER NOT NULL,
      key TEXT NOT NULL,
      type TEXT NOT NULL,
      value TEXT NOT NULL,
      reason TEXT NOT NULL,
      dead_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS dictionary (id INTEGER PRIMARY KEY, entry TEXT NOT NULL, checksum INTEGER NOT NULL) STRICT;
  `);
  let migrated = 0;
  const existing = columns(db, 'records');
  const plain = existing.some((c) => c === 'type:TEXT');
  if (plain) {
    // A journal written before checksums: its rows keep checksum NULL, read as "written before checksums".
    if (!existing.some((c) => c.startsWith('checksum:'))) db.exec('ALTER TABLE records ADD COLUMN checksum INTEGER');
    db.exec(RECORDS('records_compact'));
    const move = db.prepare(`
      INSERT INTO records_compact (seq, captured_at, type, key, value, checksum)
      SELECT seq, captured_at, CASE type WHEN 'birth' THEN 1 WHEN 'death' THEN 2 WHEN 'gap' THEN 3 ELSE 0 END, key, value, checksum
      FROM records WHERE seq > ? ORDER BY seq LIMIT ${MOVE_CHUNK}`);
    const last = db.prepare('SELECT max(seq) FROM records_compact').pluck();
    const drop = db.prepare('DELETE FROM records WHERE seq <= ?');
    const step = db.transaction(() => {
      const from = (last.get() as number | null) ?? 0;
      const moved = move.run(from).changes;
      const to = last.get() as number | null;
      if (to !== null) drop.run(to);
      return moved;
    });
    for (let moved = step(); moved > 0; moved = step()) migrated += moved;
    db.transaction(() => {
      db.exec('DROP TABLE records; ALTER TABLE records_compact RENAME TO records');
      // Counts are kept from now on; the next statement computes them once.
      db.exec("DELETE FROM meta WHERE key IN ('records', 'bytes')");
    })();
  } else {
    db.exec(RECORDS('records'));
  }
  // Gap records are few and looked up when drops merge: an index of them alone, not a scan of the backlog.
  db.exec('CREATE INDEX IF NOT EXISTS records_gaps ON records (seq) WHERE type = 3');
  const counted = db.prepare("SELECT count(*) FROM meta WHERE key IN ('records', 'bytes')").pluck().get() as number;
  if (counted < 2) {
    // Once per file (a new one, or one just moved from the plain format): afterwards every commit keeps them.
    const t = db.prepare(`SELECT count(*) AS n, coalesce(sum(${ROW_BYTES}), 0) AS b FROM records`).get() as { n: number; b: number };
    const set = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    db.transaction(() => {
      set.run('records', t.n);
      set.run('bytes', t.b);
    })();
  }
  return { migrated };
}
