// Logs under journald: pino's JSON lines, each behind its syslog severity (`<3>` for errors …) when stdout is
// the stream that JOURNAL_STREAM names, and plain JSON anywhere else.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { severityPrefix } from '../src/edge/log.js';
import { GatewayProcess } from './helpers/gateway.js';
import { freePort, sleep, waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();

/** A gateway whose journal file is garbage (an error line) and whose PLC does not answer (a warning line). */
async function gatewayWithTrouble(o: { journalStream?: boolean; env?: Record<string, string> }) {
  const dir = mkdtempSync(join(tmpdir(), 'edge-log-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'journal.db'), 'this is not a SQLite database, whatever its name says'.repeat(100));
  const g = await GatewayProcess.create({
    dir,
    ...o,
    extraYaml: `devices:\n  - { name: silent-plc, driver: modbus-tcp, host: 127.0.0.1, port: ${await freePort()}, poll: 100ms, timeout: 200ms, tags: [{ name: v, table: holding, address: 0 }] }\n`,
  });
  cleanups.push(() => g.kill());
  await g.start();
  await waitFor('the device to be down', async () => (await g.status()).devices[0].state === 'down', 10_000);
  await sleep(2000); // many failed polls
  expect(await g.stop()).toBe(0);
  return g;
}

describe('logs under journald', () => {
  it('prefixes every line with its severity when stdout is the journal stream, and log a failing device once', async () => {
    const g = await gatewayWithTrouble({ journalStream: true });
    const lines = g.logs().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      const m = /^<([0-7])>(\{.*\})$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(`<${m![1]}>`).toBe(severityPrefix(JSON.parse(m![2]!).level)); // the JSON after the prefix is intact
    }
    expect(lines.find((l) => l.includes('journal file was corrupt'))).toMatch(/^<3>\{"level":50,/);
    const warnings = lines.filter((l) => l.includes('is not answering'));
    expect(warnings).toHaveLength(1); // one line per outage, not one per retry
    expect(warnings[0]).toMatch(/^<4>\{"level":40,/);
    expect(lines.find((l) => l.includes('The gateway is running.'))).toMatch(/^<6>\{"level":30,/);
    expect((g.logLines().find((l) => l.msg === 'Shutdown requested.') ?? {}).signal).toBe('SIGTERM');
  });

  it('writes plain JSON when stdout is not the stream JOURNAL_STREAM names (redirected by a wrapper)', async () => {
    const g = await gatewayWithTrouble({ env: { JOURNAL_STREAM: '8:12345', INVOCATION_ID: '0123456789abcdef0123456789abcdef' } });
    const lines = g.logs().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) expect(line.startsWith('{"level":'), line).toBe(true);
  });

  it('maps pino levels to syslog severities', () => {
    expect([10, 20, 30, 40, 50, 60].map(severityPrefix)).toEqual(['<7>', '<7>', '<6>', '<4>', '<3>', '<2>']);
  });
});
