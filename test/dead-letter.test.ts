// A record the real Kafka broker refuses for good is set aside in the dead-letter table; the rest flows on.
import Database from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { GatewayProcess } from './helpers/gateway.js';
import { consumeAll, topicSize } from './helpers/kafka.js';
import { cleanupAfterAll, kafkaForFile } from './helpers/suite.js';
import { freePort, waitFor } from './helpers/net.js';

// Clean-ups run before the broker stops: they were registered after it started.
const kafkaBroker = kafkaForFile();
const cleanups = cleanupAfterAll();

describe('dead letters', () => {
  it('a record above the topic\'s max.message.bytes is dead-lettered, counted, and does not block the records behind it', async () => {
    const kafka = kafkaBroker();
    const topic = 'dlq.small-messages';
    const admin = new Kafka({ brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: '1500' }] }], waitForLeaders: true });
    await admin.disconnect();

    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    // 40 tags: the DBIRTH carries all of them (> 1500 bytes); a DDATA with one change is small. Uncompressed:
    // the broker's limit applies to what arrives, and zstd makes this DBIRTH small enough.
    const tags = Array.from({ length: 40 }, (_, i) => `      - { name: long-descriptive-tag-name-${i}, table: holding, address: ${i}, type: uint16 }`).join('\n');
    const g = await GatewayProcess.create({
      extraYaml: `devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plc.port}
    poll: 100ms
    tags:
${tags}
uplink:
  kafka: { brokers: [${kafka.bootstrap}], topic: ${topic}, batch_size: 100, compression: none }
`,
    });
    cleanups.push(() => g.kill());
    await g.start();
    // One change at a time, each once it was polled: five DDATA records, however slow the machine.
    await g.waitForTag('plc-1', 'long-descriptive-tag-name-0', 0); // the birth first
    for (let i = 1; i <= 5; i++) {
      plc.setHolding(0, [i]);
      await g.waitForTag('plc-1', 'long-descriptive-tag-name-0', i);
    }
    await waitFor('the journal to drain past the refused record', async () => {
      const s = await g.status();
      return s.journal.records === 0 && s.uplink.deadLettered >= 1 && s.uplink.forwarded >= 6;
    }, 60_000, 200);
    const status = await g.status();
    expect(status.uplink.state).toBe('up');
    expect(await g.stop()).toBe(0);

    // The whole topic: the stop flushed its NDEATH after the status was read.
    const records = await consumeAll(kafka.bootstrap, topic, { expected: await topicSize(kafka.bootstrap, topic), timeoutMs: 20_000 });
    const kinds = records.map((r) => `${JSON.parse(r.value).type}:${JSON.parse(r.value).device}`);
    expect(kinds).toContain('birth:null');
    expect(kinds.filter((k) => k === 'data:plc-1').length).toBeGreaterThanOrEqual(5);
    expect(kinds).not.toContain('birth:plc-1');

    const db = new Database(join(g.dir, 'data', 'journal.db'), { readonly: true });
    const dead = db.prepare('SELECT seq, type, reason, length(value) AS bytes FROM dead_letters').all() as Array<{ seq: number; type: string; reason: string; bytes: number }>;
    db.close();
    expect(dead.length).toBe(status.uplink.deadLettered);
    expect(dead[0]).toMatchObject({ type: 'birth', reason: 'MESSAGE_TOO_LARGE' });
    expect(dead[0]!.bytes).toBeGreaterThan(1500);
    expect(g.logLines().filter((l) => l.level === 50 && String(l.msg).includes('refused record')).length).toBe(dead.length);
  });
});
