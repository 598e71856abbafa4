// `edge-gateway verify`: reads a topic with a throwaway consumer group and checks, per edge.node, that every
// edge.seq arrived or was announced dropped by a gap record. The logic is in report.ts, the consumer's reading in
// reading.ts; this is the Kafka side around them.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { registerKafkajsCodecs } from '../kafka/kafkajs-codecs.js';
import { TopicReading, type StartOffsets, type VerifyOptions } from './reading.js';
import { CompletenessTracker, type VerifyReport } from './report.js';

export { formatReport, ok, type VerifyReport } from './report.js';
export type { VerifyOptions, VerifyProgress } from './reading.js';

export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const tracker = new CompletenessTracker({ fromBeginning: options.fromBeginning });
  // The gateway compresses with zstd by default (client librdkafka), snappy or gzip: kafkajs reads them all so.
  registerKafkajsCodecs();
  const kafka = new Kafka({
    clientId: 'edge-gateway-verify',
    brokers: options.brokers,
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.NOTHING,
  });
  const start = await startOffsets(kafka, options);

  const groupId = `edge-gateway-verify-${randomUUID()}`;
  const reading = new TopicReading(kafka, groupId, options, tracker, start, started);
  await reading.read();
  await deleteGroup(kafka, groupId);
  const filledFromBeyond = reading.fillFromBeyond();
  reading.progress(true);

  return {
    ...tracker.report(),
    run: {
      brokers: options.brokers,
      topic: options.topic,
      partitions: start.partitions,
      stoppedBy: reading.stoppedBy,
      follow: reading.follow,
      atStart: start.atStart,
      filledFromBeyond,
      endReached: reading.pending.size === 0,
      idleMs: reading.idleMs,
      elapsedMs: Date.now() - started,
    },
  };
}

/** The end offsets at start: with --from-beginning the check covers at least everything up to them. */
async function startOffsets(kafka: Kafka, options: VerifyOptions): Promise<StartOffsets> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(options.topic)) throw new Error(`topic "${options.topic}" does not exist on ${options.brokers.join(',')}`);
    const offsets = await admin.fetchTopicOffsets(options.topic);
    const ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    let atStart: number | null = null;
    if (options.fromBeginning) atStart = offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
    if (options.fromBeginning) {
      for (const o of offsets) if (BigInt(o.low) >= BigInt(o.high)) ends.delete(o.partition); // empty partition
    } else {
      ends.clear(); // only what arrives after start: there is no backlog to reach
    }
    return { ends, partitions: offsets.length, atStart };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Best effort: the throwaway group would otherwise linger until the broker expires it. */
async function deleteGroup(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch {
    /* it expires by itself */
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
