import { describe, expect, it } from 'vitest';
import { decodePayload, encodePayload, type Metric } from './codec.js';

const roundTrip = (metrics: Metric[], seq?: number) => decodePayload(encodePayload({ timestamp: 1_700_000_000_123, seq, metrics }));

describe('Sparkplug codec', () => {
  it('keeps payload timestamp and seq as plain numbers, including seq 0', () => {
    const p = roundTrip([], 0);
    expect(p.seq).toBe(0); // a protobuf Long zero would fail this
    expect(p.timestamp).toBe(1_700_000_000_123);
    expect(roundTrip([], 255).seq).toBe(255);
  });

  it('round-trips negative integers and unsigned 32-bit values above 2^31', () => {
    const p = roundTrip([
      { name: 'i16', datatype: 'Int16', value: -12345, timestamp: 1 },
      { name: 'i32', datatype: 'Int32', value: -2_000_000_000, timestamp: 1 },
      { name: 'u32', datatype: 'UInt32', value: 4_000_000_000, timestamp: 1 },
      { name: 'u16', datatype: 'UInt16', value: 65535, timestamp: 1 },
    ]);
    expect(p.metrics.map((m) => m.value)).toEqual([-12345, -2_000_000_000, 4_000_000_000, 65535]);
  });

  it('keeps 64-bit values exact: bigints beyond 2^53, numbers below', () => {
    const p = roundTrip([
      { name: 'u64', datatype: 'UInt64', value: 2n ** 63n + 5n, timestamp: 1 },
      { name: 'i64', datatype: 'Int64', value: -(2n ** 60n) - 1n, timestamp: 1 },
      { name: 'bdSeq', datatype: 'Int64', value: 7 },
    ]);
    expect(p.metrics[0]!.value).toBe(2n ** 63n + 5n);
    expect(p.metrics[1]!.value).toBe(-(2n ** 60n) - 1n);
    expect(p.metrics[2]!.value).toBe(7);
    expect(typeof p.metrics[2]!.value).toBe('number');
  });

  it('encodes null as is_null and floats as float32', () => {
    const p = roundTrip([
      { name: 'n', datatype: 'Float', value: null, timestamp: 1 },
      { name: 'f', datatype: 'Float', value: 1.1, timestamp: 1 },
      { name: 'b', datatype: 'Boolean', value: false, timestamp: 1 },
    ]);
    expect(p.metrics[0]!.value).toBeNull();
    expect(p.metrics[1]!.value).toBe(Math.fround(1.1));
    expect(p.metrics[2]!.value).toBe(false);
  });

  it('carries names, aliases, per-metric timestamps and datatypes', () => {
    const p = roundTrip([{ name: 'temperature', alias: 42, datatype: 'Double', value: 21.5, timestamp: 1_700_000_000_000 }]);
    expect(p.metrics[0]).toEqual({ name: 'temperature', alias: 42, datatype: 'Double', value: 21.5, timestamp: 1_700_000_000_000 });
  });
});
