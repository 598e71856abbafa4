// A long Kafka outage: a backlog of 100,000 records, then live data reaches Kafka within a second while the
// backlog drains alongside, and verify finds nothing missing. On both Kafka clients.
import { Kafka, logLevel } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { runCli } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { cleanupAfterAll, kafkaForFile } from './helpers/suite.js';
import { freePort, sleep, waitFor } from './helpers/net.js';

const BACKLOG = Number(process.env.OUTAGE_BACKLOG ?? 100_000);
const DEVICES = 24;

// Clean-ups run before the broker stops: they were registered after it started.
const kafkaBroker = kafkaForFile();
const cleanups = cleanupAfterAll();

describe.each(['librdkafka', 'kafkajs'] as const)('long outage (client %s)', (client) => {
  // One test's simulator, gateway and consumer end before the next test builds its backlog.
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  // Building the backlog alone takes about a minute at 2,000 records/s; a slower machine needs longer than the
  // default test timeout, while the waits inside allow for it.
  it(`builds a backlog of ${BACKLOG} records; after Kafka returns, live records arrive within a second while the backlog drains`, { timeout: 600_000 }, async () => {
    const kafka = kafkaBroker();
    const topic = `outage.backlog-${client}`;
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    // Every poll of every device sees a new value: one DDATA per poll.
    let tick = 0;
    const churn = setInterval(() => plc.setHolding(0, [++tick % 65536]), 1);
    cleanups.push(() => clearInterval(churn));
    const devices = Array.from({ length: DEVICES }, (_, i) =>
      `  - { name: dev-${i}, driver: modbus-tcp, host: 127.0.0.1, port: ${plc.port}, poll: 10ms, tags: [{ name: v, table: holding, address: 0, type: uint16 }] }`).join('\n');
    const g = await GatewayProcess.create({
      extraYaml: `log_level: warn
devices:
${devices}
buffer: { replay_rate: 20000 }
uplink:
  kafka: { brokers: [${kafka.bootstrap}], topic: ${topic}, batch_size: 1000, client: ${client} }
`,
    });
    cleanups.push(() => g.kill());
    const admin = new Kafka({ brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    // LogAppendTime: each record's Kafka timestamp is when the broker appended it (the gateway's own timestamp, the
    // capture time, is replaced), which is what the latencies below measure.
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] }], waitForLeaders: true });
    await admin.disconnect();
    await kafka.stop();
    const outageStarted = Date.now();
    await g.start();
    await waitFor(`a backlog of ${BACKLOG} records`, async () => (await g.status()).journal.records >= BACKLOG, 600_000, 1000);
    const built = await g.status();
    const captureRate = built.journal.records / ((Date.now() - outageStarted) / 1000);
    console.log(`backlog ${built.journal.records} records built at ${Math.round(captureRate)} records/s`);

    // Watch arrivals from now on, with the broker's LogAppendTime.
    await kafka.start();
    const arrivals: Array<{ historical: boolean; capturedAt: number; sentAt: number }> = [];
    const consumer = new Kafka({ brokers: [kafka.bootstrap], logLevel: logLevel.NOTHING }).consumer({ groupId: `watch-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const v = JSON.parse(m.value!.toString());
          if (v.type !== 'data') continue;
          arrivals.push({ historical: m.headers!['edge.historical']!.toString() === 'true', capturedAt: v.metrics[0].timestamp, sentAt: Number(m.timestamp) });
        }
      },
    });
    cleanups.push(() => consumer.disconnect());
    await waitFor('the backlog to drain', async () => {
      const s = await g.status();
      return s.uplink.state === 'up' && s.journal.records < 2000;
    }, 300_000, 250);
    await waitFor('live records to arrive', () => arrivals.filter((a) => !a.historical).length > 500, 60_000);
    const live = arrivals.filter((a) => !a.historical);
    const historical = arrivals.filter((a) => a.historical);
    const latencies = live.map((a) => a.sentAt - a.capturedAt).sort((a, b) => a - b);
    const p50 = latencies[Math.floor(latencies.length / 2)]!;
    const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
    console.log(`client ${client}: live ${live.length} (capture→send p50 ${p50} ms, p99 ${p99} ms), historical ${historical.length}`);
    // Live data did not wait behind the backlog: the first live records were sent while it was still draining.
    // reduce, not Math.min(...xs): a spread of 100,000 arguments overflows the stack.
    const firstLive = live.reduce((m, a) => Math.min(m, a.sentAt), Number.POSITIVE_INFINITY);
    const lastHistorical = historical.reduce((m, a) => Math.max(m, a.sentAt), 0);
    expect(firstLive).toBeLessThan(lastHistorical);
    expect(p99).toBeLessThan(1000);
    expect(historical.length).toBeGreaterThanOrEqual(BACKLOG * 0.95);

    await sleep(500);
    expect(await g.stop()).toBe(0);
    const v = runCli(['verify', '--brokers', kafka.bootstrap, '--topic', topic, '--from-beginning', '--idle-ms', '3000', '--json']);
    const report = JSON.parse(v.stdout);
    expect(report.totals.missing).toBe(0);
    expect(report.ok).toBe(true);
    expect(v.code).toBe(0);
  });
});
