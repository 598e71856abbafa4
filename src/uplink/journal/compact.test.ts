// The compact format must turn back into exactly the JSON the plain format stores, for every message it takes,
// and no stored bytes may make its decoder do anything but decode or refuse.
import { describe, expect, it } from 'vitest';
import { fuzzSeed, type Rng } from '../../../test/helpers/fuzz.js';
import { DecodeError } from './bytes.js';
import { encodeCompact, keyOf, markHistorical, renderCompact, renderGapJson, renderJson, type ContractMessage, type ContractMetric } from './compact.js';
import { Dictionary } from './dictionary.js';

const NAMES = ['Temperature', 'motor/speed', 'ünïcødé ✓', 'quote " and \\ slash', 'tab\there', '\ud83d\ude00 emoji', 'lone \ud800 surrogate', ''];
const DATATYPES = ['Float', 'Double', 'Int16', 'UInt64', 'Boolean', 'String', 'DateTime'];

function value(r: Rng): unknown {
  switch (r.int(16)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.int(200) - 100;
    case 3: return (r.int(2 ** 30) * 2 ** 22 + r.int(2 ** 22)) * (r.chance(0.5) ? 1 : -1);
    case 4: return Math.fround((r.next() - 0.5) * 1e6);
    case 5: return (r.next() - 0.5) * 10 ** (r.int(40) - 20);
    case 6: return r.pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, -(2 ** 52)]);
    case 7: return r.pick(NAMES);
    case 8: return '18446744073709551615';
    case 9: return undefined;
    case 10: return { nested: [1, 'two', null], big: 12345678901234567890n };
    case 11: return [r.next(), r.chance(0.5)];
    case 12: return String.fromCharCode(...Array.from({ length: r.int(12) }, () => r.int(0x10000)));
    default: return Math.fround(r.next() * 100);
  }
}

function message(r: Rng): ContractMessage {
  const timestamp = 1_700_000_000_000 + r.int(1e9);
  const metrics: ContractMetric[] = Array.from({ length: r.int(14) }, () => ({
    name: r.pick(NAMES),
    timestamp: r.chance(0.7) ? timestamp : timestamp - r.int(100_000) + r.int(1000),
    datatype: r.pick(DATATYPES),
    value: value(r),
    quality: r.pick(['good', 'stale', 'bad'] as const),
  }));
  return { type: r.pick(['data', 'birth', 'death'] as const), group: r.pick(['plant', 'g ü']), node: 'gw-1', device: r.chance(0.8) ? r.pick(NAMES) : null, timestamp, metrics };
}

describe('compact record format', () => {
  it('writes back exactly the JSON of the plain format, for every message it holds', () => {
    const r = fuzzSeed('compact round trip');
    const dict = new Dictionary([]);
    let compact = 0;
    let plain = 0;
    for (let i = 0; i < 20_000; i++) {
      const m = message(r);
      const capturedAt = m.timestamp + r.int(5000);
      const key = keyOf(m.group, m.node, m.device);
      const data = encodeCompact(m, key, capturedAt, dict);
      dict.takePending();
      if (!data) {
        plain += 1;
        continue;
      }
      compact += 1;
      const out = renderCompact(data, m.type, capturedAt, dict);
      expect(out.key).toBe(key);
      expect(out.value).toBe(renderJson(m));
    }
    console.log(`compact round trip: ${compact} compact, ${plain} plain`);
    // Everything generated here is a message the format holds; a regression to the plain format would show.
    expect(plain).toBe(0);
  });

  it('refuses what it cannot hold exactly, so that the plain format takes it', () => {
    const dict = new Dictionary([]);
    const m: ContractMessage = { type: 'data', group: 'g', node: 'n', device: 'd', timestamp: 1000, metrics: [] };
    expect(encodeCompact(m, 'g/n/other', 1000, dict)).toBeUndefined();
    expect(encodeCompact({ ...m, timestamp: 1.5 }, 'g/n/d', 1000, dict)).toBeUndefined();
    const odd = { ...m, metrics: [{ name: 'x', timestamp: 1000, datatype: 'Float', value: 1, quality: 'unknown' }] } as unknown as ContractMessage;
    expect(encodeCompact(odd, 'g/n/d', 1000, dict)).toBeUndefined();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(encodeCompact({ ...m, metrics: [{ name: 'x', timestamp: 1000, datatype: 'Float', value: cyclic, quality: 'good' }] }, 'g/n/d', 1000, dict)).toBeUndefined();
  });

  it('takes 4 bytes and a little for a float sample', () => {
    const dict = new Dictionary([]);
    const metrics = Array.from({ length: 10 }, (_, i) => ({ name: `plc/tag${i}`, timestamp: 5000, datatype: 'Float', value: Math.fround(20.1 + i), quality: 'good' as const }));
    const data = encodeCompact({ type: 'data', group: 'plant', node: 'gw', device: 'plc', timestamp: 5000, metrics }, 'plant/gw/plc', 5003, dict)!;
    // source, time delta, count; then per metric: number, header, 4-byte float
    expect(data.length).toBe(3 + 10 * 6);
  });

  it('decodes or refuses damaged bytes, never anything else', () => {
    const r = fuzzSeed('compact decoder');
    const dict = new Dictionary([]);
    const valid: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const m = message(r);
      const data = encodeCompact(m, keyOf(m.group, m.node, m.device), m.timestamp, dict);
      if (data) valid.push(data);
    }
    dict.takePending();
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 30_000; i++) {
      let data: Buffer;
      if (r.chance(0.3)) data = r.bytes(r.int(64));
      else {
        data = Buffer.from(r.pick(valid));
        for (let k = 1 + r.int(4); k > 0 && data.length > 0; k--) data[r.int(data.length)] = r.int(256);
        if (r.chance(0.2)) data = data.subarray(0, r.int(data.length + 1));
      }
      try {
        const out = renderCompact(data, 'data', 1_700_000_000_000, dict);
        expect(typeof out.value).toBe('string');
        decoded += 1;
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        refused += 1;
      }
    }
    console.log(`compact decoder: ${decoded} decoded, ${refused} refused`);
    expect(decoded + refused).toBe(30_000);
    expect(refused).toBeGreaterThan(0);
  });
});

describe('the stored JSON values held back by an outage', () => {
  it('marks the message historical and nothing else, whatever the metrics say', () => {
    const m: ContractMessage = {
      type: 'data', group: 'g', node: 'n', device: 'd', timestamp: 5,
      metrics: [{ name: '"historical":false', timestamp: 5, datatype: 'String', value: '"historical":false', quality: 'good' }],
    };
    const live = JSON.parse(renderJson(m));
    const held = JSON.parse(markHistorical(renderJson(m)));
    expect(live.historical).toBe(false);
    expect(held).toEqual({ ...live, historical: true });
    const gap = JSON.parse(markHistorical(renderGapJson('g', 'n', 7, { from: 3, to: 4, count: 2, reason: 'max_bytes', ranges: [[3, 4]] })));
    expect(gap).toEqual({ type: 'gap', group: 'g', node: 'n', device: null, timestamp: 7, historical: true, from: 3, to: 4, count: 2, reason: 'max_bytes', ranges: [[3, 4]] });
  });
});
