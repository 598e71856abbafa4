// The journal stores messages compactly and forwards the same JSON the plain format did; a journal written in
// the plain format is moved into the compact one at its first open, losing nothing and reusing no seq.
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal, openJournal, type Gap, type JournalEntry } from './journal.js';
import { recordChecksum } from './checksum.js';
import { markHistorical, renderJson, type ContractMessage } from './compact.js';

const tmpFile = () => join(mkdtempSync(join(tmpdir(), 'journal-compact-')), 'journal.db');
const gapEntry = (g: Gap): JournalEntry => ({ key: 'plant/gw', type: 'gap', value: JSON.stringify({ type: 'gap', ...g }), capturedAt: Date.now() });

function message(i: number, device = `plc${i % 3}`): ContractMessage {
  const timestamp = 1_750_000_000_000 + i * 100;
  return {
    type: i % 50 === 0 ? 'birth' : 'data', group: 'plant', node: 'gw', device, timestamp,
    metrics: Array.from({ length: 10 }, (_, k) => ({ name: `line/tag${k}`, timestamp, datatype: k === 9 ? 'Boolean' : 'Float', value: k === 9 ? i % 2 === 0 : Math.fround(i * 0.37 + k), quality: 'good' as const })),
  };
}
const entry = (i: number): JournalEntry => {
  const m = message(i);
  return { key: `plant/gw/${m.device}`, type: m.type, message: m, capturedAt: m.timestamp + 2, samples: m.metrics.length };
};

describe('compact journal', () => {
  it('forwards the JSON of the plain format, across reopening, at a fraction of its bytes', () => {
    const file = tmpFile();
    const j = new Journal(file);
    const entries = Array.from({ length: 2000 }, (_, i) => entry(i));
    for (let i = 0; i < entries.length; i += 100) j.append(entries.slice(i, i + 100));
    const plainBytes = entries.reduce((n, e) => n + e.key.length + renderJson(e.message!).length, 0);
    const stats = j.stats();
    expect(stats.records).toBe(2000);
    // 10 samples a record: the compact row counts under a fifth of the JSON's characters.
    expect(stats.bytes).toBeLessThan(plainBytes / 5);
    expect(stats.bytesPerSample).toBeLessThan(12);
    j.close();
    const again = new Journal(file);
    const out = again.peek(0, 5000);
    expect(out.map((r) => r.seq)).toEqual(entries.map((_, i) => i + 1));
    out.forEach((r, i) => {
      expect(r.key).toBe(entries[i]!.key);
      expect(r.type).toBe(entries[i]!.type);
      // Reopened: held back, and written as Kafka receives it then.
      expect(r.held).toBe(true);
      expect(r.value).toBe(markHistorical(renderJson(entries[i]!.message!)));
    });
    expect(again.stats()).toMatchObject({ records: 2000, bytes: stats.bytes });
    again.close();
  });

  it('keeps its counts through acknowledgements, drops and crashes, so that open reads no backlog', async () => {
    const file = tmpFile();
    const j = new Journal(file, { maxBytes: 20_000, whenFull: 'drop_oldest', gapEntry });
    for (let i = 0; i < 600; i += 20) j.append(Array.from({ length: 20 }, (_, k) => entry(i + k)));
    j.ack(j.peek(0, 1)[0]!.seq, j.peek(0, 1)[0]!.seq + 9);
    // The deletion rides with the next commit, or follows within two commit intervals (0 here).
    await new Promise((r) => setTimeout(r, 20));
    const before = j.stats();
    // No close: the next open sees what a crash leaves.
    const recount = () => {
      const db = new Database(file, { readonly: true });
      const r = db.prepare('SELECT count(*) AS n, coalesce(sum(coalesce(length(data) + 27, length(key) + length(value))), 0) AS b FROM records').get();
      db.close();
      return r as { n: number; b: number };
    };
    expect(recount()).toEqual({ n: before.records, b: before.bytes });
    const again = new Journal(file, { maxBytes: 20_000, whenFull: 'drop_oldest', gapEntry });
    expect(again.stats()).toMatchObject({ records: before.records, bytes: before.bytes });
    expect(before.dropped.max_bytes).toBeGreaterThan(0);
    again.close();
    j.close();
  });

  it('sets aside a compact record altered in the file, and one whose dictionary entry was damaged, announcing both', () => {
    const file = tmpFile();
    const j = new Journal(file, { gapEntry });
    j.append(Array.from({ length: 10 }, (_, i) => entry(i)));
    const raw = new Database(file);
    const data = raw.prepare('SELECT data FROM records WHERE seq = 4').pluck().get() as Buffer;
    data[data.length - 2] ^= 0x10;
    raw.prepare('UPDATE records SET data = ? WHERE seq = 4').run(data);
    j.close();
    raw.close();
    // A dictionary entry changed in place: every record naming it can no longer be written out as it was.
    const raw2 = new Database(file);
    const metricEntry = raw2.prepare("SELECT id FROM dictionary WHERE entry LIKE '[\"m\",\"line/tag3\"%'").pluck().get() as number;
    raw2.prepare("UPDATE dictionary SET entry = replace(entry, 'tag3', 'tagX') WHERE id = ?").run(metricEntry);
    raw2.close();
    const again = openJournal(file, { gapEntry }).journal;
    expect(again.damagedEntries).toBe(1);
    const out = again.peek(0, 100);
    const forwarded = out.filter((r) => r.type !== 'gap');
    expect(forwarded).toHaveLength(0);
    const gaps = again.peek(0, 100).filter((r) => r.type === 'gap').map((r) => JSON.parse(r.value) as Gap);
    expect(gaps.flatMap((g) => g.ranges)).toEqual([[1, 10]]);
    expect(again.stats().checksumMismatches).toBe(10);
    expect(again.stats().deadLetters).toBe(10);
    again.close();
  });

  it('moves a journal of the plain format into the compact one at first open, in order, resuming after a crash', () => {
    const file = tmpFile();
    const plain = new Database(file);
    plain.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
      CREATE TABLE records (seq INTEGER PRIMARY KEY, captured_at INTEGER NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, checksum INTEGER) STRICT;
      INSERT INTO meta VALUES ('next_seq', 45001);
    `);
    const insert = plain.prepare('INSERT INTO records VALUES (?, ?, ?, ?, ?, ?)');
    const value = (seq: number) => renderJson(message(seq));
    plain.transaction(() => {
      // Seqs 1..5000 were acknowledged and deleted; 5001..45000 wait.
      for (let seq = 5001; seq <= 45_000; seq++) {
        const type = seq % 50 === 0 ? 'birth' : 'data';
        insert.run(seq, 1000 + seq, 'plant/gw/plc', type, value(seq), recordChecksum(seq, 1000 + seq, 'plant/gw/plc', type, value(seq)));
      }
    })();
    // A crash in the middle of an earlier move: part of the records are in the new table already.
    plain.exec(`CREATE TABLE records_compact (seq INTEGER PRIMARY KEY, captured_at INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB, key TEXT, value TEXT, checksum INTEGER) STRICT;
      INSERT INTO records_compact SELECT seq, captured_at, CASE type WHEN 'birth' THEN 1 ELSE 0 END, NULL, key, value, checksum FROM records WHERE seq <= 9000;
      DELETE FROM records WHERE seq <= 9000;`);
    plain.close();

    const j = new Journal(file);
    expect(j.migrated).toBe(36_000);
    expect(j.stats().records).toBe(40_000);
    let seq = 5000;
    for (let batch = j.peek(0, 7000); batch.length > 0; batch = j.peek(seq, 7000)) {
      for (const r of batch) {
        seq += 1;
        expect(r.seq).toBe(seq);
        expect(r.value).toBe(value(seq));
        expect(r.type).toBe(seq % 50 === 0 ? 'birth' : 'data');
      }
    }
    expect(seq).toBe(45_000);
    expect(j.stats().checksumMismatches).toBe(0);
    // New records continue above everything the old file handed out, in the compact format.
    expect(j.append([entry(1)]).first).toBe(45_001);
    j.close();
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'records_compact'").pluck().get()).toBe(0);
    expect(db.prepare('SELECT data IS NOT NULL FROM records WHERE seq = 45001').pluck().get()).toBe(1);
    db.close();
  });
});
