// When a device is polled: on a fixed interval, or at the times of a cron expression. The poller asks its
// schedule for the next delay and keeps everything else (timeout, backoff, no overlap) the same for both.
import cron from 'node-cron';
import type { PollSchedule } from '../drivers/config/poll-keys.js';

export interface Schedule {
  /** ms until the first poll. */
  first(): number;
  /**
   * A poll that took `durationMs` just ended: ms until the next one, and how many polls fell due meanwhile and are
   * skipped.
   */
  next(durationMs: number): { delayMs: number; skipped: number };
  /** A poll failed and the retry comes after `backoffMs`; the schedule goes on from that retry. */
  retryIn(backoffMs: number): number;
  /** The first step of the error backoff, ms; each failure in a row doubles it. */
  readonly backoffBaseMs: number;
  describe(): string;
  dispose(): void;
}

export function scheduleFor(poll: PollSchedule): Schedule {
  return poll.kind === 'interval' ? intervalSchedule(poll.ms) : cronSchedule(poll.expression);
}

/**
 * Every `periodMs`, on a fixed grid of a monotonic clock: a late timer does not push later polls back, and a
 * wall-clock step (NTP, a technician setting the time) neither stops polling nor causes a burst. A poll that took
 * longer than the period skips the ticks that fell due meanwhile. A poll that was short but started late (a busy
 * machine) is followed at once by the next, which keeps the pace; more than a period behind, ticks are skipped.
 */
export function intervalSchedule(periodMs: number, now: () => number = () => performance.now()): Schedule {
  let due = 0;
  return {
    backoffBaseMs: periodMs,
    first() {
      due = now();
      return 0;
    },
    next(durationMs) {
      const t = now();
      due += periodMs;
      if (due >= t) return { delayMs: due - t, skipped: 0 };
      if (durationMs <= periodMs && t - due < periodMs) return { delayMs: 0, skipped: 0 };
      const skipped = Math.ceil((t - due) / periodMs);
      due += skipped * periodMs;
      return { delayMs: due - t, skipped };
    },
    retryIn(backoffMs) {
      due = now() + backoffMs;
      return backoffMs;
    },
    describe: () => `every ${periodMs} ms`,
    dispose() {},
  };
}

/**
 * At the times of a cron expression, local time (5 fields, or 6 with seconds first). The device is also read
 * once right at start, so that it is born with current values instead of waiting up to an hour for its first
 * scheduled read. A failed read is retried with backoff (1 s, doubling, at most 30 s) until it succeeds; then
 * the expression's times apply again.
 */
export function cronSchedule(expression: string, now: () => number = Date.now): Schedule {
  // Never started: only its time matcher is used, the poller owns the timers.
  const matcher = cron.createTask(expression, () => undefined);
  /** The cron time the coming poll is due at, and the one after it; undefined for a first read or a retry. */
  let due: number | undefined;
  let following: number | undefined;

  const plan = (): number => {
    const t = now();
    // A timer may fire a hair early, while the slot it was set for still lies ahead: never poll one slot twice.
    const [a, b, c] = matcher.getNextRuns(3).map((d) => d.getTime()) as [number, number, number];
    [due, following] = due !== undefined && a <= due ? [b, c] : [a, b];
    return Math.max(0, due - t);
  };

  return {
    backoffBaseMs: 1000,
    first() {
      due = following = undefined;
      return 0;
    },
    next() {
      const t = now();
      let skipped = 0;
      if (due !== undefined && following !== undefined && following <= t) {
        skipped = 1 + Math.floor((t - following) / Math.max(1, following - due));
      }
      return { delayMs: plan(), skipped };
    },
    retryIn(backoffMs) {
      due = following = undefined;
      return backoffMs;
    },
    describe: () => `cron "${expression}"`,
    dispose() {
      void matcher.destroy();
    },
  };
}
