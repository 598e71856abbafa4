// A record damaged in place inside the SQLite file (a flipped byte on the card, a write by something else) is
// never sent altered: peek sets it aside, counts it, and a gap announces its seq.
import Database from 'better-sqlite3';
import { closeSync, mkdtempSync, openSync, readFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal, openJournal, type Gap, type JournalEntry } from './journal.js';

const gapEntry = (g: Gap): JournalEntry => ({ key: 'g/n', type: 'gap', value: JSON.stringify({ type: 'gap', ...g }), capturedAt: Date.now() });
const entry = (i: number): JournalEntry => ({ key: 'g/n/d', type: 'data', value: `{"i":${i},"historical":false,"mark":"record-${String(i).padStart(4, '0')}-${'v'.repeat(40)}"}`, capturedAt: 1000 + i });
const newFile = () => join(mkdtempSync(join(tmpdir(), 'journal-checksum-')), 'journal.db');

function expectSetAside(journal: Journal, seq: number, all: number): void {
  const first = journal.peek(0, 1000);
  expect(first.map((r) => r.seq)).toEqual(Array.from({ length: all }, (_, i) => i + 1).filter((s) => s !== seq));
  // The announcement is a record of its own, behind them.
  const rows = journal.peek(0, 1000);
  expect(rows.slice(0, -1)).toEqual(first);
  const gaps = rows.filter((r) => r.type === 'gap').map((r) => JSON.parse(r.value) as Gap);
  expect(gaps).toEqual([expect.objectContaining({ reason: 'journal_damaged', from: seq, to: seq, count: 1, ranges: [[seq, seq]] })]);
  expect(journal.stats()).toMatchObject({ checksumMismatches: 1, deadLetters: 1, dropped: expect.objectContaining({ journal_damaged: 1 }) });
  // Set aside for a person to look at, altered as it was found.
  const raw = new Database(journal.file, { readonly: true });
  const dead = raw.prepare('SELECT seq, reason, value FROM dead_letters').all() as Array<{ seq: number; reason: string; value: string }>;
  raw.close();
  expect(dead).toEqual([expect.objectContaining({ seq, reason: 'checksum mismatch' })]);
  expect(dead[0]!.value).not.toBe(entry(seq).value);
  // Read again: nothing more is set aside or announced.
  expect(journal.peek(0, 1000)).toEqual(rows);
  expect(journal.stats().checksumMismatches).toBe(1);
}

describe('record checksums', () => {
  it('a byte flipped inside the database file: the record is set aside, counted and announced', () => {
    const file = newFile();
    const j = new Journal(file, { gapEntry });
    j.append(Array.from({ length: 10 }, (_, i) => entry(i + 1)));
    j.close(); // checkpointed: the rows are in journal.db itself
    const bytes = readFileSync(file);
    // Every copy: a page split can leave a stale one on a free page.
    const copies: number[] = [];
    for (let at = bytes.indexOf('record-0007-'); at >= 0; at = bytes.indexOf('record-0007-', at + 1)) copies.push(at);
    expect(copies.length).toBeGreaterThan(0);
    const fd = openSync(file, 'r+');
    for (const at of copies) writeSync(fd, Buffer.from('X'), 0, 1, at + 'record-0007-'.length + 3);
    closeSync(fd);
    const { journal, quarantined } = openJournal(file, { gapEntry });
    expect(quarantined).toBeUndefined(); // SQLite's own check does not see it
    expectSetAside(journal, 7, 10);
    journal.close();
  });

  it('a value changed by another connection without its checksum: set aside, never forwarded', () => {
    const file = newFile();
    const j = new Journal(file, { gapEntry });
    j.append(Array.from({ length: 10 }, (_, i) => entry(i + 1)));
    const other = new Database(file);
    other.prepare("UPDATE records SET value = replace(value, '\"i\":3', '\"i\":4') WHERE seq = 3").run();
    other.close();
    expectSetAside(j, 3, 10);
    j.close();
  });

  it('a journal written before checksums keeps working: its rows are read as they are, new rows are checked', () => {
    const file = newFile();
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    old.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
      INSERT INTO meta (key, value) VALUES ('next_seq', 3);
      CREATE TABLE dead_letters (seq INTEGER PRIMARY KEY, captured_at INTEGER NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL, dead_at INTEGER NOT NULL) STRICT;
      CREATE TABLE records (seq INTEGER PRIMARY KEY, captured_at INTEGER NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL) STRICT;
    `);
    for (const seq of [1, 2]) old.prepare('INSERT INTO records VALUES (?, ?, ?, ?, ?)').run(seq, 1000 + seq, 'g/n/d', 'data', entry(seq).value);
    old.close();
    const { journal } = openJournal(file, { gapEntry });
    expect(journal.append([entry(3)]).first).toBe(3);
    expect(journal.peek(0, 10).map((r) => [r.seq, r.value])).toEqual([1, 2, 3].map((s) => [s, entry(s).value]));
    journal.close();
    const other = new Database(file);
    other.prepare("UPDATE records SET value = 'x' WHERE seq = 3").run();
    other.close();
    const again = new Journal(file, { gapEntry });
    expect(again.peek(0, 10).filter((r) => r.type === 'data').map((r) => r.seq)).toEqual([1, 2]);
    expect(again.stats().checksumMismatches).toBe(1);
    again.close();
  });
});
