import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal, type JournalEntry } from './journal.js';

const entry = (i: number): JournalEntry => ({ key: 'g/n/d', type: 'data', value: `{"i":${i},"historical":false}`, capturedAt: 1000 + i });
const tmpFile = () => join(mkdtempSync(join(tmpdir(), 'journal-')), 'journal.db');

describe('journal', () => {
  it('hands out edge.seq 1, 2, 3 … and never reuses one after draining empty or reopening', () => {
    const file = tmpFile();
    const j = new Journal(file);
    expect(j.append([entry(1), entry(2), entry(3)])).toEqual({ first: 1, last: 3 });
    j.ack(1, 3);
    expect(j.stats().records).toBe(0);
    // A drained INTEGER PRIMARY KEY table would hand out rowid 1 again; the journal must not.
    expect(j.append([entry(4)])).toEqual({ first: 4, last: 4 });
    j.ack(4, 4);
    j.close();
    const again = new Journal(file);
    expect(again.append([entry(5)])).toEqual({ first: 5, last: 5 });
    expect(again.peek(0, 10).map((r) => r.seq)).toEqual([5]);
    again.close();
  });

  it('keeps what was committed when the process dies without closing (WAL left behind)', () => {
    const file = tmpFile();
    const j = new Journal(file);
    j.append([entry(1), entry(2)]);
    // No close(): a second connection sees the committed rows, as a restarted process would.
    const raw = new Database(file, { readonly: true });
    expect((raw.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n).toBe(2);
    raw.close();
    const reopened = new Journal(file);
    expect(reopened.peek(0, 10).map((r) => r.seq)).toEqual([1, 2]);
    expect(reopened.append([entry(3)]).first).toBe(3);
    reopened.close();
  });

  it('peeks in order and deletes only the acknowledged range', () => {
    const j = new Journal(tmpFile());
    j.append(Array.from({ length: 10 }, (_, i) => entry(i)));
    expect(j.peek(0, 4).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(j.peek(4, 3).map((r) => r.seq)).toEqual([5, 6, 7]);
    j.ack(1, 4);
    expect(j.peek(0, 100).map((r) => r.seq)).toEqual([5, 6, 7, 8, 9, 10]);
    const stats = j.stats();
    expect(stats.records).toBe(6);
    expect(stats.bytes).toBe(j.peek(0, 100).reduce((n, r) => n + r.key.length + r.value.length, 0));
    expect(stats.oldestCapturedAt).toBe(1004);
    j.close();
  });

  it('marks records held back by an outage, present and future, until the uplink recovers', () => {
    const j = new Journal(tmpFile());
    j.append([entry(1)]);
    j.setHeldBack(true);
    j.append([entry(2)]);
    j.setHeldBack(false);
    j.append([entry(3)]);
    expect(j.peek(0, 10).map((r) => r.held)).toEqual([true, true, false]);
    j.close();
  });
});
