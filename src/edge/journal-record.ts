// A Sparkplug message in the terms of the Kafka record contract of the README; the journal stores it compactly
// and writes the contract's JSON when it is forwarded.
import { bigintAsNumberOrString, renderGapJson, type ContractMessage } from '../uplink/journal/compact.js';
import type { Gap, JournalEntry, RecordType } from '../uplink/journal/journal.js';
import type { EdgeMessage, MessageKind } from './sparkplug/edge-node.js';
import { QUALITY_PROPERTY, qualityOfCode } from './sparkplug/quality.js';

const TYPE: Record<MessageKind, RecordType> = { NBIRTH: 'birth', DBIRTH: 'birth', DDATA: 'data', NDEATH: 'death', DDEATH: 'death' };

export function toContractMessage(group: string, node: string, message: EdgeMessage): ContractMessage {
  return {
    type: TYPE[message.kind],
    group,
    node,
    device: message.device ?? null,
    timestamp: message.payload.timestamp,
    metrics: message.payload.metrics.map((m) => ({
      name: m.name!,
      timestamp: m.timestamp ?? message.payload.timestamp,
      datatype: m.datatype,
      value: bigintAsNumberOrString('', m.value),
      // good, stale or bad: the metric's Sparkplug Quality property; metrics without one (bdSeq) are good.
      quality: qualityOfCode(m.properties?.[QUALITY_PROPERTY]),
      ...(m.unit === undefined ? {} : { unit: m.unit }),
    })),
  };
}

export function toJournalEntry(group: string, node: string, message: EdgeMessage): JournalEntry {
  const m = toContractMessage(group, node, message);
  const key = m.device === null ? `${group}/${node}` : `${group}/${node}/${m.device}`;
  return { key, type: m.type, message: m, capturedAt: Date.now(), samples: m.metrics.length };
}

/** The announcement that edge.seq from..to were dropped and will never arrive. */
export function gapJournalEntry(group: string, node: string, gap: Gap): JournalEntry {
  const now = Date.now();
  return { key: `${group}/${node}`, type: 'gap', value: renderGapJson(group, node, now, gap), capturedAt: now };
}
