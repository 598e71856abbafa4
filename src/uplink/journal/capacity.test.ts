import { mkdtempSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from './journal.js';
import { capacityHours, journalFilesBytes, resolveJournalBound } from './capacity.js';

const free = (dir: string) => {
  const fs = statfsSync(dir);
  return fs.bavail * fs.bsize;
};

describe('the journal bound as a share of the disk', () => {
  it('is that share of the free space statfs reports on data_dir\'s file system plus the journal files\' size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bound-'));
    const file = join(dir, 'journal.db');
    writeFileSync(file, Buffer.alloc(300_000));
    writeFileSync(`${file}-wal`, Buffer.alloc(70_000));
    writeFileSync(join(dir, 'held.db'), Buffer.alloc(50_000)); // not the journal's: space used like any other file
    expect(journalFilesBytes(file)).toBe(370_000);
    // Other programs write to this disk meanwhile: the answer lies between what statfs says before and after.
    const before = free(dir);
    const r = resolveJournalBound({ percent: 12.5 }, dir, file);
    const after = free(dir);
    expect(r.measuredAt).toBe(dir);
    expect(r.room).toBeGreaterThanOrEqual(Math.min(before, after) + 370_000);
    expect(r.room).toBeLessThanOrEqual(Math.max(before, after) + 370_000);
    expect(r.maxBytes).toBe(Math.floor((r.room! * 12.5) / 100));
  });

  it('counts a real journal\'s file, WAL and shared memory, and grows no smaller as the journal fills the disk', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bound-'));
    const file = join(dir, 'journal.db');
    expect(journalFilesBytes(file)).toBe(0);
    const j = new Journal(file);
    const roomEmpty = resolveJournalBound({ percent: 50 }, dir, file).room!;
    for (let i = 0; i < 20; i++) j.append(Array.from({ length: 500 }, (_, k) => ({ key: 'g/n/d', type: 'data' as const, value: `{"i":${i * 500 + k},"pad":"${'x'.repeat(200)}"}`, capturedAt: 1000 + k })));
    const files = [file, `${file}-wal`, `${file}-shm`].map((f) => statSync(f).size);
    expect(files.every((n) => n > 0)).toBe(true);
    expect(journalFilesBytes(file)).toBe(files.reduce((a, b) => a + b, 0));
    expect(journalFilesBytes(file)).toBeGreaterThan(2_000_000);
    // The journal's own growth is room it may use: only other programs' writes (some MB at most) move the figure.
    const roomFull = resolveJournalBound({ percent: 50 }, dir, file).room!;
    expect(Math.abs(roomFull - roomEmpty)).toBeLessThan(Math.max(64e6, roomEmpty * 0.001));
    j.close();
  });

  it('measures a data_dir not made yet on its nearest existing parent, and passes bytes through as they are', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bound-'));
    const r = resolveJournalBound({ percent: 80 }, join(dir, 'not', 'yet'), join(dir, 'not', 'yet', 'journal.db'));
    expect(r.measuredAt).toBe(dir);
    expect(r.maxBytes).toBeGreaterThan(0);
    expect(resolveJournalBound(5_000_000, join(dir, 'x'), join(dir, 'x', 'journal.db'))).toEqual({ maxBytes: 5_000_000, room: null, measuredAt: null });
  });
});

describe('capacity in hours', () => {
  it('is bound / bytes per sample / samples per second, and unknown at no capture', () => {
    expect(capacityHours(36e6, 10, 1)).toBe(1000);
    expect(capacityHours(36e6, 10, 0)).toBeNull();
  });
});
