// A recurring event is counted every time and logged once per window; the lines account for every count.
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { countedLog, limitedLog } from './limited-log.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk)) as Record<string, unknown>), done()) });
  return { lines, log: pino({ level: 'info' }, stream) };
}

describe('countedLog', () => {
  afterEach(() => vi.useRealTimers());

  it('counts every event and logs it at most once a window per key, the next line saying how many it left out', async () => {
    vi.useFakeTimers({ now: 1_000_000, toFake: ['Date'] });
    const { lines, log } = capture();
    const counts = { bad_login: 0, anonymous: 0 };
    const refused = countedLog(counts, limitedLog(log, 60_000));
    for (let i = 0; i < 5; i++) refused('bad_login', 'bad_login:x:1.2.3.4', { user: 'x' }, 'refused x');
    refused('anonymous', 'anonymous:1.2.3.4', {}, 'refused anonymous', 'error');
    vi.setSystemTime(1_000_000 + 61_000);
    refused('bad_login', 'bad_login:x:1.2.3.4', { user: 'x' }, 'refused x');
    await new Promise((r) => setImmediate(r));
    expect(counts).toEqual({ bad_login: 6, anonymous: 1 });
    expect(lines.map((l) => [l.msg, l.level, l.repeatedSinceLastLine])).toEqual([
      ['refused x', 40, undefined],
      ['refused anonymous', 50, undefined],
      ['refused x', 40, 4],
    ]);
    // Every count is in a line: one per line, plus the ones each line says were left out.
    const accounted = lines.reduce((n, l) => n + 1 + ((l.repeatedSinceLastLine as number | undefined) ?? 0), 0);
    expect(accounted).toBe(counts.bad_login + counts.anonymous);
  });
});
