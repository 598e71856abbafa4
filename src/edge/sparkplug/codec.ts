// Sparkplug B protobuf at the boundary: our metrics in, bytes out, and back. Protobuf `Long`s never leave
// this file: 64-bit values become numbers when safe, bigints when not.
import { createRequire } from 'node:module';
import type * as SparkplugPayload from 'sparkplug-payload/lib/sparkplugbpayload.js';
import type { SparkplugDataType } from './datatypes.js';

const require = createRequire(import.meta.url);
const spb = (require('sparkplug-payload') as { get(ns: string): typeof SparkplugPayload }).get('spBv1.0');

export type MetricValue = number | boolean | bigint | string | null;

export interface Metric {
  name?: string;
  alias?: number;
  /** Acquisition time, UTC ms. */
  timestamp?: number;
  datatype: SparkplugDataType;
  value: MetricValue;
  isHistorical?: boolean;
}

export interface Payload {
  timestamp: number;
  seq?: number;
  metrics: Metric[];
}

interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
  toString(): string;
}

function isLong(v: unknown): v is LongLike {
  return typeof v === 'object' && v !== null && 'low' in v && 'high' in v && 'unsigned' in v;
}

/** A protobuf Long (or number) as a number when it fits exactly, else as a bigint. */
export function fromLong(v: unknown, unsigned: boolean): number | bigint {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return v;
  if (!isLong(v)) throw new TypeError(`expected a 64-bit integer, got ${String(v)}`);
  const big = BigInt.asUintN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0));
  const value = unsigned ? big : BigInt.asIntN(64, big);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function toLongInput(value: number | bigint, unsigned: boolean): unknown {
  // protobufjs accepts a decimal string for 64-bit fields; it keeps every bit of a bigint.
  const big = typeof value === 'bigint' ? value : BigInt(Math.trunc(value));
  return (unsigned ? BigInt.asUintN(64, big) : BigInt.asIntN(64, big)).toString();
}

export function encodePayload(payload: Payload): Uint8Array {
  return spb.encodePayload({
    timestamp: toLongInput(payload.timestamp, true) as never,
    seq: payload.seq === undefined ? undefined : (toLongInput(payload.seq, true) as never),
    metrics: payload.metrics.map((m) => ({
      name: m.name,
      alias: m.alias === undefined ? undefined : (toLongInput(m.alias, true) as never),
      timestamp: m.timestamp === undefined ? undefined : (toLongInput(m.timestamp, true) as never),
      type: m.datatype,
      value: encodeValue(m) as never,
      isHistorical: m.isHistorical || undefined,
    })),
  });
}

function encodeValue(m: Metric): unknown {
  if (m.value === null) return null;
  switch (m.datatype) {
    case 'Int64':
    case 'DateTime':
      return toLongInput(m.value as number | bigint, false);
    case 'UInt32':
    case 'UInt64':
      return toLongInput(m.value as number | bigint, true);
    default:
      return m.value;
  }
}

export function decodePayload(bytes: Uint8Array): Payload {
  const raw = spb.decodePayload(bytes);
  return {
    timestamp: Number(fromLong(raw.timestamp ?? 0, true)),
    seq: raw.seq === undefined || raw.seq === null ? undefined : Number(fromLong(raw.seq, true)),
    metrics: (raw.metrics ?? []).map((m) => {
      const datatype = m.type as SparkplugDataType;
      const metric: Metric = { datatype, value: decodeValue(datatype, m.value) };
      if (m.name !== undefined && m.name !== null) metric.name = m.name;
      if (m.alias !== undefined && m.alias !== null) metric.alias = Number(fromLong(m.alias, true));
      if (m.timestamp !== undefined && m.timestamp !== null) metric.timestamp = Number(fromLong(m.timestamp, true));
      if (m.isHistorical) metric.isHistorical = true;
      return metric;
    }),
  };
}

function decodeValue(datatype: SparkplugDataType, value: unknown): MetricValue {
  if (value === null || value === undefined) return null;
  switch (datatype) {
    case 'Int64':
    case 'DateTime':
      return fromLong(value, false);
    case 'UInt32':
    case 'UInt64':
      // The library turns a UInt32 Long into a signed int; read it from the raw bits instead.
      return typeof value === 'number' ? value >>> 0 : fromLong(value, true);
    default:
      return value as MetricValue;
  }
}
