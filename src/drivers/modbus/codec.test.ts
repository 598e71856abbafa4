import { describe, expect, it } from 'vitest';
import { decode, encode, toEngineering, toRaw, width, type RegisterType, type WordLayout } from './codec.js';

describe('width', () => {
  it('is one bit or register for 16-bit types and bools, two registers for 32-bit types', () => {
    expect([width('bool'), width('int16'), width('uint16')]).toEqual([1, 1, 1]);
    expect([width('int32'), width('uint32'), width('float32')]).toEqual([2, 2, 2]);
  });
});

describe('decode (big-endian bytes, high word first)', () => {
  it.each<[RegisterType, number[], number]>([
    ['uint16', [0xffff], 65535],
    ['int16', [0xffff], -1],
    ['int16', [0x8000], -32768],
    ['int16', [0x7fff], 32767],
    ['uint32', [0x0001, 0x0000], 65536],
    ['uint32', [0xffff, 0xffff], 4294967295],
    ['int32', [0xffff, 0xfffe], -2],
    ['int32', [0x8000, 0x0000], -2147483648],
    ['float32', [0x4048, 0xf5c3], Math.fround(3.14)],
    ['float32', [0xc2f6, 0xe979], Math.fround(-123.456)],
    ['float32', [0x0000, 0x0000], 0],
  ])('%s %j is %d', (type, words, expected) => {
    expect(decode(type, words)).toBe(expected);
  });

  it('rejects the wrong number of registers and values that are not 16-bit words', () => {
    expect(() => decode('float32', [0x4048])).toThrow('float32 needs 2 registers, got 1');
    expect(() => decode('uint16', [0x10000])).toThrow('not a 16-bit register value');
    expect(() => decode('uint16', [-1])).toThrow('not a 16-bit register value');
  });
});

describe('encode', () => {
  it.each<[RegisterType, number, number[]]>([
    ['uint16', 65535, [0xffff]],
    ['int16', -1, [0xffff]],
    ['uint32', 65536, [0x0001, 0x0000]],
    ['int32', -2, [0xffff, 0xfffe]],
    ['float32', 3.14, [0x4048, 0xf5c3]],
  ])('%s %d is %j', (type, value, words) => {
    expect(encode(type, value)).toEqual(words);
  });

  it('round-trips every type at its limits', () => {
    const cases: Array<[RegisterType, number[]]> = [
      ['int16', [-32768, -1, 0, 32767]],
      ['uint16', [0, 1, 65535]],
      ['int32', [-2147483648, -1, 0, 2147483647]],
      ['uint32', [0, 4294967295]],
      ['float32', [Math.fround(-1e10), Math.fround(0.1), Infinity, -Infinity]],
    ];
    for (const [type, values] of cases) {
      for (const v of values) expect(decode(type, encode(type, v))).toBe(v);
    }
    expect(decode('float32', encode('float32', NaN))).toBeNaN();
  });

  it('rounds integers (values arrive after the inverse scale) and refuses out-of-range values', () => {
    expect(encode('uint16', toRaw(25.3, 0.1, 0))).toEqual([253]);
    expect(() => encode('uint16', 65536)).toThrow('65536 is outside the uint16 range 0..65535');
    expect(() => encode('int16', -32769)).toThrow('outside the int16 range');
    expect(() => encode('uint32', -1)).toThrow('outside the uint32 range');
    expect(() => encode('int32', NaN)).toThrow('NaN cannot be stored as int32');
  });
});

describe('word layouts other than ABCD', () => {
  const value = 0x11223344;
  it.each<[string, WordLayout, number[]]>([
    ['ABCD', { byteOrder: 'big', wordOrder: 'high-first' }, [0x1122, 0x3344]],
    ['CDAB', { byteOrder: 'big', wordOrder: 'low-first' }, [0x3344, 0x1122]],
    ['BADC', { byteOrder: 'little', wordOrder: 'high-first' }, [0x2211, 0x4433]],
    ['DCBA', { byteOrder: 'little', wordOrder: 'low-first' }, [0x4433, 0x2211]],
  ])('%s', (_name, layout, words) => {
    expect(encode('uint32', value, layout)).toEqual(words);
    expect(decode('uint32', words, layout)).toBe(value);
  });
});

describe('scale and offset', () => {
  it('engineering = raw * scale + offset, and back', () => {
    expect(toEngineering(253, 0.1, -40)).toBeCloseTo(-14.7);
    expect(toRaw(-14.7, 0.1, -40)).toBeCloseTo(253);
    expect(toEngineering(7, 1, 0)).toBe(7);
  });

  it('cannot invert a scale of zero', () => {
    expect(() => toRaw(1, 0, 0)).toThrow('scale is 0');
  });
});
