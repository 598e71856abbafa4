// The poll loop of one device, owned by the edge: no overlapping polls (a slow poll skips ticks and warns that
// it cannot keep up), a timeout on every poll (connect included), exponential backoff with jitter on errors, and
// no giving up. Each device has its own loop, so a failing or slow device never delays another. When polls
// happen is a Schedule: a fixed interval, or a cron expression for slow meters. Drivers never schedule themselves.
import type { Logger } from 'pino';
import type { Driver, Sample } from '../drivers/types.js';
import type { Schedule } from './schedule.js';

/** `stale`: the last poll(s) failed, fewer than `downAfter` in a row; `down`: declared down. */
export type DeviceState = 'starting' | 'up' | 'stale' | 'down' | 'stopped';

export interface PollerStatus {
  state: DeviceState;
  polls: number;
  errors: number;
  consecutiveErrors: number;
  lastPollAt: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  /** Polls that ran past the time of the next one. */
  overruns: number;
  /** Polls that were due but not started because the one before was still running. */
  skipped: number;
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
  /** A poll failed, and the device is not declared down yet (called once per run of failed polls). */
  missed?(error: Error): void;
  /** The device stopped answering: `downAfter` polls in a row failed (called once per outage). */
  down(error: Error): void;
}

export interface PollerOptions {
  schedule: Schedule;
  timeoutMs: number;
  /** Failed polls in a row after which the device is declared down; default 1. */
  downAfter?: number;
  maxBackoffMs?: number;
}

/** setTimeout overflows past 2^31 − 1 ms (24.8 days), which a yearly cron expression exceeds. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private attempts = 0;
  private deadline: number | null = null;
  private readonly s: PollerStatus = { state: 'stopped', polls: 0, errors: 0, consecutiveErrors: 0, lastPollAt: null, lastDurationMs: null, lastError: null, overruns: 0, skipped: 0 };

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
    this.arm(this.options.schedule.first());
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.abort?.abort(new Error('gateway stopping'));
    await this.current?.catch(() => undefined);
    await this.driver.close().catch(() => undefined);
    this.options.schedule.dispose();
    this.s.state = 'stopped';
    this.deadline = null;
  }

  status(): PollerStatus {
    return { ...this.s };
  }

  progress(): PollerProgress {
    return { attempts: this.attempts, deadline: this.running ? this.deadline : null };
  }

  /** Runs a poll `delayMs` from now; a wait longer than setTimeout can hold is taken in steps. */
  private arm(delayMs: number): void {
    if (!this.running) return;
    this.deadline = Date.now() + Math.max(0, delayMs) + 2 * this.options.timeoutMs;
    if (delayMs > MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.arm(delayMs - MAX_TIMER_MS), MAX_TIMER_MS);
      return;
    }
    this.timer = setTimeout(() => {
      this.current = this.tick();
    }, Math.max(0, delayMs));
  }

  private async tick(): Promise<void> {
    const started = performance.now();
    const abort = (this.abort = new AbortController());
    const { timeoutMs } = this.options;
    const timeout = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    let samples: Sample[];
    try {
      // The edge enforces the timeout even on a driver that ignores its signal, and on connecting as well.
      await untilAborted(this.driver.connect(), abort.signal);
      samples = await untilAborted(this.driver.poll(abort.signal), abort.signal);
    } catch (err) {
      if (!this.running) return;
      this.failed(err as Error);
      // A driver that listens keeps its subscription, and retrying it costs the device nothing.
      if (this.driver.listens) return this.arm(this.options.schedule.retryIn(this.options.schedule.backoffBaseMs));
      await this.driver.close().catch(() => undefined);
      this.arm(this.options.schedule.retryIn(this.backoff()));
      return;
    } finally {
      clearTimeout(timeout);
      this.attempts += 1;
    }
    if (!this.running) return;
    this.succeeded(started);
    this.notify('samples', () => this.handlers.samples(samples));
    const next = this.options.schedule.next(this.s.lastDurationMs ?? 0);
    if (next.skipped > 0) {
      this.s.overruns += 1;
      this.s.skipped += next.skipped;
      if (this.s.overruns === 1 || this.s.overruns % 100 === 0) {
        this.log.warn(
          { device: this.device, durationMs: this.s.lastDurationMs, schedule: this.options.schedule.describe(), overruns: this.s.overruns, skipped: this.s.skipped },
          `Device "${this.device}" cannot keep up with its poll schedule: polls due while one was still running (or waiting for a busy machine) are skipped.`,
        );
      }
    }
    this.arm(next.delayMs);
  }

  private succeeded(started: number): void {
    const was = this.s.state;
    this.s.state = 'up';
    this.s.polls += 1;
    this.s.lastPollAt = Date.now();
    this.s.lastDurationMs = Math.round(performance.now() - started);
    if (was === 'down' || was === 'stale') {
      this.log.info({ device: this.device, afterErrors: this.s.consecutiveErrors }, `Device "${this.device}" answers again.`);
    }
    this.s.consecutiveErrors = 0;
  }

  private failed(err: Error): void {
    this.s.errors += 1;
    this.s.consecutiveErrors += 1;
    this.s.lastError = err.message;
    if (this.s.state === 'down') return;
    const downAfter = this.options.downAfter ?? 1;
    if (this.s.consecutiveErrors >= downAfter) {
      this.s.state = 'down';
      this.log.warn({ device: this.device, err: err.message, failedPolls: this.s.consecutiveErrors }, `Device "${this.device}" is not answering; declared down, retrying with backoff.`);
      this.notify('down', () => this.handlers.down(err));
    } else if (this.s.state !== 'stale') {
      const wasUp = this.s.state === 'up';
      this.s.state = 'stale';
      if (wasUp) {
        this.log.warn({ device: this.device, err: err.message, downAfter }, `Device "${this.device}" missed a poll; its values are stale until it answers (declared down after ${downAfter} failed polls in a row).`);
      }
      this.notify('missed', () => this.handlers.missed?.(err));
    }
  }

  /** A fault in a handler is ours, not the device's: it must neither count against the device nor stop its polling. */
  private notify(what: string, handler: () => void): void {
    try {
      handler();
    } catch (err) {
      this.log.error({ device: this.device, err: (err as Error).message, handler: what }, `Handling "${what}" of device "${this.device}" failed.`);
    }
  }

  private backoff(): number {
    const { schedule } = this.options;
    const max = this.options.maxBackoffMs ?? Math.max(30_000, schedule.backoffBaseMs);
    const base = Math.min(max, schedule.backoffBaseMs * 2 ** Math.min(this.s.consecutiveErrors - 1, 16));
    // "Equal jitter": at least half the step, so retries spread out but still back off.
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
