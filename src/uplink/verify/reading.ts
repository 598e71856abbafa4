// How `edge-gateway verify` reads the topic: a throwaway consumer group reads up to the end offsets found at start
// (or follows what arrives), hands each record to the completeness tracker and says why it stopped.
import type { Batch, Consumer, IHeaders, Kafka } from 'kafkajs';
import { parseSeq, type CompletenessTracker, type TrackedRecord } from './report.js';

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

/** The topic as found at start. */
export interface StartOffsets {
  /** Partition → end offset to read up to (none for an empty partition, nor without `fromBeginning`). */
  ends: Map<number, bigint>;
  partitions: number;
  /** Records the topic held at start, with `fromBeginning`. */
  atStart: number | null;
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

/** One read of the topic, from the group's join until the end, the idle time or the deadline. */
export class TopicReading {
  readonly idleMs: number;
  readonly follow: boolean;
  /** Partition → end offset not yet read up to. */
  readonly pending: Map<number, bigint>;
  stoppedBy: 'end' | 'idle' | 'timeout';
  /**
   * Not following, the check covers what each partition held at start. A batch of the gateway spans partitions,
   * and the end offsets are not one instant: a batch half before and half after them would look like a hole. The
   * first records past each end are kept aside, and those that close a hole below the highest seq read count.
   */
  private readonly beyond = new Map<number, TrackedRecord[]>();
  private readonly startEnd: Map<number, bigint>;
  private readonly consumer: Consumer;
  /** Joined, and past the first fetch: the start offsets are resolved ("latest" is only looked up there). */
  private ready = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private finish!: () => void;
  private fail!: (err: Error) => void;
  private readonly finished: Promise<void>;

  constructor(
    kafka: Kafka,
    groupId: string,
    private readonly options: VerifyOptions,
    private readonly tracker: CompletenessTracker,
    private readonly start: StartOffsets,
    private readonly started: number,
  ) {
    this.idleMs = options.idleMs ?? 5000;
    this.follow = options.follow === true || !options.fromBeginning;
    this.stoppedBy = this.follow ? 'idle' : 'end';
    this.pending = new Map(start.ends);
    this.startEnd = new Map(start.ends);
    this.consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250, retry: { retries: 5 } });
    this.finished = new Promise<void>((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
    });
    this.finished.catch(() => undefined); // a crash before `await finished` is not an unhandled rejection
  }

  /** Reads until it stops, then leaves the group. */
  async read(): Promise<void> {
    const progressTimer = setInterval(() => this.progress(false), this.options.progressEveryMs ?? 2000);
    try {
      if (this.options.timeoutMs !== undefined) {
        const left = Math.max(0, this.options.timeoutMs - (Date.now() - this.started));
        this.deadlineTimer = setTimeout(() => {
          this.stoppedBy = 'timeout';
          this.finish();
        }, left);
      }
      this.listen();
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [this.options.topic], fromBeginning: this.options.fromBeginning });
      await this.consumer.run({
        autoCommit: false, // a throwaway group: nothing to remember
        eachBatch: async ({ batch }) => this.take(batch),
      });
      await this.finished;
    } finally {
      if (this.idleTimer) clearTimeout(this.idleTimer);
      if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
      if (this.settleTimer) clearTimeout(this.settleTimer);
      clearInterval(progressTimer);
      await this.consumer.disconnect().catch(() => undefined);
    }
  }

  /** Counts the records kept from just past the ends that close a hole; returns how many did. */
  fillFromBeyond(): number {
    let filled = 0;
    for (const records of this.beyond.values()) {
      for (const r of records) {
        if (!this.tracker.fillsHole(r.node, r.seq)) continue;
        this.tracker.add(r);
        filled += 1;
      }
    }
    return filled;
  }

  progress(done: boolean): void {
    const partitions = this.start.partitions;
    this.options.onProgress?.({ records: this.tracker.seen, partitionsDone: partitions - this.pending.size, partitions, elapsedMs: Date.now() - this.started, done });
  }

  private listen(): void {
    const consumer = this.consumer;
    consumer.on(consumer.events.FETCH, () => {
      if (this.ready) return;
      this.ready = true;
      this.options.onReady?.();
      this.armIdle();
    });
    // Batches of control records only (transaction markers) reach no handler but still move the position.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      this.advanced(payload.partition, payload.lastOffset);
      this.armIdle();
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.fail(payload.error);
    });
  }

  private take(batch: Batch): void {
    const end = this.startEnd.get(batch.partition) ?? 0n;
    for (const message of batch.messages) {
      const headers = message.headers;
      const record: TrackedRecord = {
        node: header(headers, 'edge.node') ?? '',
        seq: parseSeq(header(headers, 'edge.seq')),
        historical: header(headers, 'edge.historical') === 'true',
        value: message.value === null ? undefined : message.value.toString('utf8'),
        receivedAt: Number(message.timestamp),
      };
      if (this.follow || BigInt(message.offset) < end) {
        this.tracker.add(record);
        continue;
      }
      let kept = this.beyond.get(batch.partition);
      if (!kept) this.beyond.set(batch.partition, (kept = []));
      if (kept.length < BEYOND_KEPT) kept.push(record);
    }
    this.advanced(batch.partition, batch.lastOffset());
    this.armIdle();
  }

  private armIdle(): void {
    if (!this.ready || this.pending.size > 0) return;
    if (!this.follow) {
      this.settleTimer ??= setTimeout(() => this.finish(), this.beyond.size > 0 || this.tracker.seen > 0 ? Math.min(SETTLE_MS, this.idleMs) : 0);
      return;
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.finish(), this.idleMs);
  }

  private advanced(partition: number, lastOffset: string | null | undefined): void {
    const end = this.pending.get(partition);
    if (end !== undefined && lastOffset != null && BigInt(lastOffset) + 1n >= end) this.pending.delete(partition);
  }
}
