// The default group commit on a running gateway: at a low rate messages wait out buffer.commit_interval (the
// default, 15 s) for their commit, but MQTT publishes them at once; a poll bringing 256 samples or more
// commits at the end of its turn, taking what waited with it; an orderly stop commits what waits.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { GatewayProcess } from './helpers/gateway.js';
import { journalRecords } from './helpers/journal.js';
import { MosquittoSub } from './helpers/mosquitto-sub.js';
import { waitFor } from './helpers/net.js';
import { cleanupAfterAll } from './helpers/suite.js';

const cleanups = cleanupAfterAll();
const BUSY_TAGS = 300;

describe('group commit at the default commit_interval', () => {
  it('publishes a slow tag at once while its record waits for the commit, which comes with the next busy poll or the stop', { timeout: 120_000 }, async () => {
    const plc = await startSimulatedPlc({ port: 0, holding: { 10: [1], 100: new Array(BUSY_TAGS).fill(0) } });
    cleanups.push(() => plc.close());
    const busyTags = Array.from({ length: BUSY_TAGS }, (_, i) => `\n      - { name: r${i}, table: holding, address: ${100 + i}, type: uint16 }`).join('');
    const g = await GatewayProcess.create({
      defaultCommitInterval: true,
      extraYaml: `devices:
  - { name: slow, driver: modbus-tcp, host: 127.0.0.1, port: ${plc.port}, poll: 200ms, tags: [{ name: level, table: holding, address: 10, type: uint16 }] }
  - name: busy
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plc.port}
    poll: 200ms
    tags:${busyTags}
`,
    });
    cleanups.push(() => g.kill());
    await g.start();
    const sub = new MosquittoSub(g.ports.mqtt);
    cleanups.push(() => sub.stop());
    await sub.start();
    await g.waitForTag('busy', 'r0', 0);
    // The births are committed at once.
    const born = await waitFor('the births committed', async () => {
      const s = await g.status();
      return s.journal.records >= 3 && s.journal.waiting === 0 && s.journal.records;
    }, 10_000);

    // A change of the slow tag: on MQTT within the poll, while its record waits for the commit due 15 s later.
    plc.setHolding(10, [4242]);
    const seenAt = Date.now();
    await waitFor('DDATA level=4242 on MQTT', () =>
      sub.messages.some((m) => m.topic.endsWith('/DDATA/gw-test/slow') && m.payload.metrics.some((x) => x.name === 'level' && x.value === 4242)), 10_000);
    const waiting = await g.status();
    expect(waiting.journal.records).toBe(born);
    expect(waiting.journal.waiting).toBeGreaterThanOrEqual(1);
    expect(Date.parse(waiting.journal.commitDueAt) - seenAt).toBeGreaterThan(10_000);

    // A poll with 300 changed samples commits at the end of its turn, with the slow record that waited.
    plc.setHolding(100, Array.from({ length: BUSY_TAGS }, (_, i) => i + 1));
    const committed = await waitFor('the busy poll committed', async () => {
      const s = await g.status();
      return s.journal.records >= born + 2 && s.journal.waiting === 0 && s;
    }, 10_000);
    expect(committed.journal.commitDueAt).toBeNull();

    // Another slow change waits; the orderly stop commits it.
    plc.setHolding(10, [4343]);
    await waitFor('DDATA level=4343 on MQTT', () =>
      sub.messages.some((m) => m.topic.endsWith('/DDATA/gw-test/slow') && m.payload.metrics.some((x) => x.name === 'level' && x.value === 4343)), 10_000);
    expect((await g.status()).journal.waiting).toBeGreaterThanOrEqual(1);
    expect(await g.stop()).toBe(0);
    const values = journalRecords(join(g.dir, 'data', 'journal.db'))
      .filter((r) => r.key === 'test-plant/gw-test/slow' && r.type === 'data')
      .flatMap((r) => (JSON.parse(r.value) as { metrics: Array<{ value: unknown }> }).metrics.map((m) => m.value));
    expect(values).toEqual(expect.arrayContaining([4242, 4343]));
    const busy = journalRecords(join(g.dir, 'data', 'journal.db')).filter((r) => r.key === 'test-plant/gw-test/busy' && r.type === 'data');
    expect((JSON.parse(busy[0]!.value) as { metrics: unknown[] }).metrics).toHaveLength(BUSY_TAGS);
  });
});
