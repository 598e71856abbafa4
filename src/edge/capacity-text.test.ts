import { describe, expect, it } from 'vitest';
import { estimatedBytesPerSample } from '../uplink/journal/capacity.js';
import { bytesText, capacityText, grouped, hoursText, planCapacityLine, rateText } from './capacity-text.js';
import { parseConfig } from './config/load.js';
import { pollPlan, pollsPerSecond } from './config/poll-plan.js';

const config = (devices: string) => parseConfig(`site: { group: g, node: n }\ndevices:\n${devices}`);
const modbus = (name: string, poll: string, tags: number) =>
  `  - name: ${name}\n    driver: modbus-tcp\n    host: 127.0.0.1\n    poll: ${JSON.stringify(poll)}\n    tags:\n${Array.from({ length: tags }, (_, i) => `      - { name: t${i}, table: holding, address: ${i} }`).join('\n')}\n`;
const mqttJson = (name: string) => `  - name: ${name}\n    driver: mqtt-json\n    topic: meters/${name}\n    tags:\n      - { name: kwh, path: $.kwh }\n`;

describe('the poll plan', () => {
  it('captures tags / poll interval per device, summed, with bytes per sample weighted by each device\'s samples', () => {
    const plan = pollPlan(config(modbus('a', '200ms', 3) + modbus('b', '2s', 4)).devices);
    expect(plan.samplesPerSec).toBeCloseTo(3 / 0.2 + 4 / 2, 10);
    expect(plan.bytesPerSample).toBeCloseTo((15 * estimatedBytesPerSample(3) + 2 * estimatedBytesPerSample(4)) / 17, 10);
    expect(plan.pushing).toEqual([]);
  });

  it('counts a cron schedule on the days it runs, and leaves devices that push at their own rate out, by name', () => {
    expect(pollsPerSecond({ kind: 'cron', expression: '0 * * * *' })).toBeCloseTo(24 / 86_400, 12);
    expect(pollsPerSecond({ kind: 'cron', expression: '*/10 * * * * *' })).toBeCloseTo(0.1, 12);
    const plan = pollPlan(config(modbus('meter', '0 * * * *', 2) + mqttJson('m1') + mqttJson('m2')).devices);
    expect(plan.samplesPerSec).toBeCloseTo(2 / 3600, 12);
    expect(plan.pushing).toEqual(['m1', 'm2']);
    expect(pollPlan(config(mqttJson('m1')).devices)).toEqual({ samplesPerSec: 0, bytesPerSample: null, pushing: ['m1'] });
  });
});

describe('capacity text', () => {
  it('writes figures as people read them', () => {
    expect(grouped(1020)).toBe('1,020');
    expect(grouped(1234567.5)).toBe('1,234,567.5');
    expect(rateText(1020.4)).toBe('1,020');
    expect(rateText(12.34)).toBe('12.3');
    expect(rateText(0.0123)).toBe('0.012');
    expect(bytesText(25_149_000_000)).toBe('25.1 GB');
    expect(bytesText(999)).toBe('999 B');
    expect(hoursText(61.4)).toBe('61 h');
    expect(hoursText(2.25)).toBe('2.3 h');
    expect(hoursText(0.5)).toBe('30 min');
    expect(hoursText(2400)).toBe('2,400 h (100 days)');
    expect(hoursText(3_739_856)).toBe('3,739,856 h (427 years)');
    expect(capacityText(61.4, 1020)).toBe('holds 61 h at 1,020 samples/s');
    expect(capacityText(null, 0)).toBe('not known: no samples captured over the last minute');
    expect(capacityText(null, 3)).toBe('not known until the journal has committed samples');
  });

  it('gives validate one line: the bound, what it came to now, and the hours at the plan\'s rate', () => {
    const plan = { samplesPerSec: 1020, bytesPerSample: 10, pushing: [] };
    const maxBytes = 61 * 3600 * 1020 * 10;
    expect(planCapacityLine({ percent: 80 }, { maxBytes, room: maxBytes / 0.8, measuredAt: '/var/lib/edge-gateway' }, '/var/lib/edge-gateway', plan))
      .toBe('journal: 80% of /var/lib/edge-gateway (2.2 GB now) holds 61 h at 1,020 samples/s (estimate: every tag at every poll, 10.0 bytes per sample)');
    expect(planCapacityLine({ percent: 80 }, { maxBytes, room: maxBytes / 0.8, measuredAt: '/var/lib' }, '/var/lib/edge-gateway', { ...plan, pushing: ['m1'] }))
      .toBe('journal: 80% of /var/lib/edge-gateway (2.2 GB now, measured on /var/lib: /var/lib/edge-gateway does not exist yet) holds 61 h at 1,020 samples/s from the polled devices (estimate: every tag at every poll, 10.0 bytes per sample; mqtt-json devices "m1" publish at their own rate and are not counted)');
    expect(planCapacityLine(2e9, { maxBytes: 2e9, room: null, measuredAt: null }, '/d', { samplesPerSec: 0, bytesPerSample: null, pushing: ['m1'] }))
      .toBe('journal: 2.0 GB; the capture rate is not known ahead: mqtt-json devices "m1" publish at their own rate');
    expect(planCapacityLine(2e9, { maxBytes: 2e9, room: null, measuredAt: null }, '/d', { samplesPerSec: 0, bytesPerSample: null, pushing: [] }))
      .toBe('journal: 2.0 GB; no devices, nothing to capture yet');
  });
});
