// A housekeeping job that keeps failing is logged once, when it starts failing, not at every scheduled run.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { applyBound, startHousekeeping } from './housekeeping.js';
import type { JournalBound } from './capacity.js';
import { Journal } from './journal.js';

describe('housekeeping logs', () => {
  it('logs a job that fails at every run once', async () => {
    const lines: Array<{ level: number; job?: string; msg: string }> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const j = new Journal(join(mkdtempSync(join(tmpdir(), 'hk-log-')), 'journal.db'));
    j.close(); // every checkpoint and vacuum now throws: the database connection is not open
    // Every second (node-cron's optional seconds field); prune never runs in this test.
    const stop = startHousekeeping(j, { prune: '0 0 1 1 *', checkpoint: '* * * * * *', vacuum: '* * * * * *' }, 60_000, pino(sink));
    await new Promise((r) => setTimeout(r, 3500));
    stop();
    const failures = lines.filter((l) => l.level === 40);
    expect(failures.map((l) => l.job).sort()).toEqual(['checkpoint', 'vacuum']);
    expect(failures[0]!.msg).toMatch(/^Housekeeping job \w+ failed; it runs again on schedule\.$/);
  });

  it('tells of a new journal bound once, and warns when it falls below what the journal holds', () => {
    const lines: Array<{ level: number; msg: string; maxBytes: number }> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const dir = mkdtempSync(join(tmpdir(), 'hk-bound-'));
    const file = join(dir, 'journal.db');
    const j = new Journal(file);
    j.append([{ key: 'g/n/d', type: 'data', value: `{"pad":"${'x'.repeat(2000)}"}`, capturedAt: 1 }]);
    let setting: JournalBound = { percent: 50 };
    const source = { bound: () => setting, dataDir: dir, journalFile: file };
    const first = applyBound(j, source, pino(sink));
    expect(j.stats().maxBytes).toBe(first.maxBytes);
    expect(lines).toMatchObject([{ level: 30, maxBytes: first.maxBytes, msg: expect.stringMatching(/^The journal's bound is now \d+ bytes, 50% of the \d+ bytes the journal could have on /) }]);
    applyBound(j, source, pino(sink));
    expect(lines).toHaveLength(1); // the same disk a moment later: nothing to tell
    setting = 100;
    applyBound(j, source, pino(sink));
    expect(j.stats().maxBytes).toBe(100);
    expect(lines[1]).toMatchObject({ level: 40, maxBytes: 100, msg: expect.stringMatching(/^The journal's bound is now 100 bytes, less than the \d+ bytes it holds: records are dropped as buffer\.when_full says/) });
    j.close();
  });
});
