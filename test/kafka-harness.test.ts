import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { consumeAll, startKafka, type ConsumedRecord, type KafkaBroker } from './helpers/kafka.js';

const TOPIC = 'harness.telemetry';
const COUNT = 1000;
const BATCH = 250;

function message(i: number) {
  return {
    key: `dev-${i % 17}`,
    value: JSON.stringify({ seq: i, v: i * 1.5 }),
    headers: { seq: String(i), source: 'harness' },
  };
}

function checkRecords(records: ConsumedRecord[], count: number): void {
  expect(records).toHaveLength(count);
  const seqs = new Set<number>();
  for (const r of records) {
    const body = JSON.parse(r.value) as { seq: number; v: number };
    expect(body.v).toBe(body.seq * 1.5);
    expect(r.key).toBe(`dev-${body.seq % 17}`);
    expect(r.headers).toEqual({ seq: String(body.seq), source: 'harness' });
    seqs.add(body.seq);
  }
  expect(seqs.size).toBe(count);
  expect(Math.min(...seqs)).toBe(0);
  expect(Math.max(...seqs)).toBe(count - 1);
  // offsets are dense per partition and the same key always lands on the same partition
  const byPartition = new Map<number, bigint[]>();
  const partitionOfKey = new Map<string, number>();
  for (const r of records) {
    byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), BigInt(r.offset)]);
    const seen = partitionOfKey.get(r.key ?? '');
    if (seen !== undefined) expect(r.partition).toBe(seen);
    partitionOfKey.set(r.key ?? '', r.partition);
  }
  for (const offsets of byPartition.values()) {
    offsets.forEach((o, idx) => expect(o).toBe(BigInt(idx)));
  }
}

async function produce(producer: Producer, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += BATCH) {
    const messages = [];
    for (let i = start; i < Math.min(to, start + BATCH); i++) messages.push(message(i));
    await producer.send({ topic: TOPIC, acks: -1, messages });
  }
}

describe('kafka harness (real broker, KRaft)', () => {
  let broker: KafkaBroker;
  let producer: Producer;

  beforeAll(async () => {
    const t0 = Date.now();
    broker = await startKafka();
    console.log(`[harness] broker ready on ${broker.bootstrap} in ${Date.now() - t0} ms (data ${broker.dataDir})`);
    const kafka = new Kafka({ clientId: 'harness-test', brokers: [broker.bootstrap], logLevel: logLevel.WARN });
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
  }, 180_000);

  afterAll(async () => {
    await producer?.disconnect().catch(() => undefined);
    await broker?.stop();
  }, 60_000);

  it('produces 1000 messages with acks=-1 and reads them back', { timeout: 180_000 }, async () => {
    await produce(producer, 0, COUNT);

    const kafka = new Kafka({ clientId: 'harness-admin', brokers: [broker.bootstrap], logLevel: logLevel.WARN });
    const admin = kafka.admin();
    await admin.connect();
    const meta = await admin.fetchTopicMetadata({ topics: [TOPIC] });
    await admin.disconnect();
    expect(meta.topics[0]?.partitions).toHaveLength(3); // auto-created with num.partitions=3

    const records = await consumeAll(broker.bootstrap, TOPIC, { expected: COUNT, timeoutMs: 60_000 });
    checkRecords(records, COUNT);
  });

  it('keeps data across a broker restart and accepts new writes', { timeout: 180_000 }, async () => {
    let t0 = Date.now();
    await broker.stop();
    console.log(`[harness] broker stopped in ${Date.now() - t0} ms`);
    t0 = Date.now();
    await broker.start();
    console.log(`[harness] broker restarted in ${Date.now() - t0} ms`);

    const before = await consumeAll(broker.bootstrap, TOPIC, { expected: COUNT, timeoutMs: 60_000 });
    checkRecords(before, COUNT);

    // the producer connected before the outage must recover on its own
    await produce(producer, COUNT, COUNT + 100);
    const after = await consumeAll(broker.bootstrap, TOPIC, { expected: COUNT + 100, timeoutMs: 60_000 });
    checkRecords(after, COUNT + 100);
  });
});
