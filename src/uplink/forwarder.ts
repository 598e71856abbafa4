// Moves the journal to the cloud in order, in batches, deleting only what the sink acknowledged.
import type { Logger } from 'pino';
import type { Journal, JournalRecord } from './journal.js';
import type { OutRecord, UplinkSink } from './sink.js';

export type UplinkState = 'connecting' | 'up' | 'down' | 'stopped';

export interface ForwarderStatus {
  state: UplinkState;
  target: string;
  since: number;
  forwarded: number;
  batches: number;
  lastAckAt: number | null;
  lastError: string | null;
  failures: number;
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
}

export function toOutRecord(node: string, r: JournalRecord): OutRecord {
  return {
    key: r.key,
    // The stored value says "historical":false; a record held back by an outage says true on the way out.
    value: r.held ? r.value.replace('"historical":false', '"historical":true') : r.value,
    headers: { 'edge.node': node, 'edge.seq': String(r.seq), 'edge.historical': String(r.held) },
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
    this.status = { state: 'stopped', target: sink.target, since: Date.now(), forwarded: 0, batches: 0, lastAckAt: null, lastError: null, failures: 0 };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.setState('connecting');
    this.unsubscribe = this.journal.onAppend(() => this.wakeOnAppend?.());
    this.loop = this.run();
  }

  /** Stops after forwarding what the sink takes within `flushMs`, then disconnects. */
  async stop(flushMs = 0): Promise<void> {
    if (!this.running) return;
    const deadline = Date.now() + flushMs;
    while (flushMs > 0 && this.status.state === 'up' && this.journal.stats().records > 0 && Date.now() < deadline) {
      await sleep(50);
    }
    this.running = false;
    this.wake?.();
    // A send that hangs on a dead network must not hold up shutdown: what it carried stays in the journal.
    await Promise.race([this.loop, sleep(2000)]);
    this.unsubscribe?.();
    await this.sink.disconnect();
    this.setState('stopped');
  }

  getStatus(): ForwarderStatus {
    return { ...this.status };
  }

  private async run(): Promise<void> {
    while (this.running) {
      const batch = this.journal.peek(0, this.options.batchSize);
      if (batch.length === 0) {
        await this.idle(1000, true);
        continue;
      }
      try {
        await this.sink.connect();
        await this.sink.send(batch.map((r) => toOutRecord(this.options.node, r)));
        this.journal.ack(batch[0]!.seq, batch[batch.length - 1]!.seq);
        this.status.forwarded += batch.length;
        this.status.batches += 1;
        this.status.lastAckAt = Date.now();
        this.backoffMs = this.minBackoffMs;
        this.failingSince = undefined;
        if (this.status.state !== 'up') this.recovered();
      } catch (err) {
        this.failed(err as Error);
        await this.idle(this.nextBackoff(), false);
      }
    }
  }

  private recovered(): void {
    const { records } = this.journal.stats();
    const wasDown = this.status.state === 'down';
    this.setState('up');
    this.journal.setHeldBack(false);
    this.status.lastError = null;
    this.log.info({ uplink: this.sink.target, backlog: records }, wasDown ? 'Uplink is back; the backlog drains in order.' : 'Uplink connected.');
  }

  private failed(err: Error): void {
    this.status.failures += 1;
    this.status.lastError = err.message;
    if (this.status.state === 'down') return; // one line per outage, not one per retry
    this.failingSince ??= Date.now();
    if (Date.now() - this.failingSince < (this.options.downAfterMs ?? 5000)) return;
    this.setState('down');
    this.journal.setHeldBack(true);
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
