#!/usr/bin/env node
// edge-gateway: run | validate | once | status | broker | verify | passwd | spy | version; each command in cli/.
// First: the native modules load here or the process ends with one sentence (service/native-abi.ts).
import './service/preflight.js';
import { parseArgs } from 'node:util';
import { brokerOnly } from './cli/broker.js';
import { run } from './cli/run.js';
import { status } from './cli/status.js';
import { UsageError } from './cli/usage-error.js';
import { validate } from './cli/validate.js';
import { VERIFY_OPTIONS, verifyTopic } from './cli/verify.js';
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
