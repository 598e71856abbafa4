// What received content may put into a log line. Anything a client on the network sent (a metric name, a
// value, a topic, an error message quoting it) is cut to a few hundred characters, with its full length given;
// lines that repeat for every hostile message are rate-limited and counted.

/** Received text, at most `max` characters of it, saying how long it really was. */
export function bounded(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** A value for a log line: strings bounded and quoted, anything else as it prints. */
export function boundedValue(value: unknown, max = 200): string {
  return typeof value === 'string' ? JSON.stringify(bounded(value, max)) : bounded(String(value), max);
}

/**
 * At most `burst` lines per `windowMs`; the rest are counted. The first line after a quiet spell carries how
 * many were left out, so the log still says that it happened and how often.
 */
export class LogLimiter {
  private windowStart = 0;
  private inWindow = 0;
  private pendingSuppressed = 0;
  /** Lines left out since start. */
  suppressed = 0;

  constructor(private readonly burst = 10, private readonly windowMs = 60_000, private readonly now: () => number = Date.now) {}

  /** Whether to log now; when true, `leftOut` is how many lines were left out before this one. */
  take(): { log: true; leftOut: number } | { log: false } {
    const t = this.now();
    if (t - this.windowStart >= this.windowMs) {
      this.windowStart = t;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.burst) {
      this.suppressed += 1;
      this.pendingSuppressed += 1;
      return { log: false };
    }
    this.inWindow += 1;
    const leftOut = this.pendingSuppressed;
    this.pendingSuppressed = 0;
    return { log: true, leftOut };
  }
}
