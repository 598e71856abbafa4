#!/usr/bin/env node
// edge-gateway: run | validate | once | status | broker | verify | spy | version
// First: the native modules load here or the process ends with one sentence (service/native-abi.ts).
import './service/preflight.js';
import { parseArgs } from 'node:util';
import { bytesText } from './capacity-text.js';
import { validate } from './cli/validate.js';
import { ConfigError, configErrorText, formatProblem, loadConfig, locateProblems } from './config/load.js';
import { ConfigValueError } from './config/value-error.js';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config/schema.js';
import type { GatewayHooks, GatewayStatus } from './gateway/gateway.js';
import { createLogger } from './log.js';
import { readSecret } from './config/secrets.js';
import { systemdNotifier } from './service/notify.js';
import { startWatchdog, stuckReason, watchdogIntervalMs, type WatchedPart } from './service/watchdog.js';
import { versionLine } from './version.js';

const USAGE = `Usage:
  edge-gateway run --config FILE        run the gateway
  edge-gateway validate --config FILE   check a config file and the drop-ins in conf.d beside it; exit 0 when
                                        valid, 2 otherwise
  edge-gateway once --config FILE [--device NAME] [--json]
                                        poll every device once: every tag with its raw registers (hex) or JSON,
                                        decoded value and quality; exit 1 when a device does not answer
  edge-gateway status [--url URL] [--user NAME [--password-file FILE]]
                                        the running gateway's health; with http.users, a login (the password from
                                        --password-file or the EDGE_GATEWAY_PASSWORD environment variable)
  edge-gateway broker --config FILE     the local MQTT broker alone, on broker.listen
  edge-gateway spy [--url mqtt://HOST:PORT] [--topic FILTER] [--user NAME [--password-file FILE]] [--count N] [--json]
                                        the site's Sparkplug B traffic decoded, one line per message (default
                                        mqtt://127.0.0.1:1883, topic spBv1.0/#); metrics sent by alias named from
                                        the births seen; --count N exits 0 after N messages; the password from
                                        --password-file or the EDGE_GATEWAY_PASSWORD environment variable
  edge-gateway passwd                   read a password (typed, or piped on stdin) and print its hash for broker.users[] or http.users[] password_hash
  edge-gateway verify --brokers HOST:PORT[,HOST:PORT] --topic TOPIC [--from-beginning [--follow]] [--idle-ms 5000] [--timeout-ms N] [--json]
                                        check a topic for edge.seq gaps per node; exit 0 when complete, 1 when not.
                                        --from-beginning reads up to the end offsets found at start, then ends;
                                        --follow (and a run without --from-beginning) reads on until --idle-ms
                                        without a record; progress goes to stderr every 2 s
  edge-gateway --version                the gateway's version and the Node.js it runs on (also: edge-gateway version)`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, url: { type: 'string' }, user: { type: 'string' }, 'password-file': { type: 'string' }, device: { type: 'string' }, count: { type: 'string' }, ...VERIFY_OPTIONS },
    allowPositionals: false,
  });
  switch (command) {
    case 'validate':
      return validate(requireConfig(values.config));
    case 'run':
      return run(requireConfig(values.config));
    case 'once':
      return (await import('./cli/once.js')).once(requireConfig(values.config), { device: values.device, json: values.json });
    case 'broker':
      return brokerOnly(requireConfig(values.config));
    case 'status':
      return status(values.url ?? 'http://127.0.0.1:8080', values.user, values['password-file']);
    case 'verify':
      return verifyTopic(values);
    case 'passwd':
      return (await import('./cli/passwd.js')).passwd();
    case 'spy':
      return (await import('./cli/spy.js')).spy({
        url: values.url ?? 'mqtt://127.0.0.1:1883', topic: values.topic ?? 'spBv1.0/#', user: values.user, passwordFile: values['password-file'],
        count: positiveCount(values.count), json: values.json ?? false,
      });
    case 'version':
    case '--version':
      process.stdout.write(`${versionLine()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return command ? 0 : 2;
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

function requireConfig(file: string | undefined): string {
  if (!file) throw new UsageError('--config FILE is required');
  return file;
}

class UsageError extends Error {}

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
interface Part extends WatchedPart {
  stop(): Promise<void>;
  /** Applies a valid new configuration in place, with the least disruption; a part without it keeps running as is. */
  reload?(next: GatewayConfig): Promise<void>;
}

type StartPart = (config: GatewayConfig, log: Logger, hooks: GatewayHooks) => Promise<Part>;

/** While start-up waits (a full disk), systemd is asked for more time again and again, instead of killing it. */
const EXTEND_EVERY_MS = 10_000;

/** CLOCK_MONOTONIC in µs, which systemd wants beside RELOADING=1. */
const monotonicUsec = () => (process.hrtime.bigint() / 1000n).toString();

/**
 * Runs one long-lived part until SIGTERM/SIGINT, then stops it in order. Under systemd (Type=notify) it sends
 * READY=1 once the part has started (the journal open, the broker listening), STATUS= lines, WATCHDOG=1 while
 * the part makes progress (systemd-watchdog.ts) and STOPPING=1. SIGHUP re-reads the configuration: when it is
 * valid, the part applies it in place (the gateway restarts only what changed); when not, the problems are
 * logged and the part runs on unchanged.
 */
async function daemon(file: string, what: string, start: StartPart): Promise<number> {
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

function run(file: string): Promise<number> {
  return daemon(file, 'gateway', async (config, log, hooks) => {
    const { startGateway } = await import('./gateway/gateway.js');
    const gateway = await startGateway(config, log, hooks);
    return {
      stop: () => gateway.stop(),
      reload: async (next) => void (await gateway.reload(next)),
      stuck: (now, intervalMs) => stuckReason(gateway.progress(), now, intervalMs),
      status: () => gatewayStatusLine(gateway.status()),
    };
  });
}

/** The one line `systemctl status` shows. */
function gatewayStatusLine(s: GatewayStatus): string {
  const up = s.devices.filter((d) => d.state === 'up').length;
  return `${up}/${s.devices.length} devices answering; uplink ${s.uplink.state}; Sparkplug ${s.sparkplug.state}; journal ${s.journal.records} records`;
}

function brokerOnly(file: string): Promise<number> {
  return daemon(file, 'broker', async (config, log) => {
    const { startBroker } = await import('./broker/server.js');
    const { brokerInPlace, brokerRestartKeys, brokerRestartMessage } = await import('./broker/reload.js');
    // The edge node's client id is kept for broker.node_user: no other client can end the node's session.
    const broker = await startBroker(config.broker.listen, log, { security: config.broker, node: { group: config.site.group, node: config.site.node } });
    let current = config.broker;
    let disconnected = 0;
    // Only the event loop is watched: a blocked loop sends no WATCHDOG=1.
    return {
      stop: () => broker.close(),
      // Users, passwords, rights, limits and the TLS certificate apply in place; clients keep their connections
      // unless their user or password went. Moving a listener waits for the next restart.
      reload: async (next) => {
        const inPlace = brokerInPlace(current, next.broker);
        const outcome = broker.reload(inPlace.running, { reloadTls: inPlace.reloadTls });
        const restartNeeded = brokerRestartKeys(current, next.broker).filter((k) => k !== 'broker.embedded');
        for (const key of restartNeeded) log.warn({ key }, brokerRestartMessage(key));
        // The log's format is fixed when the process starts (its output stream); its level applies at once.
        if (next.log_format !== config.log_format) {
          restartNeeded.push('log.format');
          log.warn({ key: 'log.format' }, 'Reload: "log.format" changed; it takes effect at the next restart (the running value stays).');
        }
        log.level = next.log_level;
        current = inPlace.running;
        disconnected += outcome.disconnected.length;
        log.info({ users: current.users?.length ?? 0, disconnected: outcome.disconnected.length, clients: broker.clients(), ...(outcome.certificate ? { certificate: outcome.certificate } : {}), restartNeeded }, 'Reloaded the broker configuration.');
      },
      status: () => {
        const s = broker.stats();
        const closed = Object.values(s.closed).reduce((a, b) => a + b, s.connectionsDropped);
        return `MQTT broker on ${broker.url}; ${s.clients} clients, ${s.connecting} logging in${disconnected > 0 ? `; ${disconnected} disconnected by reloads` : ''}`
          + `${s.refused.reserved_client_id > 0 ? `; ${s.refused.reserved_client_id} refused the edge node's client id` : ''}${closed > 0 ? `; ${closed} connections closed by the limits` : ''}`;
      },
    };
  });
}

async function status(url: string, user: string | undefined, passwordFile: string | undefined): Promise<number> {
  const base = url.replace(/\/$/, '');
  let body: Record<string, any>;
  const headers: Record<string, string> = {};
  if (user !== undefined) {
    let password: string;
    try {
      password = passwordFile !== undefined ? readSecret({ password_file: passwordFile }, '--password-file') : readSecret({ password_env: 'EDGE_GATEWAY_PASSWORD' }, '--user');
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  try {
    const res = await fetch(`${base}/api/status`, { signal: AbortSignal.timeout(3000), headers });
    if (res.status === 401) {
      process.stderr.write(user === undefined
        ? `the gateway at ${base} asks for a login (http.users): pass --user NAME, with the password in EDGE_GATEWAY_PASSWORD or --password-file FILE\n`
        : `the gateway at ${base} refused the login of "${user}": wrong user name or password\n`);
      return 1;
    }
    body = (await res.json()) as Record<string, any>;
  } catch (err) {
    process.stderr.write(`cannot reach the gateway at ${base}: ${(err as Error).message}\n`);
    return 1;
  }
  if (body.starting) {
    process.stdout.write(`${['the gateway is starting, not ready yet:', ...(body.ready?.reasons ?? []).map((r: string) => `  ${r}`)].join('\n')}\n`);
    return 1;
  }
  process.stdout.write(`${formatStatus(body)}\n`);
  return 0;
}

/** The status for a terminal: the same as the status page, one line per part, one per tag. */
function formatStatus(body: Record<string, any>): string {
  const ms = (n: number | null | undefined) => (n === null || n === undefined ? '-' : n < 1000 ? `${Math.round(n)} ms` : `${Math.round(n / 1000)} s`);
  const now = Date.parse(body.now ?? '') || Date.now();
  const tagValue = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'number' && !Number.isInteger(v) ? String(Number(v.toPrecision(6))) : String(v));
  const clients = (n: number | null) => (n === null ? 'external' : `embedded, ${n} ${n === 1 ? 'client' : 'clients'}`);
  const u = body.uplink;
  const j = body.journal;
  const lines = [
    `site        ${body.site.group}/${body.site.node}   since ${body.startedAt}`,
    `ready       ${body.ready?.ready === false ? `no: ${body.ready.reasons.join('; ')}` : 'yes'}`,
    `sparkplug   ${body.sparkplug.state}  bdSeq ${body.sparkplug.bdSeq}  broker ${body.sparkplug.server} (${clients(body.sparkplug.brokerClients)})` +
      `${(body.sparkplug.servers?.length ?? 1) > 1 ? ` server ${body.sparkplug.servers.indexOf(body.sparkplug.server) + 1} of ${body.sparkplug.servers.length}, ${body.sparkplug.serverSwitches} switches` : ''}` +
      `${body.sparkplug.primaryHost ? `  primary host ${body.sparkplug.primaryHost.id} ${body.sparkplug.primaryHost.online ? 'online' : 'offline'}` : ''}` +
      `  writes ${body.sparkplug.writes ?? 0}, refused ${body.sparkplug.commandsRefused}${body.sparkplug.retainedCommandsIgnored ? ` (${body.sparkplug.retainedCommandsIgnored} retained ignored)` : ''}` +
      `${body.sparkplug.connectFailures ? `  failed connects ${body.sparkplug.connectFailures}` : ''}${body.sparkplug.held ? `  held ${body.sparkplug.held}` : ''}`,
    `uplink      ${u.state}  ${u.target ?? ''}${u.client ? `  ${u.client}/${u.compression}` : ''}  forwarded ${u.forwarded}${u.wireBytesPerSample != null ? `  ${u.wireBytesPerSample.toFixed(1)} B/sample on the wire` : ''}  ${u.throughput ?? 0}/s  last ack ${u.lastAckAt ?? '-'}  latency ${ms(u.lastLatencyMs)}${u.lastError ? `  last error: ${u.lastError}` : ''}`,
    `journal     ${j.records} records, ${j.bytes} bytes, oldest ${j.oldestAgeMs === null ? '-' : `${Math.round(j.oldestAgeMs / 1000)} s`} old, next edge.seq ${j.nextSeq}, captured ${j.captured ?? '-'} (${j.captureRate ?? 0}/s)${j.waiting ? `, ${j.waiting} waiting for the commit due ${j.commitDueAt}` : ''}${j.writeError ? `; ${j.writeError}` : ''}`,
    `capacity    ${j.capacity ?? '-'}${j.maxBytes ? `; bound ${j.maxBytesPercent ? `${j.maxBytesPercent}% of ${bytesText(j.roomBytes)} room = ` : ''}${bytesText(j.maxBytes)}` : ''}${j.bytesPerSample ? `, ${Number(j.bytesPerSample).toFixed(1)} bytes per sample` : ''}`,
    `losses      dropped ${Object.entries(j.dropped ?? {}).filter(([, n]) => Number(n) > 0).map(([reason, n]) => `${reason} ${n}`).join(', ') || 'none'}; dead letters ${u.deadLettered ?? 0}${j.quarantined ? `; corrupt journal moved to ${j.quarantined}` : ''}`,
    'devices',
  ];
  for (const d of body.devices) {
    lines.push(`  ${String(d.name).padEnd(20)} ${String(d.state).padEnd(8)} polls ${d.polls}  errors ${d.errors}  last ${d.lastPollAt ?? '-'}${d.lastError ? `  ${d.lastError}` : ''}`);
    const tags: Array<Record<string, any>> = d.tags ?? [];
    const width = Math.max(12, ...tags.map((t) => String(t.name).length));
    for (const t of tags) lines.push(`    ${String(t.name).padEnd(width)} ${tagValue(t.value).padStart(12)}  ${String(t.quality).padEnd(5)}  read ${ms(now - Date.parse(t.timestamp))} ago`);
  }
  return lines.join('\n');
}

const VERIFY_OPTIONS = {
  brokers: { type: 'string' },
  topic: { type: 'string' },
  'from-beginning': { type: 'boolean' },
  follow: { type: 'boolean' },
  'idle-ms': { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
} as const;

function positiveCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1) throw new UsageError(`--count must be a positive number of messages, not "${text}"`);
  return Number(text);
}

function positiveMs(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1) throw new UsageError(`--${name} must be a positive number of milliseconds, not "${text}"`);
  return Number(text);
}

async function verifyTopic(values: { brokers?: string; topic?: string; 'from-beginning'?: boolean; follow?: boolean; 'idle-ms'?: string; 'timeout-ms'?: string; json?: boolean }): Promise<number> {
  const brokers = (values.brokers ?? '').split(',').map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) throw new UsageError('--brokers HOST:PORT[,HOST:PORT] is required');
  const bad = brokers.find((b) => !/^[^\s:]+:[0-9]{1,5}$/.test(b) && !/^\[[0-9a-fA-F:.]+\]:[0-9]{1,5}$/.test(b));
  if (bad) throw new UsageError(`--brokers: "${bad}" is not HOST:PORT`);
  if (!values.topic) throw new UsageError('--topic TOPIC is required');
  const idleMs = positiveMs('idle-ms', values['idle-ms']) ?? 5000;
  const timeoutMs = positiveMs('timeout-ms', values['timeout-ms']);
  const { verify, formatReport, ok } = await import('../uplink/verify/verify.js');
  let report;
  try {
    report = await verify({
      brokers, topic: values.topic, fromBeginning: values['from-beginning'] ?? false, follow: values.follow ?? false, idleMs, timeoutMs,
      // stderr, so that stdout stays the report (and --json stays JSON).
      onProgress: (p) => process.stderr.write(`verify: ${p.done ? 'done, ' : ''}${p.records} records read, ${p.partitionsDone} of ${p.partitions} partitions read up to their end offsets at start, ${(p.elapsedMs / 1000).toFixed(1)} s\n`),
    });
  } catch (err) {
    process.stderr.write(`cannot verify ${values.topic} on ${brokers.join(',')}: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(values.json ? `${JSON.stringify({ ok: ok(report), ...report }, null, 2)}\n` : formatReport(report));
  if (report.run && !report.run.endReached) process.stderr.write('warning: stopped before the end offsets that existed at start were read\n');
  return ok(report) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    }
    // One line for a person, as every other error of the command line.
    process.stderr.write(`edge-gateway: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
