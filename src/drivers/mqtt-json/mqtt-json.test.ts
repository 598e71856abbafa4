// The pure parts of the mqtt-json driver: paths, topic filters, conversions, and the config keys.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../edge/config/load.js';
import { toTagValue, toTimestamp } from './convert.js';
import { parsePath, readPath } from './path.js';
import { checkTopicFilter, topicMatches } from './topic.js';

describe('JSON paths', () => {
  it('reads keys, array elements by number, and the whole message', () => {
    expect(parsePath('temp')).toEqual(['temp']);
    expect(parsePath('sensors.0.value')).toEqual(['sensors', '0', 'value']);
    expect(parsePath('sensors[0].value')).toEqual(['sensors', '0', 'value']);
    expect(parsePath('$.sensors[0].value')).toEqual(['sensors', '0', 'value']);
    expect(parsePath('$[1]')).toEqual(['1']);
    expect(parsePath('$')).toEqual([]);
    expect(parsePath('outside temp.°C')).toEqual(['outside temp', '°C']);
  });

  it('refuses what is not a path, saying why', () => {
    expect(parsePath('')).toMatch(/is not a path: it is empty/);
    expect(parsePath('a..b')).toMatch(/empty key/);
    expect(parsePath('a.')).toMatch(/ends with "\."/);
    expect(parsePath('a[x]')).toMatch(/array index/);
    expect(parsePath('a[0]b')).toMatch(/expected "\." or "\["/);
  });

  it('walks a message and says where it stopped', () => {
    const doc = { temp: 21.5, sensors: [{ value: 7 }], nothing: null, '0': 'zero' };
    expect(readPath(doc, ['temp'])).toEqual({ found: true, value: 21.5 });
    expect(readPath(doc, ['sensors', '0', 'value'])).toEqual({ found: true, value: 7 });
    expect(readPath(doc, ['0'])).toEqual({ found: true, value: 'zero' });
    expect(readPath(doc, ['nothing'])).toEqual({ found: true, value: null });
    expect(readPath(doc, [])).toEqual({ found: true, value: doc });
    expect(readPath(42, [])).toEqual({ found: true, value: 42 });
    expect(readPath(doc, ['pressure'])).toEqual({ found: false, why: 'the message has no key "pressure"' });
    expect(readPath(doc, ['sensors', '3', 'value'])).toEqual({ found: false, why: '"sensors" has 1 element' });
    expect(readPath(doc, ['sensors', 'first'])).toEqual({ found: false, why: '"sensors" is an array; "first" is not an index' });
    expect(readPath(doc, ['temp', 'value'])).toEqual({ found: false, why: '"temp" is 21.5, not an object' });
    expect(readPath(doc, ['toString'])).toMatchObject({ found: false }); // own keys only
  });
});

describe('topic filters', () => {
  it('accepts MQTT filters and refuses malformed wildcards and the Sparkplug namespace', () => {
    for (const ok of ['plant/boiler/state', 'plant/+/state', 'plant/#', '#', '+']) expect(checkTopicFilter(ok), ok).toBeUndefined();
    expect(checkTopicFilter('plant/#/state')).toMatch(/"#" must be a whole level and the last one/);
    expect(checkTopicFilter('plant/boil#')).toMatch(/"#" must be/);
    expect(checkTopicFilter('plant/b+/state')).toMatch(/"\+" must be a whole level/);
    expect(checkTopicFilter('')).toMatch(/empty/);
    expect(checkTopicFilter('spBv1.0/plant/DDATA/#')).toMatch(/Sparkplug namespace/);
  });

  it('matches topics as MQTT 3.1.1 does', () => {
    expect(topicMatches('plant/boiler/state', 'plant/boiler/state')).toBe(true);
    expect(topicMatches('plant/boiler/state', 'plant/boiler/status')).toBe(false);
    expect(topicMatches('plant/+/state', 'plant/boiler/state')).toBe(true);
    expect(topicMatches('plant/+/state', 'plant/boiler/x/state')).toBe(false);
    expect(topicMatches('plant/#', 'plant/boiler/x/state')).toBe(true);
    expect(topicMatches('plant/#', 'plant')).toBe(true);
    expect(topicMatches('plant/+', 'plant')).toBe(false);
    expect(topicMatches('#', '$SYS/broker/load')).toBe(false);
    expect(topicMatches('+/x', '$SYS/x')).toBe(false);
  });
});

describe('JSON values to tag values', () => {
  const as = (type: string, scale = 1, offset = 0) => ({ type: type as never, scale, offset });

  it('converts numbers, scaling them', () => {
    expect(toTagValue(21.5, as('float64'))).toEqual({ value: 21.5 });
    expect(toTagValue(1234, as('int64', 0.001))).toEqual({ value: 1.234 });
    expect(toTagValue(-500, as('int16', 0.1, 20))).toEqual({ value: -30 });
    expect(toTagValue(65535, as('uint16'))).toEqual({ value: 65535 });
  });

  it('takes booleans and 1/0 for bool, only text for string', () => {
    expect(toTagValue(true, as('bool'))).toEqual({ value: true });
    expect(toTagValue(0, as('bool'))).toEqual({ value: false });
    expect(toTagValue('ON', as('bool'))).toEqual({ problem: 'is "ON", not true/false (or 1/0)' });
    expect(toTagValue('auto', as('string'))).toEqual({ value: 'auto' });
    expect(toTagValue(5, as('string'))).toEqual({ problem: 'is 5, not text' });
  });

  it('refuses what does not fit, never guessing', () => {
    expect(toTagValue('21.5', as('float64'))).toEqual({ problem: 'is "21.5", not a number' });
    expect(toTagValue(null, as('float64'))).toEqual({ problem: 'is null, not a number' });
    expect(toTagValue({ v: 1 }, as('float64'))).toEqual({ problem: 'is an object, not a number' });
    expect(toTagValue(2.5, as('int64'))).toEqual({ problem: 'is 2.5, not a whole number (type int64; use float for fractions)' });
    expect(toTagValue(70000, as('uint16'))).toEqual({ problem: 'is 70000, outside the uint16 range 0..65535' });
    expect(toTagValue(-1, as('uint32'))).toMatchObject({ problem: expect.stringContaining('outside the uint32 range') });
    expect(toTagValue(2 ** 60, as('int64'))).toMatchObject({ problem: expect.stringContaining('beyond 2^53') });
  });

  it('reads timestamps in seconds, milliseconds and ISO 8601 with a zone', () => {
    expect(toTimestamp(1_700_000_000)).toEqual({ ms: 1_700_000_000_000 });
    expect(toTimestamp(1_700_000_000.25)).toEqual({ ms: 1_700_000_000_250 });
    expect(toTimestamp(1_700_000_000_123)).toEqual({ ms: 1_700_000_000_123 });
    expect(toTimestamp('2026-05-01T12:00:00.5Z')).toEqual({ ms: Date.UTC(2026, 4, 1, 12, 0, 0, 500) });
    expect(toTimestamp('2026-05-01T14:00:00+02:00')).toEqual({ ms: Date.UTC(2026, 4, 1, 12) });
    expect(toTimestamp('2026-05-01T12:00:00')).toMatchObject({ problem: expect.stringContaining('not a time') }); // no zone: ambiguous
    expect(toTimestamp('yesterday')).toMatchObject({ problem: expect.any(String) });
    expect(toTimestamp(-5)).toMatchObject({ problem: expect.any(String) });
  });
});

describe('mqtt-json device config', () => {
  const config = (device: string) => `site: { group: g, node: n }\ndevices:\n${device}`;
  const problems = (text: string) => {
    try {
      parseConfig(text, 'gw.yaml');
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return '';
  };

  it('fills defaults, maps the short types to Sparkplug-sized ones, and takes one topic or a list', () => {
    const c = parseConfig(config(`  - name: boiler
    driver: mqtt-json
    topic: plant/boiler/state
    timestamp_path: ts
    tags:
      - { name: temp, path: temp }
      - { name: count, path: n, type: int }
      - { name: on, path: running, type: bool }
      - { name: mode, path: mode, type: string, topic: plant/boiler/mode, timestamp_path: $.at }
      - { name: small, path: s, type: int16, scale: 0.1 }
  - { name: s2, driver: mqtt-json, topic: [a/+/x, b/#], broker: 10.0.0.5:1884, stale_after: 5m, tags: [{ name: v, path: v }] }
`));
    expect(c.devices[0]).toMatchObject({ driver: 'mqtt-json', topic: ['plant/boiler/state'], poll: 1000, timeout: 2000, stale_after: 60_000 });
    expect(c.devices[0]!.tags.map((t) => [t.type, t.writable, 'timestamp_path' in t ? t.timestamp_path : undefined])).toEqual([
      ['float64', false, 'ts'], ['int64', false, 'ts'], ['bool', false, 'ts'], ['string', false, '$.at'], ['int16', false, 'ts'],
    ]);
    expect(c.devices[1]).toMatchObject({ topic: ['a/+/x', 'b/#'], broker: 'mqtt://10.0.0.5:1884', stale_after: 300_000 });
  });

  it('refuses writable tags, bad paths, bad topics and scale on text, naming the key', () => {
    const text = problems(config(`  - name: boiler
    driver: mqtt-json
    topic: plant/#/state
    tags:
      - { name: temp, path: temp, writable: true }
      - { name: p, path: "a..b" }
      - { name: m, path: mode, type: string, scale: 2 }
      - { name: q, path: q, type: double }
      - { name: r, path: r, register: 40001 }
`));
    expect(text).toContain('devices[0].topic: "plant/#/state": "#" must be a whole level');
    expect(text).toContain('devices[0].tags[0].writable: mqtt-json tags cannot be written: the driver only listens to what the device publishes');
    expect(text).toContain('devices[0].tags[1].path: "a..b" is not a path');
    expect(text).toContain('devices[0].tags[2].scale: scale and offset apply to numbers, not to type string');
    expect(text).toMatch(/devices\[0\]\.tags\[3\]\.type: .*"bool"/);
    expect(text).toContain('devices[0].tags[4].register: unknown key "register"');
  });
});
