// Every type and byte/word order against pymodbus, over TCP and over RTU on a serial line made by socat. The
// Python side encodes the known values with its own struct module, and decodes what we write the same way, so
// no expectation here comes from the gateway's codec.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriver } from '../src/drivers/registry.js';
import type { Driver, Sample, TagValue } from '../src/drivers/types.js';
import { deviceSchema, type DeviceConfig } from '../src/edge/config/schema.js';
import { startPymodbus, startSerialPair, type KnownValue, type PymodbusServer, type SerialPair } from './helpers/pymodbus.js';

const log = pino({ level: 'silent' });
const LAYOUTS = [
  { byte_order: 'big', word_order: 'big' },
  { byte_order: 'big', word_order: 'little' },
  { byte_order: 'little', word_order: 'big' },
  { byte_order: 'little', word_order: 'little' },
] as const;

/** One value per type, chosen to catch a wrong order: no two bytes alike, 64-bit values beyond 2^53. */
const SAMPLES: Array<{ type: string; value: number | bigint | string; write: number | bigint | string; length?: number }> = [
  { type: 'int16', value: -12345, write: -4321 },
  { type: 'uint16', value: 54321, write: 0xabcd },
  { type: 'int32', value: -123456789, write: 987654321 },
  { type: 'uint32', value: 3_000_000_001, write: 4_000_000_003 },
  { type: 'int64', value: -9007199254740993n, write: 1234567890123456789n },
  { type: 'uint64', value: 18446744073709551557n, write: 9007199254740993n },
  { type: 'float32', value: 3.1415927, write: -0.15625 },
  { type: 'float64', value: -1234.5678901234567, write: 6.02214076e23 },
  { type: 'string', value: 'PUMP-7', write: 'VALVE 12', length: 4 },
];

const widthOf = (s: (typeof SAMPLES)[number]) => s.length ?? ({ int16: 1, uint16: 1, int32: 2, uint32: 2, int64: 4, uint64: 4, float32: 2, float64: 4 } as Record<string, number>)[s.type]!;

/** What a value reads back as: float32 loses precision in its own (Python-independent) way, as Math.fround says. */
function expected(type: string, v: number | bigint | string): TagValue {
  if (type === 'float32') return Math.fround(v as number);
  if (typeof v === 'bigint' && Number.isSafeInteger(Number(v))) return Number(v);
  return v;
}

interface Layout {
  name: string;
  known: KnownValue[];
  tags: Record<string, unknown>[];
  expect: Record<string, TagValue>;
  writes: Array<{ tag: string; value: TagValue; where: Omit<KnownValue, 'value'>; python: unknown }>;
}

/** The read side at holding 0…, the write side at holding 500…, and bools in every place a bool can live. */
function layout(): Layout {
  const out: Layout = { name: 'all', known: [], tags: [], expect: {}, writes: [] };
  let read = 0;
  let write = 500;
  for (const order of LAYOUTS) {
    for (const s of SAMPLES) {
      const name = `${s.type}_${order.byte_order}_${order.word_order}`;
      const common = { type: s.type, ...order, ...(s.length ? { length: s.length } : {}) };
      out.known.push({ table: 'holding', address: read, value: s.value, ...common } as KnownValue);
      out.tags.push({ name, register: 40001 + read, ...common });
      out.expect[name] = expected(s.type, s.value);
      out.tags.push({ name: `w_${name}`, table: 'holding', address: write, writable: true, ...common });
      const python = s.type === 'float32' ? Math.fround(s.write as number) : typeof s.write === 'bigint' ? s.write.toString() : s.write;
      out.writes.push({ tag: `w_${name}`, value: s.write, where: { table: 'holding', address: write, ...common } as Omit<KnownValue, 'value'>, python });
      read += widthOf(s);
      write += widthOf(s);
    }
  }
  // Input registers decode the same way; one value in each order is enough there.
  LAYOUTS.forEach((order, i) => {
    out.known.push({ table: 'input', address: 10 + 2 * i, type: 'float32', value: -273.15, ...order });
    out.tags.push({ name: `in_float32_${i}`, register: 30011 + 2 * i, type: 'float32', ...order });
    out.expect[`in_float32_${i}`] = Math.fround(-273.15);
  });
  // Scale and offset on a raw int16: -500 raw × 0.1 + 20 = -30.
  out.known.push({ table: 'holding', address: 300, type: 'int16', value: -500 });
  out.tags.push({ name: 'scaled', register: 40301, type: 'int16', scale: 0.1, offset: 20 });
  out.expect.scaled = -500 * 0.1 + 20;
  // Bools: a coil, a discrete input, bits of a holding and of an input register.
  out.known.push({ table: 'coil', address: 7, type: 'bool', value: true });
  out.known.push({ table: 'discrete', address: 9, type: 'bool', value: true });
  out.known.push({ table: 'holding', address: 310, type: 'bool', bit: 0, value: true });
  out.known.push({ table: 'holding', address: 310, type: 'bool', bit: 13, value: true });
  out.known.push({ table: 'input', address: 40, type: 'bool', bit: 15, value: true });
  out.tags.push(
    { name: 'coil7', register: 8 },
    { name: 'coil8', register: 9 },
    { name: 'di9', register: 10010 },
    { name: 'hr310_b0', register: 40311, bit: 0 },
    { name: 'hr310_b1', register: 40311, bit: 1 },
    { name: 'hr310_b13', register: 40311, bit: 13 },
    { name: 'ir40_b15', register: 30041, bit: 15 },
  );
  Object.assign(out.expect, { coil7: true, coil8: false, di9: true, hr310_b0: true, hr310_b1: false, hr310_b13: true, ir40_b15: true });
  // Writable bools: a coil and one bit of a register whose other bits must survive.
  out.known.push({ table: 'holding', address: 320, type: 'uint16', value: 0b1010_0000_0000_0101 });
  out.tags.push({ name: 'w_coil', register: 21, writable: true }, { name: 'w_bit3', register: 40321, bit: 3, writable: true }, { name: 'w_bit0', register: 40321, bit: 0, writable: true });
  return out;
}

const values = (samples: Sample[]) => Object.fromEntries(samples.map((s) => [s.tag, s.value]));

function exercise(over: 'tcp' | 'rtu') {
  const spec = layout();
  let server: PymodbusServer;
  let pair: SerialPair | undefined;
  let driver: Driver;

  beforeAll(async () => {
    let device: DeviceConfig;
    if (over === 'tcp') {
      server = await startPymodbus({ 1: { values: spec.known } }, { tcp: true });
      device = deviceSchema.parse({ name: 'plc', driver: 'modbus-tcp', host: '127.0.0.1', port: server.port, tags: spec.tags });
    } else {
      pair = await startSerialPair();
      server = await startPymodbus({ 7: { values: spec.known } }, { serial: { path: pair.serverSide, baud: 38400 } });
      device = deviceSchema.parse({ name: 'plc', driver: 'modbus-rtu', port: pair.driverSide, baud: 38400, unit_id: 7, tags: spec.tags });
    }
    driver = createDriver(device, { log });
    await driver.connect();
  });
  afterAll(async () => {
    await driver?.close();
    await server?.close();
    await pair?.close();
  });
  const unit = over === 'tcp' ? 1 : 7;

  it('reads every type in every byte and word order as pymodbus encoded it', async () => {
    const samples = await driver.poll(AbortSignal.timeout(10_000));
    const got = values(samples);
    for (const [name, value] of Object.entries(spec.expect)) {
      if (name === 'scaled') expect(got[name], name).toBeCloseTo(value as number, 10);
      else expect(got[name], name).toEqual(value);
    }
    expect(samples.every((s) => s.quality === 'good')).toBe(true);
    // 64-bit values beyond 2^53 arrive as exact bigints.
    expect(got.int64_big_big).toBe(-9007199254740993n);
    expect(got.uint64_little_little).toBe(18446744073709551557n);
  });

  it('writes every type in every byte and word order so that pymodbus decodes the same value', async () => {
    for (const w of spec.writes) {
      await driver.write!(w.tag, w.value);
      expect(await server.read(unit, w.where), w.tag).toEqual(w.python);
    }
    // And reads back what it wrote.
    const got = values(await driver.poll(AbortSignal.timeout(10_000)));
    for (const w of spec.writes) expect(got[w.tag], w.tag).toEqual(expected(w.where.type, w.value as number | bigint | string));
  });

  it('writes a coil, and one bit of a register without touching its other bits', async () => {
    await driver.write!('w_coil', true);
    expect(await server.read(unit, { table: 'coil', address: 20, type: 'bool' })).toBe(true);
    await driver.write!('w_coil', 0);
    expect(await server.read(unit, { table: 'coil', address: 20, type: 'bool' })).toBe(false);

    await driver.write!('w_bit3', true);
    expect(await server.words(unit, 'holding', 320, 1)).toEqual([0b1010_0000_0000_1101]);
    await driver.write!('w_bit0', false);
    expect(await server.words(unit, 'holding', 320, 1)).toEqual([0b1010_0000_0000_1100]);
    expect(values(await driver.poll(AbortSignal.timeout(10_000)))).toMatchObject({ w_coil: false, w_bit3: true, w_bit0: false });
  });

  it('refuses values a type cannot hold, before anything reaches the device', async () => {
    await server.reset();
    await expect(driver.write!('w_uint64_big_big', -1n)).rejects.toThrow('cannot write -1 to tag "w_uint64_big_big": -1 is outside the uint64 range');
    await expect(driver.write!('w_string_big_big', 'TOO LONG!')).rejects.toThrow('9 characters do not fit in 4 registers');
    await expect(driver.write!('w_bit3', 2)).rejects.toThrow('tag "w_bit3" is bit 3 of holding 320: write true or false');
    expect((await server.counts()).requests).toEqual({});
  });
}

describe('modbus-tcp against pymodbus', () => exercise('tcp'));
describe('modbus-rtu against pymodbus on a serial line (socat)', () => exercise('rtu'));
