import { describe, expect, it } from 'vitest';
import { decode, decodeString, encode, encodeString, readBit, toEngineering, toRaw, width, withBit, type RegisterType, type WordLayout } from './codec.js';

describe('width', () => {
  it('is one bit or register for 16-bit types and bools, two for 32-bit types, four for 64-bit types', () => {
    expect([width('bool'), width('int16'), width('uint16')]).toEqual([1, 1, 1]);
    expect([width('int32'), width('uint32'), width('float32')]).toEqual([2, 2, 2]);
    expect([width('int64'), width('uint64'), width('float64')]).toEqual([4, 4, 4]);
    expect(width('string', 10)).toBe(10);
    expect(() => width('string')).toThrow('a string needs its length in registers');
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
    ['ABCD', { byteOrder: 'big', wordOrder: 'big' }, [0x1122, 0x3344]],
    ['CDAB', { byteOrder: 'big', wordOrder: 'little' }, [0x3344, 0x1122]],
    ['BADC', { byteOrder: 'little', wordOrder: 'big' }, [0x2211, 0x4433]],
    ['DCBA', { byteOrder: 'little', wordOrder: 'little' }, [0x4433, 0x2211]],
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

describe('64-bit values', () => {
  it('decode exactly: numbers while a double holds them, bigints beyond 2^53', () => {
    expect(decode('uint64', [0, 0, 0, 1])).toBe(1);
    expect(decode('int64', [0xffff, 0xffff, 0xffff, 0xffff])).toBe(-1);
    expect(decode('uint64', [0xffff, 0xffff, 0xffff, 0xffff])).toBe(18446744073709551615n);
    expect(decode('int64', [0x8000, 0, 0, 0])).toBe(-9223372036854775808n);
    expect(decode('int64', [0x0020, 0, 0, 1])).toBe(9007199254740993n); // 2^53 + 1: a double would say ...992
    expect(decode('uint64', [0x001f, 0xffff, 0xffff, 0xffff])).toBe(Number.MAX_SAFE_INTEGER);
    expect(decode('float64', [0x4009, 0x21fb, 0x5444, 0x2d18])).toBe(Math.PI);
  });

  it('encode bigints exactly and refuse what does not fit', () => {
    expect(encode('int64', 9007199254740993n)).toEqual([0x0020, 0, 0, 1]);
    expect(encode('uint64', 2n ** 64n - 1n)).toEqual([0xffff, 0xffff, 0xffff, 0xffff]);
    expect(encode('int64', -1)).toEqual([0xffff, 0xffff, 0xffff, 0xffff]);
    expect(encode('float64', Math.PI)).toEqual([0x4009, 0x21fb, 0x5444, 0x2d18]);
    expect(() => encode('uint64', -1n)).toThrow('-1 is outside the uint64 range 0..18446744073709551615');
    expect(() => encode('int64', 2n ** 63n)).toThrow('outside the int64 range');
  });

  it('lay out four registers by byte and word order', () => {
    const value = 0x1122334455667788n;
    expect(encode('uint64', value)).toEqual([0x1122, 0x3344, 0x5566, 0x7788]);
    expect(encode('uint64', value, { byteOrder: 'big', wordOrder: 'little' })).toEqual([0x7788, 0x5566, 0x3344, 0x1122]);
    expect(encode('uint64', value, { byteOrder: 'little', wordOrder: 'big' })).toEqual([0x2211, 0x4433, 0x6655, 0x8877]);
    expect(encode('uint64', value, { byteOrder: 'little', wordOrder: 'little' })).toEqual([0x8877, 0x6655, 0x4433, 0x2211]);
    expect(decode('uint64', [0x8877, 0x6655, 0x4433, 0x2211], { byteOrder: 'little', wordOrder: 'little' })).toBe(value);
  });

  it('keep a bigint exact when unscaled, and become a plain number when scaled', () => {
    expect(toEngineering(2n ** 60n, 1, 0)).toBe(2n ** 60n);
    expect(toEngineering(10n, 0.5, 1)).toBe(6);
    expect(toRaw(2n ** 60n, 1, 0)).toBe(2n ** 60n);
  });
});

describe('strings', () => {
  it('two ASCII characters per register, first in the high byte; NULs trimmed', () => {
    expect(decodeString([0x4142, 0x4300, 0x0000])).toBe('ABC');
    expect(decodeString([0x0000, 0x4142])).toBe('AB'); // leading NULs skipped
    expect(decodeString([0x4142, 0x0058, 0x5900])).toBe('AB'); // ends at the first NUL after the text
    expect(decodeString([0x4241, 0x0043], { byteOrder: 'little', wordOrder: 'big' })).toBe('ABC');
    expect(decode('string', [0x4f4b])).toBe('OK');
  });

  it('encode pads with NULs and refuses what does not fit or is not ASCII', () => {
    expect(encodeString('ABC', 3)).toEqual([0x4142, 0x4300, 0]);
    expect(encodeString('ABC', 2, { byteOrder: 'little', wordOrder: 'little' })).toEqual([0x4241, 0x0043]);
    expect(() => encodeString('ABCDE', 2)).toThrow('5 characters do not fit in 2 registers (4 characters)');
    expect(() => encodeString('Größe', 4)).toThrow('"Größe" is not plain ASCII');
  });
});

describe('bits of a register', () => {
  it('counts bits from the least significant', () => {
    expect(readBit(0x8001, 0)).toBe(true);
    expect(readBit(0x8001, 15)).toBe(true);
    expect(readBit(0x8001, 1)).toBe(false);
    expect(withBit(0x8001, 3, true)).toBe(0x8009);
    expect(withBit(0x8001, 15, false)).toBe(0x0001);
    expect(withBit(0xffff, 0, true)).toBe(0xffff);
  });
});
