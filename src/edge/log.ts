import { fstatSync } from 'node:fs';
import { isatty } from 'node:tty';
import { pino, type DestinationStream, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

/** syslog severities (sd-daemon(3) `<N>` prefixes) for pino's numeric levels. */
const SEVERITY: Array<[minLevel: number, prefix: string]> = [
  [60, '<2>'], // fatal → crit
  [50, '<3>'], // error → err
  [40, '<4>'], // warn → warning
  [30, '<6>'], // info → info
  [0, '<7>'], // debug, trace → debug
];

export function severityPrefix(level: number): string {
  return SEVERITY.find(([min]) => level >= min)![1];
}

/**
 * True when stdout is journald's stream: systemd sets JOURNAL_STREAM to the `device:inode` of the stream it
 * connected, so a stdout that a wrapper redirected elsewhere (a file, a pipe) does not match and gets no
 * prefixes. INVOCATION_ID alone only says that systemd started the process, not where stdout goes.
 */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const stream = env.JOURNAL_STREAM;
  if (!stream) return false;
  const [dev, ino] = stream.split(':');
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev.toString() === dev && st.ino.toString() === ino;
  } catch {
    return false;
  }
}

export type LogFormat = 'json' | 'pretty';

/**
 * JSON lines on stdout (pino); journald keeps them. Under journald each line starts with its `<N>` severity, so
 * `journalctl -p err` and the red/yellow colouring work, and the JSON after the prefix is unchanged. Secrets are
 * redacted wherever they appear in a log object.
 *
 * `pretty` is for a person at a terminal: one line per entry with the local time, the level's name, the message
 * and the fields (coloured only when stdout is a terminal and NO_COLOR is not set). Under journald the lines stay
 * JSON whatever the format says, and the first line says so.
 */
export function createLogger(level = 'info', format: LogFormat = 'json', journal = stdoutIsJournal()): Logger {
  const options = {
    level,
    base: { service: 'edge-gateway' },
    redact: { paths: ['password', '*.password', 'sasl', '*.sasl', 'secret', '*.secret'], censor: '[redacted]' },
  };
  if (journal) {
    const log = pino({ ...options, hooks: { streamWrite: (line: string) => severityPrefix(levelOf(line)) + line } });
    if (format === 'pretty') log.info({ log_format: 'pretty', written: 'json' }, 'log.format is pretty, but stdout is the systemd journal: the log stays JSON lines there (journalctl -o cat prints them).');
    return log;
  }
  return format === 'pretty' ? pino(options, prettyStream(pino.destination(1), isatty(1) && !process.env.NO_COLOR)) : pino(options);
}

/**
 * pino's JSON lines made human, in the process (no worker thread), into `out`: pino's own stdout stream, which
 * it flushes at exit, so a fatal line written just before process.exit() is not lost.
 */
export function prettyStream(out: DestinationStream & { flush?(cb?: (err?: Error) => void): void }, colorize: boolean): DestinationStream & { flush(cb?: (err?: Error) => void): void } {
  const pretty = pinoPretty.prettyFactory({
    colorize,
    singleLine: true,
    translateTime: 'SYS:standard',
    ignore: 'pid,hostname,service',
    // `err` is a field like the others (the gateway logs its message): on the same line, not a block below.
    errorLikeObjectKeys: [],
  });
  return {
    write: (line: string) => out.write(pretty(line)),
    flush: (cb) => (out.flush ? out.flush(cb) : cb?.()),
  };
}

/** pino writes `{"level":NN,` first; anything else is treated as info. */
function levelOf(line: string): number {
  const m = /^\{"level":(\d+)/.exec(line);
  return m ? Number(m[1]) : 30;
}
