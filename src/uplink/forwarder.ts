// Moves the journal to the cloud in order, in batches, deleting only what the sink acknowledged.
import type { Logger } from 'pino';
import { markHistorical } from './journal/compact.js';
import type { Journal, JournalRecord } from './journal/journal.js';
import type { OutRecord, UplinkSink } from './sink.js';
import { RECORD_SCHEMA_HEADER, RECORD_SCHEMA_VERSION } from './record-schema.js';

export type UplinkState = 'connecting' | 'up' | 'down' | 'stopped';

export interface ForwarderStatus {
  state: UplinkState;
  target: string;
  since: number;
  forwarded: number;
  /** Samples (metrics) the forwarded records carried. */
  forwardedSamples: number;
  batches: number;
  lastAckAt: number | null;
  lastError: string | null;
  failures: number;
  deadLettered: number;
}

export interface ForwarderOptions {
  /** `<group>/<node>`, sent as the `edge.node` header. */
  node: string;
  batchSize: number;
  /** Backoff after a failed send: starts here, doubles, capped at maxBackoffMs, with jitter. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * How long sends must keep failing before the uplink counts as down: a leader election or a topic being
   * created is a retry, not an outage, and does not flag records as historical.
   */
  downAfterMs?: number;
  /** `live_first` (default): live records first, the backlog alongside; `in_order`: strict journal order. */
  replay?: 'live_first' | 'in_order';
  /** Most backlog records per second while live data flows; unlimited when absent. */
  replayRate?: number;
  /** Names the reason when an error means the records can never be accepted (too large, not authorized). */
  isPermanent?(err: unknown): string | undefined;
  /** Told of every batch the sink acknowledged, after the journal let go of it (for latency metrics). */
  onAcked?(batch: readonly JournalRecord[]): void;
}

type Outcome = { ok: true } | { ok: false; err: Error };
const WOKEN = Symbol('woken');

interface InFlight {
  batch: JournalRecord[];
  startedAt: number;
  outcome: Promise<Outcome>;
}

const SCHEMA_VERSION_TEXT = String(RECORD_SCHEMA_VERSION);

export function toOutRecord(node: string, r: JournalRecord): OutRecord {
  return {
    key: r.key,
    // A record held back by an outage says "historical":true on the way out. The journal writes compact records
    // so already (nothing to replace, no copy of the value); a value stored as JSON says false until marked.
    value: r.held && !r.rendered ? markHistorical(r.value) : r.value,
    headers: { 'edge.node': node, 'edge.seq': String(r.seq), 'edge.historical': String(r.held), [RECORD_SCHEMA_HEADER]: SCHEMA_VERSION_TEXT },
    timestamp: r.capturedAt,
  };
}

export class Forwarder {
  private status: ForwarderStatus;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private wakeOnAppend: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  private backoffMs: number;
  private failingSince: number | undefined;
  private lastWasBacklog = false;
  /**
   * From the moment the uplink came back (or first connected) until the backlog held back before it is all
   * acknowledged: that backlog's last seq, when it came back, and how many backlog records went out since.
   */
  private drain: { upTo: number; since: number; records: number } | undefined;
  /** While isolating a refused record: the batch size to try. */
  private probeSize: number | undefined;
  private tokens = 0;
  private tokensAt = Date.now();
  /** Where the batches in flight end, per stream: the next batch starts behind them. */
  private cursor = { all: 0, live: 0, backlog: 0 };
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly journal: Journal,
    private readonly sink: UplinkSink,
    private readonly options: ForwarderOptions,
    private readonly log: Logger,
  ) {
    this.minBackoffMs = options.minBackoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 15_000;
    this.backoffMs = this.minBackoffMs;
    this.status = { state: 'stopped', target: sink.target, since: Date.now(), forwarded: 0, forwardedSamples: 0, batches: 0, lastAckAt: null, lastError: null, failures: 0, deadLettered: 0 };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.setState('connecting');
    this.unsubscribe = this.journal.onAppend(() => this.wakeOnAppend?.());
    this.loop = this.run();
  }

  /**
   * Stops after forwarding what the sink takes within `flushMs`, then disconnects. A first connection still being
   * made gets the same time; an uplink that is down does not (its records stay in the journal).
   */
  async stop(flushMs = 0): Promise<void> {
    if (!this.running) return;
    const deadline = Date.now() + flushMs;
    const reachable = () => this.status.state === 'up' || this.status.state === 'connecting';
    while (flushMs > 0 && reachable() && this.journal.stats().records > 0 && Date.now() < deadline) {
      await sleep(50);
    }
    this.running = false;
    this.wake?.();
    // A send that hangs on a dead network must not hold up shutdown: what it carried stays in the journal.
    await Promise.race([this.loop, sleep(2000)]);
    this.unsubscribe?.();
    // kafkajs waits for pending requests before it disconnects; on a cut network that is a request timeout.
    await Promise.race([this.sink.disconnect(), sleep(3000)]);
    this.setState('stopped');
  }

  getStatus(): ForwarderStatus {
    return { ...this.status };
  }

  private async run(): Promise<void> {
    const inFlight: InFlight[] = [];
    while (this.running || inFlight.length > 0) {
      // Fill the pipeline: several batches only while the uplink is up and no refused record is being isolated.
      const depth = this.status.state === 'up' && this.probeSize === undefined ? Math.max(1, this.sink.maxInFlight) : 1;
      if (inFlight.length === 0) this.cursor = { all: 0, live: 0, backlog: 0 };
      let readFailed = false;
      while (this.running && inFlight.length < depth) {
        let batch: JournalRecord[];
        try {
          batch = this.nextBatch();
        } catch (err) {
          // Reading the journal failed (it writes when it sets a damaged record aside: a full disk): try again later.
          this.log.warn({ err: (err as Error).message }, 'The forwarder could not read the journal; retrying.');
          readFailed = true;
          break;
        }
        if (batch.length === 0) break;
        inFlight.push(this.dispatch(batch));
      }
      if (inFlight.length === 0) {
        if (!this.running) break;
        await this.idle(readFailed ? this.nextBackoff() : (this.waitForTokensMs() ?? 1000), !readFailed);
        continue;
      }
      const oldest = inFlight[0]!;
      // Room in the pipeline: new records need not wait for the oldest batch's acknowledgement.
      const settled = this.running && inFlight.length < depth && !readFailed ? await this.untilAppendOr(oldest.outcome) : await oldest.outcome;
      if (settled === WOKEN) continue;
      inFlight.shift();
      if (settled.ok) {
        this.acknowledged(oldest.batch);
        continue;
      }
      // The first failure ends the pipeline: the batches behind it are not acknowledged, even those Kafka took
      // (they are sent again: at-least-once), so that the journal lets go of records strictly in order.
      await Promise.all(inFlight.map((f) => f.outcome));
      inFlight.length = 0;
      const err = settled.err;
      const permanent = this.options.isPermanent?.(err);
      if (permanent) {
        this.setAside(oldest.batch, permanent, err);
        continue;
      }
      this.failed(err, oldest.startedAt);
      await this.idle(this.nextBackoff(), false);
    }
  }

  /** Hands a batch to the sink; its outcome never rejects. */
  private dispatch(batch: JournalRecord[]): InFlight {
    const startedAt = Date.now();
    const outcome = (async (): Promise<Outcome> => {
      try {
        await this.sink.connect();
        await this.sink.send(batch.map((r) => toOutRecord(this.options.node, r)));
        return { ok: true };
      } catch (err) {
        return { ok: false, err: err as Error };
      }
    })();
    return { batch, startedAt, outcome };
  }

  private acknowledged(batch: JournalRecord[]): void {
    this.journal.ack(batch[0]!.seq, batch[batch.length - 1]!.seq);
    this.status.forwarded += batch.length;
    for (const r of batch) this.status.forwardedSamples += r.samples ?? 1;
    this.status.batches += 1;
    this.status.lastAckAt = Date.now();
    this.options.onAcked?.(batch);
    this.backoffMs = this.minBackoffMs;
    this.failingSince = undefined;
    this.probeSize = undefined;
    if (this.status.state !== 'up') this.recovered();
    if (this.drain) this.drained(batch, this.drain);
  }

  /** Counts the backlog records of an acknowledged batch; once none is left, says how the drain went, once. */
  private drained(batch: JournalRecord[], drain: { upTo: number; since: number; records: number }): void {
    for (const r of batch) if (r.seq <= drain.upTo) drain.records += 1;
    // Records also leave the backlog without being forwarded (dropped when the journal is full, set aside).
    if (this.journal.backlogLeft(drain.upTo)) return;
    this.drain = undefined;
    if (drain.records === 0) return; // nothing was held back when it came back (a new uplink after a reload)
    const ms = Math.max(1, Date.now() - drain.since);
    const seconds = Math.round(ms / 100) / 10;
    const recordsPerSec = Math.round((drain.records * 1000) / ms);
    this.log.info({ uplink: this.sink.target, records: drain.records, seconds, recordsPerSec }, `Backlog drained: ${drain.records} ${drain.records === 1 ? 'record' : 'records'} in ${seconds.toFixed(1)} s (${recordsPerSec} records/s).`);
  }

  /** The outcome, or WOKEN when records were appended (or the forwarder stopped) first. */
  private untilAppendOr(outcome: Promise<Outcome>): Promise<Outcome | typeof WOKEN> {
    return new Promise((resolve) => {
      const done = (v: Outcome | typeof WOKEN) => {
        this.wake = this.wakeOnAppend = undefined;
        resolve(v);
      };
      this.wake = this.wakeOnAppend = () => done(WOKEN);
      outcome.then(done, () => undefined);
    });
  }

  /**
   * in_order: journal order. live_first: what was captured while the uplink is up goes first, with low latency;
   * the backlog of an outage goes alongside, batch for batch, within `replayRate` records/s.
   */
  private nextBatch(): JournalRecord[] {
    const size = this.probeSize ?? this.options.batchSize;
    const c = this.cursor;
    const after = (batch: JournalRecord[]) => batch[batch.length - 1]?.seq;
    if (this.options.replay === 'in_order' || this.status.state !== 'up') {
      const batch = this.journal.peek(c.all, size);
      c.all = after(batch) ?? c.all;
      return batch;
    }
    const boundary = this.journal.backlogUpTo();
    const live = this.journal.peek(Math.max(boundary, c.live), size);
    const allowance = Math.min(size, this.takeTokens());
    if (live.length > 0 && (this.lastWasBacklog || allowance < 1)) {
      this.lastWasBacklog = false;
      c.live = after(live)!;
      return live;
    }
    const backlog = allowance >= 1 && c.backlog < boundary ? this.journal.peek(c.backlog, allowance, boundary) : [];
    if (backlog.length > 0) {
      this.tokens -= backlog.length;
      this.lastWasBacklog = true;
      c.backlog = after(backlog)!;
      return backlog;
    }
    this.lastWasBacklog = false;
    c.live = after(live) ?? c.live;
    return live;
  }

  /** Token bucket for the backlog: refilled at replayRate per second, at most one second's worth. */
  private takeTokens(): number {
    const rate = this.options.replayRate;
    if (rate === undefined) return Number.POSITIVE_INFINITY;
    const now = Date.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    return Math.floor(this.tokens);
  }

  /** With a backlog waiting only for tokens, how long until the next one. */
  private waitForTokensMs(): number | undefined {
    const rate = this.options.replayRate;
    if (rate === undefined || this.journal.backlogUpTo() === 0 || this.journal.stats().records === 0) return undefined;
    return Math.max(10, Math.ceil(((1 - this.tokens) / rate) * 1000));
  }

  /**
   * A batch the cloud refuses for good: halve it until the refused record stands alone, then set that record
   * aside in the dead-letter table, so that one bad record never blocks the rest.
   */
  private setAside(batch: JournalRecord[], reason: string, err: Error): void {
    if (batch.length > 1) {
      this.probeSize = Math.ceil(batch.length / 2);
      return;
    }
    const record = batch[0]!;
    this.journal.deadLetter(record, reason);
    this.status.deadLettered += 1;
    this.probeSize = undefined;
    this.log.error({ seq: record.seq, key: record.key, bytes: record.value.length, reason, err: err.message }, `Kafka refused record edge.seq ${record.seq} for good (${reason}); it is kept in the journal's dead_letters table.`);
  }

  /**
   * The first acknowledgement after an outage, or the first of this forwarder. `backlog` is what the journal still
   * holds (the status page's journal records); what was held back until now (an outage, or the previous run at
   * start-up) is the backlog whose drain is logged once it is gone.
   */
  private recovered(): void {
    const { records } = this.journal.stats();
    const wasDown = this.status.state === 'down';
    this.setState('up');
    this.journal.setHeldBack(false);
    this.status.lastError = null;
    const upTo = this.journal.backlogUpTo();
    this.drain = upTo > 0 ? { upTo, since: this.status.since, records: 0 } : undefined;
    const waiting = records === 0 ? 'nothing waits in the journal' : `${records} ${records === 1 ? 'record waits' : 'records wait'} in the journal`;
    this.log.info({ uplink: this.sink.target, backlog: records }, wasDown ? `Uplink is back; ${waiting}, the backlog drains ${this.options.replay === 'in_order' ? 'in order' : 'alongside live data'}.` : `Uplink connected; ${waiting}.`);
  }

  private failed(err: Error, attemptStartedAt: number): void {
    this.status.failures += 1;
    this.status.lastError = err.message;
    if (this.status.state === 'down') return; // one line per outage, not one per retry
    // Failing since the failed attempt began: a send that hung until its timeout was failing all that time.
    this.failingSince ??= attemptStartedAt;
    if (Date.now() - this.failingSince < (this.options.downAfterMs ?? 5000)) return;
    this.setState('down');
    this.journal.setHeldBack(true);
    this.drain = undefined; // a drain cut short: the next return starts over with the larger backlog
    this.log.warn({ uplink: this.sink.target, err: err.message }, 'Uplink unreachable; the journal keeps every record until it returns.');
  }

  private nextBackoff(): number {
    const ms = this.backoffMs;
    this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs * 2);
    return ms / 2 + Math.random() * (ms / 2);
  }

  private setState(state: UplinkState): void {
    if (this.status.state !== state) {
      this.status.state = state;
      this.status.since = Date.now();
    }
  }

  /** Waits `ms`, or less when stopped, or when new records arrive if `untilAppend`. */
  private idle(ms: number, untilAppend: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = this.wakeOnAppend = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
      if (untilAppend) this.wakeOnAppend = done;
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
