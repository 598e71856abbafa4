// Sparkplug B protobuf at the boundary: our metrics in, bytes out, and back, through the generated protobuf
// message of sparkplug-payload. Protobuf `Long`s never leave this file: 64-bit values become numbers when safe,
// bigints when not.
import { createRequire } from 'node:module';
import type { SparkplugDataType } from './datatypes.js';

const require = createRequire(import.meta.url);
const ProtoPayload = (require('sparkplug-payload/lib/sparkplugPayloadProto.js') as {
  org: { eclipse: { tahu: { protobuf: { Payload: { decode(bytes: Uint8Array): unknown; encode(message: object): { finish(): Uint8Array } } } } } };
}).org.eclipse.tahu.protobuf.Payload;

export type MetricValue = number | boolean | bigint | string | null;

/**
 * A metric's PropertySet, limited to what we publish and read: Int32 values by key (the "Quality" property).
 * Other property types that arrive are left out.
 */
export type MetricProperties = Record<string, number>;

export interface Metric {
  name?: string;
  alias?: number;
  /** Acquisition time, UTC ms. */
  timestamp?: number;
  datatype: SparkplugDataType;
  value: MetricValue;
  isHistorical?: boolean;
  properties?: MetricProperties;
  /** The engineering unit, the PropertySet's `engUnit` (String); our births carry it, data does not. */
  unit?: string;
}

/** The property name of a metric's engineering unit (as Eclipse Tahu names it). */
export const ENG_UNIT_PROPERTY = 'engUnit';

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

export interface EncodeOptions {
  /** false: metrics go without their datatype, as a host's command may (the receiver knows it from the birth). */
  datatypes?: boolean;
}

const DATATYPE_CODES: Record<SparkplugDataType, number> = {
  Int8: 1, Int16: 2, Int32: 3, Int64: 4, UInt8: 5, UInt16: 6, UInt32: 7, UInt64: 8,
  Float: 9, Double: 10, Boolean: 11, String: 12, DateTime: 13, Text: 14,
};

export function encodePayload(payload: Payload, options: EncodeOptions = {}): Uint8Array {
  const message: Record<string, unknown> = {
    timestamp: toLongInput(payload.timestamp, true),
    metrics: payload.metrics.map((m) => {
      const out: Record<string, unknown> = {};
      if (m.name !== undefined) out.name = m.name;
      if (m.alias !== undefined) out.alias = toLongInput(m.alias, true);
      if (m.timestamp !== undefined) out.timestamp = toLongInput(m.timestamp, true);
      // [tck-id-payloads-metric-datatype-value-type] [tck-id-payloads-metric-datatype-value] the enum's uint32 code.
      if (options.datatypes !== false) out.datatype = DATATYPE_CODES[m.datatype];
      if (m.isHistorical) out.isHistorical = true;
      if (m.properties || m.unit !== undefined) out.properties = propertySet(m.properties ?? {}, m.unit);
      if (m.value === null) out.isNull = true;
      else Object.assign(out, valueField(m));
      return out;
    }),
  };
  if (payload.seq !== undefined) message.seq = toLongInput(payload.seq, true);
  return ProtoPayload.encode(message).finish();
}

const INT32 = DATATYPE_CODES.Int32;
const STRING = DATATYPE_CODES.String;

/** [tck-id-payloads-propertyset-keys-array-size] keys and values side by side, as many of each. */
function propertySet(properties: MetricProperties, unit: string | undefined): { keys: string[]; values: object[] } {
  const keys = Object.keys(properties);
  // Negative values go sign-extended into the unsigned 32-bit field, as for Int32 metrics.
  const values: object[] = keys.map((k) => ({ type: INT32, intValue: Number(BigInt.asUintN(32, BigInt(Math.trunc(properties[k]!)))) }));
  if (unit !== undefined) {
    keys.push(ENG_UNIT_PROPERTY);
    values.push({ type: STRING, stringValue: unit });
  }
  return { keys, values };
}

/** The protobuf field each datatype travels in. */
function valueField(m: Metric): Record<string, unknown> {
  const v = m.value as number | bigint | boolean | string;
  switch (m.datatype) {
    // Sparkplug 3.0 §6.4.16 (Datatype details): Int8, Int16 and Int32 are "Signed 8/16/32-bit integer" carried
    // in the protobuf uint32 field. We write each signed value as its two's complement in its own width
    // (Int8 -1 as 255, Int16 -1234 as 64302), the bit pattern the specification's array types also use (Int8Array
    // -23 → 0xEF). Readers that cast to the narrow type (Eclipse Tahu) and readers that check the width
    // (pysparkplug) both read it back; sign-extending to 32 bits is refused by the latter as an overflow.
    case 'Int8':
      return { intValue: Number(BigInt.asUintN(8, BigInt(Math.trunc(Number(v))))) };
    case 'Int16':
      return { intValue: Number(BigInt.asUintN(16, BigInt(Math.trunc(Number(v))))) };
    case 'Int32':
      return { intValue: Number(BigInt.asUintN(32, BigInt(Math.trunc(Number(v))))) };
    case 'UInt8':
    case 'UInt16':
      return { intValue: Number(v) >>> 0 };
    case 'UInt32':
      // In the 64-bit field, as Tahu and the TCK do (the specification's table says int_value; we read both).
      return { longValue: toLongInput(v as number | bigint, true) };
    case 'Int64':
    case 'DateTime':
      return { longValue: toLongInput(v as number | bigint, false) };
    case 'UInt64':
      return { longValue: toLongInput(v as number | bigint, true) };
    case 'Float':
      return { floatValue: Number(v) };
    case 'Double':
      return { doubleValue: Number(v) };
    case 'Boolean':
      return { booleanValue: Boolean(v) };
    case 'String':
    case 'Text':
      return { stringValue: String(v) };
  }
}

/** A metric as it arrived: commands may leave out the datatype and name their metric by alias only. */
export type DecodedMetric = Omit<Metric, 'datatype'> & {
  datatype?: SparkplugDataType;
  /**
   * Set when the metric declares a datatype code this gateway does not read (0 "Unknown", a code beyond the
   * specification's enum, or a type such as DataSet or an array that no tag of ours has); `datatype` and
   * `value` are then left unset / null, so that a command carrying it is refused, never written.
   */
  unreadableDatatype?: number;
  /** The metric's is_transient flag (a value not to be historized); only set when true. */
  isTransient?: boolean;
};

export interface DecodedPayload {
  timestamp: number;
  seq?: number;
  metrics: DecodedMetric[];
}

/** The datatype of a metric that arrived without one, from our own birth (a command naming it by alias or name). */
export type TypeResolver = (metric: { name?: string; alias?: number }) => SparkplugDataType | undefined;

const DATATYPE_NAMES: Record<number, SparkplugDataType> = {
  1: 'Int8', 2: 'Int16', 3: 'Int32', 4: 'Int64', 5: 'UInt8', 6: 'UInt16', 7: 'UInt32', 8: 'UInt64',
  9: 'Float', 10: 'Double', 11: 'Boolean', 12: 'String', 13: 'DateTime', 14: 'Text',
};

interface RawMetric {
  name?: string;
  alias?: unknown;
  timestamp?: unknown;
  datatype?: number;
  isHistorical?: boolean;
  isTransient?: boolean;
  isNull?: boolean;
  intValue?: number;
  longValue?: unknown;
  floatValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
  stringValue?: string;
  properties?: { keys?: string[]; values?: Array<{ type?: number; isNull?: boolean; intValue?: number; longValue?: unknown; stringValue?: string }> };
}

/**
 * Bytes to our metrics, read from the protobuf message itself rather than through the library's decoder, which
 * turns a metric without datatype into undefined and reads UInt32 from long_value only.
 */
export function decodePayload(bytes: Uint8Array, resolveType?: TypeResolver): DecodedPayload {
  const raw = ProtoPayload.decode(bytes) as unknown as { timestamp?: unknown; seq?: unknown; metrics?: RawMetric[] };
  const payload: DecodedPayload = { timestamp: has(raw, 'timestamp') ? Number(fromLong(raw.timestamp, true)) : 0, metrics: [] };
  if (has(raw, 'seq')) payload.seq = Number(fromLong(raw.seq, true));
  for (const m of raw.metrics ?? []) {
    const metric: DecodedMetric = { value: null };
    if (has(m, 'name')) metric.name = m.name!;
    if (has(m, 'alias')) metric.alias = Number(fromLong(m.alias, true));
    if (has(m, 'timestamp')) metric.timestamp = Number(fromLong(m.timestamp, true));
    const declared = has(m, 'datatype') ? m.datatype! : undefined;
    const known = declared === undefined ? undefined : DATATYPE_NAMES[declared];
    if (declared !== undefined && known === undefined) {
      metric.unreadableDatatype = declared;
      payload.metrics.push(metric);
      continue;
    }
    const datatype = known ?? resolveType?.(metric);
    if (datatype) metric.datatype = datatype;
    metric.value = m.isNull ? null : decodeValue(datatype, m);
    if (m.isHistorical) metric.isHistorical = true;
    if (m.isTransient) metric.isTransient = true;
    const properties = has(m, 'properties') ? readProperties(m.properties!) : undefined;
    if (properties) metric.properties = properties;
    const unit = has(m, 'properties') ? engUnitOf(m.properties!) : undefined;
    if (unit !== undefined) metric.unit = unit;
    payload.metrics.push(metric);
  }
  return payload;
}

/** The integer properties of a PropertySet; undefined when it holds none. */
function readProperties(set: NonNullable<RawMetric['properties']>): MetricProperties | undefined {
  const keys = set.keys ?? [];
  const values = set.values ?? [];
  const out: MetricProperties = {};
  let any = false;
  keys.forEach((key, i) => {
    const v = values[i];
    if (!v || v.isNull) return;
    const type = DATATYPE_NAMES[v.type ?? 0];
    let n: number | undefined;
    if (type === 'Int8' || type === 'Int16' || type === 'Int32') n = has(v, 'intValue') ? v.intValue! | 0 : undefined;
    else if (type === 'UInt8' || type === 'UInt16' || type === 'UInt32') {
      n = has(v, 'intValue') ? v.intValue! >>> 0 : has(v, 'longValue') ? Number(fromLong(v.longValue, true)) : undefined;
    }
    if (n === undefined) return;
    out[key] = n;
    any = true;
  });
  return any ? out : undefined;
}

/** The PropertySet's engUnit, when it is a String. */
function engUnitOf(set: NonNullable<RawMetric['properties']>): string | undefined {
  const i = (set.keys ?? []).indexOf(ENG_UNIT_PROPERTY);
  const v = i < 0 ? undefined : set.values?.[i];
  if (!v || v.isNull || (v.type !== STRING && v.type !== DATATYPE_CODES.Text) || !has(v, 'stringValue')) return undefined;
  return v.stringValue;
}

function has<T extends object>(o: T, key: keyof T & string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key) && (o as Record<string, unknown>)[key] !== null;
}

/**
 * A narrow signed integer from the uint32 field, in either form a sender may use: two's complement in its own
 * width (0..2^bits-1, as we and pysparkplug write it) or sign-extended to 32 bits (as Tahu writes it). Anything
 * else is returned as it is, out of range, so that a command carrying it is refused rather than wrapped.
 */
function signedOf(int: number, bits: 8 | 16): number {
  const u = int >>> 0;
  const width = 2 ** bits;
  if (u < width) return u >= width / 2 ? u - width : u;
  if (u >= 2 ** 32 - width / 2) return u - 2 ** 32;
  return u;
}

function decodeValue(datatype: SparkplugDataType | undefined, m: RawMetric): MetricValue {
  const int = has(m, 'intValue') ? m.intValue! : undefined;
  const long = has(m, 'longValue') ? m.longValue : undefined;
  switch (datatype) {
    case 'Int8':
      return int === undefined ? (long === undefined ? null : Number(BigInt.asIntN(32, BigInt(fromLong(long, true))))) : signedOf(int, 8);
    case 'Int16':
      return int === undefined ? (long === undefined ? null : Number(BigInt.asIntN(32, BigInt(fromLong(long, true))))) : signedOf(int, 16);
    case 'Int32':
      return int === undefined ? (long === undefined ? null : Number(BigInt.asIntN(32, BigInt(fromLong(long, true))))) : int | 0;
    case 'UInt8':
    case 'UInt16':
      return int === undefined ? (long === undefined ? null : Number(fromLong(long, true))) : int >>> 0;
    case 'UInt32':
      // [Tahu and the TCK put UInt32 in long_value; the specification's table says int_value: read either.]
      return long !== undefined ? Number(BigInt.asUintN(32, BigInt(fromLong(long, true)))) : int === undefined ? null : int >>> 0;
    case 'Int64':
    case 'DateTime':
      return long === undefined ? (int === undefined ? null : int | 0) : fromLong(long, false);
    case 'UInt64':
      return long === undefined ? (int === undefined ? null : int >>> 0) : fromLong(long, true);
    case 'Float':
    case 'Double':
      return has(m, 'floatValue') ? m.floatValue! : has(m, 'doubleValue') ? m.doubleValue! : int ?? (long === undefined ? null : Number(fromLong(long, false)));
    case 'Boolean':
      return has(m, 'booleanValue') ? m.booleanValue! : null;
    case 'String':
    case 'Text':
      return has(m, 'stringValue') ? m.stringValue! : null;
    default:
      // No datatype and none known: whatever field is set, as it is.
      if (int !== undefined) return int;
      if (long !== undefined) return fromLong(long, false);
      for (const k of ['floatValue', 'doubleValue', 'booleanValue', 'stringValue'] as const) if (has(m, k)) return m[k]!;
      return null;
  }
}
