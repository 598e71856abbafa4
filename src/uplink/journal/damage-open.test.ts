// What a power cut on an SD card leaves, on real SQLite files: a zero-length database, a WAL deleted, zeroed or
// overwritten, garbage in database pages, a damaged side file. After each, the journal never hands out an
// edge.seq twice, and a gap record names exactly the seqs that neither Kafka acknowledged nor the journal holds.
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal, openJournal, type Gap, type JournalEntry, type OpenedJournal } from './journal.js';
import { parseSide } from './side-file.js';

const gapEntry = (g: Gap): JournalEntry => ({ key: 'g/n', type: 'gap', value: JSON.stringify({ type: 'gap', ...g }), capturedAt: Date.now() });
const entry = (i: number): JournalEntry => ({ key: 'g/n/d', type: 'data', value: `{"i":${i},"historical":false,"pad":"${'p'.repeat(200)}"}`, capturedAt: 1000 + i });
const newFile = () => join(mkdtempSync(join(tmpdir(), 'journal-damage-')), 'journal.db');
const SUFFIXES = ['', '-wal', '-shm', '.seq'];

/** A copy of the files as they are on disk right now, the journal still open: what a crash leaves. */
function crashImage(file: string): string {
  const copy = newFile();
  for (const s of SUFFIXES) if (existsSync(file + s)) copyFileSync(file + s, copy + s);
  return copy;
}

function overwrite(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ackedOnDisk = (file: string) => {
  const r = parseSide(readFileSync(`${file}.seq`, 'utf8'));
  return r.kind === 'ok' ? r.state.acked : -1;
};

/**
 * 1..40 checkpointed into the database file, 41..60 only in the WAL, 1..30 acknowledged (and the mark on disk).
 * Returns the journal still open.
 */
async function history(file: string): Promise<{ journal: Journal; handedOut: number; acked: number }> {
  const journal = new Journal(file, { gapEntry, ackMarkIntervalMs: 200 });
  journal.append(Array.from({ length: 40 }, (_, i) => entry(i + 1)));
  journal.checkpoint();
  journal.append(Array.from({ length: 10 }, (_, i) => entry(i + 41)));
  journal.ack(1, 30);
  journal.append(Array.from({ length: 10 }, (_, i) => entry(i + 51)));
  await until('the acknowledged mark in the side file', () => ackedOnDisk(file) === 30);
  return { journal, handedOut: 60, acked: 30 };
}

/** Every seq the reopened journal announces lost, from its gap records. */
function announced(opened: OpenedJournal): Set<number> {
  const seqs = new Set<number>();
  for (const r of opened.journal.peek(0, 100_000)) {
    if (r.type !== 'gap') continue;
    for (const [a, b] of (JSON.parse(r.value) as Gap).ranges) for (let s = a; s <= b; s++) seqs.add(s);
  }
  return seqs;
}

/**
 * After the damage: the next seq is above everything handed out; the gap names every seq above the acked mark
 * that the journal no longer holds, none it holds, none at or below the mark; what it names beyond the last seq
 * handed out was reserved and never used, and lies below the next seq.
 */
function expectSafe(opened: OpenedJournal, handedOut: number, acked: number, lossExpected: boolean): void {
  const { journal } = opened;
  const held = new Set(journal.peek(0, 100_000).filter((r) => r.type !== 'gap').map((r) => r.seq));
  const gaps = announced(opened);
  const next = journal.append([entry(999)]).first;
  expect(next).toBeGreaterThan(handedOut);
  for (let s = acked + 1; s <= handedOut; s++) expect(held.has(s) || gaps.has(s), `seq ${s} neither held nor announced`).toBe(true);
  for (const s of gaps) {
    expect(s, 'announced at or below the acknowledged mark').toBeGreaterThan(acked);
    expect(held.has(s), `seq ${s} announced but still held`).toBe(false);
    expect(s).toBeLessThan(next);
  }
  if (lossExpected) {
    expect(gaps.size).toBeGreaterThan(0);
    const { dropped } = journal.stats();
    expect(dropped.journal_damaged + dropped.corrupt_journal).toBe(gaps.size);
  } else {
    expect(gaps.size).toBe(0);
  }
  journal.close();
}

describe('journal damage that SQLite does not notice', () => {
  it('a zero-length journal.db after an orderly stop: the loss is announced exactly, from the acked mark', async () => {
    const file = newFile();
    const { journal, handedOut, acked } = await history(file);
    journal.close();
    truncateSync(file, 0);
    const opened = openJournal(file, { gapEntry });
    expect(opened.damaged?.why).toMatch(/replaced by an empty one/);
    // An orderly stop left the exact next seq: the gap is 31..60, not a seq more.
    expect([...announced(opened)].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 31));
    expectSafe(opened, handedOut, acked, true);
  });

  for (const [name, damage] of [
    ['a deleted -wal', (f: string) => rmSync(`${f}-wal`)],
    ['a zero-length -wal', (f: string) => truncateSync(`${f}-wal`, 0)],
    ['a -wal of garbage', (f: string) => writeFileSync(`${f}-wal`, randomBytes(statSync(`${f}-wal`).size))],
    ['garbage in the middle of the -wal', (f: string) => overwrite(`${f}-wal`, Math.floor(statSync(`${f}-wal`).size / 2), randomBytes(512))],
    ['a zero-length journal.db under its WAL', (f: string) => truncateSync(f, 0)],
  ] as const) {
    it(`${name} after a crash: seqs continue above the reserved ceiling and the lost ones are announced`, async () => {
      const file = newFile();
      const { journal, handedOut, acked } = await history(file);
      const image = crashImage(file);
      journal.close();
      damage(image);
      const opened = openJournal(image, { gapEntry });
      expect(opened.damaged ?? opened.quarantined).toBeDefined();
      expectSafe(opened, handedOut, acked, true);
    });
  }

  it('garbage over journal.db pages: the file is set aside and the gap starts after the acked mark', async () => {
    const file = newFile();
    const { journal, handedOut, acked } = await history(file);
    journal.close();
    overwrite(file, 4096, randomBytes(statSync(file).size - 4096));
    const opened = openJournal(file, { gapEntry });
    expect(opened.quarantined).toBeDefined();
    expect(existsSync(opened.quarantined!.movedTo)).toBe(true);
    expect(opened.quarantined!.from).toBe(acked + 1);
    expectSafe(opened, handedOut, acked, true);
  });

  it('an undamaged crash (kill -9) loses nothing and announces nothing', async () => {
    const file = newFile();
    const { journal, handedOut, acked } = await history(file);
    const image = crashImage(file);
    journal.close();
    const opened = openJournal(image, { gapEntry });
    expect(opened.damaged).toBeUndefined();
    expect(opened.journal.peek(0, 100).map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 31));
    expectSafe(opened, handedOut, acked, false);
  });

  for (const [name, damage] of [
    ['deleted', (f: string) => rmSync(`${f}.seq`)],
    ['zero length', (f: string) => truncateSync(`${f}.seq`, 0)],
    ['garbage', (f: string) => writeFileSync(`${f}.seq`, randomBytes(64))],
    ['one digit changed', (f: string) => writeFileSync(`${f}.seq`, readFileSync(`${f}.seq`, 'utf8').replace(/"ceiling":(\d)/, (_m, d) => `"ceiling":${(Number(d) + 1) % 10}`))],
  ] as const) {
    it(`a side file ${name}: the database still knows its next seq, after a crash and after an orderly stop`, async () => {
      for (const crash of [true, false]) {
        const file = newFile();
        const { journal, handedOut, acked } = await history(file);
        const image = crash ? crashImage(file) : file;
        journal.close();
        damage(image);
        const opened = openJournal(image, { gapEntry });
        expect(opened.damaged).toBeUndefined();
        expectSafe(opened, handedOut, acked, false);
        // The side file is written anew at open.
        expect(parseSide(readFileSync(`${image}.seq`, 'utf8')).kind).toBe('ok');
      }
    });
  }

  it('the side file and the WAL both gone after a crash: seqs jump far past everything on disk, the loss is announced', async () => {
    const file = newFile();
    const { journal, handedOut } = await history(file);
    const image = crashImage(file);
    journal.close();
    rmSync(`${image}.seq`);
    rmSync(`${image}-wal`);
    const opened = openJournal(image, { gapEntry });
    expect(opened.damaged?.why).toMatch(/side file is missing/);
    // The acked mark went with the side file: the database's own state (1..40 held, as checkpointed) bounds it.
    expectSafe(opened, handedOut, 0, true);
  });

  it('a seq no journal reaches, read from a damaged file: the file is set aside, and seqs stay exact numbers', async () => {
    const file = newFile();
    const { journal, handedOut, acked } = await history(file);
    journal.close();
    // Garbage that SQLite reads as a row: 7.4e18 is past 2^53, where seq + 1 === seq in a double.
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(file);
    raw.prepare("INSERT INTO records (seq, captured_at, type, key, value) VALUES (7415639270733328000, 1, 0, 'g/n/d', '{}')").run();
    raw.close();
    const opened = openJournal(file, { gapEntry });
    expect(opened.quarantined?.error).toMatch(/implausible seq/);
    const next = opened.journal.stats().nextSeq;
    expect(Number.isSafeInteger(next) && next < 2 ** 50).toBe(true);
    const { first, last } = opened.journal.append([entry(1), entry(2)]);
    expect(last).toBe(first + 1);
    expectSafe(opened, handedOut, acked, true);
  });
});
