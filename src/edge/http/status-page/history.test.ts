import { describe, expect, it } from 'vitest';
import { readiness } from './health.js';
import { StatusHistory } from './history.js';

const at = (s: number, records: number, captured: number, forwarded: number, samples = captured * 3) => ({ t: s * 1000, records, captured, forwarded, samples });

describe('status history', () => {
  it('turns cumulative samples into per-interval rates and keeps only the last `capacity` points', () => {
    const h = new StatusHistory(10_000, 3);
    expect(h.points()).toEqual([]);
    h.add(at(0, 0, 0, 0));
    h.add(at(10, 50, 100, 50));
    expect(h.points()).toEqual([{ t: 10_000, records: 50, capturedPerSec: 10, forwardedPerSec: 5 }]);
    for (let i = 2; i <= 6; i++) h.add(at(i * 10, 50, i * 100, i * 100 - 50));
    expect(h.points().map((p) => p.t)).toEqual([40_000, 50_000, 60_000]);
    expect(h.points().every((p) => p.capturedPerSec === 10 && p.forwardedPerSec === 10)).toBe(true);
  });

  it('gives the rates of the last minute, or since the first sample when younger', () => {
    const h = new StatusHistory(10_000, 360);
    h.add(at(0, 0, 0, 0));
    expect(h.ratesAt(at(5, 0, 10, 0))).toEqual({ capturedPerSec: 2, forwardedPerSec: 0, samplesPerSec: 6 });
    for (let i = 1; i <= 12; i++) h.add(at(i * 10, 0, i * 10, i * 20));
    // From the sample 60 s before (t=70 s: captured 70, forwarded 140) to t=130 s.
    expect(h.ratesAt(at(130, 0, 130, 140))).toEqual({ capturedPerSec: 1, forwardedPerSec: 0, samplesPerSec: 3 });
  });

  it('never reports a negative rate', () => {
    const h = new StatusHistory();
    h.add(at(0, 0, 10, 10));
    expect(h.ratesAt(at(10, 0, 0, 0))).toEqual({ capturedPerSec: 0, forwardedPerSec: 0, samplesPerSec: 0 });
  });

  it('measures samples per second over the last minute, not since start', () => {
    const h = new StatusHistory(10_000, 360);
    // 100 samples/s for the first ten minutes, then 1,000 samples/s for a minute and a half.
    for (let i = 0; i <= 60; i++) h.add(at(i * 10, 0, i, 0, i * 1000));
    for (let i = 1; i <= 9; i++) h.add(at(600 + i * 10, 0, 60 + i, 0, 60_000 + i * 10_000));
    expect(h.ratesAt(at(700, 0, 71, 0, 160_000)).samplesPerSec).toBe(1000);
  });
});

describe('readiness', () => {
  it('is ready when every check passes, and lists the reasons of those that do not', () => {
    expect(readiness([() => undefined])).toEqual({ ready: true, reasons: [] });
    expect(readiness([() => 'journal cannot write', () => undefined, () => 'broker'])).toEqual({ ready: false, reasons: ['journal cannot write', 'broker'] });
  });
});
