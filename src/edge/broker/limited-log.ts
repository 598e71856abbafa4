import type { Logger } from 'pino';

/** Logs a line under `key` at most once per window, saying how many were left out since. */
export type LimitedLog = (level: 'warn' | 'error', key: string, fields: Record<string, unknown>, message: string) => void;

/**
 * A hostile or broken client repeats itself thousands of times a second; the journal should see one line per kind
 * of trouble and client per minute, not a flood that pushes out everything else.
 */
export function limitedLog(log: Logger, windowMs = 60_000): LimitedLog {
  const logged = new Map<string, { at: number; repeated: number }>();
  return (level, key, fields, message) => {
    const now = Date.now();
    const seen = logged.get(key);
    if (seen && now - seen.at < windowMs) {
      seen.repeated += 1;
      return;
    }
    // Keys carry addresses and user names from the wire: bounded, so that a flood of them cannot grow the map.
    if (logged.size > 10_000) logged.clear();
    logged.set(key, { at: now, repeated: 0 });
    log[level]({ ...fields, ...(seen?.repeated ? { repeatedSinceLastLine: seen.repeated } : {}) }, message);
  };
}
