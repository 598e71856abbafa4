import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { checkpoint, prune, vacuum } from './housekeeping.js';
import { Journal, type JournalEntry } from './journal.js';

const log = pino({ level: 'silent' });
const row = (i: number): JournalEntry => ({ key: 'g/n/d', type: 'data', value: `{"i":${i},"pad":"${'x'.repeat(500)}"}`, capturedAt: i });

describe('journal housekeeping', () => {
  it('checkpoints the WAL and gives the pages of delivered records back to the file system', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hk-')), 'journal.db');
    const j = new Journal(file);
    for (let i = 0; i < 20; i++) j.append(Array.from({ length: 500 }, (_, k) => row(i * 500 + k)));
    j.ack(1, 10_000);
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);
    checkpoint(j, log);
    expect(statSync(`${file}-wal`).size).toBe(0); // TRUNCATE: the WAL is folded back and emptied
    const before = statSync(file).size;
    expect(j.freePages()).toBeGreaterThan(1000);
    const freed = await vacuum(j, log);
    expect(freed).toBeGreaterThan(1000);
    expect(j.freePages()).toBe(0);
    checkpoint(j, log);
    expect(statSync(file).size).toBeLessThan(before / 4);
    j.close();
  });

  it('prunes by age with an announcement', () => {
    const j = new Journal(join(mkdtempSync(join(tmpdir(), 'hk-')), 'journal.db'), {
      gapEntry: (g) => ({ key: 'g/n', type: 'gap', value: JSON.stringify({ type: 'gap', ...g }), capturedAt: Date.now() }),
    });
    const now = Date.now();
    j.append([{ ...row(1), capturedAt: now - 10_000 }, { ...row(2), capturedAt: now }]);
    expect(prune(j, 5_000, log)).toBe(1);
    expect(j.peek(0, 10).map((r) => r.type)).toEqual(['data', 'gap']);
    j.close();
  });
});
