// Several devices on one line, polled by the edge's own Poller: an RS-485 bus (a socat serial pair) and a TCP
// gateway in front of one. The line carries one request at a time, and a dead unit costs only its own timeout
// slot: its neighbours never miss a poll.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createDriver } from '../src/drivers/registry.js';
import type { Driver, Sample } from '../src/drivers/types.js';
import { deviceSchema } from '../src/edge/config/schema.js';
import { Poller } from '../src/edge/poller.js';
import { scheduleFor } from '../src/edge/schedule.js';
import { sleep } from './helpers/net.js';
import { startPymodbus, startSerialPair, type KnownValue, type UnitSpec } from './helpers/pymodbus.js';

const log = pino({ level: 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const values = (unit: number): KnownValue[] => [
  { table: 'holding', address: 0, type: 'uint16', value: 100 + unit },
  { table: 'holding', address: 100, type: 'int32', value: -1000 * unit },
];
const tags = [
  { name: 'a', register: 40001 },
  { name: 'b', register: 40101, type: 'int32' },
];

interface Polled {
  name: string;
  poller: Poller;
  last: Sample[];
  downs: number;
}

/** Runs the edge's poll loop over every device for `ms`, then stops it. */
async function pollFor(devices: Array<Record<string, unknown>>, ms: number): Promise<Polled[]> {
  const polled = devices.map((config) => {
    const device = deviceSchema.parse(config);
    const driver: Driver = createDriver(device, { log });
    const entry: Polled = { name: device.name, last: [], downs: 0, poller: undefined as unknown as Poller };
    entry.poller = new Poller(device.name, driver, { schedule: scheduleFor(device.poll), timeoutMs: device.timeout }, {
      samples: (s) => (entry.last = s),
      down: () => (entry.downs += 1),
    }, log);
    return entry;
  });
  const stopAll = () => Promise.all(polled.map((p) => p.poller.stop()));
  cleanups.push(stopAll);
  for (const p of polled) p.poller.start();
  await sleep(ms);
  await stopAll();
  return polled;
}

const byTag = (samples: Sample[]) => Object.fromEntries(samples.map((s) => [s.tag, s.value]));

describe('an RS-485 bus shared by several devices', () => {
  it('polls every unit in turn, one request at a time; a dead unit costs only its own timeout', async () => {
    const pair = await startSerialPair();
    cleanups.push(() => pair.close());
    const units: Record<number, UnitSpec> = {
      1: { values: values(1), watch: true, delay_ms: 20 },
      2: { values: values(2), watch: true, delay_ms: 20 },
      3: { dead: true },
    };
    const server = await startPymodbus(units, { serial: { path: pair.serverSide, baud: 19200 } });
    cleanups.push(() => server.close());

    const line = { driver: 'modbus-rtu', port: pair.driverSide, baud: 19200, poll: '200ms' };
    const [m1, m2, dead] = await pollFor([
      { ...line, name: 'meter-1', unit_id: 1, timeout: '2s', request_timeout: '500ms', tags },
      { ...line, name: 'meter-2', unit_id: 2, timeout: '2s', request_timeout: '500ms', tags },
      { ...line, name: 'meter-3', unit_id: 3, timeout: '1s', request_timeout: '300ms', tags },
    ], 4000);

    for (const [p, unit] of [[m1!, 1], [m2!, 2]] as const) {
      const s = p.poller.status();
      expect(s.errors, `${p.name}: ${s.lastError}`).toBe(0);
      expect(s.polls, p.name).toBeGreaterThanOrEqual(5);
      expect(p.downs).toBe(0);
      expect(byTag(p.last)).toEqual({ a: 100 + unit, b: -1000 * unit });
    }
    expect(dead!.poller.status().lastError).toBe(`device "meter-3" (${pair.driverSide} unit 3): no answer within 300 ms reading holding 0`);
    expect(dead!.downs).toBe(1);
    const counts = await server.counts();
    expect(counts.max_concurrent).toBe(1);
    expect(counts.requests['3']?.['3']).toBeGreaterThanOrEqual(1); // the dead unit was asked, in its turn
  });

  it('refuses a device that names the same port with other settings, saying which', async () => {
    const pair = await startSerialPair();
    cleanups.push(() => pair.close());
    const make = (name: string, baud: number) => {
      const d = createDriver(deviceSchema.parse({ name, driver: 'modbus-rtu', port: pair.driverSide, baud, tags }), { log });
      cleanups.push(() => d.close());
      return d;
    };
    await make('meter-1', 9600).connect();
    await expect(make('meter-2', 19200).connect()).rejects.toThrow(
      `device "meter-2" (${pair.driverSide} unit 1): ${pair.driverSide} is in use by device "meter-1" with 9600 baud 8N1; this device asks for 19200 baud 8N1: every device on one port needs the same baud, parity, data_bits and stop_bits`,
    );
  });
});

describe('serial port trouble', () => {
  it('says so when the port does not exist, and when it goes away in the middle of a request', async () => {
    const missing = createDriver(deviceSchema.parse({ name: 'meter-1', driver: 'modbus-rtu', port: '/dev/ttyNOPE9', tags }), { log });
    await expect(missing.connect()).rejects.toThrow('device "meter-1" (/dev/ttyNOPE9 unit 1): cannot connect: serial port not found');

    const pair = await startSerialPair();
    cleanups.push(() => pair.close());
    const d = createDriver(deviceSchema.parse({ name: 'meter-2', driver: 'modbus-rtu', port: pair.driverSide, timeout: '5s', request_timeout: '4s', tags }), { log });
    cleanups.push(() => d.close());
    await d.connect();
    const started = Date.now();
    const failing = d.poll(AbortSignal.timeout(5000)); // nobody answers on the other end
    setTimeout(() => void pair.close(), 100);
    await expect(failing).rejects.toThrow(`device "meter-2" (${pair.driverSide} unit 1): the serial port closed (USB adapter unplugged, or the port went away) reading holding 0`);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('a Modbus TCP gateway in front of several units', () => {
  it('serves them all over one connection, one request at a time; a dead unit does not cost the connection', async () => {
    const server = await startPymodbus({ 1: { values: values(1), watch: true, delay_ms: 20 }, 2: { values: values(2), watch: true, delay_ms: 20 }, 3: { dead: true } }, { tcp: true });
    cleanups.push(() => server.close());
    const gateway = { driver: 'modbus-tcp', host: '127.0.0.1', port: server.port, poll: '200ms', tags };
    const [g1, g2, g3] = await pollFor([
      { ...gateway, name: 'drive-1', unit_id: 1, timeout: '2s', request_timeout: '500ms' },
      { ...gateway, name: 'drive-2', unit_id: 2, timeout: '2s', request_timeout: '500ms' },
      { ...gateway, name: 'drive-3', unit_id: 3, timeout: '1s', request_timeout: '300ms' },
    ], 3000);

    for (const [p, unit] of [[g1!, 1], [g2!, 2]] as const) {
      expect(p.poller.status().errors, `${p.name}: ${p.poller.status().lastError}`).toBe(0);
      expect(byTag(p.last)).toEqual({ a: 100 + unit, b: -1000 * unit });
    }
    expect(g3!.poller.status().lastError).toBe(`device "drive-3" (127.0.0.1:${server.port} unit 3): no answer within 300 ms reading holding 0`);
    const counts = await server.counts();
    expect(counts.connects).toBe(1);
    expect(counts.max_concurrent).toBe(1);
    expect(counts.requests['3']?.['3']).toBeGreaterThanOrEqual(1);
  });
});
