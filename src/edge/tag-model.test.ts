import { describe, expect, it } from 'vitest';
import type { Quality, Sample, TagValue } from '../drivers/types.js';
import { beyondDeadband, DeviceTagModel, type TagDef } from './tag-model.js';

const sample = (tag: string, value: TagValue, timestamp: number, quality: Quality = 'good'): Sample => ({ tag, value, timestamp, quality });
const def = (name: string, extra: Partial<TagDef> = {}): TagDef => ({ name, datatype: 'Double', writable: false, ...extra });

/** Feeds one value per poll (1 s apart from t=1000) after a birth with `first`; returns the values reported. */
function reported(d: TagDef, first: TagValue, values: TagValue[]): TagValue[] {
  const model = new DeviceTagModel([d]);
  model.birth([sample(d.name, first, 0)]);
  return values.flatMap((v, i) => model.changes([sample(d.name, v, 1000 * (i + 1))]).map((m) => m.value));
}

describe('tag model', () => {
  it('reports every change and nothing else without a deadband (report by exception)', () => {
    expect(reported(def('t'), 1, [1, 2, 2, 2, 3, 1])).toEqual([2, 3, 1]);
    expect(reported(def('b', { datatype: 'Boolean' }), false, [false, true, true, false])).toEqual([true, false]);
    expect(reported(def('s', { datatype: 'String' }), 'a', ['a', 'b', 'b'])).toEqual(['b']);
  });

  it('absolute deadband: reports a value that moved more than the deadband from the last REPORTED value', () => {
    // 10.4 and 10.5 are within 0.5 of 10; 10.6 is not. Slow drift accumulates against the reported 10 and goes out.
    expect(reported(def('t', { deadband: 0.5 }), 10, [10.4, 10.5, 10.6, 10.9, 11.0, 11.2])).toEqual([10.6, 11.2]);
    expect(reported(def('t', { deadband: 0.5 }), 10, [9.6, 9.5, 9.4])).toEqual([9.4]);
  });

  it('percent deadband: of the last reported value, so it scales with the value; an absolute deadband is its floor', () => {
    // 2 % of 100 is 2: 101.9 stays, 102.1 goes; then 2 % of 102.1 is 2.042.
    expect(reported(def('t', { deadbandPercent: 2 }), 100, [101.9, 102.1, 104.1, 104.2])).toEqual([102.1, 104.2]);
    // Near zero a pure percent deadband reports every change; `deadband` keeps a floor there.
    expect(reported(def('t', { deadbandPercent: 2 }), 0, [0.001, 0.002])).toEqual([0.001, 0.002]);
    expect(reported(def('t', { deadbandPercent: 2, deadband: 0.1 }), 0, [0.05, 0.11])).toEqual([0.11]);
    // Negative values: the magnitude counts.
    expect(reported(def('t', { deadbandPercent: 10 }), -50, [-54, -56])).toEqual([-56]);
  });

  it('deadbands leave booleans and text alone: every change is reported', () => {
    expect(reported(def('b', { datatype: 'Boolean', deadband: 5, deadbandPercent: 50 }), false, [true, false])).toEqual([true, false]);
    expect(reported(def('s', { datatype: 'String', deadband: 5 }), 'run', ['stop'])).toEqual(['stop']);
  });

  it('NaN: NaN to NaN is no change; a number to NaN and back is reported whatever the deadband', () => {
    expect(reported(def('t', { deadband: 100 }), 1, [NaN, NaN, 2, 2])).toEqual([NaN, 2]);
    expect(reported(def('t', { deadbandPercent: 50 }), Infinity, [Infinity, 5])).toEqual([5]);
    expect(beyondDeadband(NaN, NaN, 0, 0)).toBe(false);
  });

  it('bigint values (64-bit counters): exact differences beyond 2^53, and the same count as number or bigint is no change', () => {
    const big = 2n ** 60n;
    expect(reported(def('c', { datatype: 'UInt64' }), big, [big, big + 1n, big + 1n])).toEqual([big + 1n]);
    // 2^60 + 1 and 2^60 are the same double: compared as bigints they differ by 1, which a deadband of 0.5 passes.
    expect(beyondDeadband(big, big + 1n, 0.5, 0)).toBe(true);
    expect(beyondDeadband(big, big + 1n, 1, 0)).toBe(false);
    expect(reported(def('c', { datatype: 'UInt64', deadband: 10 }), 100n, [105n, 111n, 115])).toEqual([111n]);
    expect(beyondDeadband(5, 5n, 0, 0)).toBe(false);
    expect(beyondDeadband(5, 6n, 0, 0)).toBe(true);
  });

  it('heartbeat: republishes an unchanged value once it was not reported for the heartbeat time (by acquisition time)', () => {
    const model = new DeviceTagModel([def('t', { heartbeatMs: 3000, deadband: 1 })]);
    model.birth([sample('t', 5, 0)]);
    const at = (ms: number, v: TagValue) => model.changes([sample('t', v, ms)]).map((m) => [m.timestamp, m.value]);
    expect(at(1000, 5)).toEqual([]);
    expect(at(2000, 5.5)).toEqual([]); // within the deadband
    expect(at(3000, 5.5)).toEqual([[3000, 5.5]]); // 3 s after the birth: the current value, deadband or not
    expect(at(4000, 5.5)).toEqual([]);
    expect(at(5000, 7)).toEqual([[5000, 7]]); // a change restarts the heartbeat's clock
    expect(at(7999, 7)).toEqual([]);
    expect(at(8000, 7)).toEqual([[8000, 7]]);
  });

  it('publishes quality with every value as the Sparkplug Quality property: 192 good, 500 stale, 0 bad (value null)', () => {
    const model = new DeviceTagModel([def('t'), def('b', { datatype: 'Boolean' })]);
    const birth = model.birth([sample('t', 1, 0), sample('b', true, 0, 'bad')]);
    expect(birth.map((m) => [m.name, m.value, m.properties])).toEqual([['t', 1, { Quality: 192 }], ['b', null, { Quality: 0 }]]);
    const stale = model.changes([sample('t', 1, 1, 'stale'), sample('b', false, 1, 'stale')]);
    expect(stale.map((m) => [m.name, m.value, m.properties])).toEqual([['t', 1, { Quality: 500 }], ['b', false, { Quality: 500 }]]);
  });

  it('a quality transition is a change even when the value is not, and even within the deadband', () => {
    const model = new DeviceTagModel([def('t', { deadband: 10 })]);
    model.birth([sample('t', 50, 0)]);
    const q = (quality: Quality, value: TagValue = 50) => model.changes([sample('t', value, 1, quality)]).map((m) => m.properties!.Quality);
    expect(q('good')).toEqual([]);
    expect(q('stale')).toEqual([500]);
    expect(q('stale')).toEqual([]);
    expect(q('bad')).toEqual([0]);
    expect(q('bad', 99)).toEqual([]); // bad stays bad: the value read is not published anyway
    expect(q('good', 51)).toEqual([192]); // back to good: reported with its value, deadband notwithstanding
    expect(q('good', 52)).toEqual([]);
  });

  it('stale(): the last reported values again, marked stale, once; a device that answers again reports good', () => {
    const model = new DeviceTagModel([def('t'), def('u')]);
    model.birth([sample('t', 1, 0), sample('u', 2, 0, 'bad')]);
    const stale = model.stale(5000);
    expect(stale.map((m) => [m.name, m.value, m.timestamp, m.properties])).toEqual([['t', 1, 5000, { Quality: 500 }]]);
    expect(model.stale(6000)).toEqual([]);
    // The same value as before the miss: reported anyway, since its quality is good again.
    expect(model.changes([sample('t', 1, 7000), sample('u', 2, 7000, 'bad')]).map((m) => [m.name, m.value, m.properties])).toEqual([['t', 1, { Quality: 192 }]]);
  });

  it('reset() forgets everything: a returning device is born again and the model reports from its birth', () => {
    const model = new DeviceTagModel([def('t')]);
    model.birth([sample('t', 1, 0)]);
    model.reset();
    expect(model.stale(1)).toEqual([]);
    expect(model.changes([sample('t', 1, 2)]).map((m) => m.value)).toEqual([1]);
  });

  it('ignores samples of tags it does not know', () => {
    const model = new DeviceTagModel([def('t')]);
    expect(model.birth([sample('t', 1, 0), sample('x', 1, 0)]).map((m) => m.name)).toEqual(['t']);
    expect(model.changes([sample('x', 2, 1)])).toEqual([]);
  });
});
