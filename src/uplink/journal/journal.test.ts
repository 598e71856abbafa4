import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMIT_SAMPLES, Journal, openJournal, type JournalEntry } from './journal.js';

const entry = (i: number): JournalEntry => ({ key: 'g/n/d', type: 'data', value: `{"i":${i},"historical":false}`, capturedAt: 1000 + i });
const tmpFile = () => join(mkdtempSync(join(tmpdir(), 'journal-')), 'journal.db');

describe('journal', () => {
  it('hands out edge.seq 1, 2, 3 … and never reuses one after draining empty or reopening', () => {
    const file = tmpFile();
    const j = new Journal(file);
    expect(j.append([entry(1), entry(2), entry(3)])).toMatchObject({ first: 1, last: 3 });
    j.ack(1, 3);
    expect(j.stats().records).toBe(0);
    // A drained INTEGER PRIMARY KEY table would hand out rowid 1 again; the journal must not.
    expect(j.append([entry(4)])).toMatchObject({ first: 4, last: 4 });
    j.ack(4, 4);
    j.close();
    const again = new Journal(file);
    expect(again.append([entry(5)])).toMatchObject({ first: 5, last: 5 });
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

describe('journal bounds', () => {
  const gapEntry = (g: { from: number; to: number; count: number; reason: string }): JournalEntry => ({
    key: 'g/n', type: 'gap', value: JSON.stringify({ type: 'gap', ...g }), capturedAt: 1_000_000,
  });
  const sized = (i: number): JournalEntry => ({ key: 'k', type: 'data', value: 'x'.repeat(99), capturedAt: i }); // 100 bytes

  it('drop_oldest keeps the newest data and announces exactly the dropped range', () => {
    const j = new Journal(tmpFile(), { maxBytes: 1000, whenFull: 'drop_oldest', gapEntry });
    for (let i = 1; i <= 10; i++) j.append([sized(i)]); // exactly 1000 bytes: not over
    expect(j.stats().records).toBe(10);
    j.append([sized(11)]); // 1100 > 1000: drop down to 900
    const rows = j.peek(0, 100);
    const gap = rows.find((r) => r.type === 'gap')!;
    expect(JSON.parse(gap.value)).toEqual({ type: 'gap', from: 1, to: 2, count: 2, reason: 'max_bytes', ranges: [[1, 2]] });
    expect(rows.filter((r) => r.type === 'data').map((r) => r.seq)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(gap.seq).toBe(12);
    expect(j.stats().dropped.max_bytes).toBe(2);
    j.close();
  });

  it('never loses an announcement: later drops merge earlier gap records into one', () => {
    const j = new Journal(tmpFile(), { maxBytes: 1000, whenFull: 'drop_oldest', gapEntry });
    for (let i = 1; i <= 40; i++) j.append([sized(i)]);
    const rows = j.peek(0, 1000);
    const gaps = rows.filter((r) => r.type === 'gap').map((r) => JSON.parse(r.value));
    expect(gaps).toHaveLength(1); // merged: one announcement however often it dropped
    const dataSeqs = rows.filter((r) => r.type === 'data').map((r) => r.seq);
    const gapSeqs = new Set(rows.filter((r) => r.type === 'gap').map((r) => r.seq));
    // Every seq handed out is a kept record, an announcement, or inside an announced range.
    const announced = (seq: number) => gaps.some((g) => g.ranges.some(([a, b]: [number, number]) => seq >= a && seq <= b));
    for (let seq = 1; seq < j.stats().nextSeq; seq++) {
      expect(dataSeqs.includes(seq) || gapSeqs.has(seq) || announced(seq)).toBe(true);
    }
    // Exact: the ranges hold the dropped records and the superseded announcements, nothing that is still kept.
    for (const seq of [...dataSeqs, ...gapSeqs]) expect(announced(seq)).toBe(false);
    expect(gaps[0].count).toBe(j.stats().nextSeq - 1 - dataSeqs.length - gapSeqs.size);
    expect(dataSeqs).toContain(j.stats().nextSeq - 1 - (rows.at(-1)!.type === 'gap' ? 1 : 0));
    j.close();
  });

  it('drop_newest keeps the oldest data, gives the refused records seqs, and announces them once there is room', () => {
    const file = tmpFile();
    const j = new Journal(file, { maxBytes: 500, whenFull: 'drop_newest', gapEntry });
    for (let i = 1; i <= 5; i++) expect(j.append([sized(i)]).dropped).toBe(false);
    expect(j.append([sized(6)]).dropped).toBe(true);
    expect(j.append([sized(7), sized(8)])).toEqual({ first: 7, last: 8, dropped: true });
    j.close();
    // The pending announcement survives a restart.
    const again = new Journal(file, { maxBytes: 500, whenFull: 'drop_newest', gapEntry });
    again.ack(1, 2);
    const rows = again.peek(0, 100);
    expect(rows.map((r) => r.seq)).toEqual([3, 4, 5, 9]);
    expect(JSON.parse(rows[3]!.value)).toEqual({ type: 'gap', from: 6, to: 8, count: 3, reason: 'max_bytes', ranges: [[6, 8]] });
    expect(again.append([sized(10)]).first).toBe(10);
    again.close();
  });

  it('prunes records older than a cutoff and announces them', () => {
    const j = new Journal(tmpFile(), { gapEntry });
    j.append([1, 2, 3, 50, 60].map((t) => ({ ...sized(t), capturedAt: t })));
    expect(j.pruneOlderThan(10)).toBe(3);
    const rows = j.peek(0, 100);
    expect(rows.map((r) => r.seq)).toEqual([4, 5, 6]);
    expect(JSON.parse(rows[2]!.value)).toMatchObject({ from: 1, to: 3, count: 3, reason: 'max_age' });
    expect(j.pruneOlderThan(10)).toBe(0);
    j.close();
  });
});

describe('corrupt journal', () => {
  const gapEntry = (g: { from: number; to: number; count: number; reason: string }): JournalEntry => ({
    key: 'g/n', type: 'gap', value: JSON.stringify({ type: 'gap', ...g }), capturedAt: Date.now(),
  });
  const big = (i: number): JournalEntry => ({ key: 'g/n/d', type: 'data', value: `{"i":${i},"pad":"${'p'.repeat(400)}"}`, capturedAt: i });

  for (const [name, damage] of [
    ['garbage over the middle of the file', (file: string) => {
      const fd = openSync(file, 'r+');
      const size = statSync(file).size;
      writeSync(fd, randomBytes(16384), 0, 16384, Math.floor(size / 2));
      closeSync(fd);
    }],
    ['a file that is not a database at all', (file: string) => writeFileSync(file, randomBytes(65536))],
  ] as const) {
    it(`moves ${name} aside, starts fresh above every used seq, and announces the loss`, () => {
      const file = tmpFile();
      const j = new Journal(file);
      j.append(Array.from({ length: 500 }, (_, i) => big(i)));
      j.close();
      damage(file);

      const { journal, quarantined } = openJournal(file, { gapEntry });
      expect(quarantined).toBeDefined();
      expect(existsSync(quarantined!.movedTo)).toBe(true); // kept for forensics, never deleted
      const rows = journal.peek(0, 10);
      expect(rows).toHaveLength(1);
      const gap = JSON.parse(rows[0]!.value);
      expect(gap.reason).toBe('corrupt_journal');
      expect(gap.to).toBeGreaterThanOrEqual(500);
      expect(rows[0]!.seq).toBe(gap.to + 1);
      expect(journal.append([big(1)]).first).toBe(gap.to + 2);
      journal.close();
      // The fresh file is healthy: it opens without quarantine.
      const again = openJournal(file, { gapEntry });
      expect(again.quarantined).toBeUndefined();
      again.journal.close();
    });
  }
});

describe('group commit', () => {
  it('commits what one event-loop turn queued in one transaction, then runs the callbacks in order', async () => {
    const j = new Journal(tmpFile());
    const order: number[] = [];
    let appends = 0;
    j.onAppend(() => appends++);
    for (let i = 1; i <= 5; i++) j.enqueue(entry(i), () => order.push(j.stats().records));
    expect(j.stats().records).toBe(0); // not captured yet: nothing may be published
    await new Promise((r) => setImmediate(r));
    expect(appends).toBe(1);
    expect(order).toEqual([5, 5, 5, 5, 5]);
    expect(j.peek(0, 10).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    j.close();
  });

  it('waits out the commit interval at a low rate, commits at the end of the turn once COMMIT_SAMPLES samples or a birth wait, and tells the watchdog when the commit is due', async () => {
    const j = new Journal(tmpFile(), { commitIntervalMs: 60_000 });
    let appends = 0;
    j.onAppend(() => appends++);
    const turn = () => new Promise((r) => setImmediate(r));
    const sampled = (i: number, samples: number, type: JournalEntry['type'] = 'data'): JournalEntry => ({ ...entry(i), type, samples });
    const before = Date.now();
    j.enqueue(sampled(1, 10));
    await turn();
    await turn();
    expect(appends).toBe(0); // 10 samples wait for the interval
    const p = j.progress();
    expect(p.waiting).toBe(1);
    expect(p.dueAt! - p.waitingSince!).toBe(60_000);
    expect(p.waitingSince!).toBeGreaterThanOrEqual(before);
    // Enough samples: one commit at the end of the turn, holding everything that waited.
    let queued = 1;
    for (let i = 2; 10 * i < COMMIT_SAMPLES; i++, queued++) j.enqueue(sampled(i, 10));
    expect(appends).toBe(0);
    j.enqueue(sampled(99, COMMIT_SAMPLES));
    expect(appends).toBe(0); // not inside the turn: a poll's messages share the commit
    await turn();
    expect(appends).toBe(1);
    expect(j.progress()).toMatchObject({ waiting: 0, waitingSince: null, dueAt: null });
    // A birth does not wait either.
    j.enqueue(sampled(100, 3, 'birth'));
    await turn();
    expect(appends).toBe(2);
    // What waits is committed by flush (an orderly stop) whatever the interval.
    j.enqueue(sampled(101, 1));
    await turn();
    expect(appends).toBe(2);
    j.flush();
    expect(appends).toBe(3);
    expect(j.stats().records).toBe(queued + 3);
    j.close();
  });

  it('keeps messages in memory while the disk refuses writes and commits them when it recovers', async () => {
    const events: boolean[] = [];
    const j = new Journal(tmpFile(), { onWriteError: (_e, failing) => events.push(failing) });
    const real = j.append.bind(j);
    let failing = true;
    j.append = (entries) => {
      if (failing) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return real(entries);
    };
    let published = 0;
    j.enqueue(entry(1), () => published++);
    await new Promise((r) => setImmediate(r));
    expect(published).toBe(0);
    expect(j.stats()).toMatchObject({ records: 0, queued: 1, writeErrors: 1 });
    failing = false;
    await new Promise((r) => setTimeout(r, 1200));
    expect(published).toBe(1);
    expect(j.stats()).toMatchObject({ records: 1, queued: 0 });
    expect(events).toEqual([true, false]);
    j.close();
  });
});
