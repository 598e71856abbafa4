// What a power cut on an SD card leaves, against the real gateway and a real Kafka: a backlog waits in the
// journal while Kafka is down, the gateway is killed, its WAL (then its database) is found zeroed at the next
// start. The cloud must never receive one edge.seq with two different messages, and every seq that did not
// arrive must be named by a gap record (edge-gateway verify exits 0).
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { runCli } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { consumeAll, startKafka, topicSize, type ConsumedRecord, type KafkaBroker } from './helpers/kafka.js';
import { freePort, waitFor } from './helpers/net.js';

const TOPIC = 'damage.telemetry';
let kafka: KafkaBroker;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
beforeAll(async () => {
  kafka = await startKafka();
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await kafka?.stop();
});

const seqOf = (r: ConsumedRecord) => Number(r.headers['edge.seq']);
const content = (r: ConsumedRecord) => `${r.key} ${r.value.replace('"historical":true', '"historical":false')}`;

describe('journal damage with the real gateway', () => {
  it('a zeroed WAL, then a zeroed database, after a kill with a backlog: no seq twice with other data, every loss announced', { timeout: 300_000 }, async () => {
    const plc = await startSimulatedPlc({ port: await freePort() });
    cleanups.push(() => plc.close());
    let value = 1;
    const ticker = setInterval(() => plc.setHolding(0, [(value += 1) & 0xffff]), 100);
    cleanups.push(() => clearInterval(ticker));
    const g = await GatewayProcess.create({ extraYaml: `devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plc.port}
    poll: 100ms
    tags:
      - { name: count, table: holding, address: 0, type: uint16 }
uplink:
  kafka: { brokers: [${kafka.bootstrap}], topic: ${TOPIC}, batch_size: 20 }
` });
    cleanups.push(() => g.kill());
    const journal = join(g.dir, 'data', 'journal.db');
    const damages: Array<[string, string]> = [[`${journal}-wal`, 'zeroed WAL'], [journal, 'zeroed database']];

    await g.start();
    for (const [file, what] of damages) {
      await waitFor('records in Kafka', async () => (await g.status()).uplink.forwarded > 0, 60_000, 100);
      // Kafka goes away; a backlog builds in the journal; the power goes.
      await kafka.stop();
      await waitFor('a backlog', async () => (await g.status()).journal.records >= 30, 60_000, 100);
      await g.kill();
      truncateSync(file, 0);
      await kafka.start();
      await g.start();
      const s = await g.status();
      expect(s.journal.damaged, what).not.toBeNull();
      await waitFor(`the journal to drain after the ${what}`, async () => (await g.status()).journal.records === 0, 90_000, 200);
    }
    clearInterval(ticker);
    const highest = (await g.status()).journal.nextSeq - 1;
    expect(await g.stop()).toBe(0);

    const records = await consumeAll(kafka.bootstrap, TOPIC, { expected: await topicSize(kafka.bootstrap, TOPIC), timeoutMs: 60_000 });
    const bySeq = new Map<number, Set<string>>();
    for (const r of records) bySeq.set(seqOf(r), (bySeq.get(seqOf(r)) ?? new Set()).add(content(r)));
    const reused = [...bySeq].filter(([, contents]) => contents.size > 1).map(([seq]) => seq);
    const gaps = records.filter((r) => JSON.parse(r.value).type === 'gap').map((r) => JSON.parse(r.value) as { ranges: Array<[number, number]>; reason: string });
    console.log(`journal damage with the gateway: ${records.length} records up to edge.seq ${highest}; ${gaps.length} gap records (${gaps.map((gp) => `${gp.reason} ${JSON.stringify(gp.ranges)}`).join('; ')}); seqs with two messages: ${reused.length}`);
    expect(reused).toEqual([]);
    expect(gaps.length).toBeGreaterThanOrEqual(2);
    // The cloud's own check: nothing missing that no gap record announced.
    const verify = runCli(['verify', '--brokers', kafka.bootstrap, '--topic', TOPIC, '--from-beginning', '--idle-ms', '3000', '--timeout-ms', '60000'], { timeoutMs: 90_000 });
    expect(verify.code, `${verify.stdout}\n${verify.stderr}`).toBe(0);
  });
});
