// `edge-gateway once` against a simulated PLC holding known registers: what a technician reads when checking a
// register map against the PLC's manual. Every expected word and value here is written out by hand.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { formatRegisterNumber } from '../src/drivers/modbus/register-notation.js';
import { runCliAsync } from './helpers/cli.js';
import { freePort } from './helpers/net.js';

let plc: Awaited<ReturnType<typeof startSimulatedPlc>>;
let dir: string;
let deadPort: number;

const config = (plcPort: number) => `site: { group: g, node: n }
devices:
  - name: press-01
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${plcPort}
    tags:
      - { name: temperature, register: 40001, type: float32 }
      - { name: temperature_cdab, register: 40001, type: float32, word_order: little }
      - { name: pressure, register: 40003, type: int16, scale: 0.1 }
      - { name: alarm_fan, register: 40011, bit: 0 }
      - { name: alarm_door, register: 40011, bit: 1 }
      - { name: hole, register: 40006 }
      - { name: recipe, register: 40021, type: string, length: 4 }
      - { name: level, register: 30001, type: uint16 }
      - { name: running, register: 1 }
  - name: dead
    driver: modbus-tcp
    host: 127.0.0.1
    port: ${deadPort}
    timeout: 1s
    tags:
      - { name: x, register: 40001 }
`;

beforeAll(async () => {
  plc = await startSimulatedPlc({
    port: 0,
    holding: { 0: [0x41c8, 0x0000], 2: [0xfb2e], 10: [0x8005], 20: [0x5055, 0x4d50, 0x2d37, 0x0000] },
    input: { 0: [0x1234] },
    coils: { 0: true },
    illegal: { holding: [5] },
  });
  deadPort = await freePort(); // nothing listens there
  dir = mkdtempSync(join(tmpdir(), 'edge-once-'));
  writeFileSync(join(dir, 'gateway.yaml'), config(plc.port));
  writeFileSync(join(dir, 'broken.yaml'), 'site: { group: g, node: n }\ndevices:\n  - { name: p, driver: modbus-tcp, host: h, tags: [{ name: t, register: 40000 }] }\n');
});
afterAll(async () => {
  await plc?.close();
});

const once = (...args: string[]) => runCliAsync(['once', '--config', join(dir, 'gateway.yaml'), ...args]);

describe('edge-gateway once', () => {
  it('prints every tag with its address (zero-based and the manual\'s number), raw words in hex, decoded value and quality', async () => {
    const r = await once('--device', 'press-01');
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trimEnd().split('\n').map((l) => l.split(/\s{2,}/));
    expect(rows).toEqual([
      ['DEVICE', 'TAG', 'ADDRESS', 'RAW', 'VALUE', 'QUALITY'],
      ['press-01', 'temperature', 'holding 0-1 (40001-40002)', '0x41C8 0x0000', '25', 'good'],
      ['press-01', 'temperature_cdab', 'holding 0-1 (40001-40002)', '0x41C8 0x0000', '2.359786614e-41', 'good'],
      ['press-01', 'pressure', 'holding 2 (40003)', '0xFB2E', '-123.4', 'good'],
      ['press-01', 'alarm_fan', 'holding 10 bit 0 (40011)', '0x8005', 'true', 'good'],
      ['press-01', 'alarm_door', 'holding 10 bit 1 (40011)', '0x8005', 'false', 'good'],
      ['press-01', 'hole', 'holding 5 (40006)', '-', '-', 'bad: exception 2 (illegal data address: no such address on the device (addresses start at 0; 40001 is holding 0))'],
      ['press-01', 'recipe', 'holding 20-23 (40021-40024)', '0x5055 0x4D50 0x2D37 0x0000', '"PUMP-7"', 'good'],
      ['press-01', 'level', 'input 0 (30001)', '0x1234', '4660', 'good'],
      ['press-01', 'running', 'coil 0 (00001)', '1', 'true', 'good'],
    ]);
    // The device's refusal is explained on stderr, stdout stays the table.
    expect(r.stderr).toContain('press-01: tag "hole" (holding 5): the device refuses its address');
  });

  it('prints JSON for scripts with --json', async () => {
    const r = await once('--device', 'press-01', '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: true, devices: [{ name: 'press-01', driver: 'modbus-tcp', ok: true }] });
    const tags = Object.fromEntries(report.devices[0].tags.map((t: { name: string }) => [t.name, t]));
    expect(tags.temperature).toEqual({ name: 'temperature', table: 'holding', address: 0, register: '40001', registers: 2, raw: ['0x41C8', '0x0000'], value: 25, quality: 'good' });
    expect(tags.alarm_fan).toEqual({ name: 'alarm_fan', table: 'holding', address: 10, register: '40011', bit: 0, registers: 1, raw: ['0x8005'], value: true, quality: 'good' });
    expect(tags.running).toEqual({ name: 'running', table: 'coil', address: 0, register: '00001', raw: true, value: true, quality: 'good' });
    expect(tags.hole).toMatchObject({ table: 'holding', address: 5, register: '40006', value: null, quality: 'bad', problem: expect.stringMatching(/^exception 2 /) });
    expect(tags.hole.raw).toBeUndefined();
  });

  it('exits 1 and says why when a device does not answer, after printing the devices that do', async () => {
    const r = await once();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^press-01\s+temperature\s+holding 0-1/m);
    expect(r.stdout).toContain(`dead: error: device "dead" (127.0.0.1:${deadPort} unit 1): cannot connect: connection refused (nothing listens on that port)`);
    const json = await once('--device', 'dead', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, devices: [{ name: 'dead', driver: 'modbus-tcp', ok: false, tags: [], error: expect.stringContaining('connection refused') }] });
  });

  it('exits 2 for an unknown device or an invalid config, naming them', async () => {
    const r = await once('--device', 'press-02');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no device named "press-02"');
    expect(r.stderr).toContain('(there are: press-01, dead)');
    const broken = await runCliAsync(['once', '--config', join(dir, 'broken.yaml')]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/broken\.yaml:3:\d+ devices\[0\]\.tags\[0\]\.register: 40000 is not a register number/);
  });

  it('writes the manual\'s numbers in the 5-digit form, and the 6-digit form beyond 9999', () => {
    expect(formatRegisterNumber('holding', 0)).toBe('40001');
    expect(formatRegisterNumber('holding', 9998)).toBe('49999');
    expect(formatRegisterNumber('holding', 9999)).toBe('410000');
    expect(formatRegisterNumber('holding', 65535)).toBe('465536');
    expect(formatRegisterNumber('input', 4)).toBe('30005');
    expect(formatRegisterNumber('discrete', 0)).toBe('10001');
    expect(formatRegisterNumber('coil', 0)).toBe('00001');
    expect(formatRegisterNumber('coil', 12344)).toBe('012345');
  });
});
