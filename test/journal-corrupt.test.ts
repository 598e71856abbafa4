// A corrupt journal file must not crash-loop the service: it is moved aside and the gateway comes up.
import { closeSync, existsSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { GatewayProcess } from './helpers/gateway.js';
import { freePort, sleep, waitFor } from './helpers/net.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('corrupt journal at start-up', () => {
  it('is quarantined with a timestamp, reported, and the gateway runs on with edge.seq above the old file', async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    const g = await GatewayProcess.create({
      extraYaml: `devices:
  - { name: plc-1, driver: modbus-tcp, host: 127.0.0.1, port: ${plc.port}, poll: 50ms, tags: [{ name: v, table: holding, address: 0, type: uint16 }] }
`,
    });
    cleanups.push(() => g.kill());
    await g.start();
    for (let i = 0; i < 400; i++) {
      plc.setHolding(0, [i]);
      await sleep(10);
    }
    await waitFor('a backlog', async () => (await g.status()).journal.records >= 50, 20_000);
    const before = (await g.status()).journal.nextSeq;
    expect(await g.stop()).toBe(0);

    const file = join(g.dir, 'data', 'journal.db');
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, randomBytes(8192), 0, 8192, Math.floor(size / 2));
    closeSync(fd);

    await g.start();
    const status = await g.status();
    expect(status.journal.quarantined).toMatch(/journal\.db\.corrupt-/);
    expect(existsSync(status.journal.quarantined)).toBe(true);
    expect(status.journal.nextSeq).toBeGreaterThan(before);
    expect(g.logLines().some((l) => l.level === 50 && String(l.msg).includes('journal file was corrupt'))).toBe(true);
    await waitFor('the device to be polled', async () => (await g.status()).devices[0].state === 'up', 10_000);
    expect(readdirSync(join(g.dir, 'data')).filter((f) => f.includes('corrupt')).length).toBeGreaterThanOrEqual(1);
    expect(await g.stop()).toBe(0);
  });
});
