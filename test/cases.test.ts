// Every folder in cases/ is a regression case: a config, the registers a PLC holds, and the values `once` must
// read from them. One simulated PLC per case, the real command line, nothing else.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { startSimulatedPlc } from '../scripts/sim-plc.mjs';
import { ROOT, runCliAsync } from './helpers/cli.js';

const CASES = join(ROOT, 'cases');
const REGISTER_KEYS = ['holding', 'input', 'coils', 'discrete', 'illegal'];

interface Expected {
  value: unknown;
  quality: string;
  raw?: number[] | boolean;
}

const names = readdirSync(CASES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

const read = (name: string, file: string) => parse(readFileSync(join(CASES, name, file), 'utf8')) as unknown;

describe('cases/', () => {
  it('has cases, each with config.yaml, registers.yaml and expected.yaml', () => {
    expect(names.length).toBeGreaterThanOrEqual(5);
    for (const name of names) {
      for (const file of ['config.yaml', 'registers.yaml', 'expected.yaml']) expect(existsSync(join(CASES, name, file)), `${name}/${file}`).toBe(true);
    }
  });

  for (const name of names) {
    it(name, async () => {
      const registers = (read(name, 'registers.yaml') ?? {}) as Record<string, unknown>;
      const unknown = Object.keys(registers).filter((k) => !REGISTER_KEYS.includes(k));
      expect(unknown, `${name}/registers.yaml: unknown keys (known: ${REGISTER_KEYS.join(', ')})`).toEqual([]);
      const expected = read(name, 'expected.yaml') as Record<string, Record<string, Expected>>;
      const plc = await startSimulatedPlc({ port: 0, ...registers });
      try {
        const r = await runCliAsync(['once', '--config', join(CASES, name, 'config.yaml'), '--json'], { env: { MODBUS_PORT: String(plc.port) } });
        expect(r.code, `exit code; stderr: ${r.stderr}`).toBe(0);
        const report = JSON.parse(r.stdout) as { devices: Array<{ name: string; tags: Array<{ name: string; value: unknown; quality: string; raw?: unknown }> }> };
        expect(report.devices.map((d) => d.name).sort()).toEqual(Object.keys(expected).sort());
        for (const device of report.devices) {
          const want = expected[device.name]!;
          expect(device.tags.map((t) => t.name).sort(), `${device.name}: the tags of expected.yaml`).toEqual(Object.keys(want).sort());
          for (const tag of device.tags) {
            const w = want[tag.name]!;
            const label = `${name}: ${device.name}.${tag.name}`;
            if (typeof w.value === 'number' && !Number.isInteger(w.value)) {
              expect(typeof tag.value, label).toBe('number');
              expect(Math.abs((tag.value as number) - w.value), `${label}: ${tag.value} vs ${w.value}`).toBeLessThanOrEqual(Math.abs(w.value) * 1e-12);
            } else if (typeof w.value === 'number') {
              expect(tag.value, label).toBeCloseTo(w.value, 9);
            } else {
              expect(tag.value, label).toEqual(w.value);
            }
            expect(tag.quality, label).toBe(w.quality);
            const raw = Array.isArray(tag.raw) ? tag.raw.map((h) => Number.parseInt(String(h).replace(/^0x/, ''), 16)) : tag.raw;
            expect(raw, `${label}: raw`).toEqual(w.raw);
          }
        }
      } finally {
        await plc.close();
      }
    });
  }
});
