// `edge-gateway verify`: reads a topic with a throwaway consumer group and checks, per edge.node, that every
// edge.seq arrived or was announced dropped by a gap record. The logic is in verify-report.ts; this is the Kafka side.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { CompletenessTracker, parseSeq, type VerifyReport } from './verify-report.js';

export { formatReport, ok, type VerifyReport } from './verify-report.js';

export interface VerifyOptions {
  brokers: string[];
  topic: string;
  /** Read the whole topic; otherwise only what arrives once the consumer is ready (see `onReady`). */
  fromBeginning: boolean;
  /** Stop once the end offsets that existed at start were read and nothing new came for this long. Default 5000. */
  idleMs?: number;
  /** Stop after this long whatever happens (the report then says whether the end was reached). */
  timeoutMs?: number;
  /**
   * Called once the consumer joined its group and finished its first fetch: it knows where it reads from (without
   * `fromBeginning`, the end offsets of that moment), so what is produced from now on is counted. The idle time
   * runs from here too. For tests that produce "after start".
   */
  onReady?: () => void;
}

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : typeof one === 'string' ? one : one.toString('utf8');
}

export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const idleMs = options.idleMs ?? 5000;
  const tracker = new CompletenessTracker({ fromBeginning: options.fromBeginning });
  const kafka = new Kafka({
    clientId: 'edge-gateway-verify',
    brokers: options.brokers,
    connectionTimeout: 3000,
    requestTimeout: 15000,
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: logLevel.NOTHING,
  });

  // The end offsets at start: with --from-beginning the check covers at least everything up to them.
  const admin = kafka.admin();
  let ends: Map<number, bigint>;
  let partitions: number;
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(options.topic)) throw new Error(`topic "${options.topic}" does not exist on ${options.brokers.join(',')}`);
    const offsets = await admin.fetchTopicOffsets(options.topic);
    partitions = offsets.length;
    ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    if (options.fromBeginning) {
      for (const o of offsets) if (BigInt(o.low) >= BigInt(o.high)) ends.delete(o.partition); // empty partition
    } else {
      ends.clear(); // only what arrives after start: there is no backlog to reach
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const pending = new Map(ends); // partition → end offset not yet read up to

  const groupId = `edge-gateway-verify-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250, retry: { retries: 5 } });
  /** Joined, and past the first fetch: the start offsets are resolved ("latest" is only looked up there). */
  let ready = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  let stoppedBy: 'idle' | 'timeout' = 'idle';
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  finished.catch(() => undefined); // a crash before `await finished` is not an unhandled rejection

  const armIdle = () => {
    if (!ready || pending.size > 0) return;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => finish(), idleMs);
  };
  const advanced = (partition: number, lastOffset: string | null | undefined) => {
    const end = pending.get(partition);
    if (end !== undefined && lastOffset != null && BigInt(lastOffset) + 1n >= end) pending.delete(partition);
  };

  try {
    if (options.timeoutMs !== undefined) {
      const left = Math.max(0, options.timeoutMs - (Date.now() - started));
      deadlineTimer = setTimeout(() => {
        stoppedBy = 'timeout';
        finish();
      }, left);
    }
    consumer.on(consumer.events.FETCH, () => {
      if (ready) return;
      ready = true;
      options.onReady?.();
      armIdle();
    });
    // Batches of control records only (transaction markers) reach no handler but still move the position.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      advanced(payload.partition, payload.lastOffset);
      armIdle();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) fail(payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [options.topic], fromBeginning: options.fromBeginning });
    await consumer.run({
      autoCommit: false, // a throwaway group: nothing to remember
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          const headers = message.headers;
          tracker.add({
            node: header(headers, 'edge.node') ?? '',
            seq: parseSeq(header(headers, 'edge.seq')),
            historical: header(headers, 'edge.historical') === 'true',
            value: message.value === null ? undefined : message.value.toString('utf8'),
            receivedAt: Number(message.timestamp),
          });
        }
        advanced(batch.partition, batch.lastOffset());
        armIdle();
      },
    });
    await finished;
  } finally {
    if (idleTimer) clearTimeout(idleTimer);
    if (deadlineTimer) clearTimeout(deadlineTimer);
    await consumer.disconnect().catch(() => undefined);
  }
  await deleteGroup(kafka, groupId);

  return {
    ...tracker.report(),
    run: {
      brokers: options.brokers,
      topic: options.topic,
      partitions,
      stoppedBy,
      endReached: pending.size === 0,
      idleMs,
      elapsedMs: Date.now() - started,
    },
  };
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
