// A large journal opens without reading its backlog: SQLite's check runs in a worker thread afterwards, and what
// it finds corrupt is set aside at the next open, as a corrupt file found before use is.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openJournal, type Gap, type JournalEntry } from './journal.js';

const gapEntry = (g: Gap): JournalEntry => ({ key: 'g/n', type: 'gap', value: JSON.stringify({ type: 'gap', ...g }), capturedAt: Date.now() });
const entry = (i: number): JournalEntry => ({ key: 'g/n/d', type: 'data', value: `{"i":${i},"historical":false,"pad":"${'p'.repeat(300)}"}`, capturedAt: 1000 + i });

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('journal integrity check', () => {
  it('checks a large file after open, marks it when corrupt, and the next open sets it aside', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'journal-integrity-')), 'journal.db');
    const first = openJournal(file, { gapEntry }).journal;
    for (let i = 0; i < 5000; i += 500) first.append(Array.from({ length: 500 }, (_, k) => entry(i + k)));
    const nextSeq = first.stats().nextSeq;
    first.close();
    // Pages in the middle of the records' b-tree, overwritten as a failing card might.
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, randomBytes(16 * 4096), 0, 16 * 4096, Math.floor(size / 2 / 4096) * 4096);
    closeSync(fd);

    const told: string[] = [];
    const opened = openJournal(file, { gapEntry, syncCheckBytes: 0, onCorrupt: (why) => told.push(why) });
    expect(opened.quarantined).toBeUndefined();
    await until('the background check to report', () => told.length > 0);
    expect(opened.journal.stats().corrupt).toBe(told[0]);
    expect(existsSync(`${file}.check-failed`)).toBe(true);
    opened.journal.close();

    // Marked: checked before use whatever its size, and set aside; seqs continue above the old file.
    const again = openJournal(file, { gapEntry, syncCheckBytes: 0 });
    expect(again.quarantined?.movedTo).toMatch(/journal\.db\.corrupt-/);
    expect(again.journal.stats().nextSeq).toBeGreaterThan(nextSeq);
    again.journal.close();
    const third = openJournal(file, { gapEntry, syncCheckBytes: 0 });
    expect(third.quarantined).toBeUndefined();
    expect(existsSync(`${file}.check-failed`)).toBe(false);
    third.journal.close();
  });

  it('leaves a sound large file alone', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'journal-integrity-')), 'journal.db');
    const j = openJournal(file, { gapEntry }).journal;
    j.append(Array.from({ length: 2000 }, (_, i) => entry(i)));
    j.close();
    const told: string[] = [];
    const opened = openJournal(file, { gapEntry, syncCheckBytes: 0, onCorrupt: (why) => told.push(why) });
    await new Promise((r) => setTimeout(r, 1500));
    expect(told).toEqual([]);
    expect(opened.journal.peek(0, 5000)).toHaveLength(2000);
    opened.journal.close();
  });
});
