#!/usr/bin/env node
// edge-gateway: run | validate | once | status
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/load.js';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config/schema.js';
import { createLogger } from './log.js';

const USAGE = `Usage:
  edge-gateway run --config FILE        run the gateway
  edge-gateway validate --config FILE   check a config file; exit 0 when valid, 2 otherwise
  edge-gateway once --config FILE [--device NAME]   poll every device once and print the values
  edge-gateway status [--url URL]       the running gateway's health
  edge-gateway broker --config FILE     the local MQTT broker alone, on broker.listen
  edge-gateway passwd                   read a password (typed, or piped on stdin) and print its hash for broker.users[].password_hash
  edge-gateway verify --brokers HOST:PORT[,HOST:PORT] --topic TOPIC [--from-beginning] [--idle-ms 5000] [--timeout-ms N] [--json]
                                        check a topic for edge.seq gaps per node; exit 0 when complete, 1 when not`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { config: { type: 'string', short: 'c' }, url: { type: 'string' }, device: { type: 'string' }, ...VERIFY_OPTIONS },
    allowPositionals: false,
  });
  switch (command) {
    case 'validate':
      return validate(requireConfig(values.config));
    case 'run':
      return run(requireConfig(values.config));
    case 'once':
      return (await import('./once.js')).once(requireConfig(values.config), values.device);
    case 'broker':
      return brokerOnly(requireConfig(values.config));
    case 'status':
      return status(values.url ?? 'http://127.0.0.1:8080');
    case 'verify':
      return verifyTopic(values);
    case 'passwd':
      return (await import('./passwd.js')).passwd();
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

function validate(file: string): number {
  try {
    const config = loadConfig(file);
    const tags = config.devices.reduce((n, d) => n + d.tags.length, 0);
    process.stdout.write(`${file}: valid (${config.devices.length} devices, ${tags} tags)\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

function configOrExit(file: string): GatewayConfig | undefined {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return undefined;
    }
    throw err;
  }
}

function untilSignal(log: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'Shutdown requested.');
      resolve();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

/** Runs one long-lived part until SIGTERM/SIGINT, then stops it in order. */
async function daemon(file: string, what: string, start: (config: GatewayConfig, log: Logger) => Promise<() => Promise<void>>): Promise<number> {
  const config = configOrExit(file);
  if (!config) return 2;
  const log = createLogger(config.log_level);
  let stop: () => Promise<void>;
  try {
    stop = await start(config, log);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, `The ${what} cannot start: ${(err as Error).message}`);
    process.exit(1); // whatever started before the failure must not keep half of it running
  }
  log.info({ config: file, site: config.site }, `The ${what} is running.`);
  await untilSignal(log);
  await stop();
  return 0;
}

function run(file: string): Promise<number> {
  return daemon(file, 'gateway', async (config, log) => {
    const { startGateway } = await import('./gateway.js');
    const gateway = await startGateway(config, log);
    return () => gateway.stop();
  });
}

function brokerOnly(file: string): Promise<number> {
  return daemon(file, 'broker', async (config, log) => {
    const { startBroker } = await import('./broker.js');
    const broker = await startBroker(config.broker.listen, log, { security: config.broker });
    return () => broker.close();
  });
}

async function status(url: string): Promise<number> {
  const base = url.replace(/\/$/, '');
  let body: Record<string, any>;
  try {
    const res = await fetch(`${base}/api/status`, { signal: AbortSignal.timeout(3000) });
    body = (await res.json()) as Record<string, any>;
  } catch (err) {
    process.stderr.write(`cannot reach the gateway at ${base}: ${(err as Error).message}\n`);
    return 1;
  }
  const lines = [
    `site        ${body.site.group}/${body.site.node}   since ${body.startedAt}`,
    `sparkplug   ${body.sparkplug.state}  bdSeq ${body.sparkplug.bdSeq}  broker ${body.sparkplug.broker} (${body.sparkplug.brokerClients} clients)`,
    `uplink      ${body.uplink.state}  ${body.uplink.target ?? ''}  forwarded ${body.uplink.forwarded}${body.uplink.lastError ? `  last error: ${body.uplink.lastError}` : ''}`,
    `journal     ${body.journal.records} records, ${body.journal.bytes} bytes, oldest ${body.journal.oldestAgeMs === null ? '-' : `${Math.round(body.journal.oldestAgeMs / 1000)} s`} old, next edge.seq ${body.journal.nextSeq}`,
    `losses      dropped ${Object.entries(body.journal.dropped ?? {}).map(([reason, n]) => `${reason} ${n}`).join(', ') || 'none'}; dead letters ${body.uplink.deadLettered ?? 0}${body.journal.quarantined ? `; corrupt journal moved to ${body.journal.quarantined}` : ''}`,
    'devices',
    ...body.devices.map((d: any) => `  ${String(d.name).padEnd(20)} ${String(d.state).padEnd(8)} polls ${d.polls}  errors ${d.errors}  last ${d.lastPollAt ?? '-'}${d.lastError ? `  ${d.lastError}` : ''}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

const VERIFY_OPTIONS = {
  brokers: { type: 'string' },
  topic: { type: 'string' },
  'from-beginning': { type: 'boolean' },
  'idle-ms': { type: 'string' },
  'timeout-ms': { type: 'string' },
  json: { type: 'boolean' },
} as const;

function positiveMs(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1) throw new UsageError(`--${name} must be a positive number of milliseconds, not "${text}"`);
  return Number(text);
}

async function verifyTopic(values: { brokers?: string; topic?: string; 'from-beginning'?: boolean; 'idle-ms'?: string; 'timeout-ms'?: string; json?: boolean }): Promise<number> {
  const brokers = (values.brokers ?? '').split(',').map((b) => b.trim()).filter(Boolean);
  if (brokers.length === 0) throw new UsageError('--brokers HOST:PORT[,HOST:PORT] is required');
  const bad = brokers.find((b) => !/^[^\s:]+:[0-9]{1,5}$/.test(b) && !/^\[[0-9a-fA-F:.]+\]:[0-9]{1,5}$/.test(b));
  if (bad) throw new UsageError(`--brokers: "${bad}" is not HOST:PORT`);
  if (!values.topic) throw new UsageError('--topic TOPIC is required');
  const idleMs = positiveMs('idle-ms', values['idle-ms']) ?? 5000;
  const timeoutMs = positiveMs('timeout-ms', values['timeout-ms']);
  const { verify, formatReport, ok } = await import('../uplink/verify.js');
  let report;
  try {
    report = await verify({ brokers, topic: values.topic, fromBeginning: values['from-beginning'] ?? false, idleMs, timeoutMs });
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
    process.stderr.write(`edge-gateway: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
