// A housekeeping job that keeps failing is logged once, when it starts failing, not at every scheduled run.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { startHousekeeping } from './housekeeping.js';
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
});
