// The poll loop of one device, owned by the edge: no overlapping polls, a timeout on every poll, exponential
// backoff with jitter on errors, and no giving up. Drivers never schedule themselves.
import type { Logger } from 'pino';
import type { Driver, Sample } from '../drivers/types.js';

export type DeviceState = 'starting' | 'up' | 'down' | 'stopped';

export interface PollerStatus {
  state: DeviceState;
  polls: number;
  errors: number;
  consecutiveErrors: number;
  lastPollAt: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  overruns: number;
}

/** What the watchdog reads: attempts finished, and the time by which the next one must have finished. */
export interface PollerProgress {
  attempts: number;
  /**
   * When the attempt now due or running must be over (ms since the epoch): its start time plus connect and
   * read, each bounded by the timeout. A poll loop past this is stuck; a device that does not answer is not,
   * since its attempts fail within the timeout and the next one is scheduled. Null when stopped.
   */
  deadline: number | null;
}

export interface PollerHandlers {
  samples(samples: Sample[]): void;
  /** The device stopped answering (called once per outage). */
  down(error: Error): void;
}

export interface PollerOptions {
  periodMs: number;
  timeoutMs: number;
  maxBackoffMs?: number;
}

export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private attempts = 0;
  private deadline: number | null = null;
  private readonly s: PollerStatus = { state: 'stopped', polls: 0, errors: 0, consecutiveErrors: 0, lastPollAt: null, lastDurationMs: null, lastError: null, overruns: 0 };

  constructor(
    readonly device: string,
    private readonly driver: Driver,
    private readonly options: PollerOptions,
    private readonly handlers: PollerHandlers,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.s.state = 'starting';
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.abort?.abort(new Error('gateway stopping'));
    await this.current?.catch(() => undefined);
    await this.driver.close().catch(() => undefined);
    this.s.state = 'stopped';
    this.deadline = null;
  }

  status(): PollerStatus {
    return { ...this.s };
  }

  progress(): PollerProgress {
    return { attempts: this.attempts, deadline: this.running ? this.deadline : null };
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.deadline = Date.now() + delayMs + 2 * this.options.timeoutMs;
    this.timer = setTimeout(() => {
      this.current = this.tick();
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const started = Date.now();
    this.abort = new AbortController();
    const timeout = setTimeout(() => this.abort?.abort(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
    try {
      await this.driver.connect();
      // The edge enforces the timeout even on a driver that ignores its signal.
      const samples = await untilAborted(this.driver.poll(this.abort.signal), this.abort.signal);
      if (!this.running) return;
      this.succeeded(started);
      this.handlers.samples(samples);
    } catch (err) {
      if (!this.running) return;
      this.failed(err as Error);
      // A driver that listens keeps its subscription, and retrying it costs the device nothing.
      if (this.driver.listens) return this.schedule(this.options.periodMs);
      await this.driver.close().catch(() => undefined);
      this.schedule(this.backoff());
      return;
    } finally {
      clearTimeout(timeout);
      this.attempts += 1;
    }
    const duration = Date.now() - started;
    const { periodMs } = this.options;
    // Re-arm with period − duration; a poll longer than the period skips ticks instead of overlapping.
    if (duration > periodMs) {
      this.s.overruns += 1;
      if (this.s.overruns === 1 || this.s.overruns % 100 === 0) {
        this.log.warn({ device: this.device, durationMs: duration, periodMs, overruns: this.s.overruns }, `Device "${this.device}" cannot keep up: one poll takes longer than its interval.`);
      }
    }
    this.schedule(periodMs - (duration % periodMs));
  }

  private succeeded(started: number): void {
    const wasDown = this.s.state === 'down';
    this.s.state = 'up';
    this.s.polls += 1;
    this.s.lastPollAt = Date.now();
    this.s.lastDurationMs = this.s.lastPollAt - started;
    if (wasDown) this.log.info({ device: this.device, afterErrors: this.s.consecutiveErrors }, `Device "${this.device}" answers again.`);
    this.s.consecutiveErrors = 0;
  }

  private failed(err: Error): void {
    this.s.errors += 1;
    this.s.consecutiveErrors += 1;
    this.s.lastError = err.message;
    if (this.s.state !== 'down') {
      this.s.state = 'down';
      this.log.warn({ device: this.device, err: err.message }, `Device "${this.device}" is not answering; retrying with backoff.`);
      this.handlers.down(err);
    }
  }

  private backoff(): number {
    const max = this.options.maxBackoffMs ?? Math.max(30_000, this.options.periodMs);
    const base = Math.min(max, this.options.periodMs * 2 ** Math.min(this.s.consecutiveErrors - 1, 16));
    return base / 2 + Math.random() * (base / 2);
  }
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
