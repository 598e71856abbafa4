import { describe, expect, it } from 'vitest';
import { bounded, boundedValue, LogLimiter } from './log-text.js';

describe('log text from the network', () => {
  it('cuts received text to its bound and says how long it was', () => {
    expect(bounded('short')).toBe('short');
    const cut = bounded('y'.repeat(16_000_000));
    expect(cut.length).toBeLessThan(240);
    expect(cut).toMatch(/… \(16000000 characters\)$/);
    expect(boundedValue('a"b')).toBe('"a\\"b"');
    expect(boundedValue(12n)).toBe('12');
  });

  it('lets a burst of lines through per window, counts the rest and reports them with the next line', () => {
    let now = 0;
    const limiter = new LogLimiter(3, 1000, () => now);
    const taken = Array.from({ length: 5 }, () => limiter.take().log);
    expect(taken).toEqual([true, true, true, false, false]);
    expect(limiter.suppressed).toBe(2);
    now = 1000;
    expect(limiter.take()).toEqual({ log: true, leftOut: 2 });
    expect(limiter.take()).toEqual({ log: true, leftOut: 0 });
  });
});
