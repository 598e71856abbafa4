import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "1s", "1.5m", "2h", "1d", or a plain number of milliseconds; undefined when not a duration. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value > 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  return ms > 0 ? ms : undefined;
}

/** A config value that is a duration, in milliseconds. */
export const durationSchema = z
  .union([z.string(), z.number().int().positive()])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (examples: 500ms, 1s, 5m, 2h)` });
      return z.NEVER;
    }
    return ms;
  });
