// A Sparkplug message as the cloud receives it: the Kafka record contract of the README.
import type { Gap, JournalEntry, RecordType } from '../uplink/journal.js';
import type { EdgeMessage, MessageKind } from './sparkplug/edge-node.js';
import { QUALITY_PROPERTY, qualityOfCode } from './sparkplug/quality.js';

const TYPE: Record<MessageKind, RecordType> = { NBIRTH: 'birth', DBIRTH: 'birth', DDATA: 'data', NDEATH: 'death', DDEATH: 'death' };

export function toJournalEntry(group: string, node: string, message: EdgeMessage): JournalEntry {
  const type = TYPE[message.kind];
  const device = message.device ?? null;
  const metrics = message.payload.metrics.map((m) => ({
    name: m.name,
    timestamp: m.timestamp ?? message.payload.timestamp,
    datatype: m.datatype,
    value: m.value,
    // good, stale or bad: the metric's Sparkplug Quality property; metrics without one (bdSeq) are good.
    quality: qualityOfCode(m.properties?.[QUALITY_PROPERTY]),
  }));
  // Field order matters: the forwarder rewrites the first `"historical":false` for records held back.
  const value =
    `{"type":${JSON.stringify(type)},"group":${JSON.stringify(group)},"node":${JSON.stringify(node)},` +
    `"device":${JSON.stringify(device)},"timestamp":${message.payload.timestamp},"historical":false,` +
    `"metrics":${JSON.stringify(metrics, bigintAsNumberOrString)}}`;
  return { key: device === null ? `${group}/${node}` : `${group}/${node}/${device}`, type, value, capturedAt: Date.now(), samples: metrics.length };
}

/** JSON has no 64-bit integers: a bigint that a double holds exactly stays a number, else a decimal string. */
function bigintAsNumberOrString(_key: string, v: unknown): unknown {
  if (typeof v !== 'bigint') return v;
  return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
}

/** The announcement that edge.seq from..to were dropped and will never arrive. */
export function gapJournalEntry(group: string, node: string, gap: Gap): JournalEntry {
  const now = Date.now();
  const value =
    `{"type":"gap","group":${JSON.stringify(group)},"node":${JSON.stringify(node)},"device":null,"timestamp":${now},` +
    `"historical":false,"from":${gap.from},"to":${gap.to},"count":${gap.count},"reason":${JSON.stringify(gap.reason)},` +
    `"ranges":${JSON.stringify(gap.ranges)}}`;
  return { key: `${group}/${node}`, type: 'gap', value, capturedAt: now };
}
