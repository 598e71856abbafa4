// Request planning seen from the device: requests counted at a pymodbus server, and a server that refuses the
// addresses a coalesced block bridges.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createDriver } from '../src/drivers/registry.js';
import type { Driver, Sample } from '../src/drivers/types.js';
import { deviceSchema } from '../src/edge/config/schema.js';
import { startPymodbus, type KnownValue, type PymodbusServer } from './helpers/pymodbus.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function logCapture() {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines, warnings: () => lines.filter((l) => l.level === 40).map((l) => l.msg) };
}

async function server(units: Parameters<typeof startPymodbus>[0]): Promise<PymodbusServer> {
  const s = await startPymodbus(units, { tcp: true });
  cleanups.push(() => s.close());
  return s;
}

function driver(port: number, extra: Record<string, unknown>, log = pino({ level: 'silent' })): Driver {
  const d = createDriver(deviceSchema.parse({ name: 'press-01', driver: 'modbus-tcp', host: '127.0.0.1', port, ...extra }), { log });
  cleanups.push(() => d.close());
  return d;
}

const poll = (d: Driver) => d.poll(AbortSignal.timeout(10_000));
const byTag = (samples: Sample[]) => Object.fromEntries(samples.map((s) => [s.tag, s.value]));
const total = (requests: Record<string, number> | undefined) => Object.values(requests ?? {}).reduce((a, b) => a + b, 0);

describe('coalescing', () => {
  // 60 tags scattered over three tables, none adjacent to the next: 30 holding registers 3 apart, 10 float32s
  // 5 apart, 10 input registers 7 apart, 10 coils 5 apart.
  const known: KnownValue[] = [];
  const tags: Record<string, unknown>[] = [];
  for (let i = 0; i < 30; i++) {
    known.push({ table: 'holding', address: 3 * i, type: 'int16', value: 1000 - 77 * i });
    tags.push({ name: `h${i}`, table: 'holding', address: 3 * i, type: 'int16' });
  }
  for (let i = 0; i < 10; i++) {
    known.push({ table: 'holding', address: 200 + 5 * i, type: 'float32', value: i + 0.25 });
    tags.push({ name: `f${i}`, table: 'holding', address: 200 + 5 * i, type: 'float32' });
    known.push({ table: 'input', address: 7 * i, type: 'uint16', value: 40000 + i });
    tags.push({ name: `i${i}`, table: 'input', address: 7 * i });
    known.push({ table: 'coil', address: 5 * i, type: 'bool', value: i % 3 === 0 });
    tags.push({ name: `c${i}`, table: 'coil', address: 5 * i, type: 'bool' });
  }
  const expected = Object.fromEntries([
    ...Array.from({ length: 30 }, (_, i) => [`h${i}`, 1000 - 77 * i]),
    ...Array.from({ length: 10 }, (_, i) => [`f${i}`, i + 0.25]),
    ...Array.from({ length: 10 }, (_, i) => [`i${i}`, 40000 + i]),
    ...Array.from({ length: 10 }, (_, i) => [`c${i}`, i % 3 === 0]),
  ]);

  it('reads 60 scattered tags in 4 requests, with the same values as 60 single reads', async () => {
    const s = await server({ 1: { values: known } });
    const { log, lines } = logCapture();
    const coalesced = driver(s.port, { tags, max_gap: 8 }, log);
    expect(lines.map((l) => l.msg)).toContain('press-01: 4 requests touching 135 holding registers (2 requests), 64 input registers, 46 coils');
    await coalesced.connect();
    const together = await poll(coalesced);
    expect((await s.counts()).requests).toEqual({ 1: { 1: 1, 3: 2, 4: 1 } });
    expect(byTag(together)).toEqual(expected);

    await s.reset();
    const single = driver(s.port, { tags, max_gap: 0 });
    await single.connect();
    const apart = await poll(single);
    expect(total((await s.counts()).requests['1'])).toBe(60);
    expect(byTag(apart)).toEqual(byTag(together));
    expect(apart.map((x) => x.tag)).toEqual(together.map((x) => x.tag));
  });
});

describe('a device that refuses addresses', () => {
  // Only these addresses exist: 0-3, 10-11, 20, 30, 32. Everything else answers exception 2.
  const known: KnownValue[] = [
    { table: 'holding', address: 0, type: 'uint16', value: 11 },
    { table: 'holding', address: 1, type: 'uint16', value: 0 },
    { table: 'holding', address: 2, type: 'uint16', value: 22 },
    { table: 'holding', address: 3, type: 'uint16', value: 0 },
    { table: 'holding', address: 10, type: 'float32', value: 1.5 },
    { table: 'holding', address: 20, type: 'uint16', value: 33 },
    { table: 'holding', address: 30, type: 'uint16', value: 44 },
    { table: 'holding', address: 32, type: 'uint16', value: 55 },
    { table: 'input', address: 0, type: 'uint16', value: 66 },
  ];
  const tags = [
    { name: 'a', register: 40001 },
    { name: 'b', register: 40003 },
    { name: 'f', register: 40011, type: 'float32' },
    { name: 'ghost', register: 40016 }, // holding 15: not on the device
    { name: 'c', register: 40021 },
    { name: 'd', register: 40031 },
    { name: 'ghost2', register: 40032 }, // holding 31, between two good tags with no gap
    { name: 'e', register: 40033 },
    { name: 'in', register: 30001 },
  ];

  it('splits a block at its gaps, reports only the missing tags bad, and says so once', async () => {
    const s = await server({ 1: { values: known, sparse: true } });
    const { log, warnings } = logCapture();
    const d = driver(s.port, { tags, max_gap: 8 }, log);
    await d.connect();

    for (let round = 0; round < 3; round++) {
      const samples = await poll(d);
      expect(byTag(samples), `round ${round}`).toEqual({ a: 11, b: 22, f: 1.5, ghost: null, c: 33, d: 44, ghost2: null, e: 55, in: 66 });
      expect(samples.filter((x) => x.quality === 'bad').map((x) => x.tag)).toEqual(['ghost', 'ghost2']);
      const { requests } = await s.counts();
      // First poll: the refused blocks 0..20 and 30..32, then 0, 2, 10..11, 15, 20 and 30, 31, 32. Later: only the pieces.
      expect(requests['1']?.['3'], `round ${round}`).toBe(round === 0 ? 10 : 8);
      expect(requests['1']?.['4']).toBe(1);
      await s.reset();
    }

    expect(warnings()).toEqual([
      'press-01: the device refuses a block that bridges unused addresses, holding 0..20 (exception 2, illegal data address); reading it as 5 requests from now on: holding 0, holding 2, holding 10..11, holding 15, holding 20.',
      'press-01: tag "ghost" (holding 15): the device refuses its address (exception 2, illegal data address: no such address on the device (addresses start at 0; 40001 is holding 0)); it is reported with quality bad.',
      'press-01: the device refuses a block of several tags, holding 30..32 (exception 2, illegal data address); reading it as 3 requests from now on: holding 30, holding 31, holding 32.',
      'press-01: tag "ghost2" (holding 31): the device refuses its address (exception 2, illegal data address: no such address on the device (addresses start at 0; 40001 is holding 0)); it is reported with quality bad.',
    ]);
  });

  it('fails the poll for other exceptions, naming the device, the exception and the block', async () => {
    const s = await server({ 1: { values: known } });
    const d = driver(s.port, { unit_id: 5, tags: [{ name: 'a', register: 40001 }] });
    await d.connect();
    // pymodbus answers a unit id it does not serve with exception 4.
    await expect(poll(d)).rejects.toThrow(`device "press-01" (127.0.0.1:${s.port} unit 5): exception 4 (device failure) reading holding 0`);
  });
});
