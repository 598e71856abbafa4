// The whole path with real parts: a Modbus server → the gateway process → a real Kafka broker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { GatewayProcess } from './helpers/gateway.js';
import { consumeAll, startKafka, type ConsumedRecord, type KafkaBroker } from './helpers/kafka.js';
import { freePort, sleep, waitFor } from './helpers/net.js';

let kafka: KafkaBroker;
const gateways: GatewayProcess[] = [];
const plcs: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  kafka = await startKafka();
});

afterAll(async () => {
  for (const g of gateways) await g.kill();
  for (const p of plcs) await p.close();
  await kafka?.stop();
});

async function plcWithKnownValues() {
  const plc = await startSimulatedPlc({ port: await freePort() });
  plcs.push(plc);
  plc.writeFloat32(0, 21.5);
  plc.setHolding(2, [1234]);
  plc.setHolding(3, [0x10000 - 7]); // int16 -7
  plc.setHolding(4, [0xb2d0, 0x5e00]); // uint32 3_000_000_000
  plc.setCoil(0, true);
  return plc;
}

/** The uplink client under test: each test runs once per client. */
let client: 'kafkajs' | 'librdkafka' = 'kafkajs';

function deviceYaml(plcPort: number, topic: string, kafkaBootstrap: string, extra = '') {
  return `${extra}
devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plcPort}
    unit_id: 1
    poll: 200ms
    timeout: 1s
    tags:
      - { name: temperature, table: holding, address: 0, type: float32 }
      - { name: count, table: holding, address: 2, type: uint16 }
      - { name: delta, table: holding, address: 3, type: int16 }
      - { name: total, table: holding, address: 4, type: uint32 }
      - { name: running, table: coil, address: 0, type: bool }
uplink:
  kafka: { brokers: [${kafkaBootstrap}], topic: ${topic}, batch_size: 50, client: ${client} }
`;
}

async function gateway(extraYaml: string, dir?: string) {
  const g = await GatewayProcess.create({ extraYaml, dir });
  gateways.push(g);
  return g;
}

const seqs = (records: ConsumedRecord[]) => records.map((r) => Number(r.headers['edge.seq'])).sort((a, b) => a - b);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const parsed = (r: ConsumedRecord) => JSON.parse(r.value);

/** Every partition's records must carry increasing edge.seq: per-device order holds. */
function expectOrderedPerPartition(records: ConsumedRecord[]) {
  const byPartition = new Map<number, number[]>();
  for (const r of records) byPartition.set(r.partition, [...(byPartition.get(r.partition) ?? []), Number(r.headers['edge.seq'])]);
  for (const list of byPartition.values()) expect(list).toEqual([...list].sort((a, b) => a - b));
}

async function committed(g: GatewayProcess, timeoutMs = 10_000) {
  await waitFor('the journal to commit what was captured', async () => (await g.status()).journal.waiting === 0, timeoutMs, 50);
}

async function drained(g: GatewayProcess, timeoutMs = 60_000) {
  // Nothing stored and nothing waiting for its commit: a polled value may still wait out the commit interval.
  await waitFor('the journal to drain', async () => {
    const { journal } = await g.status();
    return journal.records === 0 && journal.waiting === 0;
  }, timeoutMs, 200);
}

describe.each(['kafkajs', 'librdkafka'] as const)('gateway → Kafka (client %s)', (which) => {
  beforeAll(() => {
    client = which;
  });

  it('delivers what the PLC serves: keys, headers and decoded values, edge.seq gap-free from 1', async () => {
    const plc = await plcWithKnownValues();
    const topic = `e2e.values-${client}`;
    const g = await gateway(deviceYaml(plc.port, topic, kafka.bootstrap));
    await g.start();
    await waitFor('the first data to reach Kafka', async () => (await g.status()).uplink.forwarded >= 2, 30_000);
    plc.writeFloat32(0, 22.25);
    await waitFor('the change to be forwarded', async () => (await g.status()).uplink.forwarded >= 3, 30_000);
    await drained(g);
    const forwarded = (await g.status()).uplink.forwarded;
    const metrics = await (await fetch(g.statusUrl.replace('/api/status', '/metrics'))).text();
    const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    expect(metric('edge_gateway_records_forwarded_total')).toBe(forwarded);
    // Every acknowledged record's capture-to-ack time is in the latency histogram.
    expect(metric('edge_gateway_uplink_latency_seconds_count{historical="false"}') + metric('edge_gateway_uplink_latency_seconds_count{historical="true"}')).toBe(forwarded);
    expect(metric('edge_gateway_samples_captured_total')).toBeGreaterThanOrEqual(2 + 5 + 1); // NBIRTH, DBIRTH, a change
    expect(metric('edge_gateway_uplink_up')).toBe(1);
    expect(metric('edge_gateway_journal_records')).toBe(0);
    expect(metrics).toMatch(/^edge_gateway_device_up\{device="plc-1"\} 1$/m);
    expect(metrics).toMatch(/^edge_gateway_journal_write_bytes_per_sample /m);
    expect(await g.stop()).toBe(0);

    // What was forwarded while running, and the orderly stop's NDEATH after it.
    const records = await consumeAll(kafka.bootstrap, topic, { expected: forwarded + 1, timeoutMs: 30_000 });
    expect(records).toHaveLength(forwarded + 1);
    expect(seqs(records)).toEqual(range(1, forwarded + 1));
    expect(parsed(records.find((r) => Number(r.headers['edge.seq']) === forwarded + 1)!)).toMatchObject({ type: 'death', device: null });
    for (const r of records) {
      expect(r.headers['edge.node']).toBe('test-plant/gw-test');
      expect(r.headers['edge.historical']).toBe('false');
      expect(parsed(r).historical).toBe(false);
    }
    const ordered = [...records].sort((a, b) => Number(a.headers['edge.seq']) - Number(b.headers['edge.seq']));
    expect(ordered[0]!.key).toBe('test-plant/gw-test');
    const nbirth = parsed(ordered[0]!);
    expect(nbirth).toMatchObject({ type: 'birth', group: 'test-plant', node: 'gw-test', device: null });
    expect(nbirth.metrics.map((m: any) => m.name)).toEqual(['bdSeq', 'Node Control/Rebirth']);

    const dbirth = ordered.find((r) => r.key === 'test-plant/gw-test/plc-1' && parsed(r).type === 'birth')!;
    const values = Object.fromEntries(parsed(dbirth).metrics.map((m: any) => [m.name, [m.value, m.datatype]]));
    expect(values).toEqual({
      temperature: [21.5, 'Float'],
      count: [1234, 'UInt16'],
      delta: [-7, 'Int16'],
      total: [3_000_000_000, 'UInt32'],
      running: [true, 'Boolean'],
    });
    const data = ordered.filter((r) => r.key === 'test-plant/gw-test/plc-1' && parsed(r).type === 'data');
    expect(data.length).toBeGreaterThanOrEqual(1);
    const change = parsed(data[0]!);
    // Report by exception: only the tag that changed, with its acquisition timestamp.
    expect(change.metrics).toHaveLength(1);
    expect(change.metrics[0]).toMatchObject({ name: 'temperature', value: 22.25, datatype: 'Float' });
    expect(typeof change.metrics[0].timestamp).toBe('number');
    expectOrderedPerPartition(records);
  });

  it('survives a Kafka outage: journals, logs it once, then delivers everything in order, backlog flagged historical', async () => {
    const plc = await plcWithKnownValues();
    const topic = `e2e.outage-${client}`;
    // Strict journal order for consumers that need it; the default sends live data first (see the replay test).
    const g = await gateway(deviceYaml(plc.port, topic, kafka.bootstrap, 'buffer: { replay: in_order }'));
    await g.start();
    await waitFor('data to reach Kafka', async () => (await g.status()).uplink.forwarded >= 2, 30_000);

    await kafka.stop();
    const outageStart = Date.now();
    // Every value must reach Kafka, so each is changed only once it was polled (and at most every 250 ms: the
    // outage lasts long enough for the uplink to be declared down).
    for (let i = 0; i < 40; i++) {
      plc.setHolding(2, [2000 + i]);
      await Promise.all([sleep(250), g.waitForTag('plc-1', 'count', 2000 + i)]);
    }
    // Declared down within seconds of the first failed delivery (on a loaded machine, a little later).
    await waitFor('the uplink to be declared down', async () => (await g.status()).uplink.state === 'down', 10_000);
    const during = await g.status();
    expect(during.journal.records).toBeGreaterThanOrEqual(30);
    expect(during.devices[0].state).toBe('up'); // polling went on
    const outageEnd = Date.now();
    await kafka.start();
    await drained(g, 90_000);
    for (let i = 0; i < 4; i++) {
      plc.setHolding(2, [3000 + i]);
      await Promise.all([sleep(250), g.waitForTag('plc-1', 'count', 3000 + i)]);
    }
    await drained(g);
    const forwarded = (await g.status()).uplink.forwarded;
    expect(await g.stop()).toBe(0);

    const records = await consumeAll(kafka.bootstrap, topic, { expected: forwarded + 1, timeoutMs: 30_000 });
    expect(seqs(records)).toEqual(range(1, forwarded + 1)); // the stop's NDEATH last
    expectOrderedPerPartition(records);
    const counts = records.filter((r) => parsed(r).type === 'data').map((r) => ({ r, m: parsed(r).metrics.find((m: any) => m.name === 'count') })).filter((x) => x.m);
    const values = counts.map((x) => x.m.value).sort((a: number, b: number) => a - b);
    expect(values).toEqual(expect.arrayContaining(range(2000, 2039)));
    for (const { r, m } of counts) {
      if (m.value >= 2000 && m.value < 2040) {
        expect(r.headers['edge.historical']).toBe('true');
        expect(parsed(r).historical).toBe(true);
        expect(m.timestamp).toBeGreaterThanOrEqual(outageStart - 1000);
        expect(m.timestamp).toBeLessThanOrEqual(outageEnd + 1000);
        // Kafka's timestamp is the capture time (CreateTime), not the send time after the outage.
        expect(r.timestamp).toBeLessThanOrEqual(outageEnd + 1000);
      }
      // Captured as the poll's answer arrived: within the poll of the sample's own time.
      expect(r.timestamp - m.timestamp).toBeGreaterThanOrEqual(0);
      expect(r.timestamp - m.timestamp).toBeLessThan(1000);
      if (m.value >= 3000) expect(r.headers['edge.historical']).toBe('false');
    }
    const outageLogs = g.logLines().filter((l) => String(l.msg).startsWith('Uplink unreachable'));
    expect(outageLogs).toHaveLength(1);
  });

  it('after SIGKILL with a backlog, edge.seq continues without reuse and nothing committed is lost', async () => {
    const plc = await plcWithKnownValues();
    const topic = `e2e.restart-${client}`;
    const g = await gateway(deviceYaml(plc.port, topic, kafka.bootstrap));
    await kafka.stop();
    await g.start();
    // Every value must reach Kafka: each is changed only once it was polled (and so journaled).
    await g.waitForTag('plc-1', 'count', 1234);
    for (let i = 0; i < 20; i++) {
      plc.setHolding(2, [5000 + i]);
      await Promise.all([sleep(250), g.waitForTag('plc-1', 'count', 5000 + i)]);
    }
    // "Committed": the last value shows on the status page at once, its record waits out the commit interval.
    await committed(g);
    const before = await g.status();
    expect(before.journal.records).toBeGreaterThanOrEqual(15);
    await g.kill();

    await g.start();
    for (let i = 0; i < 8; i++) {
      plc.setHolding(2, [6000 + i]);
      await Promise.all([sleep(250), g.waitForTag('plc-1', 'count', 6000 + i)]);
    }
    await kafka.start();
    await drained(g, 90_000);
    const after = await g.status();
    expect(after.journal.nextSeq).toBeGreaterThan(before.journal.nextSeq);
    expect(await g.stop()).toBe(0);

    // Everything captured up to the drain, then the orderly stop's NDEATH.
    const total = after.journal.nextSeq;
    const records = await consumeAll(kafka.bootstrap, topic, { expected: total, timeoutMs: 30_000 });
    expect(seqs(records)).toEqual(range(1, total));
    expect(parsed(records.find((r) => Number(r.headers['edge.seq']) === total)!).type).toBe('death');
    const values = records.flatMap((r) => parsed(r).metrics).filter((m: any) => m.name === 'count').map((m: any) => m.value);
    expect(values).toEqual(expect.arrayContaining([...range(5000, 5019), ...range(6000, 6007)]));
    // Two sessions: two NBIRTHs, the second with the next bdSeq.
    const nbirths = records.filter((r) => r.key === 'test-plant/gw-test' && parsed(r).type === 'birth').map((r) => parsed(r).metrics[0].value);
    expect(nbirths).toEqual([0, 1]);
  });
});
