import { describe, expect, it } from 'vitest';
import { fuzzSeed } from '../../../test/helpers/fuzz.js';
import { AckedRanges } from './acked.js';

describe('acknowledged ranges', () => {
  it('merge, answer which seqs they hold, and what of a range they leave uncovered, as a set of seqs would', () => {
    const r = fuzzSeed('acked ranges');
    for (let round = 0; round < 300; round++) {
      const ranges = new AckedRanges();
      const set = new Set<number>();
      for (let k = r.int(12); k > 0; k--) {
        const a = r.int(200);
        const b = a + r.int(15);
        ranges.add(a, b);
        for (let s = a; s <= b; s++) set.add(s);
      }
      const list = ranges.take();
      list.forEach(([a, b], i) => {
        expect(a).toBeLessThanOrEqual(b);
        if (i > 0) expect(a).toBeGreaterThan(list[i - 1]![1] + 1);
      });
      for (let s = 0; s < 230; s++) expect(ranges.holding(s) !== undefined).toBe(set.has(s));
      const from = r.int(200);
      const to = from + r.int(40);
      const uncovered = ranges.uncovered(from, to).flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
      expect(uncovered).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i).filter((s) => !set.has(s)));
      ranges.done(list);
      expect(ranges.size).toBe(0);
    }
  });
});
