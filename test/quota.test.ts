// A journal bounded by buffer.max_bytes: drop_oldest keeps the newest data and announces exactly what it dropped.
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { runCli } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { consumeAll, topicSize } from './helpers/kafka.js';
import { cleanupAfterAll, kafkaForFile } from './helpers/suite.js';
import { freePort, sleep, waitFor } from './helpers/net.js';

// Clean-ups run before the broker stops: they were registered after it started.
const kafkaBroker = kafkaForFile();
const cleanups = cleanupAfterAll();

describe('journal quota', () => {
  it('drop_oldest keeps the newest data; the gap record names the dropped range; verify calls it announced, not missing', async () => {
    const kafka = kafkaBroker();
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    const topic = 'quota.drop-oldest';
    const g = await GatewayProcess.create({
      extraYaml: `devices:
  - { name: plc-1, driver: modbus-tcp, host: 127.0.0.1, port: ${plc.port}, poll: 50ms, tags: [{ name: v, table: holding, address: 0, type: uint16 }] }
buffer: { max_bytes: 4KiB, when_full: drop_oldest }
uplink:
  kafka: { brokers: [${kafka.bootstrap}], topic: ${topic}, batch_size: 100 }
`,
    });
    cleanups.push(() => g.kill());
    await kafka.stop();
    await g.start();
    for (let i = 0; i < 300; i++) {
      plc.setHolding(0, [i + 1]);
      await sleep(60);
    }
    const full = await g.status();
    expect(full.journal.dropped.max_bytes).toBeGreaterThan(0);
    expect(full.journal.bytes).toBeLessThanOrEqual(4 * 1024);
    const lastValue = 300;
    await kafka.start();
    await waitFor('the journal to drain', async () => (await g.status()).journal.records === 0, 60_000, 200);
    const drained = await g.status();
    const { nextSeq, dropped } = drained.journal;
    expect(await g.stop()).toBe(0);

    // The whole topic: the stop flushed its NDEATH after the status was read.
    const records = await consumeAll(kafka.bootstrap, topic, { expected: await topicSize(kafka.bootstrap, topic), timeoutMs: 30_000 });
    const gaps = records.map((r) => JSON.parse(r.value)).filter((v) => v.type === 'gap');
    expect(gaps.length).toBeGreaterThan(0);
    // Repeated drops merge into one announcement; the superseded announcements' own seqs are in its ranges too.
    expect(gaps).toHaveLength(1);
    const announced = gaps[0].count;
    expect(announced).toBeGreaterThanOrEqual(dropped.max_bytes);
    // Exactly the announced seqs are absent, and every other seq arrived.
    // The stop's NDEATH (above the drained journal's last seq) may come with them: not part of the count.
    const seen = new Set(records.map((r) => Number(r.headers['edge.seq'])).filter((s) => s < nextSeq));
    for (const [a, b] of gaps[0].ranges) for (let s = a; s <= b; s++) expect(seen.has(s)).toBe(false);
    expect(seen.size + announced).toBe(nextSeq - 1);
    // The newest data survived.
    const values = records.flatMap((r) => JSON.parse(r.value).metrics ?? []).map((m: { value: number }) => m.value);
    expect(values).toContain(lastValue);
    expect(values).not.toContain(1);

    const v = runCli(['verify', '--brokers', kafka.bootstrap, '--topic', topic, '--from-beginning', '--idle-ms', '1500', '--json']);
    expect(v.code).toBe(0);
    const report = JSON.parse(v.stdout);
    expect(report.ok).toBe(true);
    expect(report.totals.missing).toBe(0);
    expect(report.totals.announced).toBe(announced);
  });
});
