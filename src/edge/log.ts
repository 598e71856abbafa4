import { pino, type Logger } from 'pino';

/** JSON lines on stdout; journald keeps them. Secrets are redacted wherever they appear in a log object. */
export function createLogger(level = 'info'): Logger {
  return pino({
    level,
    base: { service: 'edge-gateway' },
    redact: { paths: ['password', '*.password', 'sasl', '*.sasl', 'secret', '*.secret'], censor: '[redacted]' },
  });
}
