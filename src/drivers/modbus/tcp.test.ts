// Real sockets on 127.0.0.1 against the simulated PLC of scripts/sim-plc.mjs.
import net from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deviceSchema, type ModbusTagConfig } from '../../edge/config/schema.js';
import { tag } from './test-fixtures.js';
import { createDriver } from '../registry.js';
import type { Driver, Sample } from '../types.js';
import { planReads } from './plan.js';
import type { ModbusTcpDevice } from './tcp.js';

interface SimulatedPlc {
  port: number;
  requests: Record<number, number>;
  connections: number;
  accepted: number;
  setHolding(addr: number, words: number[]): void;
  setInput(addr: number, words: number[]): void;
  setCoil(addr: number, value: boolean): void;
  setDiscrete(addr: number, value: boolean): void;
  getHolding(addr: number, count?: number): number[];
  getCoil(addr: number): boolean;
  writeFloat32(addr: number, value: number): void;
  pause(on?: boolean): void;
  close(): Promise<void>;
}

// A computed specifier keeps tsc (rootDir src, no allowJs) from trying to type-check the script.
const simPath = new URL('../../../scripts/sim-plc.mjs', import.meta.url).href;
const { startSimulatedPlc } = (await import(simPath)) as { startSimulatedPlc(options?: Record<string, unknown>): Promise<SimulatedPlc> };

const log = pino({ level: 'silent' });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function startPlc(options: Record<string, unknown> = {}): Promise<SimulatedPlc> {
  const plc = await startSimulatedPlc({ port: 0, ...options });
  cleanups.push(() => plc.close());
  return plc;
}


function driverFor(port: number, tags: ModbusTagConfig[], extra: Partial<ModbusTcpDevice> = {}): { driver: Driver; device: ModbusTcpDevice } {
  const device = deviceSchema.parse({ name: 'press-01', driver: 'modbus-tcp', host: '127.0.0.1', port, unit_id: 1, poll: 1000, timeout: 400, max_gap: 8, tags, ...extra }) as ModbusTcpDevice;
  const driver = createDriver(device, { log });
  cleanups.push(() => driver.close());
  return { driver, device };
}

const byTag = (samples: Sample[]) => Object.fromEntries(samples.map((s) => [s.tag, s.value]));
const poll = (driver: Driver) => driver.poll(AbortSignal.timeout(5000));

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => probe.once('listening', r));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((r) => probe.close(r));
  return port;
}

const everyType = [
  tag('i16', 'holding', 0, 'int16'),
  tag('u16', 'holding', 1, 'uint16'),
  tag('i32', 'holding', 2, 'int32'),
  tag('u32', 'holding', 4, 'uint32'),
  tag('f32', 'holding', 6, 'float32'),
  tag('scaled', 'holding', 8, 'int16', { scale: 0.1, offset: 100 }),
  tag('far', 'holding', 100, 'uint16'),
  tag('in', 'input', 0, 'uint16'),
  tag('inf32', 'input', 1, 'float32'),
  tag('run', 'coil', 0, 'bool'),
  tag('alarm', 'coil', 5, 'bool'),
  tag('door', 'discrete', 3, 'bool'),
  tag('idle', 'discrete', 4, 'bool'),
];

describe('modbus-tcp driver', () => {
  it('decodes known values of every type, one good sample per tag', async () => {
    const plc = await startPlc({ coils: { 0: true, 5: true }, discrete: { 3: true } });
    plc.setHolding(0, [0xfb2e, 54321, 0xf8a4, 0x32eb, 0xb2d0, 0x5e00]); // -1234, 54321, -123456789, 3000000000
    plc.writeFloat32(6, 21.5);
    plc.setHolding(8, [0xfff6]); // -10 raw → -1 + 100
    plc.setHolding(100, [42]);
    plc.setInput(0, [7]);
    plc.setInput(1, [0xc2f6, 0xe979]); // -123.456
    const { driver } = driverFor(plc.port, everyType);

    await driver.connect();
    const before = Date.now();
    const samples = await poll(driver);
    const after = Date.now();

    expect(samples.map((s) => s.tag)).toEqual(everyType.map((t) => t.name)); // config order, not plan order
    const values = byTag(samples);
    expect(values).toMatchObject({ i16: -1234, u16: 54321, i32: -123456789, u32: 3_000_000_000, f32: 21.5, far: 42, in: 7, run: true, alarm: true, door: true, idle: false });
    expect(values.scaled).toBeCloseTo(99);
    expect(values.inf32).toBeCloseTo(-123.456, 3);
    for (const s of samples) {
      expect(s.quality).toBe('good');
      expect(s.timestamp).toBeGreaterThanOrEqual(before);
      expect(s.timestamp).toBeLessThanOrEqual(after);
    }
  });

  it('sends exactly the planned requests, one per block', async () => {
    const plc = await startPlc();
    const { driver, device } = driverFor(plc.port, everyType);
    const plan = planReads(device.tags, device.max_gap);
    const fc = { coil: 1, discrete: 2, holding: 3, input: 4 } as const;
    const expected: Record<number, number> = {};
    for (const block of plan) expected[fc[block.table]] = (expected[fc[block.table]] ?? 0) + 1;
    expect(expected).toEqual({ 1: 1, 2: 1, 3: 2, 4: 1 });

    await driver.connect();
    await poll(driver);
    expect(plc.requests).toEqual(expected);
    await poll(driver);
    expect(plc.requests).toEqual(Object.fromEntries(Object.entries(expected).map(([k, n]) => [k, n * 2])));
  });

  it('writes coils and holding registers, scaled and encoded', async () => {
    const plc = await startPlc();
    const { driver } = driverFor(plc.port, [
      tag('run', 'coil', 8, 'bool', { writable: true }),
      tag('speed', 'holding', 10, 'uint16', { writable: true, scale: 0.1 }),
      tag('setpoint', 'holding', 20, 'float32', { writable: true }),
      tag('total', 'holding', 30, 'int32', { writable: true }),
    ]);
    await driver.connect();

    await driver.write!('run', true);
    expect(plc.getCoil(8)).toBe(true);
    await driver.write!('run', 0);
    expect(plc.getCoil(8)).toBe(false);
    await driver.write!('speed', 25.3);
    expect(plc.getHolding(10)).toEqual([253]);
    await driver.write!('setpoint', 3.14);
    expect(plc.getHolding(20, 2)).toEqual([0x4048, 0xf5c3]);
    await driver.write!('total', -2);
    expect(plc.getHolding(30, 2)).toEqual([0xffff, 0xfffe]);
    expect(plc.requests).toEqual({ 5: 2, 6: 1, 16: 2 });

    expect(byTag(await poll(driver))).toMatchObject({ run: false, setpoint: expect.closeTo(3.14, 5), total: -2 });
  });

  it('refuses bad writes with messages that name the device and the tag', async () => {
    const plc = await startPlc();
    const { driver } = driverFor(plc.port, [
      tag('run', 'coil', 0, 'bool', { writable: true }),
      tag('speed', 'holding', 10, 'uint16', { writable: true }),
      tag('count', 'holding', 11, 'uint16'),
    ]);
    await driver.connect();
    const prefix = `device "press-01" (127.0.0.1:${plc.port} unit 1): `;
    await expect(driver.write!('nope', 1)).rejects.toThrow(`${prefix}no tag named "nope"`);
    await expect(driver.write!('count', 1)).rejects.toThrow(`${prefix}tag "count" is not writable`);
    await expect(driver.write!('speed', 70000)).rejects.toThrow(`${prefix}cannot write 70000 to tag "speed": 70000 is outside the uint16 range 0..65535`);
    await expect(driver.write!('speed', 'fast')).rejects.toThrow(`tag "speed" holds a number, cannot write "fast"`);
    await expect(driver.write!('run', 'yes')).rejects.toThrow(`tag "run" is a coil: write true or false`);
    expect(plc.requests).toEqual({});
    // A refused write costs nothing: the connection is still good.
    await expect(poll(driver)).resolves.toHaveLength(3);
  });

  it('rejects a poll within the timeout when the PLC stops answering, and recovers after', async () => {
    const plc = await startPlc();
    plc.setHolding(0, [5]);
    const { driver } = driverFor(plc.port, [tag('n', 'holding', 0, 'uint16'), tag('run', 'coil', 0, 'bool')], { timeout: 300 });
    await driver.connect();
    await poll(driver);

    plc.pause(true);
    const started = Date.now();
    const failure = poll(driver);
    await expect(failure).rejects.toThrow(`device "press-01" (127.0.0.1:${plc.port} unit 1): no answer within 300 ms reading coil 0`);
    expect(Date.now() - started).toBeLessThan(1000);
    await until(() => plc.connections === 0); // the dead connection was closed, not left open
    await expect(poll(driver)).rejects.toThrow('not connected');

    plc.pause(false);
    plc.setHolding(0, [6]);
    await driver.connect();
    expect(byTag(await poll(driver))).toEqual({ n: 6, run: false });
    expect(plc.connections).toBe(1);
  });

  it('rejects promptly when the signal aborts, naming the device and the reason', async () => {
    const plc = await startPlc();
    const { driver } = driverFor(plc.port, [tag('n', 'holding', 0, 'uint16')], { timeout: 5000 });
    await driver.connect();
    plc.pause(true);
    const abort = new AbortController();
    const started = Date.now();
    setTimeout(() => abort.abort(new Error('gateway stopping')), 50);
    await expect(driver.poll(abort.signal)).rejects.toThrow(`device "press-01" (127.0.0.1:${plc.port} unit 1): poll aborted (gateway stopping) reading holding 0`);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(driver.poll(abort.signal)).rejects.toThrow('poll aborted (gateway stopping)');
  });

  it('fails the request at once when the device drops the connection', async () => {
    const plc = await startSimulatedPlc({ port: 0 });
    const { driver } = driverFor(plc.port, [tag('n', 'holding', 0, 'uint16')], { timeout: 5000 });
    await driver.connect();
    plc.pause(true);
    const started = Date.now();
    const failure = poll(driver);
    setTimeout(() => void plc.close(), 50);
    await expect(failure).rejects.toThrow('the device closed the connection reading holding 0');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('says so plainly when nothing listens', async () => {
    const port = await freePort();
    const { driver } = driverFor(port, [tag('n', 'holding', 0, 'uint16')]);
    await expect(driver.connect()).rejects.toThrow(`device "press-01" (127.0.0.1:${port} unit 1): cannot connect: connection refused`);
    await expect(poll(driver)).rejects.toThrow('not connected');
  });

  it('gives up connecting after the timeout when the connect never completes', async () => {
    // A SYN nobody answers, without depending on the network: the socket simply never connects. (Connecting to
    // an unused private address is no substitute: sandboxes and proxies often accept every connection.)
    const connect = vi.spyOn(net.Socket.prototype, 'connect').mockImplementation(function (this: net.Socket) {
      return this;
    });
    cleanups.push(async () => connect.mockRestore());
    const { driver } = driverFor(9, [tag('n', 'holding', 0, 'uint16')], { host: '192.0.2.1', timeout: 300 });
    const started = Date.now();
    await expect(driver.connect()).rejects.toThrow('device "press-01" (192.0.2.1:9 unit 1): cannot connect: no answer within 300 ms');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(connect).toHaveBeenCalledTimes(1);
    await expect(poll(driver)).rejects.toThrow('not connected');
  });

  it('close() is idempotent and lets go of the connection', async () => {
    const plc = await startPlc();
    const { driver } = driverFor(plc.port, [tag('n', 'holding', 0, 'uint16')]);
    await driver.connect();
    await driver.connect(); // already connected: no second socket
    await until(() => plc.connections === 1);
    await driver.close();
    await driver.close();
    await until(() => plc.connections === 0);
    await expect(poll(driver)).rejects.toThrow('not connected');
    await driver.connect();
    await expect(poll(driver)).resolves.toHaveLength(1);
  });

  it('shares one connection between devices on the same host and port; the last one out closes it', async () => {
    const plc = await startPlc();
    plc.setHolding(0, [7]);
    const a = driverFor(plc.port, [tag('n', 'holding', 0, 'uint16')], { name: 'drive-1', unit_id: 1 }).driver;
    const b = driverFor(plc.port, [tag('n', 'holding', 0, 'uint16')], { name: 'drive-2', unit_id: 2 }).driver;
    await Promise.all([a.connect(), b.connect()]);
    await until(() => plc.connections === 1);
    await Promise.all([poll(a), poll(b)]);
    expect(plc.connections).toBe(1);
    await a.close();
    await expect(poll(a)).rejects.toThrow('device "drive-1"');
    expect(byTag(await poll(b))).toEqual({ n: 7 });
    expect(plc.connections).toBe(1);
    await b.close();
    await until(() => plc.connections === 0);
  });

  it('gives devices that name the same unit connections of their own: one PLC split into several devices', async () => {
    const plc = await startPlc();
    const drivers = [1, 2, 3].map((i) => driverFor(plc.port, [tag('n', 'holding', 0, 'uint16')], { name: `part-${i}`, unit_id: 1 }).driver);
    await Promise.all(drivers.map((d) => d.connect()));
    await until(() => plc.connections === 3);
    await Promise.all(drivers.map((d) => poll(d)));
  });

  it('keeps the connection through exception 2: the device answered, the link is fine', async () => {
    const plc = await startPlc({ illegal: { holding: [5] } });
    plc.setHolding(0, [1]);
    plc.setHolding(10, [2]);
    const { driver } = driverFor(plc.port, [tag('a', 'holding', 0), tag('hole', 'holding', 5), tag('b', 'holding', 10)]);
    await driver.connect();
    const samples = await poll(driver);
    expect(byTag(samples)).toEqual({ a: 1, hole: null, b: 2 });
    expect(samples.map((s) => s.quality)).toEqual(['good', 'bad', 'good']);
    await poll(driver);
    expect(plc.requests[3]).toBe(1 + 3 + 3); // the refused block, then its three pieces twice
    expect([plc.connections, plc.accepted]).toEqual([1, 1]);
  });

  it('refuses a configuration the planner cannot serve, naming the device', () => {
    expect(() => driverFor(502, [tag('edge', 'holding', 65535, 'float32')])).toThrow('configuration invalid for device "press-01": tag "edge": float32 at holding 65535 runs past the last address');
  });
});

describe('simulated PLC', () => {
  it('frees its port and drops its clients on close()', async () => {
    const plc = await startSimulatedPlc({ port: 0 });
    const client = net.connect(plc.port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    const closed = new Promise((r) => client.once('close', r));
    await plc.close();
    await closed;
    const again = net.createServer().listen(plc.port, '127.0.0.1');
    await new Promise((resolve, reject) => again.once('listening', resolve).once('error', reject));
    await new Promise((r) => again.close(r));
  });
});
