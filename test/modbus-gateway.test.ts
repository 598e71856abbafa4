// The gateway process end to end with the wider Modbus types: pymodbus as the PLC, mosquitto_sub as the HMI,
// the journal's record as the cloud's Kafka record. 64-bit integers beyond 2^53 stay exact all the way.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayProcess } from './helpers/gateway.js';
import { journalRecords } from './helpers/journal.js';
import { MosquittoSub, mosquittoPub } from './helpers/mosquitto-sub.js';
import { waitFor } from './helpers/net.js';
import { startPymodbus, type KnownValue } from './helpers/pymodbus.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

const known: KnownValue[] = [
  { table: 'holding', address: 0, type: 'int64', value: -9007199254740993n },
  { table: 'holding', address: 4, type: 'uint64', value: 18446744073709551557n, word_order: 'little' },
  { table: 'holding', address: 8, type: 'string', value: 'LINE-3', length: 4 },
  { table: 'holding', address: 12, type: 'float64', value: 0.1 },
  { table: 'holding', address: 16, type: 'int64', value: 123456789 },
  { table: 'holding', address: 20, type: 'bool', bit: 2, value: true },
  { table: 'holding', address: 30, type: 'int64', value: 0 },
];

const devicesYaml = (port: number) => `devices:
  - name: line-3
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${port}
    poll: 200ms
    tags:
      - { name: energy_wh, register: 40001, type: int64 }
      - { name: serial_no, register: 40005, type: uint64, word_order: little }
      - { name: recipe, register: 40009, type: string, length: 4 }
      - { name: ratio, register: 40013, type: float64 }
      - { name: energy_kwh, register: 40017, type: int64, scale: 0.001 }
      - { name: door_open, register: 40021, bit: 2 }
      - { name: batch_id, register: 40031, type: int64, writable: true }
`;

describe('gateway with 64-bit, string and bit tags', () => {
  it('publishes exact Int64/UInt64, String, Double and Boolean metrics, journals 64-bit values beyond 2^53 as decimal strings, and writes an Int64 DCMD exactly', async () => {
    const plc = await startPymodbus({ 1: { values: known } }, { tcp: true });
    cleanups.push(() => plc.close());
    const g = await GatewayProcess.create({ extraYaml: devicesYaml(plc.port) });
    cleanups.push(() => g.kill());
    const sub = new MosquittoSub(g.ports.mqtt);
    await g.start();
    await sub.start();
    cleanups.push(() => sub.stop());
    // Births are not retained: ask for a fresh one now that we listen.
    expect(await mosquittoPub(g.ports.mqtt, 'spBv1.0/test-plant/NCMD/gw-test', [{ name: 'Node Control/Rebirth', datatype: 'Boolean', value: true }])).toBe(0);
    const birth = await waitFor('a DBIRTH of line-3', () => sub.messages.find((m) => m.topic === 'spBv1.0/test-plant/DBIRTH/gw-test/line-3'), 20_000);

    const metric = (name: string) => birth.payload.metrics.find((m) => m.name === name);
    expect(metric('energy_wh')).toMatchObject({ datatype: 'Int64', value: -9007199254740993n });
    expect(metric('serial_no')).toMatchObject({ datatype: 'UInt64', value: 18446744073709551557n });
    expect(metric('recipe')).toMatchObject({ datatype: 'String', value: 'LINE-3' });
    expect(metric('ratio')).toMatchObject({ datatype: 'Double', value: 0.1 });
    expect(metric('energy_kwh')).toMatchObject({ datatype: 'Double', value: 123456.789 });
    expect(metric('door_open')).toMatchObject({ datatype: 'Boolean', value: true });

    // A DCMD beyond 2^53 reaches the PLC exactly.
    expect(await mosquittoPub(g.ports.mqtt, 'spBv1.0/test-plant/DCMD/gw-test/line-3', [{ name: 'batch_id', datatype: 'Int64', value: 9007199254740995n }])).toBe(0);
    await waitFor('the write to reach the PLC', async () => (await plc.read(1, { table: 'holding', address: 30, type: 'int64' })) === '9007199254740995', 10_000);
    await waitFor('a DDATA with the written value', () =>
      sub.messages.some((m) => m.topic.endsWith('/DDATA/gw-test/line-3') && m.payload.metrics.some((x) => x.name === 'batch_id' && x.value === 9007199254740995n)), 10_000);

    expect(await g.stop()).toBe(0);
    const journaled = journalRecords(join(g.dir, 'data', 'journal.db'));
    const births = journaled.filter((r) => r.type === 'birth' && r.key === 'test-plant/gw-test/line-3');
    expect(births.length).toBeGreaterThan(0);
    const record = JSON.parse(births.at(-1)!.value) as { metrics: Array<{ name: string; datatype: string; value: unknown }> };
    const inRecord = Object.fromEntries(record.metrics.map((m) => [m.name, [m.datatype, m.value]]));
    expect(inRecord).toMatchObject({
      energy_wh: ['Int64', '-9007199254740993'],
      serial_no: ['UInt64', '18446744073709551557'],
      recipe: ['String', 'LINE-3'],
      ratio: ['Double', 0.1],
      energy_kwh: ['Double', 123456.789],
      door_open: ['Boolean', true],
    });
    // The written value came back through the poll: a DDATA record holding it as a decimal string.
    const data = journaled.filter((r) => r.type === 'data' && r.value.includes('batch_id'));
    expect(data.some((r) => r.value.includes('"name":"batch_id"') && r.value.includes('"value":"9007199254740995"'))).toBe(true);
  });
});
