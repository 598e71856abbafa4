// `edge-gateway verify`: reads a topic with a throwaway consumer group and checks, per edge.node, that every
// edge.seq arrived or was announced dropped by a gap record. The logic is in report.ts; this is the Kafka side.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { registerKafkajsCodecs } from '../kafka/kafkajs-codecs.js';
import { CompletenessTracker, parseSeq, type TrackedRecord, type VerifyReport } from './report.js';

export { formatReport, ok, type VerifyReport } from './report.js';

export interface VerifyOptions {
  brokers: string[];
  topic: string;
  /** Read the whole topic; otherwise only what arrives once the consumer is ready (see `onReady`). */
  fromBeginning: boolean;
  /**
   * With `fromBeginning`: read on past the end offsets found at start, until `idleMs` without a record. Without
   * `fromBeginning` it always does (there is nothing before the start to read up to).
   */
  follow?: boolean;
  /** Following: stop once the end offsets that existed at start were read and nothing new came for this long. Default 5000. */
  idleMs?: number;
  /** Stop after this long whatever happens (the report then says whether the end was reached). */
  timeoutMs?: number;
  /**
   * Called once the consumer joined its group and finished its first fetch: it knows where it reads from (without
   * `fromBeginning`, the end offsets of that moment), so what is produced from now on is counted. The idle time
   * runs from here too. For tests that produce "after start".
   */
  onReady?: () => void;
  /** Called every `progressEveryMs` (default 2000) while reading, and once at the end with `done`. */
  onProgress?: (progress: VerifyProgress) => void;
  progressEveryMs?: number;
}

export interface VerifyProgress {
  records: number;
  /** Partitions read up to their end offset of the start (an empty one counts as read). */
  partitionsDone: number;
  partitions: number;
  elapsedMs: number;
  done: boolean;
}

/** After the last partition reached its start-time end: how long to look just past the ends for a torn batch. */
const SETTLE_MS = 1000;
/** Records kept per partition from just past its start-time end, of which those that close a hole count. */
const BEYOND_KEPT = 10_000;

function header(headers: IHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : typeof one === 'string' ? one : one.toString('utf8');
}

export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const idleMs = options.idleMs ?? 5000;
  const follow = options.follow === true || !options.fromBeginning;
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

  // The end offsets at start: with --from-beginning the check covers at least everything up to them.
  const admin = kafka.admin();
  let ends: Map<number, bigint>;
  let partitions: number;
  let atStart: number | null = null;
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    if (!topics.includes(options.topic)) throw new Error(`topic "${options.topic}" does not exist on ${options.brokers.join(',')}`);
    const offsets = await admin.fetchTopicOffsets(options.topic);
    partitions = offsets.length;
    ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    if (options.fromBeginning) atStart = offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
    if (options.fromBeginning) {
      for (const o of offsets) if (BigInt(o.low) >= BigInt(o.high)) ends.delete(o.partition); // empty partition
    } else {
      ends.clear(); // only what arrives after start: there is no backlog to reach
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const pending = new Map(ends); // partition → end offset not yet read up to
  /**
   * Not following, the check covers what each partition held at start. A batch of the gateway spans partitions,
   * and the end offsets are not one instant: a batch half before and half after them would look like a hole. The
   * first records past each end are kept aside, and those that close a hole below the highest seq read count.
   */
  const beyond = new Map<number, TrackedRecord[]>();
  let filledFromBeyond = 0;
  const startEnd = new Map(ends);

  const groupId = `edge-gateway-verify-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250, retry: { retries: 5 } });
  /** Joined, and past the first fetch: the start offsets are resolved ("latest" is only looked up there). */
  let ready = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let deadlineTimer: NodeJS.Timeout | undefined;
  let stoppedBy: 'end' | 'idle' | 'timeout' = follow ? 'idle' : 'end';
  let settleTimer: NodeJS.Timeout | undefined;
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  finished.catch(() => undefined); // a crash before `await finished` is not an unhandled rejection

  const armIdle = () => {
    if (!ready || pending.size > 0) return;
    if (!follow) {
      settleTimer ??= setTimeout(() => finish(), beyond.size > 0 || tracker.seen > 0 ? Math.min(SETTLE_MS, idleMs) : 0);
      return;
    }
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => finish(), idleMs);
  };
  const progress = (done: boolean) =>
    options.onProgress?.({ records: tracker.seen, partitionsDone: partitions - pending.size, partitions, elapsedMs: Date.now() - started, done });
  const progressTimer = setInterval(() => progress(false), options.progressEveryMs ?? 2000);
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
        const end = startEnd.get(batch.partition) ?? 0n;
        for (const message of batch.messages) {
          const headers = message.headers;
          const record: TrackedRecord = {
            node: header(headers, 'edge.node') ?? '',
            seq: parseSeq(header(headers, 'edge.seq')),
            historical: header(headers, 'edge.historical') === 'true',
            value: message.value === null ? undefined : message.value.toString('utf8'),
            receivedAt: Number(message.timestamp),
          };
          if (follow || BigInt(message.offset) < end) {
            tracker.add(record);
            continue;
          }
          let kept = beyond.get(batch.partition);
          if (!kept) beyond.set(batch.partition, (kept = []));
          if (kept.length < BEYOND_KEPT) kept.push(record);
        }
        advanced(batch.partition, batch.lastOffset());
        armIdle();
      },
    });
    await finished;
  } finally {
    if (idleTimer) clearTimeout(idleTimer);
    if (deadlineTimer) clearTimeout(deadlineTimer);
    if (settleTimer) clearTimeout(settleTimer);
    clearInterval(progressTimer);
    await consumer.disconnect().catch(() => undefined);
  }
  await deleteGroup(kafka, groupId);
  for (const records of beyond.values()) {
    for (const r of records) {
      if (!tracker.fillsHole(r.node, r.seq)) continue;
      tracker.add(r);
      filledFromBeyond += 1;
    }
  }
  progress(true);

  return {
    ...tracker.report(),
    run: {
      brokers: options.brokers,
      topic: options.topic,
      partitions,
      stoppedBy,
      follow,
      atStart,
      filledFromBeyond,
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
