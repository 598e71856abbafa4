// The pure rules of the edge node: aliases, bdSeq, the primary host's STATE, command values.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AliasTable } from './aliases.js';
import { BdSeqStore } from './bdseq.js';
import { checkCommandValue } from './command-values.js';
import { judgeHostState, parseHostState, stateTopic } from './host-state.js';

const dir = () => mkdtempSync(join(tmpdir(), 'spb-rules-'));
const devices = (spec: Record<string, string[]>) => new Map(Object.entries(spec).map(([d, tags]) => [d, tags.map((name) => ({ name }))]));

describe('aliases', () => {
  it('are unique across all devices of the node, including tags with the same name', () => {
    const t = AliasTable.open(join(dir(), 'aliases.json'), devices({ a: ['level', 'pump'], b: ['level', 'speed'] }));
    const all = [t.aliasOf('a', 'level'), t.aliasOf('a', 'pump'), t.aliasOf('b', 'level'), t.aliasOf('b', 'speed')];
    expect(all.every((x) => typeof x === 'number')).toBe(true);
    expect(new Set(all).size).toBe(4);
    expect(t.nameOf('b', t.aliasOf('b', 'level')!)).toBe('level');
    expect(t.nameOf('a', t.aliasOf('b', 'speed')!)).toBeUndefined();
  });

  it('stay the same across restarts, reordered tags and removed tags, and are never reused', () => {
    const file = join(dir(), 'aliases.json');
    const first = AliasTable.open(file, devices({ a: ['x', 'y', 'z'] }));
    const before = { x: first.aliasOf('a', 'x'), y: first.aliasOf('a', 'y'), z: first.aliasOf('a', 'z') };
    // Restart with y removed, the order changed, and a new tag and device.
    const second = AliasTable.open(file, devices({ a: ['z', 'x', 'w'], b: ['v'] }));
    expect(second.aliasOf('a', 'x')).toBe(before.x);
    expect(second.aliasOf('a', 'z')).toBe(before.z);
    const fresh = [second.aliasOf('a', 'w')!, second.aliasOf('b', 'v')!];
    expect(fresh.every((n) => n > Math.max(before.x!, before.y!, before.z!))).toBe(true);
    // y comes back with its old number.
    expect(AliasTable.open(file, devices({ a: ['y'] })).aliasOf('a', 'y')).toBe(before.y);
    expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(1);
  });

  it('refuses a damaged table instead of renumbering', () => {
    const file = join(dir(), 'aliases.json');
    writeFileSync(file, JSON.stringify({ version: 1, devices: { a: { x: 1 }, b: { y: 1 } } }));
    expect(() => AliasTable.open(file, devices({ a: ['x'] }))).toThrow(/used twice/);
  });
});

describe('bdSeq', () => {
  it('starts at 0, is persisted, and wraps from 255 to 0', () => {
    const file = join(dir(), 'bdseq');
    const store = new BdSeqStore(file);
    expect(store.next()).toBe(0);
    expect(new BdSeqStore(file).next()).toBe(1);
    writeFileSync(file, '254\n');
    expect(store.next()).toBe(255);
    expect(store.next()).toBe(0);
    expect(readFileSync(file, 'utf8').trim()).toBe('0');
  });
});

describe('primary host STATE', () => {
  it('reads the 3.0 JSON payload and rejects anything else', () => {
    expect(stateTopic('scada-1')).toBe('spBv1.0/STATE/scada-1');
    expect(parseHostState(Buffer.from('{"online":true,"timestamp":1700000000000}'))).toEqual({ online: true, timestamp: 1_700_000_000_000 });
    expect(parseHostState(Buffer.from('ONLINE'))).toMatch(/not JSON/);
    expect(parseHostState(Buffer.from('{"online":"yes","timestamp":1}'))).toMatch(/online/);
  });

  it('takes the first STATE as it is, and ignores one older than the last accepted', () => {
    expect(judgeHostState({ online: false, timestamp: 5 }, undefined)).toBe('offline');
    expect(judgeHostState({ online: true, timestamp: 10 }, 5)).toBe('online');
    expect(judgeHostState({ online: true, timestamp: 10 }, 10)).toBe('online');
    // A late will of an earlier host session must not take the edge node offline.
    expect(judgeHostState({ online: false, timestamp: 9 }, 10)).toBe('ignored');
    expect(judgeHostState({ online: false, timestamp: 11 }, 10)).toBe('offline');
  });
});

describe('command values', () => {
  it('accepts values that suit the datatype and keeps 64-bit values exact', () => {
    expect(checkCommandValue(42, 'UInt16')).toEqual({ ok: true, value: 42 });
    expect(checkCommandValue(-32768, 'Int16')).toEqual({ ok: true, value: -32768 });
    expect(checkCommandValue(2n ** 64n - 1n, 'UInt64')).toEqual({ ok: true, value: 2n ** 64n - 1n });
    expect(checkCommandValue(7n, 'Int64')).toEqual({ ok: true, value: 7 });
    expect(checkCommandValue(1.5, 'Float')).toEqual({ ok: true, value: 1.5 });
    expect(checkCommandValue(true, 'Boolean')).toEqual({ ok: true, value: true });
    expect(checkCommandValue('auto', 'String')).toEqual({ ok: true, value: 'auto' });
  });

  it('refuses values of the wrong type or out of range, saying why', () => {
    expect(checkCommandValue(65536, 'UInt16')).toMatchObject({ ok: false, reason: expect.stringMatching(/out of range for UInt16/) });
    expect(checkCommandValue(-1, 'UInt32')).toMatchObject({ ok: false });
    expect(checkCommandValue(1.5, 'Int32')).toMatchObject({ ok: false, reason: expect.stringMatching(/not an integer/) });
    expect(checkCommandValue(1, 'Boolean')).toMatchObject({ ok: false, reason: expect.stringMatching(/not a boolean/) });
    expect(checkCommandValue('3', 'Double')).toMatchObject({ ok: false });
    expect(checkCommandValue(Number.NaN, 'Double')).toMatchObject({ ok: false });
    expect(checkCommandValue(null, 'UInt16')).toMatchObject({ ok: false, reason: expect.stringMatching(/no value/) });
  });
});
