// How a device is polled: the keys every driver's device schema includes, so that all drivers schedule alike.
import cron from 'node-cron';
import { z } from 'zod';
import { durationSchema, parseDuration } from './duration.js';

/** An interval in ms, or a cron expression (local time) for slow meters read hourly or daily. */
export type PollSchedule = { kind: 'interval'; ms: number } | { kind: 'cron'; expression: string };

const pollSchedule = z.union([z.string(), z.number().int().positive()]).transform((value, ctx): PollSchedule => {
  const ms = parseDuration(value);
  if (ms !== undefined) return { kind: 'interval', ms };
  if (typeof value === 'string' && cron.validate(value)) return { kind: 'cron', expression: value.trim() };
  ctx.addIssue({
    code: 'custom',
    message: `"${value}" is neither a duration (500ms, 1s, 1m) nor a cron expression ("0 * * * *" for hourly; a sixth field in front counts seconds)`,
  });
  return z.NEVER;
});

export const DEFAULT_POLL: PollSchedule = { kind: 'interval', ms: 1000 };

export const pollKeys = {
  /** `1s`, `500ms`, or a cron expression such as `"0 * * * *"`. */
  poll: pollSchedule.default(DEFAULT_POLL),
  /** How long one poll (connect included) may take. */
  timeout: durationSchema.default(2000),
  /** Consecutive failed polls after which the device is declared down (DDEATH); before that its tags are stale. */
  down_after: z.number().int().min(1).max(1000).default(3),
};
