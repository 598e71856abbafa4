import { describe, expect, it } from 'vitest';
import { CompletenessTracker, formatReport, ok, parseSeq, SeqSet, type TrackedRecord } from './report.js';

const rec = (node: string, seq: number, extra: Partial<TrackedRecord> = {}): TrackedRecord => ({ node, seq, historical: false, ...extra });
const gap = (node: string, seq: number, from: number, to: number, reason = 'max_bytes'): TrackedRecord => {
  const [group, name] = node.split('/');
  return rec(node, seq, {
    value: JSON.stringify({ type: 'gap', group, node: name, device: null, timestamp: 1_000, historical: false, from, to, count: to - from + 1, reason }),
  });
};
const feed = (t: CompletenessTracker, node: string, seqs: Iterable<number>) => {
  for (const s of seqs) t.add(rec(node, s));
};
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const holes = (set: SeqSet, from: number, to: number) => {
  const out: Array<[number, number]> = [];
  set.holes(from, to, (a, b) => out.push([a, b]));
  return out;
};

describe('SeqSet', () => {
  it('finds holes across words, chunks and absent chunks, from any order of arrival', () => {
    const set = new SeqSet();
    const present = [1, 2, 3, 31, 32, 33, 64, 95, 96, 65_535, 65_536, 200_000, 200_001];
    for (const s of [...present].reverse()) expect(set.add(s)).toBe(true);
    expect(set.add(32)).toBe(false);
    expect(set.size).toBe(present.length);
    expect(holes(set, 1, 200_001)).toEqual([
      [4, 30],
      [34, 63],
      [65, 94],
      [97, 65_534],
      [65_537, 199_999],
    ]);
    expect(holes(set, 0, 3)).toEqual([[0, 0]]);
    expect(holes(set, 200_002, 300_000)).toEqual([[200_002, 300_000]]);
    expect(holes(set, 31, 33)).toEqual([]);
  });

  it('matches a naive scan on random sets', () => {
    let x = 12345;
    const rand = () => (x = (x * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
    for (let round = 0; round < 20; round++) {
      const set = new SeqSet();
      const naive = new Set<number>();
      const span = 1 + Math.floor(rand() * 300_000);
      const density = rand();
      for (let s = 1; s <= span; s++) if (rand() < density) (set.add(s), naive.add(s));
      const expected: Array<[number, number]> = [];
      let open: number | null = null;
      for (let s = 1; s <= span; s++) {
        if (!naive.has(s)) open ??= s;
        else if (open !== null) (expected.push([open, s - 1]), (open = null));
      }
      if (open !== null) expected.push([open, span]);
      expect(holes(set, 1, span)).toEqual(expected);
    }
  });
});

describe('CompletenessTracker', () => {
  it('is ok for a complete sequence and counts duplicates as extra copies', () => {
    const t = new CompletenessTracker({ fromBeginning: true });
    feed(t, 'plant/gw-01', range(1, 10));
    feed(t, 'plant/gw-01', [4, 5, 5]); // a resent batch
    const r = t.report();
    expect(r.nodes).toHaveLength(1);
    expect(r.nodes[0]).toMatchObject({ node: 'plant/gw-01', records: 13, distinct: 10, duplicates: 3, lowest: 1, highest: 10, missing: 0, gaps: [] });
    expect(r.totals.duplicates).toBe(3);
    expect(ok(r)).toBe(true);
  });

  it('reports a missing range, and from 1 when reading from the beginning', () => {
    const t = new CompletenessTracker({ fromBeginning: true });
    feed(t, 'g/n', [3, 4, 5, 9, 10]);
    const r = t.report();
    expect(r.nodes[0]!.gaps).toEqual([
      { from: 1, to: 2, count: 2, status: 'missing' },
      { from: 6, to: 8, count: 3, status: 'missing' },
    ]);
    expect(r.nodes[0]!.missing).toBe(5);
    expect(r.nodes[0]!.missingRanges).toBe(2);
    expect(ok(r)).toBe(false);
  });

  it('starts at the lowest seq seen when not reading from the beginning', () => {
    const t = new CompletenessTracker({ fromBeginning: false });
    feed(t, 'g/n', [103, 101, 102, 105]);
    const n = t.report().nodes[0]!;
    expect(n.expectedFrom).toBe(101);
    expect(n.gaps).toEqual([{ from: 104, to: 104, count: 1, status: 'missing' }]);
  });

  it('does not count a range a gap record announced as missing', () => {
    const t = new CompletenessTracker();
    feed(t, 'g/n', range(1, 4));
    t.add(gap('g/n', 8, 5, 7, 'max_age'));
    feed(t, 'g/n', range(9, 12));
    const r = t.report();
    const n = r.nodes[0]!;
    expect(n.gaps).toEqual([{ from: 5, to: 7, count: 3, status: 'announced', reason: 'max_age' }]);
    expect(n).toMatchObject({ missing: 0, announced: 3, announcedRanges: 1, gapRecords: 1, records: 9, distinct: 9 });
    expect(ok(r)).toBe(true);
  });

  it('splits a hole only partly covered by announcements', () => {
    const t = new CompletenessTracker();
    feed(t, 'g/n', [1, 2]);
    // 3..20 never arrived; gap records announce 5..8 and 12..14 (in any order), and 15 separately
    t.add(gap('g/n', 23, 12, 14, 'max_age'));
    t.add(gap('g/n', 21, 5, 8));
    t.add(gap('g/n', 22, 15, 15, 'max_age'));
    t.add(rec('g/n', 24));
    const n = t.report().nodes[0]!;
    expect(n.gaps).toEqual([
      { from: 3, to: 4, count: 2, status: 'missing' },
      { from: 5, to: 8, count: 4, status: 'announced', reason: 'max_bytes' },
      { from: 9, to: 11, count: 3, status: 'missing' },
      { from: 12, to: 15, count: 4, status: 'announced', reason: 'max_age' },
      { from: 16, to: 20, count: 5, status: 'missing' },
    ]);
    expect(n).toMatchObject({ missing: 10, missingRanges: 3, announced: 8, announcedRanges: 2, gapRecords: 3 });
  });

  it('an announcement covering seqs that did arrive only marks the ones that did not', () => {
    const t = new CompletenessTracker();
    feed(t, 'g/n', [1, 2, 4, 6]);
    t.add(gap('g/n', 7, 2, 5));
    expect(t.report().nodes[0]!.gaps).toEqual([
      { from: 3, to: 3, count: 1, status: 'announced', reason: 'max_bytes' },
      { from: 5, to: 5, count: 1, status: 'announced', reason: 'max_bytes' },
    ]);
  });

  it('keeps nodes apart: the same seqs on another node are neither duplicates nor fill holes', () => {
    const t = new CompletenessTracker();
    for (const s of range(1, 6)) {
      t.add(rec('plant/gw-02', s));
      if (s !== 3) t.add(rec('plant/gw-01', s));
    }
    t.add(gap('plant/gw-02', 7, 3, 3)); // announces 3 for gw-02, not for gw-01
    const r = t.report();
    expect(r.nodes.map((n) => n.node)).toEqual(['plant/gw-01', 'plant/gw-02']);
    expect(r.nodes[0]).toMatchObject({ records: 5, duplicates: 0, missing: 1, gaps: [{ from: 3, to: 3, count: 1, status: 'missing' }] });
    expect(r.nodes[1]).toMatchObject({ records: 7, duplicates: 0, missing: 0, gaps: [] });
    expect(ok(r)).toBe(false);
  });

  it('counts records without headers as foreign and ignores them', () => {
    const t = new CompletenessTracker();
    t.add(rec('', 1));
    t.add(rec('g/n', Number.NaN));
    t.add(rec('g/n', parseSeq('0')));
    t.add(rec('g/n', parseSeq(undefined)));
    t.add(rec('g/n', parseSeq('1')));
    const r = t.report();
    expect(r).toMatchObject({ records: 5, foreign: 4 });
    expect(r.nodes[0]).toMatchObject({ records: 1, missing: 0 });
  });

  it('parses edge.seq strictly', () => {
    expect(parseSeq('42')).toBe(42);
    for (const bad of ['', '0', '-1', '1.5', '01', ' 1', '1e3', '99999999999999999', 'x']) expect(parseSeq(bad)).toBeNaN();
  });

  it('counts historical records and their largest delay from the value timestamp', () => {
    const t = new CompletenessTracker();
    const v = (ts: number) => JSON.stringify({ type: 'data', group: 'g', node: 'n', device: 'd', timestamp: ts, historical: true, metrics: [] });
    t.add(rec('g/n', 1, { historical: true, value: v(10_000), receivedAt: 70_000 }));
    t.add(rec('g/n', 2, { historical: true, value: v(50_000), receivedAt: 71_000 }));
    t.add(rec('g/n', 3, { historical: false, value: v(0), receivedAt: 1_000_000 })); // live: not a delay
    t.add(rec('g/n', 4, { historical: true, value: 'not json', receivedAt: 1 }));
    const n = t.report().nodes[0]!;
    expect(n).toMatchObject({ historical: 3, maxHistoricalDelayMs: 60_000, malformed: 1 });
    expect(t.report().totals.historical).toBe(3);
  });

  it('a metric named "gap" is not a gap record', () => {
    const t = new CompletenessTracker();
    t.add(rec('g/n', 1, { value: JSON.stringify({ type: 'data', metrics: [{ name: 'gap', value: 1 }], from: 1, to: 5 }) }));
    t.add(rec('g/n', 3));
    const n = t.report().nodes[0]!;
    expect(n.gapRecords).toBe(0);
    expect(n.missing).toBe(1);
  });

  it('limits the listed ranges but keeps exact counts', () => {
    const t = new CompletenessTracker({ maxRanges: 5 });
    for (let s = 1; s <= 2001; s += 2) t.add(rec('g/n', s)); // every even seq missing: 1000 holes
    const n = t.report().nodes[0]!;
    expect(n.gaps).toHaveLength(5);
    expect(n.gapsOmitted).toBe(995);
    expect(n.missing).toBe(1000);
    expect(n.missingRanges).toBe(1000);
    expect(formatReport(t.report())).toContain('… 995 more ranges');
  });

  it('handles millions of seqs per node, out of order across partitions, in little memory and time', () => {
    const t = new CompletenessTracker();
    const total = 2_000_000;
    const started = performance.now();
    const used = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers; // the bitmaps are typed arrays, outside the JS heap
    };
    const before = used();
    // A node's devices land in 3 partitions; the consumer reads them interleaved in big batches.
    for (let batch = 0; batch < total; batch += 300_000) {
      for (let p = 0; p < 3; p++) {
        for (let s = batch + 1 + p; s <= Math.min(total, batch + 300_000); s += 3) {
          if (s >= 1_000_000 && s <= 1_000_099) continue; // dropped …
          t.add(rec('big/node', s));
        }
      }
    }
    t.add(gap('big/node', total + 1, 1_000_000, 1_000_049)); // … half of them announced
    for (let s = 500_000; s < 500_010; s++) t.add(rec('big/node', s)); // a resent batch
    const r = t.report();
    const elapsed = performance.now() - started;
    const growth = used() - before;
    const n = r.nodes[0]!;
    expect(n).toMatchObject({ distinct: total + 1 - 100, duplicates: 10, lowest: 1, highest: total + 1, missing: 50, announced: 50 });
    expect(n.gaps).toEqual([
      { from: 1_000_000, to: 1_000_049, count: 50, status: 'announced', reason: 'max_bytes' },
      { from: 1_000_050, to: 1_000_099, count: 50, status: 'missing' },
    ]);
    expect(elapsed).toBeLessThan(5_000);
    expect(growth).toBeLessThan(24 * 1024 * 1024); // a Set<number> of 2 M seqs alone takes 60-75 MB
  });
});

describe('formatReport', () => {
  it('prints a table per node, the gap ranges and the verdict', () => {
    const t = new CompletenessTracker();
    feed(t, 'plant/gw-01', range(1, 5));
    feed(t, 'plant/gw-02', [1, 2, 6, 7, 7]);
    t.add(gap('plant/gw-02', 8, 3, 4));
    feed(t, 'plant/gw-02', [10]);
    t.add(rec('', Number.NaN));
    const text = formatReport(t.report());
    expect(text).toMatch(/records 13, nodes 2, foreign 1/);
    expect(text).toMatch(/^plant\/gw-01\s+5\s+5\s+0\s+1\.\.5\s+0\s+0\s+0\s+0\s+-$/m);
    expect(text).toMatch(/^plant\/gw-02\s+7\s+6\s+1\s+1\.\.10\s+2\s+2\s+1\s+0\s+-$/m);
    expect(text).toMatch(/^\s+3\.\.4\s+2\s+announced \(max_bytes\)$/m);
    expect(text).toMatch(/^\s+5\s+1\s+MISSING$/m);
    expect(text).toMatch(/^\s+9\s+1\s+MISSING$/m);
    expect(text).toMatch(/NOT OK: 2 seqs missing in 1 of 2 nodes/);
  });

  it('says OK when nothing unannounced is missing', () => {
    const t = new CompletenessTracker();
    feed(t, 'g/n', [1, 3]);
    t.add(gap('g/n', 4, 2, 2));
    expect(formatReport(t.report())).toMatch(/OK: nothing missing that was not announced \(1 announced, 0 duplicates\)\n$/);
  });
});
