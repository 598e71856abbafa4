import { describe, expect, it } from 'vitest';
import { tag } from './test-fixtures.js';
import { bridgesGaps, describeBlock, describePlan, extractReadings, planReads, splitBlock, type BlockRead } from './plan.js';


const shape = (plan: BlockRead[]) => plan.map((b) => ({ table: b.table, start: b.start, count: b.count, tags: b.tags.map((t) => t.name) }));

describe('planReads', () => {
  it('coalesces scattered tags of one table into one block, in address order', () => {
    const plan = planReads([tag('c', 'holding', 10, 'float32'), tag('a', 'holding', 0), tag('b', 'holding', 5, 'int32')], 8);
    expect(shape(plan)).toEqual([{ table: 'holding', start: 0, count: 12, tags: ['a', 'b', 'c'] }]);
  });

  it('keeps tables apart and orders them coil, discrete, input, holding', () => {
    const plan = planReads([tag('h', 'holding', 0), tag('i', 'input', 0), tag('c', 'coil', 0), tag('d', 'discrete', 0)], 8);
    expect(plan.map((b) => b.table)).toEqual(['coil', 'discrete', 'input', 'holding']);
  });

  it('bridges gaps of exactly max_gap unused registers, and no more', () => {
    // a occupies 0; b at 9 leaves 8 unused (1..8); c at 19 leaves 9 unused (10..18).
    const plan = planReads([tag('a', 'holding', 0), tag('b', 'holding', 9), tag('c', 'holding', 19)], 8);
    expect(shape(plan)).toEqual([
      { table: 'holding', start: 0, count: 10, tags: ['a', 'b'] },
      { table: 'holding', start: 19, count: 1, tags: ['c'] },
    ]);
  });

  it('with max_gap 0 merges only adjacent or overlapping tags', () => {
    const plan = planReads([tag('a', 'input', 0, 'float32'), tag('b', 'input', 2), tag('c', 'input', 1), tag('d', 'input', 4)], 0);
    expect(shape(plan)).toEqual([
      { table: 'input', start: 0, count: 3, tags: ['a', 'c', 'b'] },
      { table: 'input', start: 4, count: 1, tags: ['d'] },
    ]);
  });

  it('splits at 125 registers', () => {
    const tags = Array.from({ length: 130 }, (_, i) => tag(`r${i}`, 'holding', i));
    const plan = planReads(tags, 8);
    expect(plan.map((b) => [b.start, b.count])).toEqual([[0, 125], [125, 5]]);
  });

  it('never splits a float32 across a block boundary', () => {
    // 0..123 are uint16; the float at 124 would end at 126, past the 125-register limit.
    const tags = [...Array.from({ length: 124 }, (_, i) => tag(`r${i}`, 'holding', i)), tag('f', 'holding', 124, 'float32')];
    const plan = planReads(tags, 8);
    expect(plan.map((b) => [b.start, b.count])).toEqual([[0, 124], [124, 2]]);
    expect(plan[1]!.tags.map((t) => t.name)).toEqual(['f']);
  });

  it('limits bit reads to 2000 bits', () => {
    const plan = planReads([tag('first', 'coil', 0), tag('last-in', 'coil', 1999), tag('next', 'coil', 2000)], 2000);
    expect(plan.map((b) => [b.start, b.count])).toEqual([[0, 2000], [2000, 1]]);
  });

  it('takes smaller limits for devices that cannot serve full-size requests', () => {
    const tags = Array.from({ length: 10 }, (_, i) => tag(`r${i}`, 'holding', i));
    expect(planReads(tags, 8, { registers: 4, bits: 2000 }).map((b) => b.count)).toEqual([4, 4, 2]);
  });

  it('reads a register once for two tags that view it differently', () => {
    const plan = planReads([tag('u', 'holding', 3, 'uint16'), tag('s', 'holding', 3, 'int16')], 8);
    expect(shape(plan)).toEqual([{ table: 'holding', start: 3, count: 1, tags: ['u', 's'] }]);
  });

  it('refuses a 32-bit tag at the very last register', () => {
    expect(() => planReads([tag('edge', 'holding', 65535, 'uint32')], 8)).toThrow('tag "edge": uint32 at holding 65535 runs past the last address (65535)');
    expect(planReads([tag('ok', 'holding', 65534, 'uint32')], 8)[0]).toMatchObject({ start: 65534, count: 2 });
  });
});

describe('describePlan', () => {
  it('summarises requests and what they touch, per table', () => {
    const plan = planReads([tag('t', 'holding', 0, 'float32'), tag('n', 'holding', 2), tag('run', 'coil', 0)], 8);
    expect(describePlan({ name: 'press-01' }, plan)).toBe('press-01: 2 requests touching 3 holding registers, 1 coil');
  });

  it('counts requests of a table when it takes several', () => {
    const plan = planReads([tag('a', 'input', 0), tag('b', 'input', 200), tag('d', 'discrete', 4)], 8);
    expect(describePlan({ name: 'p' }, plan)).toBe('p: 3 requests touching 2 input registers (2 requests), 1 discrete input');
    expect(describePlan({ name: 'p' }, [])).toBe('p: no requests (no tags)');
  });

  it('names a block for error messages', () => {
    expect(describeBlock({ table: 'holding', start: 0, count: 2 })).toBe('holding 0..1');
    expect(describeBlock({ table: 'coil', start: 7, count: 1 })).toBe('coil 7');
  });
});

describe('extractReadings', () => {
  it('cuts each tag out of its block and applies scale and offset', () => {
    const tags = [tag('temp', 'holding', 10, 'float32'), tag('level', 'holding', 13, 'int16', { scale: 0.1, offset: -5 }), tag('count', 'holding', 14, 'uint32')];
    const [block] = planReads(tags, 8);
    const readings = extractReadings(block!, [0x4048, 0xf5c3, 0, 0xfffe, 0x0001, 0x0002]);
    expect(readings.map((r) => [r.tag.name, r.raw])).toEqual([
      ['temp', [0x4048, 0xf5c3]],
      ['level', [0xfffe]],
      ['count', [0x0001, 0x0002]],
    ]);
    expect(readings[0]!.value).toBeCloseTo(3.14, 5);
    expect(readings[1]!.value).toBeCloseTo(-5.2);
    expect(readings[2]!.value).toBe(65538);
  });

  it('reads bits from responses padded to whole bytes and leaves bools unscaled', () => {
    const [block] = planReads([tag('a', 'coil', 3), tag('b', 'coil', 5, 'bool', { scale: 10 })], 8);
    const bits = [true, false, true, false, false, false, false, false];
    expect(extractReadings(block!, bits).map((r) => [r.tag.name, r.value])).toEqual([
      ['a', true],
      ['b', true],
    ]);
  });

  it('throws on a short response instead of reading undefined', () => {
    const [block] = planReads([tag('a', 'holding', 0), tag('b', 'holding', 3)], 8);
    expect(() => extractReadings(block!, [1, 2])).toThrow('short response for holding 0..3: 2 of 4 registers');
  });
});

describe('wider types, strings and bits', () => {
  it('plans 64-bit values and strings by their register count, and bits of one register as one register', () => {
    const plan = planReads([
      tag('big', 'holding', 0, 'uint64'),
      tag('name', 'holding', 4, 'string', { length: 5 }),
      tag('alarm', 'holding', 9, 'bool', { bit: 0 }),
      tag('fault', 'holding', 9, 'bool', { bit: 15 }),
    ], 0);
    expect(shape(plan)).toEqual([{ table: 'holding', start: 0, count: 10, tags: ['big', 'name', 'alarm', 'fault'] }]);
    const readings = extractReadings(plan[0]!, [0x0020, 0, 0, 1, 0x4142, 0x4300, 0, 0, 0, 0x8000]);
    expect(readings.map((r) => r.value)).toEqual([9007199254740993n, 'ABC', false, true]);
  });

  it('applies each tag\'s byte and word order', () => {
    const [block] = planReads([tag('swapped', 'input', 0, 'float32', { word_order: 'little' }), tag('plain', 'input', 2, 'float32')], 0);
    const readings = extractReadings(block!, [0xf5c3, 0x4048, 0x4048, 0xf5c3]);
    expect(readings[0]!.value).toBe(readings[1]!.value);
  });
});

describe('splitBlock', () => {
  const block = (tags: ReturnType<typeof tag>[]) => planReads(tags, 50)[0]!;

  it('cuts a block at the unused addresses it bridged', () => {
    const b = block([tag('a', 'holding', 0, 'float32'), tag('b', 'holding', 2), tag('c', 'holding', 10), tag('d', 'holding', 30, 'uint32')]);
    expect(bridgesGaps(b)).toBe(true);
    expect(shape(splitBlock(b, true))).toEqual([
      { table: 'holding', start: 0, count: 3, tags: ['a', 'b'] },
      { table: 'holding', start: 10, count: 1, tags: ['c'] },
      { table: 'holding', start: 30, count: 2, tags: ['d'] },
    ]);
  });

  it('without adjacent tags merging, leaves one block per tag, keeping tags that share registers together', () => {
    const b = block([tag('a', 'holding', 0, 'float32'), tag('b', 'holding', 2), tag('b0', 'holding', 3, 'bool', { bit: 0 }), tag('b1', 'holding', 3, 'bool', { bit: 1 }), tag('lo', 'holding', 1)]);
    expect(bridgesGaps(b)).toBe(false);
    expect(shape(splitBlock(b, false))).toEqual([
      { table: 'holding', start: 0, count: 2, tags: ['a', 'lo'] },
      { table: 'holding', start: 2, count: 1, tags: ['b'] },
      { table: 'holding', start: 3, count: 1, tags: ['b0', 'b1'] },
    ]);
  });
});
