// The Modbus parts of the config schema, through the same loader `edge-gateway validate` uses.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../edge/config/load.js';
import { sparkplugTypeOf } from '../../edge/sparkplug/datatypes.js';
import { parseRegisterNumber } from './register-notation.js';

const head = 'site: { group: g, node: n }\ndevices:\n';

function devices(yaml: string) {
  return parseConfig(head + yaml).devices;
}

function problems(yaml: string): string[] {
  try {
    parseConfig(head + yaml, 'c.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

const tcp = (tags: string, extra = '') => `  - { name: p, driver: modbus-tcp, host: h${extra}, tags: [${tags}] }\n`;

describe('1-based register numbers', () => {
  it.each<[number | string, string, number]>([
    [40001, 'holding', 0],
    [49999, 'holding', 9998],
    [400001, 'holding', 0],
    [465536, 'holding', 65535],
    [30001, 'input', 0],
    [300100, 'input', 99],
    [10001, 'discrete', 0],
    [100001, 'discrete', 0],
    [1, 'coil', 0],
    [9999, 'coil', 9998],
    ['00001', 'coil', 0],
    ['000001', 'coil', 0],
    ['012345', 'coil', 12344],
    ['40010', 'holding', 9],
  ])('%j is %s %d', (n, table, address) => {
    expect(parseRegisterNumber(n)).toEqual({ table, address });
  });

  it.each([0, 40000, 20001, 50001, 65536, 99999, 200001, 465537, 1.5, -1, 'abc', '4000x', '1234567'])('%j is refused', (n) => {
    expect(parseRegisterNumber(n)).toMatch(/is not a register number: expected a 1-based register number/);
  });

  it('becomes table and address in the config, with a default type for the table', () => {
    const [d] = devices(tcp('{ name: a, register: 40001 }, { name: b, register: 10005 }, { name: c, register: 300002, type: float32 }'));
    expect(d!.tags.map((t) => [t.name, t.table, t.address, t.type])).toEqual([
      ['a', 'holding', 0, 'uint16'],
      ['b', 'discrete', 4, 'bool'],
      ['c', 'input', 1, 'float32'],
    ]);
  });

  it('is exclusive with table and address', () => {
    expect(problems(tcp('{ name: a, register: 40001, address: 0 }'))).toEqual([
      '3:73 devices[0].tags[0].register: give either register (1-based, e.g. 40001) or table and address (0-based), not both',
    ]);
    expect(problems(tcp('{ name: a, register: 40000 }'))).toEqual([
      expect.stringMatching(/^3:73 devices\[0\]\.tags\[0\]\.register: 40000 is not a register number/),
    ]);
    expect(problems(tcp('{ name: a }'))).toEqual([
      '3:52 devices[0].tags[0].table: required key "table" is missing (or give register: 40001-style)',
      '3:52 devices[0].tags[0].address: required key "address" is missing',
    ]);
  });
});

describe('tag types', () => {
  it('accepts every type, with byte and word order from the device unless the tag says otherwise', () => {
    const [d] = devices(
      tcp(
        '{ name: a, register: 40001, type: int64 }, { name: b, register: 40005, type: uint64, word_order: big }, ' +
          '{ name: c, register: 40009, type: float64 }, { name: d, register: 40013, type: string, length: 8, byte_order: big }, ' +
          '{ name: e, register: 40021, bit: 3 }',
        ', byte_order: little, word_order: little',
      ),
    );
    expect(d!.tags.map((t) => [t.name, t.type, t.byte_order, t.word_order, t.length, t.bit])).toEqual([
      ['a', 'int64', 'little', 'little', undefined, undefined],
      ['b', 'uint64', 'little', 'big', undefined, undefined],
      ['c', 'float64', 'little', 'little', undefined, undefined],
      ['d', 'string', 'big', 'little', 8, undefined],
      ['e', 'bool', 'little', 'little', undefined, 3],
    ]);
  });

  it('defaults to big-endian bytes, high word first', () => {
    const [d] = devices(tcp('{ name: a, register: 40001, type: int32 }'));
    expect(d!.tags[0]).toMatchObject({ byte_order: 'big', word_order: 'big' });
  });

  it('says what is wrong with a tag, at the key', () => {
    const list = (tags: string) => problems(tcp(tags)).map((p) => p.replace(/^\d+:\d+ devices\[0\]\.tags\[0\]\./, ''));
    expect(list('{ name: a, register: 40001, type: string }')).toEqual(['length: type string needs length: its size in registers (2 characters each)']);
    expect(list('{ name: a, register: 40001, length: 2 }')).toEqual(['length: length applies to type string only']);
    expect(list('{ name: a, register: 40001, bit: 16 }')).toEqual(['bit: bit is 0 (least significant) to 15']);
    expect(list('{ name: a, register: 40001, bit: 2, type: uint16 }')).toEqual(['bit: bit needs type bool']);
    expect(list('{ name: a, register: 1, bit: 2 }')).toEqual(['bit: bit picks one bit of a holding or input register; a coil is a single bit already']);
    expect(list('{ name: a, register: 40001, type: bool }')).toEqual(['type: type bool needs table coil or discrete, or bit: 0..15 of a register']);
    expect(list('{ name: a, register: 1, type: int16 }')).toEqual(['type: table "coil" holds single bits: type must be bool']);
    expect(list('{ name: a, register: 40001, type: string, length: 2, scale: 2 }')).toEqual(['scale: scale and offset apply to numbers, not to type string']);
    expect(list('{ name: a, register: 30001, writable: true }')).toEqual(['writable: table "input" is read-only in Modbus']);
    expect(list('{ name: a, register: 40001, byte_order: middle }')).toEqual([expect.stringMatching(/^byte_order: .*"big"\|"little"/)]);
  });

  it('maps to Sparkplug datatypes: exact 64-bit integers, Double once scaled', () => {
    expect(sparkplugTypeOf('int64')).toBe('Int64');
    expect(sparkplugTypeOf('uint64')).toBe('UInt64');
    expect(sparkplugTypeOf('float64')).toBe('Double');
    expect(sparkplugTypeOf('float32')).toBe('Float');
    expect(sparkplugTypeOf('float32', 0.1)).toBe('Double');
    expect(sparkplugTypeOf('int64', 1, 5)).toBe('Double');
    expect(sparkplugTypeOf('string')).toBe('String');
    expect(sparkplugTypeOf('bool')).toBe('Boolean');
  });
});

describe('modbus-rtu devices', () => {
  it('have serial defaults and share nothing with TCP keys', () => {
    const [d] = devices('  - { name: m, driver: modbus-rtu, port: /dev/ttyUSB0, tags: [{ name: a, register: 30001 }] }\n');
    expect(d).toMatchObject({ driver: 'modbus-rtu', port: '/dev/ttyUSB0', baud: 9600, parity: 'none', data_bits: 8, stop_bits: 1, unit_id: 1, pause: 0, timeout: 2000, request_timeout: 1000 });
  });

  it('take every serial setting and refuse impossible ones', () => {
    const [d] = devices('  - { name: m, driver: modbus-rtu, port: /dev/ttyS1, baud: 19200, parity: even, data_bits: 7, stop_bits: 2, unit_id: 17, pause: 50ms, timeout: 3s, request_timeout: 500ms, tags: [{ name: a, register: 30001 }] }\n');
    expect(d).toMatchObject({ baud: 19200, parity: 'even', data_bits: 7, stop_bits: 2, unit_id: 17, pause: 50, timeout: 3000, request_timeout: 500 });
    const bad = problems('  - { name: m, driver: modbus-rtu, port: /dev/ttyS1, parity: mark, stop_bits: 3, unit_id: 0, host: x, tags: [{ name: a, register: 30001 }] }\n');
    expect(bad.map((p) => p.replace(/^\d+:\d+ /, '').split(':')[0])).toEqual(['devices[0].parity', 'devices[0].stop_bits', 'devices[0].unit_id', 'devices[0].host']);
  });

  it('refuse a request_timeout longer than the whole poll', () => {
    expect(problems('  - { name: m, driver: modbus-rtu, port: /dev/ttyS1, timeout: 1s, request_timeout: 2s, tags: [{ name: a, register: 30001 }] }\n')).toEqual([
      '3:84 devices[0].request_timeout: request_timeout (2000 ms) is longer than timeout (1000 ms), the bound on a whole poll',
    ]);
  });

  it('let a TCP device keep request_timeout within its timeout by default', () => {
    const [a, b] = devices(tcp('{ name: a, register: 40001 }', ', timeout: 300ms') + tcp('{ name: a, register: 40001 }', ', timeout: 5s').replace('name: p', 'name: q'));
    expect([a!.request_timeout, b!.request_timeout]).toEqual([300, 1000]);
  });
});
