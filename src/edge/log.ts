import { fstatSync } from 'node:fs';
import { pino, type Logger } from 'pino';

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

/**
 * JSON lines on stdout (pino); journald keeps them. Under journald each line starts with its `<N>` severity, so
 * `journalctl -p err` and the red/yellow colouring work, and the JSON after the prefix is unchanged. Secrets are
 * redacted wherever they appear in a log object.
 */
export function createLogger(level = 'info', journal = stdoutIsJournal()): Logger {
  return pino({
    level,
    base: { service: 'edge-gateway' },
    redact: { paths: ['password', '*.password', 'sasl', '*.sasl', 'secret', '*.secret'], censor: '[redacted]' },
    ...(journal ? { hooks: { streamWrite: (line: string) => severityPrefix(levelOf(line)) + line } } : {}),
  });
}

/** pino writes `{"level":NN,` first; anything else is treated as info. */
function levelOf(line: string): number {
  const m = /^\{"level":(\d+)/.exec(line);
  return m ? Number(m[1]) : 30;
}
