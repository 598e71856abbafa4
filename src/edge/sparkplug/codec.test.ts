import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { decodePayload, encodePayload, type Metric } from './codec.js';

const roundTrip = (metrics: Metric[], seq?: number) => decodePayload(encodePayload({ timestamp: 1_700_000_000_123, seq, metrics }));

// The library's own decoder, as an independent reader of our bytes (what a JavaScript host would use).
const require = createRequire(import.meta.url);
const library = (require('sparkplug-payload') as { get(ns: string): { decodePayload(b: Uint8Array): { metrics: Array<{ name: string; type: string; value: unknown }> } } }).get('spBv1.0');
const ProtoPayload = (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as {
  org: { eclipse: { tahu: { protobuf: { Payload: { decode(b: Uint8Array): unknown; encode(m: object): { finish(): Uint8Array } } } } } };
}).org.eclipse.tahu.protobuf.Payload;
const longText = (v: unknown) => (typeof v === 'object' && v !== null ? String(v) : v);

describe('Sparkplug codec', () => {
  it('keeps payload timestamp and seq as plain numbers, including seq 0 and the wrap value 255', () => {
    const p = roundTrip([], 0);
    expect(p.seq).toBe(0); // a protobuf Long zero would fail this
    expect(p.timestamp).toBe(1_700_000_000_123);
    expect(roundTrip([], 255).seq).toBe(255);
    expect(decodePayload(encodePayload({ timestamp: 1, metrics: [] })).seq).toBeUndefined();
  });

  it('round-trips negative integers of every width and unsigned 32-bit values above 2^31', () => {
    const p = roundTrip([
      { name: 'i8', datatype: 'Int8', value: -128, timestamp: 1 },
      { name: 'i16', datatype: 'Int16', value: -12345, timestamp: 1 },
      { name: 'i32', datatype: 'Int32', value: -2_000_000_000, timestamp: 1 },
      { name: 'u32', datatype: 'UInt32', value: 4_000_000_000, timestamp: 1 },
      { name: 'u16', datatype: 'UInt16', value: 65535, timestamp: 1 },
    ]);
    expect(p.metrics.map((m) => m.value)).toEqual([-128, -12345, -2_000_000_000, 4_000_000_000, 65535]);
    expect(p.metrics.every((m) => typeof m.value === 'number')).toBe(true);
  });

  it('writes bytes the library decoder reads the same way (UInt32 in the 64-bit field, as Tahu does)', () => {
    const decoded = library.decodePayload(encodePayload({ timestamp: 5, seq: 3, metrics: [
      { name: 'i32', datatype: 'Int32', value: -7, timestamp: 1 },
      { name: 'u32', datatype: 'UInt32', value: 3_000_000_000, timestamp: 1 },
      { name: 'u64', datatype: 'UInt64', value: 2n ** 63n + 5n, timestamp: 1 },
      { name: 'f', datatype: 'Float', value: 1.5, timestamp: 1 },
      { name: 's', datatype: 'String', value: 'Pump 3', timestamp: 1 },
    ] }));
    expect(decoded.metrics.map((m) => [m.name, m.type, longText(m.value)])).toEqual([
      ['i32', 'Int32', -7], ['u32', 'UInt32', 3_000_000_000], ['u64', 'UInt64', '9223372036854775813'], ['f', 'Float', 1.5], ['s', 'String', 'Pump 3'],
    ]);
  });

  it('writes Int8 and Int16 as two\'s complement in their own width, and reads that and the sign-extended form', () => {
    const raw = ProtoPayload.decode(encodePayload({ timestamp: 1, metrics: [
      { name: 'i8', datatype: 'Int8', value: -1, timestamp: 1 },
      { name: 'i16', datatype: 'Int16', value: -1234, timestamp: 1 },
      { name: 'i32', datatype: 'Int32', value: -1, timestamp: 1 },
    ] })) as { metrics: Array<{ intValue: number }> };
    expect(raw.metrics.map((m) => m.intValue)).toEqual([255, 64302, 4294967295]);
    // What Tahu's encoders write: Java's int widening sign-extends Int8 and Int16 to 32 bits.
    const extended = ProtoPayload.encode({ timestamp: 1, metrics: [
      { name: 'i8', datatype: 1, intValue: 4294967168 }, { name: 'i16', datatype: 2, intValue: 4294966062 },
      { name: 'i8max', datatype: 1, intValue: 127 }, { name: 'i16min', datatype: 2, intValue: 32768 },
    ] }).finish();
    expect(decodePayload(extended).metrics.map((m) => m.value)).toEqual([-128, -1234, 127, -32768]);
    // Neither form: left out of range, so that a command carrying it is refused rather than wrapped.
    const neither = ProtoPayload.encode({ timestamp: 1, metrics: [{ name: 'i16', datatype: 2, intValue: 70000 }] }).finish();
    expect(decodePayload(neither).metrics[0]!.value).toBe(70000);
  });

  it('marks a metric whose datatype code is not one it reads, without a value', () => {
    const bytes = ProtoPayload.encode({ timestamp: 1, metrics: [
      { name: 'x', datatype: 99, intValue: 5 }, { name: 'y', datatype: 0, intValue: 5 }, { name: 'z', datatype: 16 }, { name: 'ok', datatype: 6, intValue: 5 },
    ] }).finish();
    const p = decodePayload(bytes, () => 'UInt16');
    expect(p.metrics.map((m) => [m.name, m.datatype, m.value, m.unreadableDatatype])).toEqual([
      ['x', undefined, null, 99], ['y', undefined, null, 0], ['z', undefined, null, 16], ['ok', 'UInt16', 5, undefined],
    ]);
  });

  it('keeps 64-bit values exact: bigints beyond 2^53, numbers below', () => {
    const p = roundTrip([
      { name: 'u64', datatype: 'UInt64', value: 2n ** 63n + 5n, timestamp: 1 },
      { name: 'i64', datatype: 'Int64', value: -(2n ** 60n) - 1n, timestamp: 1 },
      { name: 'bdSeq', datatype: 'Int64', value: 7 },
      { name: 'u64max', datatype: 'UInt64', value: 2n ** 64n - 1n, timestamp: 1 },
      { name: 'i64neg', datatype: 'Int64', value: -5, timestamp: 1 },
    ]);
    expect(p.metrics[0]!.value).toBe(2n ** 63n + 5n);
    expect(p.metrics[1]!.value).toBe(-(2n ** 60n) - 1n);
    expect(p.metrics[2]!.value).toBe(7);
    expect(typeof p.metrics[2]!.value).toBe('number');
    expect(p.metrics[3]!.value).toBe(2n ** 64n - 1n);
    expect(p.metrics[4]!.value).toBe(-5);
  });

  it('encodes null as is_null and floats as float32', () => {
    const p = roundTrip([
      { name: 'n', datatype: 'Float', value: null, timestamp: 1 },
      { name: 'f', datatype: 'Float', value: 1.1, timestamp: 1 },
      { name: 'b', datatype: 'Boolean', value: false, timestamp: 1 },
      { name: 'nu', datatype: 'UInt64', value: null, timestamp: 1 },
    ]);
    expect(p.metrics[0]!.value).toBeNull();
    expect(p.metrics[1]!.value).toBe(Math.fround(1.1));
    expect(p.metrics[2]!.value).toBe(false);
    expect(p.metrics[3]!.value).toBeNull();
  });

  it('carries names, aliases, per-metric timestamps, datatypes and the historical flag', () => {
    const p = roundTrip([{ name: 'temperature', alias: 42, datatype: 'Double', value: 21.5, timestamp: 1_700_000_000_000, isHistorical: true }]);
    expect(p.metrics[0]).toEqual({ name: 'temperature', alias: 42, datatype: 'Double', value: 21.5, timestamp: 1_700_000_000_000, isHistorical: true });
  });

  it('reads a command that names its metric by alias only and leaves out the datatype, with the type from our birth', () => {
    const bytes = encodePayload({ timestamp: 1, metrics: [
      { alias: 9, datatype: 'Int16', value: -3 },
      { alias: 10, datatype: 'UInt32', value: 4_000_000_000 },
    ] }, { datatypes: false });
    const types: Record<number, 'Int16' | 'UInt32'> = { 9: 'Int16', 10: 'UInt32' };
    const p = decodePayload(bytes, (m) => types[m.alias!]);
    expect(p.metrics.map((m) => [m.alias, m.datatype, m.value, m.name])).toEqual([[9, 'Int16', -3, undefined], [10, 'UInt32', 4_000_000_000, undefined]]);
    // Without a resolver the datatype stays unknown and the raw field is returned.
    expect(decodePayload(bytes).metrics[0]!.datatype).toBeUndefined();
  });

  // [tck-id-payloads-propertyset-keys-array-size] [tck-id-payloads-propertyset-quality-value-type]
  // [tck-id-payloads-propertyset-quality-value-value]
  it('carries the Quality property as an Int32 in a PropertySet whose keys and values match, also on a null value', () => {
    const metrics: Metric[] = [
      { name: 'good', datatype: 'Double', value: 1.5, timestamp: 1, properties: { Quality: 192 } },
      { name: 'stale', alias: 3, datatype: 'UInt16', value: 7, timestamp: 1, properties: { Quality: 500 } },
      { name: 'bad', datatype: 'Float', value: null, timestamp: 1, properties: { Quality: 0 } },
      { name: 'none', datatype: 'Boolean', value: true, timestamp: 1 },
    ];
    const bytes = encodePayload({ timestamp: 5, metrics });
    expect(decodePayload(bytes).metrics.map((m) => [m.name, m.value, m.properties])).toEqual([
      ['good', 1.5, { Quality: 192 }], ['stale', 7, { Quality: 500 }], ['bad', null, { Quality: 0 }], ['none', true, undefined],
    ]);
    // The generated message itself: one key, one value of type Int32 (3) in int_value.
    const raw = (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as any).org.eclipse.tahu.protobuf.Payload.decode(bytes);
    expect(raw.metrics[1].properties.keys).toEqual(['Quality']);
    expect(raw.metrics[1].properties.values).toHaveLength(1);
    expect(raw.metrics[1].properties.values[0]).toMatchObject({ type: 3, intValue: 500 });
    expect(raw.metrics[3].properties).toBeNull();
    // And the library's decoder, as a JavaScript host reads it.
    const lib = library.decodePayload(bytes) as unknown as { metrics: Array<{ properties?: Record<string, { type: string; value: unknown }> }> };
    expect(lib.metrics[0]!.properties).toEqual({ Quality: { type: 'Int32', value: 192 } });
  });

  it('reads integer properties of any integer type a peer may send, and leaves other types out', () => {
    const Proto = (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as any).org.eclipse.tahu.protobuf.Payload;
    const bytes = Proto.encode({ timestamp: 1, metrics: [{ name: 'm', datatype: 10, doubleValue: 2, properties: {
      keys: ['Quality', 'engUnit', 'u32', 'nothing'],
      values: [{ type: 7, longValue: 192 }, { type: 12, stringValue: 'degC' }, { type: 7, intValue: 4_000_000_000 }, { type: 3, isNull: true }],
    } }] }).finish();
    expect(decodePayload(bytes).metrics[0]!.properties).toEqual({ Quality: 192, u32: 4_000_000_000 });
  });
});
