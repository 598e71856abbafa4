// Pure conversions between Modbus 16-bit words and tag values. No I/O, so every byte-order case is testable.
import type { ModbusTagConfig, TagType } from '../../edge/config/schema.js';

export type ModbusTable = ModbusTagConfig['table'];
export type RegisterType = Exclude<TagType, 'bool'>;

/**
 * How a multi-byte value is laid out in registers. Modbus itself only fixes big-endian bytes inside one
 * register; the order of the registers of a 32-bit value varies by vendor, hence a parameter rather than
 * a constant, so a per-device or per-tag `byte_order`/`word_order` option can be added without new code paths.
 */
export interface WordLayout {
  byteOrder: 'big' | 'little';
  wordOrder: 'high-first' | 'low-first';
}

/** "ABCD": the convention of the Modbus specification and of most PLCs. */
export const MODBUS_LAYOUT: WordLayout = { byteOrder: 'big', wordOrder: 'high-first' };

export function isBitTable(table: ModbusTable): boolean {
  return table === 'coil' || table === 'discrete';
}

/** How many registers (or bits, for bool) one value of this type occupies. */
export function width(type: TagType): number {
  switch (type) {
    case 'bool':
    case 'int16':
    case 'uint16':
      return 1;
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2;
  }
}

const INTEGER_RANGE: Record<Exclude<RegisterType, 'float32'>, readonly [number, number]> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  uint32: [0, 0xffff_ffff],
};

// Registers in, canonical big-endian bytes out: the layout is undone here once, so decode and encode
// below only ever deal with one byte order.
function wordsToBytes(words: readonly number[], layout: WordLayout): DataView {
  const ordered = layout.wordOrder === 'low-first' ? [...words].reverse() : words;
  const view = new DataView(new ArrayBuffer(ordered.length * 2));
  ordered.forEach((word, i) => view.setUint16(i * 2, word, layout.byteOrder === 'little'));
  return view;
}

function bytesToWords(view: DataView, layout: WordLayout): number[] {
  const words: number[] = [];
  for (let i = 0; i < view.byteLength; i += 2) words.push(view.getUint16(i, layout.byteOrder === 'little'));
  return layout.wordOrder === 'low-first' ? words.reverse() : words;
}

export function decode(type: RegisterType, words: readonly number[], layout: WordLayout = MODBUS_LAYOUT): number {
  const n = width(type);
  if (words.length !== n) throw new RangeError(`${type} needs ${n} register${n === 1 ? '' : 's'}, got ${words.length}`);
  for (const w of words) {
    if (!Number.isInteger(w) || w < 0 || w > 0xffff) throw new RangeError(`${w} is not a 16-bit register value`);
  }
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
    case 'float32':
      return view.getFloat32(0);
  }
}

/**
 * Integer types round to the nearest integer: values arrive here after the inverse of scale/offset, where
 * 25.3 / 0.1 is 252.99999999999997, not 253. Out-of-range values throw instead of wrapping around.
 */
export function encode(type: RegisterType, value: number, layout: WordLayout = MODBUS_LAYOUT): number[] {
  if (!Number.isFinite(value) && type !== 'float32') throw new RangeError(`${value} cannot be stored as ${type}`);
  const view = new DataView(new ArrayBuffer(width(type) * 2));
  if (type === 'float32') {
    view.setFloat32(0, value);
  } else {
    const int = Math.round(value);
    const [min, max] = INTEGER_RANGE[type];
    if (int < min || int > max) throw new RangeError(`${value} is outside the ${type} range ${min}..${max}`);
    if (type === 'int16') view.setInt16(0, int);
    else if (type === 'uint16') view.setUint16(0, int);
    else if (type === 'int32') view.setInt32(0, int);
    else view.setUint32(0, int);
  }
  return bytesToWords(view, layout);
}

/** engineering = raw * scale + offset */
export function toEngineering(raw: number, scale: number, offset: number): number {
  return raw * scale + offset;
}

/** The inverse of toEngineering, for writes. */
export function toRaw(engineering: number, scale: number, offset: number): number {
  if (scale === 0) throw new RangeError('scale is 0: a written value cannot be converted back to a raw value');
  return (engineering - offset) / scale;
}
