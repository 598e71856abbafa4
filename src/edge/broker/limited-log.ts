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

/** Counts one kind of a recurring event and logs it (limited), in one call. */
export type CountedLog<K extends string> = (kind: K, key: string, fields: Record<string, unknown>, message: string, level?: 'warn' | 'error') => void;

/**
 * A recurring event (a refused login, a dropped publish, a closed connection) is counted for /metrics and the status
 * page and logged at most once per window: both through this one call, so the counter and the log cannot drift.
 * Every event counts; the line says how many were not logged since the last one (`repeatedSinceLastLine`).
 */
export function countedLog<K extends string>(counts: Record<K, number>, log: LimitedLog): CountedLog<K> {
  return (kind, key, fields, message, level = 'warn') => {
    counts[kind] += 1;
    log(level, key, fields, message);
  };
}
