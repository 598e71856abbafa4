// log.format: pretty gives a person at a terminal one readable line per entry (time, level, message, fields);
// under systemd, where stdout is the journal, the gateway writes JSON with `<N>` severities whatever it says.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/edge/config/load.js';
import { planReload } from '../src/edge/gateway/reload.js';
import { prettyStream } from '../src/edge/log.js';
import { pino } from 'pino';
import { runCliAsync } from './helpers/cli.js';
import { GatewayProcess, withTestCommitInterval } from './helpers/gateway.js';
import { freePort, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();

/** `[2026-01-31 14:03:22.123 +0100] INFO: message {"field":1}` */
const PRETTY = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4}\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S/;

async function gateway(o: { journalStream?: boolean; ports?: { mqtt: number; http: number } } = {}) {
  const g = await GatewayProcess.create({ extraYaml: 'log:\n  format: pretty\n', ...o });
  cleanups.push(() => g.kill(), () => rmSync(g.dir, { recursive: true, force: true }));
  return g;
}

const lines = (g: GatewayProcess) => g.logs().split('\n').filter(Boolean);

describe('log.format: pretty', () => {
  it('writes human lines: time, level word, message and fields; no JSON object at line start, no colour into a file', async () => {
    const g = await gateway();
    await g.start();
    // A reload cannot change the format: the running one stays, and the log says so.
    const header = readFileSync(g.configFile, 'utf8').split('\n').slice(0, 4).join('\n');
    writeFileSync(g.configFile, [header, ...withTestCommitInterval('log:\n  format: json\n')].join('\n'));
    g.child!.kill('SIGHUP');
    await waitFor('the reload', () => g.logs().includes('Reloaded the config.'), 10_000);
    expect(await g.stop()).toBe(0);

    const all = lines(g);
    expect(all.length).toBeGreaterThan(3);
    for (const line of all) {
      expect(line, line).toMatch(PRETTY);
      expect(line.startsWith('{'), line).toBe(false);
      expect(line, line).not.toMatch(/\u001b\[/); // stdout is a pipe here, not a terminal
    }
    expect(all.find((l) => l.includes('The gateway is running.'))).toMatch(/\] INFO: The gateway is running\. \{.*"site":\{"group":"test-plant","node":"gw-test"\}/);
    expect(all.filter((l) => l.includes('"log.format" changed'))).toEqual([expect.stringMatching(/\] WARN: Reload: "log.format" changed; it takes effect at the next restart \(the running value stays\)\. \{"key":"log.format"\}$/)]);
    expect(all.find((l) => l.includes('Reloaded the config.'))).toMatch(/\] INFO: Reloaded the config\. .*"restartNeeded":\["log.format"\]/);
    expect(all.at(-1)).toMatch(/\] INFO: Stopped; the journal keeps what Kafka has not acknowledged\./);
  });

  it('the broker in its own process writes the same lines, and its reload keeps the running format too', async () => {
    const g = await GatewayProcess.create({ command: 'broker', extraYaml: 'log:\n  format: pretty\n' });
    cleanups.push(() => g.kill(), () => rmSync(g.dir, { recursive: true, force: true }));
    await g.start();
    const header = readFileSync(g.configFile, 'utf8').split('\n').slice(0, 4).join('\n');
    writeFileSync(g.configFile, [header, ...withTestCommitInterval('log:\n  format: json\n')].join('\n'));
    g.child!.kill('SIGHUP');
    await waitFor('the reload', () => g.logs().includes('Reloaded the broker configuration.'), 10_000);
    expect(await g.stop()).toBe(0);
    const all = lines(g);
    for (const line of all) expect(line, line).toMatch(PRETTY);
    expect(all.filter((l) => l.includes('"log.format" changed'))).toEqual([expect.stringMatching(/\] WARN: Reload: "log.format" changed; it takes effect at the next restart/)]);
    expect(all.find((l) => l.includes('Reloaded the broker configuration.'))).toMatch(/"restartNeeded":\["log.format"\]/);
  });

  it('keeps the line that explains why a gateway cannot start (written just before it exits)', async () => {
    const busy = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => busy.close(resolve)));
    const g = await gateway({ ports: { mqtt: await freePort(), http: (busy.address() as { port: number }).port } });
    const run = await runCliAsync(['run', '--config', g.configFile], { env: { JOURNAL_STREAM: '' } });
    expect(run.code).toBe(1);
    const fatal = run.stdout.split('\n').filter((l) => l.includes('cannot start'));
    expect(fatal).toEqual([expect.stringMatching(PRETTY)]);
    expect(fatal[0]).toMatch(/\] FATAL: The gateway cannot start: /);
  });

  it('writes JSON with severities when stdout is the journal stream, and says once that pretty was set', async () => {
    const g = await gateway({ journalStream: true });
    await g.start();
    expect(await g.stop()).toBe(0);
    const all = lines(g);
    expect(all.length).toBeGreaterThan(3);
    for (const line of all) expect(line, line).toMatch(/^<[0-7]>\{"level":\d+,.*\}$/);
    const notes = g.logLines().filter((l) => /log.format is pretty/.test(l.msg));
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ level: 30, log_format: 'pretty', written: 'json', msg: 'log.format is pretty, but stdout is the systemd journal: the log stays JSON lines there (journalctl -o cat prints them).' });
    expect(all[0]).toMatch(/^<6>\{"level":30,.*log.format is pretty/); // the first line of the run
  });

  it('formats in the process: one line per entry, secrets redacted, colour only when asked', () => {
    const out: string[] = [];
    const sink = { write: (s: string) => void out.push(s) };
    const log = pino({ base: { service: 'edge-gateway' }, redact: { paths: ['password'], censor: '[redacted]' } }, prettyStream(sink, false));
    log.warn({ err: 'connection refused', password: 'hunter2', backlog: 12 }, 'Uplink unreachable.');
    log.info('Plain.');
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^\[[^\]]+\] WARN: Uplink unreachable\. \{"err":"connection refused","password":"\[redacted\]","backlog":12\}\n$/);
    expect(out[1]).toMatch(/^\[[^\]]+\] INFO: Plain\.\n$/);
    const coloured: string[] = [];
    pino({}, prettyStream({ write: (s: string) => void coloured.push(s) }, true)).error('Red.');
    expect(coloured[0]).toMatch(/\u001b\[31mERROR\u001b\[39m/);
  });

  it('needs a restart to change (the log stream is made at start); log.level applies at once', () => {
    const config = (extra: string) => parseConfig(`site: { group: g, node: n }\n${extra}`);
    expect(config('')).toMatchObject({ log_format: 'json', log_level: 'info' });
    expect(planReload(config('log: { format: json }'), config('log: { format: pretty }'))).toMatchObject({ logLevel: false, restartNeeded: ['log.format'] });
    expect(planReload(config('log: { level: info }'), config('log: { level: debug }'))).toMatchObject({ logLevel: true, restartNeeded: [] });
    expect(() => config('log: { format: text }')).toThrow(/log\.format/);
    expect(() => config('log: { colour: true }')).toThrow(/colour/);
  });

  it('reads the earlier top-level spelling (log_level, log_format) the same, and refuses both spellings of one key', () => {
    const config = (extra: string) => parseConfig(`site: { group: g, node: n }\n${extra}`, 'gateway.yaml');
    expect(config('log_format: pretty\nlog_level: debug')).toMatchObject({ log_format: 'pretty', log_level: 'debug' });
    expect(config('log: { format: pretty }\nlog_level: warn')).toMatchObject({ log_format: 'pretty', log_level: 'warn' });
    expect(planReload(config('log_format: json'), config('log: { format: pretty }'))).toMatchObject({ restartNeeded: ['log.format'] });
    expect(planReload(config('log_format: pretty'), config('log: { format: pretty }'))).toMatchObject({ restartNeeded: [] });
    expect(() => config('log:\n  level: debug\nlog_level: info')).toThrow(/gateway\.yaml:3:10 log\.level: set either log\.level or log_level \(its earlier spelling\), not both/);
  });
});
