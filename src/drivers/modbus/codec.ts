// Pure conversions between Modbus 16-bit words and tag values. No I/O, so every byte-order case is testable.
import type { TagType } from '../config/keys.js';
import type { Endian, ModbusTable, ModbusTagConfig } from './config.js';

export type { ModbusTable } from './config.js';
export type RegisterType = Exclude<TagType, 'bool'>;
type NumberType = Exclude<RegisterType, 'string'>;

/**
 * How a multi-byte value is laid out in registers. Modbus itself only fixes big-endian bytes inside one
 * register; vendors differ on both orders. `byteOrder: little` swaps the two bytes of every register (16-bit
 * values and strings included); `wordOrder: little` puts the least significant register first (values of 2 or
 * 4 registers; never strings).
 */
export interface WordLayout {
  byteOrder: Endian;
  wordOrder: Endian;
}

/** "ABCD": the convention of the Modbus specification and of most PLCs. */
export const MODBUS_LAYOUT: WordLayout = { byteOrder: 'big', wordOrder: 'big' };

export function layoutOf(tag: Pick<ModbusTagConfig, 'byte_order' | 'word_order'>): WordLayout {
  return { byteOrder: tag.byte_order, wordOrder: tag.word_order };
}

export function isBitTable(table: ModbusTable): boolean {
  return table === 'coil' || table === 'discrete';
}

const WIDTH: Record<NumberType | 'bool', number> = {
  bool: 1,
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  float64: 4,
};

/** How many registers (or bits, for bool) one value occupies; a string's is its `length`. */
export function width(type: TagType, length?: number): number {
  if (type !== 'string') return WIDTH[type];
  if (length === undefined || !Number.isInteger(length) || length < 1) throw new RangeError('a string needs its length in registers');
  return length;
}

export function tagWidth(tag: Pick<ModbusTagConfig, 'type' | 'length' | 'bit'>): number {
  return tag.bit !== undefined ? 1 : width(tag.type, tag.length);
}

const INTEGER_RANGE = {
  int16: [-0x8000n, 0x7fffn],
  uint16: [0n, 0xffffn],
  int32: [-0x8000_0000n, 0x7fff_ffffn],
  uint32: [0n, 0xffff_ffffn],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
} as const;

// Registers in, canonical big-endian bytes out: the layout is undone here once, so decode and encode
// below only ever deal with one byte order.
function wordsToBytes(words: readonly number[], layout: WordLayout): DataView {
  const ordered = layout.wordOrder === 'little' ? [...words].reverse() : words;
  const view = new DataView(new ArrayBuffer(ordered.length * 2));
  ordered.forEach((word, i) => view.setUint16(i * 2, word, layout.byteOrder === 'little'));
  return view;
}

function bytesToWords(view: DataView, layout: WordLayout): number[] {
  const words: number[] = [];
  for (let i = 0; i < view.byteLength; i += 2) words.push(view.getUint16(i, layout.byteOrder === 'little'));
  return layout.wordOrder === 'little' ? words.reverse() : words;
}

function checkWords(words: readonly number[], expected: number, what: string): void {
  if (words.length !== expected) throw new RangeError(`${what} needs ${expected} register${expected === 1 ? '' : 's'}, got ${words.length}`);
  for (const w of words) {
    if (!Number.isInteger(w) || w < 0 || w > 0xffff) throw new RangeError(`${w} is not a 16-bit register value`);
  }
}

/** A 64-bit integer as a number when a double holds it exactly, else as a bigint. */
function exact(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/**
 * Registers to a raw value. 64-bit integers come back as numbers when exact, as bigints beyond 2^53;
 * strings as ASCII text (see decodeString).
 */
export function decode(type: RegisterType, words: readonly number[], layout: WordLayout = MODBUS_LAYOUT): number | bigint | string {
  if (type === 'string') return decodeString(words, layout);
  checkWords(words, WIDTH[type], type);
  const view = wordsToBytes(words, layout);
  switch (type) {
    case 'int16':
      return view.getInt16(0);
    case 'uint16':
      return view.getUint16(0);
    case 'int32':
      return view.getInt32(0);
    case 'uint32':
      return view.getUint32(0);
    case 'int64':
      return exact(view.getBigInt64(0));
    case 'uint64':
      return exact(view.getBigUint64(0));
    case 'float32':
      return view.getFloat32(0);
    case 'float64':
      return view.getFloat64(0);
  }
}

/**
 * Two characters per register, the first in the high byte (in the low byte with byte order little). Leading NULs
 * are skipped and the text ends at the first NUL after them, as a C string would; bytes above 127 read as Latin-1.
 */
export function decodeString(words: readonly number[], layout: WordLayout = MODBUS_LAYOUT): string {
  checkWords(words, words.length, 'string');
  const bytes: number[] = [];
  for (const w of words) {
    const [first, second] = layout.byteOrder === 'little' ? [w & 0xff, w >> 8] : [w >> 8, w & 0xff];
    bytes.push(first, second);
  }
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  let end = bytes.indexOf(0, start);
  if (end === -1) end = bytes.length;
  return String.fromCharCode(...bytes.slice(start, end));
}

export function encodeString(text: string, registers: number, layout: WordLayout = MODBUS_LAYOUT): number[] {
  // eslint-disable-next-line no-control-regex
  if (!/^[\x00-\x7f]*$/.test(text)) throw new RangeError(`${JSON.stringify(text)} is not plain ASCII`);
  if (text.length > registers * 2) throw new RangeError(`${text.length} characters do not fit in ${registers} registers (${registers * 2} characters)`);
  const words: number[] = [];
  for (let i = 0; i < registers; i++) {
    const a = text.charCodeAt(i * 2) || 0; // NaN past the end: NUL padding
    const b = text.charCodeAt(i * 2 + 1) || 0;
    words.push(layout.byteOrder === 'little' ? (b << 8) | a : (a << 8) | b);
  }
  return words;
}

/**
 * A raw number to registers. Integer types round to the nearest integer: values arrive here after the inverse
 * of scale/offset, where 25.3 / 0.1 is 252.99999999999997, not 253. A bigint is taken exactly. Out-of-range
 * values throw instead of wrapping around.
 */
export function encode(type: NumberType, value: number | bigint, layout: WordLayout = MODBUS_LAYOUT): number[] {
  const view = new DataView(new ArrayBuffer(WIDTH[type] * 2));
  if (type === 'float32' || type === 'float64') {
    const n = Number(value);
    if (type === 'float32') view.setFloat32(0, n);
    else view.setFloat64(0, n);
    return bytesToWords(view, layout);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw new RangeError(`${value} cannot be stored as ${type}`);
  const int = typeof value === 'bigint' ? value : BigInt(Math.round(value));
  const [min, max] = INTEGER_RANGE[type];
  if (int < min || int > max) throw new RangeError(`${value} is outside the ${type} range ${min}..${max}`);
  switch (type) {
    case 'int16':
      view.setInt16(0, Number(int));
      break;
    case 'uint16':
      view.setUint16(0, Number(int));
      break;
    case 'int32':
      view.setInt32(0, Number(int));
      break;
    case 'uint32':
      view.setUint32(0, Number(int));
      break;
    case 'int64':
      view.setBigInt64(0, int);
      break;
    case 'uint64':
      view.setBigUint64(0, int);
      break;
  }
  return bytesToWords(view, layout);
}

/** Bit `bit` (0 = least significant) of a register as the device sends it. */
export function readBit(word: number, bit: number): boolean {
  return ((word >> bit) & 1) === 1;
}

export function withBit(word: number, bit: number, on: boolean): number {
  return on ? (word | (1 << bit)) & 0xffff : word & ~(1 << bit) & 0xffff;
}

/** engineering = raw * scale + offset; an unscaled raw value is passed through, so a bigint stays exact. */
export function toEngineering<T extends number | bigint>(raw: T, scale: number, offset: number): T | number {
  if (scale === 1 && offset === 0) return raw;
  return Number(raw) * scale + offset;
}

/** The inverse of toEngineering, for writes. */
export function toRaw(engineering: number | bigint, scale: number, offset: number): number | bigint {
  if (scale === 1 && offset === 0) return engineering;
  if (scale === 0) throw new RangeError('scale is 0: a written value cannot be converted back to a raw value');
  return (Number(engineering) - offset) / scale;
}
