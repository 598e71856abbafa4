#!/usr/bin/env node
// edge-gateway: run | validate | once | status | broker | verify | spy | version
// First: the native modules load here or the process ends with one sentence (service/native-abi.ts).
import './service/preflight.js';
import { parseArgs } from 'node:util';
import { bytesText } from './capacity-text.js';
import { brokerOnly } from './cli/broker.js';
import { run } from './cli/run.js';
import { UsageError } from './cli/usage-error.js';
import { validate } from './cli/validate.js';
import { VERIFY_OPTIONS, verifyTopic } from './cli/verify.js';
import { readSecret } from './config/secrets.js';
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

function positiveCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1) throw new UsageError(`--count must be a positive number of messages, not "${text}"`);
  return Number(text);
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
