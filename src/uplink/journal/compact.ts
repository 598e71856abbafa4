// The compact record format: a captured message as the journal stores it, and the Kafka value it turns into
// on the way out. A record names its source and each metric by a dictionary number; timestamps are deltas;
// values are typed bytes (a float that a 32-bit float holds exactly takes 4). What the format cannot hold
// exactly (an unusual value, a full dictionary) is stored as the record's JSON instead, so the value Kafka
// receives is always the same bytes the plain format would have sent.
import { ByteReader, ByteWriter, DecodeError } from './bytes.js';
import type { Dictionary } from './dictionary.js';

export type RecordType = 'data' | 'birth' | 'death' | 'gap';
export type Quality = 'good' | 'stale' | 'bad';

export interface ContractMetric {
  name: string;
  /** Acquisition time, ms since the epoch. */
  timestamp: number;
  datatype: string;
  /** Already in its JSON form: a 64-bit integer a double cannot hold is a decimal string. */
  value: unknown;
  quality: Quality;
  /** The tag's engineering unit, in births only. The compact format does not hold it: such records are JSON. */
  unit?: string;
}

/** A message in the record contract's terms (README, "Kafka record"), before it is written as JSON. */
export interface ContractMessage {
  type: RecordType;
  group: string;
  node: string;
  device: string | null;
  timestamp: number;
  metrics: ContractMetric[];
}

/** JSON has no 64-bit integers: a bigint that a double holds exactly stays a number, else a decimal string. */
export function bigintAsNumberOrString(_key: string, v: unknown): unknown {
  if (typeof v !== 'bigint') return v;
  return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
}

export function keyOf(group: string, node: string, device: string | null): string {
  return device === null ? `${group}/${node}` : `${group}/${node}/${device}`;
}

// The JSON values stored as such (gap announcements; messages of journals from before compact records) say
// `"historical":false`; `markHistorical` turns that into true for a record held back by an outage. The writers
// and that reader are here together: the first `"historical":` of a value is always the message's own.
const LIVE = '"historical":false';

/** A stored JSON value as Kafka receives it when the record was held back by an outage. */
export function markHistorical(value: string): string {
  return value.replace(LIVE, '"historical":true');
}

/** The record's Kafka value, written field by field in the contract's order. */
export function renderJson(m: ContractMessage): string {
  // "historical" before "metrics": markHistorical must meet the message's flag first, never a metric's text.
  // `unit` last, and only where there is one (JSON.stringify leaves out undefined).
  const metrics = m.metrics.map((x) => ({ name: x.name, timestamp: x.timestamp, datatype: x.datatype, value: x.value, quality: x.quality, unit: x.unit }));
  return (
    `{"type":${JSON.stringify(m.type)},"group":${JSON.stringify(m.group)},"node":${JSON.stringify(m.node)},` +
    `"device":${JSON.stringify(m.device)},"timestamp":${m.timestamp},${LIVE},` +
    `"metrics":${JSON.stringify(metrics, bigintAsNumberOrString)}}`
  );
}

/** The announcement that edge.seq from..to were dropped and will never arrive (a record of type gap). */
export function renderGapJson(group: string, node: string, timestamp: number, gap: { from: number; to: number; count: number; reason: string; ranges: unknown }): string {
  return (
    `{"type":"gap","group":${JSON.stringify(group)},"node":${JSON.stringify(node)},"device":null,"timestamp":${timestamp},` +
    `${LIVE},"from":${gap.from},"to":${gap.to},"count":${gap.count},"reason":${JSON.stringify(gap.reason)},` +
    `"ranges":${JSON.stringify(gap.ranges)}}`
  );
}

const KIND = { null: 0, false: 1, true: 2, int: 3, f32: 4, f64: 5, text: 6, json: 7, absent: 8 } as const;
const QUALITY_NAME = ['good', 'stale', 'bad'] as const;
const QUALITY_TAIL = QUALITY_NAME.map((q) => `,"quality":"${q}"}`);
const OWN_TIME = 0x40;
/** The start of a record's value, per type. */
const TYPE_HEAD: Record<string, string> = Object.fromEntries(['data', 'birth', 'death', 'gap'].map((t) => [t, `{"type":${JSON.stringify(t)}`]));
/** Integers up to this magnitude are varints; beyond, a double (zigzag of 2^53 would not be exact). */
const MAX_VARINT_INT = 2 ** 52;

const writer = new ByteWriter();
/** A UTF-16 surrogate without its pair: UTF-8 cannot hold it, JSON escapes it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const isTime = (t: unknown): t is number => typeof t === 'number' && Number.isSafeInteger(t) && Math.abs(t) < MAX_VARINT_INT;

function writeValue(w: ByteWriter, head: number, v: unknown): boolean {
  if (v === null) w.byte(head | KIND.null);
  else if (v === undefined) w.byte(head | KIND.absent);
  else if (v === false) w.byte(head | KIND.false);
  else if (v === true) w.byte(head | KIND.true);
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) < MAX_VARINT_INT && !Object.is(v, -0)) {
      w.byte(head | KIND.int);
      w.zigzag(v);
    } else if (Math.fround(v) === v) {
      w.byte(head | KIND.f32);
      w.f32(v);
    } else {
      w.byte(head | KIND.f64);
      w.f64(v);
    }
  } else if (typeof v === 'string' && !LONE_SURROGATE.test(v)) {
    w.byte(head | KIND.text);
    w.text(v);
  } else {
    // Lone surrogates, objects, arrays: their JSON text, which is what the contract would carry.
    let text: string | undefined;
    try {
      text = JSON.stringify(v, bigintAsNumberOrString);
    } catch {
      return false;
    }
    if (text === undefined) return false;
    w.byte(head | KIND.json);
    w.text(text);
  }
  return true;
}

/**
 * Writes the compact bytes of a message after what `w` holds, numbering new dictionary entries as it goes;
 * false (and nothing written) when the message cannot be held exactly: the caller stores its JSON instead.
 */
export function encodeCompactInto(w: ByteWriter, m: ContractMessage, key: string, capturedAt: number, dict: Dictionary): boolean {
  if (!isTime(m.timestamp) || !isTime(capturedAt)) return false;
  const source = dict.sourceId(m.group, m.node, m.device);
  if (source === undefined || dict.keyOf(source) !== key) return false;
  const start = w.length;
  w.varint(source);
  w.zigzag(m.timestamp - capturedAt);
  w.varint(m.metrics.length);
  const metrics = m.metrics;
  for (let i = 0; i < metrics.length; i++) {
    const x = metrics[i]!;
    if (x.unit !== undefined) {
      // A birth declaring units: rare (once per session and device), stored as its JSON.
      w.truncate(start);
      return false;
    }
    const quality = x.quality === 'good' ? 0 : x.quality === 'stale' ? 1 : x.quality === 'bad' ? 2 : undefined;
    const own = x.timestamp !== m.timestamp;
    const id = (typeof x.name === 'string' && (typeof x.datatype === 'string' || typeof x.datatype === 'number') && quality !== undefined && (!own || isTime(x.timestamp)))
      ? dict.metricIdAt(source, i, x.name, x.datatype) : undefined;
    if (id === undefined) {
      w.truncate(start);
      return false;
    }
    w.varint(id);
    if (!writeValue(w, (quality! << 4) | (own ? OWN_TIME : 0), x.value)) {
      w.truncate(start);
      return false;
    }
    if (own) w.zigzag(x.timestamp - m.timestamp);
  }
  return true;
}

/** The compact bytes of a message, in a buffer of their own; undefined when the format cannot hold it. */
export function encodeCompact(m: ContractMessage, key: string, capturedAt: number, dict: Dictionary): Buffer | undefined {
  writer.reset();
  return encodeCompactInto(writer, m, key, capturedAt, dict) ? writer.take() : undefined;
}

function renderNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : 'null';
}

/**
 * The Kafka value of a compact record, saying `"historical":true` when `historical` (a record held back by an
 * outage: written so at once, not copied again with the flag replaced); throws DecodeError for bytes that are not one.
 */
export function renderCompact(data: Buffer, type: RecordType, capturedAt: number, dict: Dictionary, historical = false): { key: string; value: string; samples: number } {
  const r = new ByteReader(data);
  const source = dict.get(r.varint());
  if (source?.kind !== 's') throw new DecodeError('unknown source');
  const timestamp = capturedAt + r.zigzag();
  const count = r.varint();
  if (count > r.remaining) throw new DecodeError('metric count past the end');
  let out = `${TYPE_HEAD[type] ?? `{"type":${JSON.stringify(type)}`}${source.head}${timestamp},"historical":${historical},"metrics":[`;
  for (let i = 0; i < count; i++) {
    const metric = dict.get(r.varint());
    if (metric?.kind !== 'm') throw new DecodeError('unknown metric');
    const head = r.byte();
    const quality = (head >> 4) & 3;
    if (quality > 2 || (head & 0x80) !== 0) throw new DecodeError('bad metric header');
    let value: string | undefined;
    switch (head & 0x0f) {
      case KIND.null: value = 'null'; break;
      case KIND.absent: value = undefined; break;
      case KIND.false: value = 'false'; break;
      case KIND.true: value = 'true'; break;
      case KIND.int: value = String(r.zigzag()); break;
      case KIND.f32: value = renderNumber(r.f32()); break;
      case KIND.f64: value = renderNumber(r.f64()); break;
      case KIND.text: value = JSON.stringify(r.text()); break;
      case KIND.json: value = r.text(); break;
      default: throw new DecodeError('unknown value kind');
    }
    const own = (head & OWN_TIME) !== 0 ? r.zigzag() : 0;
    if (i > 0) out += ',';
    out += `${metric.pre}${timestamp + own}${metric.mid}${value === undefined ? '' : `,"value":${value}`}${QUALITY_TAIL[quality]}`;
  }
  if (!r.done) throw new DecodeError('bytes after the last metric');
  return { key: source.key, value: `${out}]}`, samples: count };
}
