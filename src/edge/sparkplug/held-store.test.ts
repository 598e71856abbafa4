import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Metric } from './codec.js';
import { HeldStore } from './held-store.js';

const log = pino({ level: 'silent' });
const file = () => join(mkdtempSync(join(tmpdir(), 'held-')), 'held.db');
const metric = (name: string, value: Metric['value'], timestamp = 1000): Metric => ({ name, datatype: 'UInt64', value, timestamp });

describe('HeldStore', () => {
  it('gives back, after a reopen, what was held: in order, historical, 64-bit values exact', () => {
    const f = file();
    const a = HeldStore.open(f, 100, log);
    a.push('plc-1', [metric('count', 18446744073709551615n, 1), metric('count', 2n ** 53n + 1n, 2)]);
    a.push('plc-2', [{ name: 'ok', datatype: 'Boolean', value: true, timestamp: 3, properties: { Quality: 192 } }]);
    a.close();
    const b = HeldStore.open(f, 100, log);
    expect(b.size).toBe(3);
    expect(b.take('plc-1')).toEqual([
      { ...metric('count', 18446744073709551615n, 1), isHistorical: true },
      { ...metric('count', 2n ** 53n + 1n, 2), isHistorical: true },
    ]);
    b.close();
    const c = HeldStore.open(f, 100, log);
    expect(c.take('plc-1')).toEqual([]);
    expect(c.take('plc-2')).toEqual([{ name: 'ok', datatype: 'Boolean', value: true, timestamp: 3, properties: { Quality: 192 }, isHistorical: true }]);
    expect(c.size).toBe(0);
  });

  it('gives back NaN and infinities as they were, and drops a row it cannot read instead of failing the start', () => {
    const f = file();
    const a = HeldStore.open(f, 100, log);
    a.push('plc-1', [{ name: 'f', datatype: 'Float', value: Number.NaN, timestamp: 1 }, { name: 'f', datatype: 'Double', value: -Infinity, timestamp: 2 }]);
    a.close();
    const raw = new Database(f);
    raw.prepare('INSERT INTO held (id, device, metric) VALUES (99, ?, ?)').run('plc-1', '{"name": broken');
    raw.close();
    const b = HeldStore.open(f, 100, log);
    expect(b.take('plc-1').map((m) => m.value)).toEqual([Number.NaN, -Infinity]);
    b.close();
    expect(HeldStore.open(f, 100, log).size).toBe(0);
  });

  it('removes a file it could not write, so that a later start reads back nothing stale', () => {
    const f = file();
    const a = HeldStore.open(f, 100, log);
    a.push('plc-1', [metric('v', 1)]);
    // The file is taken away under it (as a failing disk would): the next write fails, the data stays in memory.
    const raw = new Database(f);
    raw.exec('DROP TABLE held');
    raw.close();
    a.push('plc-1', [metric('v', 2)]);
    expect(a.size).toBe(2);
    expect(existsSync(f)).toBe(false);
    expect(a.take('plc-1').map((m) => m.value)).toEqual([1, 2]);
    expect(HeldStore.open(f, 100, log).size).toBe(0);
  });

  it('keeps at most its bound, dropping the oldest and counting them, also on disk', () => {
    const f = file();
    const a = HeldStore.open(f, 3, log);
    for (let i = 1; i <= 5; i++) a.push('plc-1', [metric('v', i)]);
    expect(a.dropped).toBe(2);
    a.close();
    const b = HeldStore.open(f, 3, log);
    expect(b.take('plc-1').map((m) => m.value)).toEqual([3, 4, 5]);
  });

  it('forgets devices and tags that are no longer configured', () => {
    const s = HeldStore.open(file(), 10, log);
    s.push('plc-1', [metric('a', 1), metric('gone', 2)]);
    s.push('old-plc', [metric('a', 3)]);
    expect(s.retain((device, m) => device === 'plc-1' && m.name === 'a')).toBe(2);
    expect(s.take('plc-1').map((m) => m.name)).toEqual(['a']);
    expect(s.size).toBe(0);
  });

  it('moves an unreadable file aside and starts afresh', () => {
    const f = file();
    writeFileSync(f, 'this is not an SQLite database, only some bytes that look nothing like one'.repeat(100));
    const s = HeldStore.open(f, 10, log);
    expect(s.size).toBe(0);
    s.push('plc-1', [metric('a', 1)]);
    s.close();
    expect(readdirSync(join(f, '..')).some((n) => n.startsWith('held.db.corrupt-'))).toBe(true);
    expect(HeldStore.open(f, 10, log).size).toBe(1);
  });

  it('works in memory only without a file', () => {
    const s = HeldStore.open(undefined, 10, log);
    s.push('plc-1', [metric('a', 1)]);
    expect(s.take('plc-1')).toHaveLength(1);
    expect(existsSync('held.db')).toBe(false);
  });
});
