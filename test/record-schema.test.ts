// config/kafka-record.schema.json is the Kafka record contract, machine-readable: what a consumer validates against.
// Unit-level: the schema's version is the edge.schema header's, and every value the renderers can write (each
// Sparkplug datatype, 64-bit integers beyond 2^53, NaN, bad quality, gap records) passes while wrong ones fail.
// End to end: a simulated PLC → the gateway process → a real Kafka broker, read back with kcat as a consumer would.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript simulator, no types
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { encode, encodeString } from '../src/drivers/modbus/codec.js';
import { ConfigError, parseConfig } from '../src/edge/config/load.js';
import { gapJournalEntry, toContractMessage } from '../src/edge/journal-record.js';
import { decodePayload, encodePayload, type Metric } from '../src/edge/sparkplug/codec.js';
import type { EdgeMessage } from '../src/edge/sparkplug/edge-node.js';
import { QUALITY_CODE, QUALITY_PROPERTY } from '../src/edge/sparkplug/quality.js';
import { toOutRecord } from '../src/uplink/forwarder.js';
import { encodeCompact, keyOf, renderCompact, renderJson } from '../src/uplink/journal/compact.js';
import { Dictionary } from '../src/uplink/journal/dictionary.js';
import { RECORD_SCHEMA_HEADER, RECORD_SCHEMA_VERSION } from '../src/uplink/record-schema.js';
import { ROOT } from './helpers/cli.js';
import { GatewayProcess } from './helpers/gateway.js';
import { startKafka, type KafkaBroker } from './helpers/kafka.js';
import { connectMqtt } from './helpers/mqtt-client.js';
import { freePort, sleep, waitFor } from './helpers/net.js';

const SCHEMA_FILE = join(ROOT, 'config', 'kafka-record.schema.json');
const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Record<string, any>;

/** The validator a consumer would build: ajv's draft 2020-12 build, strict, told of the `version` annotation. */
function validator(): ValidateFunction {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  ajv.addVocabulary(['version']);
  return ajv.compile(schema);
}
const validate = validator();

function expectValid(value: unknown, what = JSON.stringify(value).slice(0, 300)): void {
  const ok = validate(value);
  expect(ok ? [] : validate.errors, what).toEqual([]);
}

function expectInvalid(value: unknown): void {
  expect(validate(value), JSON.stringify(value).slice(0, 300)).toBe(false);
}

const quality = (q: keyof typeof QUALITY_CODE) => ({ [QUALITY_PROPERTY]: QUALITY_CODE[q] });

/** A DBIRTH with one metric of every datatype the gateway can publish, in the forms their values take. */
function everyDatatype(now: number): EdgeMessage {
  const m = (name: string, datatype: Metric['datatype'], value: Metric['value'], q: keyof typeof QUALITY_CODE = 'good'): Metric =>
    ({ name, datatype, value, timestamp: now - 5, properties: quality(q) });
  return {
    kind: 'DBIRTH',
    device: 'plc-1',
    payload: {
      timestamp: now,
      metrics: [
        m('i8', 'Int8', -128), m('i16', 'Int16', -32768), m('i32', 'Int32', 2147483647),
        m('u8', 'UInt8', 255), m('u16', 'UInt16', 65535), m('u32', 'UInt32', 4294967295),
        m('i64 small', 'Int64', -42), m('i64 safe max', 'Int64', Number.MAX_SAFE_INTEGER),
        m('i64 beyond', 'Int64', -9223372036854775808n), m('i64 just beyond', 'Int64', 9007199254740993n),
        m('u64 small', 'UInt64', 7), m('u64 beyond', 'UInt64', 18446744073709551557n),
        m('float', 'Float', Math.fround(61.2)), m('float nan', 'Float', Number.NaN), m('float inf', 'Float', Number.POSITIVE_INFINITY),
        m('double', 'Double', 0.1 + 0.2), m('double neg zero', 'Double', -0), m('double big', 'Double', 1e300),
        m('bool', 'Boolean', true), m('text', 'String', 'PRESS-01 "ä" \u0000'), m('lone surrogate', 'String', 'a\uD800b'),
        m('long text', 'Text', 'x'.repeat(300)), m('time', 'DateTime', 1795227832101),
        m('bad', 'UInt16', null, 'bad'), m('stale', 'Float', 21.5, 'stale'), m('null', 'Double', null),
      ],
    },
  };
}

describe('config/kafka-record.schema.json', () => {
  it('is a draft 2020-12 schema whose version is the edge.schema header every record carries', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toBe('https://edge-gateway.local/kafka-record.schema.json');
    expect(schema.version).toBe(RECORD_SCHEMA_VERSION);
    expect(RECORD_SCHEMA_HEADER).toBe('edge.schema');
    // Every datatype the codec knows, each with the JSON form of its value.
    const datatypes = ['Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'Float', 'Double', 'Boolean', 'String', 'DateTime', 'Text'];
    expect([...schema.$defs.metric.properties.datatype.enum].sort()).toEqual([...datatypes].sort());
    expect(Object.keys(schema.$defs.values).sort()).toEqual([...datatypes].sort());
    for (const d of datatypes) expect(decodePayload(encodePayload({ timestamp: 1, metrics: [{ name: 'x', datatype: d as Metric['datatype'], value: null }] })).metrics[0]!.datatype).toBe(d);
    const record = toOutRecord('g/n', { key: 'g/n', type: 'gap', value: '{}', capturedAt: 1, seq: 9, held: true });
    expect(record.headers).toEqual({ 'edge.node': 'g/n', 'edge.seq': '9', 'edge.historical': 'true', 'edge.schema': String(RECORD_SCHEMA_VERSION) });
  });

  it('accepts every datatype as both record formats write it (plain JSON and compact)', () => {
    const now = Date.now();
    const message = toContractMessage('plant', 'gw-01', everyDatatype(now));
    const plain = JSON.parse(renderJson(message));
    expectValid(plain);
    const byName = new Map<string, any>(plain.metrics.map((x: any) => [x.name, x]));
    // The forms the README's table documents.
    expect(byName.get('i64 safe max').value).toBe(Number.MAX_SAFE_INTEGER);
    expect(byName.get('i64 beyond').value).toBe('-9223372036854775808');
    expect(byName.get('i64 just beyond').value).toBe('9007199254740993');
    expect(byName.get('u64 beyond').value).toBe('18446744073709551557');
    expect(byName.get('float nan').value).toBeNull();
    expect(byName.get('float inf').value).toBeNull();
    expect(byName.get('bad')).toMatchObject({ value: null, quality: 'bad' });
    expect(byName.get('time').value).toBe(1795227832101);

    const dict = new Dictionary([]);
    const key = keyOf(message.group, message.node, message.device);
    const compact = encodeCompact(message, key, now, dict);
    expect(compact).toBeDefined();
    const rendered = renderCompact(compact!, message.type, now, dict, true);
    expectValid(JSON.parse(rendered.value));
    expect(JSON.parse(rendered.value)).toEqual({ ...plain, historical: true });

    // A node birth and the orderly stop's NDEATH, as the edge node makes them (bdSeq without its own timestamp).
    expectValid(JSON.parse(renderJson(toContractMessage('plant', 'gw-01', { kind: 'NBIRTH', payload: { timestamp: now, metrics: [{ name: 'bdSeq', datatype: 'Int64', value: 3, timestamp: now }, { name: 'Node Control/Rebirth', datatype: 'Boolean', value: false, timestamp: now }] } }))));
    expectValid(JSON.parse(renderJson(toContractMessage('plant', 'gw-01', { kind: 'NDEATH', payload: { timestamp: now, metrics: [{ name: 'bdSeq', datatype: 'Int64', value: 3 }] } }))));
    expectValid(JSON.parse(renderJson(toContractMessage('plant', 'gw-01', { kind: 'DDEATH', device: 'plc-1', payload: { timestamp: now, metrics: [] } }))));
  });

  it('accepts the gap records the journal writes, live and held back', () => {
    for (const gap of [
      { from: 1201, to: 1460, count: 251, reason: 'max_bytes' as const, ranges: [[1201, 1450], [1460, 1460]] as Array<[number, number]> },
      { from: 5, to: 5, count: 1, reason: 'journal_damaged' as const, ranges: [[5, 5]] as Array<[number, number]> },
      { from: 1, to: 99, count: 99, reason: 'corrupt_journal' as const, ranges: [[1, 99]] as Array<[number, number]> },
      { from: 10, to: 20, count: 11, reason: 'max_age' as const, ranges: [[10, 20]] as Array<[number, number]> },
    ]) {
      const entry = gapJournalEntry('plant', 'gw-01', gap);
      expectValid(JSON.parse(entry.value!));
      const held = toOutRecord('plant/gw-01', { key: entry.key, type: entry.type, value: entry.value!, capturedAt: entry.capturedAt, seq: 2000, held: true });
      expect(JSON.parse(held.value)).toMatchObject({ type: 'gap', historical: true, ...gap });
      expectValid(JSON.parse(held.value));
    }
  });

  it('carries a tag\'s unit: engUnit (String) in the Sparkplug birth, "unit" in the JSON record\'s birth', () => {
    const now = Date.now();
    const metrics: Metric[] = [
      { name: 'temperature', datatype: 'Float', value: 21.5, timestamp: now, properties: quality('good'), unit: '°C' },
      { name: 'count', datatype: 'UInt16', value: 3, timestamp: now, properties: quality('good') },
    ];
    const bytes = encodePayload({ timestamp: now, seq: 1, metrics });
    // Read back by this gateway and by the sparkplug-payload library, independently of our decoder.
    expect(decodePayload(bytes).metrics.map((m) => [m.unit, m.properties])).toEqual([['°C', { Quality: 192 }], [undefined, { Quality: 192 }]]);
    const library = createRequire(import.meta.url)('sparkplug-payload').get('spBv1.0') as { decodePayload(b: Uint8Array): { metrics: Array<{ properties?: Record<string, { type: string; value: unknown }> }> } };
    expect(library.decodePayload(bytes).metrics[0]!.properties).toEqual({ Quality: { type: 'Int32', value: 192 }, engUnit: { type: 'String', value: '°C' } });

    const message = toContractMessage('plant', 'gw-01', { kind: 'DBIRTH', device: 'plc-1', payload: { timestamp: now, metrics } });
    const value = JSON.parse(renderJson(message));
    expectValid(value);
    expect(value.metrics[0]).toEqual({ name: 'temperature', timestamp: now, datatype: 'Float', value: 21.5, quality: 'good', unit: '°C' });
    expect(value.metrics[1]).not.toHaveProperty('unit');
    // The compact format does not hold units: such a birth is stored as its JSON, which the journal sends as it is.
    expect(encodeCompact(message, 'plant/gw-01/plc-1', now, new Dictionary([]))).toBeUndefined();
    expectInvalid({ ...value, metrics: [{ ...value.metrics[0], unit: 5 }] });
    expectInvalid({ ...value, metrics: [{ ...value.metrics[0], unit: '' }] });
  });

  it('takes `unit` on Modbus and mqtt-json tags, a non-empty text', () => {
    const config = parseConfig(`site: { group: g, node: n }
devices:
  - { name: m, driver: modbus-tcp, host: 127.0.0.1, tags: [{ name: t, table: holding, address: 0, unit: "°C" }, { name: u, table: holding, address: 1 }] }
  - { name: j, driver: mqtt-json, topic: a/b, tags: [{ name: x, path: v, unit: kWh }] }
`);
    expect(config.devices.map((d) => d.tags.map((t) => t.unit))).toEqual([['°C', undefined], ['kWh']]);
    for (const tag of ['{ name: t, table: holding, address: 0, unit: "" }', '{ name: t, table: holding, address: 0, unit: 5 }']) {
      expect(() => parseConfig(`site: { group: g, node: n }\ndevices:\n  - { name: m, driver: modbus-tcp, host: 127.0.0.1, tags: [${tag}] }\n`)).toThrow(ConfigError);
    }
    expect(() => parseConfig('site: { group: g, node: n }\ndevices:\n  - { name: j, driver: mqtt-json, topic: a/b, tags: [{ name: x, path: v, unit: "" }] }\n')).toThrow(ConfigError);
  });

  it('rejects values that break the contract', () => {
    const metric = { name: 't', timestamp: 1795227832101, datatype: 'Float', value: 1.5, quality: 'good' };
    const data = { type: 'data', group: 'g', node: 'n', device: 'd', timestamp: 1795227832148, historical: false, metrics: [metric] };
    expectValid(data);
    const { datatype: _d, ...withoutDatatype } = metric;
    expectInvalid({ ...data, metrics: [withoutDatatype] });
    expectInvalid({ ...data, type: 'foo' });
    expectInvalid({ ...data, metrics: [{ ...metric, datatype: 'Bytes' }] });
    expectInvalid({ ...data, metrics: [{ ...metric, datatype: 'Int16', value: 40000 }] });
    expectInvalid({ ...data, metrics: [{ ...metric, datatype: 'UInt16', value: 1.5 }] });
    expectInvalid({ ...data, metrics: [{ ...metric, datatype: 'UInt64', value: '-5' }] });
    expectInvalid({ ...data, metrics: [{ ...metric, datatype: 'Int64', value: '12' }] }); // a string only beyond 2^53
    expectInvalid({ ...data, metrics: [{ ...metric, datatype: 'Boolean', value: 1 }] });
    expectInvalid({ ...data, metrics: [{ ...metric, datatype: 'String', value: 5 }] });
    expectInvalid({ ...data, metrics: [{ ...metric, quality: 'bad' }] }); // bad carries no value
    expectInvalid({ ...data, metrics: [{ ...metric, quality: 'unknown' }] });
    expectInvalid({ ...data, metrics: [{ ...metric, extra: 1 }] });
    expectInvalid({ ...data, device: null }); // data comes from devices
    expectInvalid({ ...data, historical: 'false' });
    const { metrics: _m, ...withoutMetrics } = data;
    expectInvalid(withoutMetrics);
    const gap = { type: 'gap', group: 'g', node: 'n', device: null, timestamp: 1, historical: false, from: 3, to: 4, count: 2, reason: 'max_bytes', ranges: [[3, 4]] };
    expectValid(gap);
    expectInvalid({ ...gap, reason: 'disk_full' });
    expectInvalid({ ...gap, ranges: [[3]] });
    expectInvalid({ ...gap, ranges: [] });
    expectInvalid({ ...gap, metrics: [] });
    const { ranges: _r, ...withoutRanges } = gap;
    expectInvalid(withoutRanges);
  });
});

interface KcatRecord {
  partition: number;
  offset: number;
  key: string | null;
  payload: string | null;
  headers: Record<string, string>;
}

/** The topic from its beginning to its end, through kcat, as a consumer outside this project reads it. */
function readWithKcat(bootstrap: string, topic: string): KcatRecord[] {
  if (spawnSync('kcat', ['-V'], { encoding: 'utf8' }).error) throw new Error('kcat is not installed: apt-get install kcat');
  const run = spawnSync('kcat', ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-J', '-q'], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`kcat exited with ${run.status}: ${run.stderr}`);
  return run.stdout.split('\n').filter((l) => l.trim() !== '').map((line) => {
    const e = JSON.parse(line) as { partition: number; offset: number; key: string | null; payload: string | null; headers?: string[] | Record<string, string> };
    // kcat writes headers as a flat [name, value, name, value…] list (older builds: an object).
    const headers: Record<string, string> = {};
    if (Array.isArray(e.headers)) for (let i = 0; i + 1 < e.headers.length; i += 2) headers[e.headers[i]!] = e.headers[i + 1]!;
    else Object.assign(headers, e.headers ?? {});
    return { partition: e.partition, offset: e.offset, key: e.key, payload: e.payload, headers };
  });
}

describe('a consumer validates what the gateway sends', () => {
  let kafka: KafkaBroker;
  let gateway: GatewayProcess | undefined;
  let plc: { port: number; close(): Promise<void>; setHolding(addr: number, words: number[]): void; setCoil(addr: number, on: boolean): void; writeFloat32(addr: number, v: number): void } | undefined;

  beforeAll(async () => {
    kafka = await startKafka();
  });

  afterAll(async () => {
    await gateway?.kill();
    await plc?.close();
    await kafka?.stop();
  });

  it('every record of a real run passes the schema and carries edge.schema', async () => {
    plc = await startSimulatedPlc({ port: await freePort(), illegal: { holding: [100] } });
    const p = plc!;
    p.writeFloat32(0, 21.5);
    p.setHolding(2, [1234]);
    p.setHolding(3, encode('int16', -7));
    p.setHolding(4, encode('uint32', 3_000_000_000));
    p.setCoil(0, true);
    p.setHolding(10, encode('int64', -9223372036854775000n)); // beyond 2^53: a decimal string
    p.setHolding(14, encode('uint64', 18446744073709551557n));
    p.setHolding(18, encode('int64', -42)); // within 2^53: a number
    p.setHolding(22, encode('float64', Math.PI));
    p.setHolding(26, encodeString('PRESS-01', 4));
    p.setHolding(30, [0x7fc0, 0x0000]); // a float32 NaN: null in JSON
    const topic = 'record-schema';
    gateway = await GatewayProcess.create({
      extraYaml: `
devices:
  - name: plc-1
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${p.port}
    unit_id: 1
    poll: 200ms
    timeout: 1s
    tags:
      - { name: temperature, table: holding, address: 0, type: float32, unit: °C }
      - { name: count, table: holding, address: 2, type: uint16 }
      - { name: delta, table: holding, address: 3, type: int16 }
      - { name: total, table: holding, address: 4, type: uint32 }
      - { name: running, table: coil, address: 0, type: bool }
      - { name: energy, table: holding, address: 10, type: int64 }
      - { name: counter, table: holding, address: 14, type: uint64 }
      - { name: offset, table: holding, address: 18, type: int64 }
      - { name: pressure, table: holding, address: 22, type: float64, unit: bar }
      - { name: recipe, table: holding, address: 26, type: string, length: 4 }
      - { name: broken, table: holding, address: 30, type: float32 }
      - { name: scaled, table: holding, address: 2, type: uint16, scale: 0.1 }
      - { name: missing, table: holding, address: 100, type: uint16 }
uplink:
  kafka: { brokers: [${kafka.bootstrap}], topic: ${topic}, batch_size: 50 }
`,
    });
    const g = gateway;
    await g.start();
    const cleanups: Array<() => unknown> = [];
    const { client: mqtt } = await connectMqtt(g.ports.mqtt, {}, cleanups);
    expect(mqtt, 'an MQTT client on the embedded broker').toBeDefined();
    const births: Uint8Array[] = [];
    mqtt!.on('message', (topic, bytes) => {
      if (topic === 'spBv1.0/test-plant/DBIRTH/gw-test/plc-1') births.push(bytes);
    });
    await mqtt!.subscribeAsync('spBv1.0/test-plant/DBIRTH/gw-test/#');
    // ~5 s of changing values: data records beside the births; halfway, a rebirth (a DBIRTH after data).
    const until = Date.now() + 5000;
    for (let i = 0; Date.now() < until; i++) {
      p.writeFloat32(0, 21.5 + i);
      p.setHolding(2, [1234 + i]);
      p.setCoil(0, i % 2 === 0);
      if (i === 10) {
        const rebirth = encodePayload({ timestamp: Date.now(), metrics: [{ name: 'Node Control/Rebirth', datatype: 'Boolean', value: true }] });
        await mqtt!.publishAsync('spBv1.0/test-plant/NCMD/gw-test', Buffer.from(rebirth));
      }
      await sleep(250);
    }
    // The Sparkplug DBIRTH declares the units as the metrics' engUnit property.
    await waitFor('a DBIRTH on MQTT after the rebirth request', () => births.length > 0, 10_000);
    const onWire = new Map(decodePayload(births[0]!).metrics.map((m) => [m.name, m]));
    expect(onWire.get('temperature')?.unit).toBe('°C');
    expect(onWire.get('pressure')?.unit).toBe('bar');
    expect(onWire.get('count')?.unit).toBeUndefined();
    for (const c of cleanups) await c();
    await waitFor('data to reach Kafka', async () => (await g.status()).uplink.forwarded >= 5, 30_000);
    expect(await g.stop()).toBe(0);

    const records = await waitFor('the NDEATH to be readable with kcat', () => {
      const all = readWithKcat(kafka.bootstrap, topic);
      return all.some((r) => r.payload !== null && JSON.parse(r.payload).type === 'death') ? all : undefined;
    }, 30_000, 500);

    const values = records.map((r) => JSON.parse(r.payload!));
    for (const [i, r] of records.entries()) {
      expect(r.headers[RECORD_SCHEMA_HEADER], `edge.seq ${r.headers['edge.seq']}`).toBe(String(RECORD_SCHEMA_VERSION));
      expect(Object.keys(r.headers).sort()).toEqual(['edge.historical', 'edge.node', 'edge.schema', 'edge.seq']);
      expectValid(values[i], `edge.seq ${r.headers['edge.seq']}: ${r.payload}`);
    }
    const types = new Set(values.map((v) => v.type));
    expect([...types].sort()).toEqual(['birth', 'data', 'death']);
    expect(values.filter((v) => v.type === 'data').length).toBeGreaterThanOrEqual(3);

    // The forms the README's table documents, as they arrived.
    const dbirth = values.find((v) => v.type === 'birth' && v.device === 'plc-1');
    const birth = new Map<string, any>(dbirth.metrics.map((m: any) => [m.name, m]));
    expect(birth.get('temperature')).toMatchObject({ datatype: 'Float', quality: 'good', unit: '°C' });
    expect(birth.get('count')).not.toHaveProperty('unit');
    expect(birth.get('delta')).toMatchObject({ datatype: 'Int16', value: -7 });
    expect(birth.get('total')).toMatchObject({ datatype: 'UInt32', value: 3_000_000_000 });
    expect(birth.get('energy')).toMatchObject({ datatype: 'Int64', value: '-9223372036854775000' });
    expect(birth.get('counter')).toMatchObject({ datatype: 'UInt64', value: '18446744073709551557' });
    expect(birth.get('offset')).toMatchObject({ datatype: 'Int64', value: -42 });
    expect(birth.get('pressure')).toMatchObject({ datatype: 'Double', value: Math.PI, unit: 'bar' });
    // Units are declared in every birth (also one made after data replaced the values); data carries values only.
    const dbirths = values.filter((v) => v.type === 'birth' && v.device === 'plc-1');
    expect(dbirths.length).toBeGreaterThanOrEqual(2);
    for (const b of dbirths) expect(b.metrics.filter((m: any) => m.unit !== undefined).map((m: any) => [m.name, m.unit])).toEqual([['temperature', '°C'], ['pressure', 'bar']]);
    for (const v of values.filter((x) => x.type === 'data')) for (const m of v.metrics) expect(m).not.toHaveProperty('unit');
    expect(birth.get('recipe')).toMatchObject({ datatype: 'String', value: 'PRESS-01' });
    expect(birth.get('broken')).toMatchObject({ datatype: 'Float', value: null, quality: 'good' });
    expect(birth.get('scaled')).toMatchObject({ datatype: 'Double' });
    expect(birth.get('missing')).toMatchObject({ datatype: 'UInt16', value: null, quality: 'bad' });
    expect(values.find((v) => v.type === 'death' && v.device === null).metrics.map((m: any) => m.name)).toEqual(['bdSeq']);
  });
});
