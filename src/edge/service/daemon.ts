// The daemon runner behind `edge-gateway run` and `edge-gateway broker`: one long-lived part (the gateway, or the
// broker alone) under systemd: started, reported READY with a STATUS line, watched, reloaded on SIGHUP
// (`systemctl reload`) and stopped in order on SIGTERM/SIGINT.
import type { Logger } from 'pino';
import { ConfigError, configErrorText, formatProblem, loadConfig, locateProblems } from '../config/load.js';
import type { GatewayConfig } from '../config/schema.js';
import { ConfigValueError } from '../config/value-error.js';
import type { GatewayHooks } from '../gateway/gateway.js';
import { createLogger } from '../log.js';
import { systemdNotifier } from './notify.js';
import { startWatchdog, watchdogIntervalMs, type WatchedPart } from './watchdog.js';

function configOrExit(file: string): GatewayConfig | undefined {
  try {
    return loadConfig(file);
  } catch (err) {
    process.stderr.write(`${configErrorText(file, err)}\n`);
    return undefined;
  }
}

type Request = 'stop' | 'reload';

/**
 * SIGTERM/SIGINT ask to stop, SIGHUP to reload; a second stop signal, once stopping, ends the process at once.
 * A stop while the part is still starting (a start-up waiting for disk space) exits at once: nothing runs yet
 * that an orderly stop would save, and the journal loses nothing committed.
 */
function signalRequests(log: Logger, starting: () => boolean): () => Promise<Request> {
  const pending: Request[] = [];
  let wake: (() => void) | undefined;
  const stop = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'Shutdown requested.');
    if (starting()) {
      log.info('Still starting: exiting at once.');
      process.exit(0);
    }
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    pending.push('stop');
    wake?.();
  };
  const reload = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'Reload requested: re-reading the configuration.');
    pending.push('reload');
    wake?.();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', reload);
  return async () => {
    while (pending.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return pending.includes('stop') ? 'stop' : pending.shift()!;
  };
}

/** A long-lived part: the gateway or the broker alone. */
export interface Part extends WatchedPart {
  stop(): Promise<void>;
  /** Applies a valid new configuration in place, with the least disruption; a part without it keeps running as is. */
  reload?(next: GatewayConfig): Promise<void>;
}

export type StartPart = (config: GatewayConfig, log: Logger, hooks: GatewayHooks) => Promise<Part>;

/** While start-up waits (a full disk), systemd is asked for more time again and again, instead of killing it. */
const EXTEND_EVERY_MS = 10_000;

/** CLOCK_MONOTONIC in µs, which systemd wants beside RELOADING=1. */
const monotonicUsec = () => (process.hrtime.bigint() / 1000n).toString();

/**
 * Runs one long-lived part until SIGTERM/SIGINT, then stops it in order. Under systemd (Type=notify) it sends
 * READY=1 once the part has started (the journal open, the broker listening), STATUS= lines, WATCHDOG=1 while
 * the part makes progress (watchdog.ts) and STOPPING=1. SIGHUP re-reads the configuration: when it is
 * valid, the part applies it in place (the gateway restarts only what changed); when not, the problems are
 * logged and the part runs on unchanged.
 */
export async function daemon(file: string, what: string, start: StartPart): Promise<number> {
  const config = configOrExit(file);
  if (!config) return 2;
  const log = createLogger(config.log_level, config.log_format);
  const systemd = systemdNotifier(log);
  const watchdog = startWatchdog(systemd, watchdogIntervalMs(), log);
  let starting = false;
  const nextRequest = signalRequests(log, () => starting);

  const startOrExit = async (c: GatewayConfig): Promise<Part> => {
    starting = true;
    let extending: NodeJS.Timeout | undefined;
    const hooks: GatewayHooks = {
      waiting: (reason) => {
        const extend = () => systemd.notify({ EXTEND_TIMEOUT_USEC: 3 * EXTEND_EVERY_MS * 1000, STATUS: `starting: ${reason}` });
        extend();
        extending ??= setInterval(extend, EXTEND_EVERY_MS);
      },
    };
    try {
      return await start(c, log, hooks);
    } catch (err) {
      log.fatal({ err: (err as Error).message }, `The ${what} cannot start: ${(err as Error).message}`);
      process.exit(1); // whatever started before the failure must not keep half of it running
    } finally {
      clearInterval(extending);
      starting = false;
    }
  };
  const ready = (p: Part) => {
    const status = p.status?.() ?? `The ${what} is running.`;
    systemd.notify({ READY: 1, STATUS: status });
    watchdog.watch(p, status);
  };

  let part = await startOrExit(config);
  ready(part);
  log.info({ config: file, site: config.site }, `The ${what} is running.`);
  // A refused reload logs each problem as `validate` prints it; the running configuration stays.
  const refuse = (problems: string[], why: string) => {
    for (const problem of problems) log.error({ config: file }, `Reload refused: ${problem}`);
    log.error({ config: file, problems }, `Reload refused: ${file} ${why}; the ${what} runs on with the configuration it has.`);
  };
  while ((await nextRequest()) === 'reload') {
    // `systemctl reload` (ExecReload validates, then sends SIGHUP): a bad file is refused with the same
    // FILE:LINE:COL messages as `validate`, and the running configuration stays.
    let next: GatewayConfig;
    try {
      next = loadConfig(file);
    } catch (err) {
      refuse(err instanceof ConfigError ? err.problems.map(formatProblem) : [(err as Error).message], 'is not valid');
      continue;
    }
    if (!part.reload) {
      log.warn({ config: file }, `Reload: the ${what} applies configuration changes at its next restart; its clients keep their connections.`);
      continue;
    }
    systemd.notify({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec(), STATUS: `reloading ${file}` });
    try {
      await part.reload(next);
    } catch (err) {
      // A value that cannot be used (a password file that cannot be read, a certificate that does not fit its
      // key) is found while the part applies the file, before it changed anything.
      if (err instanceof ConfigValueError) refuse(locateProblems(file, err.problems).map(formatProblem), 'names a password or certificate that cannot be used');
      else log.error({ err: (err as Error).message }, 'Reload failed part way; see the lines before.');
    }
    ready(part);
  }
  systemd.notify({ STOPPING: 1, STATUS: `stopping the ${what}` });
  watchdog.stop();
  await part.stop();
  // Everything is committed and closed: a handle a client library leaves open (a native Kafka client's threads)
  // must not keep the process from ending.
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
  return 0;
}
