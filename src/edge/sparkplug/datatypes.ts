import type { TagType } from '../config/schema.js';

export type SparkplugDataType =
  | 'Int8' | 'Int16' | 'Int32' | 'Int64' | 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64'
  | 'Float' | 'Double' | 'Boolean' | 'String' | 'DateTime' | 'Text';

const UNSCALED: Record<TagType, SparkplugDataType> = {
  bool: 'Boolean',
  int16: 'Int16',
  uint16: 'UInt16',
  int32: 'Int32',
  uint32: 'UInt32',
  int64: 'Int64',
  uint64: 'UInt64',
  float32: 'Float',
  float64: 'Double',
  string: 'String',
};

/**
 * How a tag is declared in births: its own type unless scaling can make it fractional, then Double (a scaled
 * 64-bit integer too: it is a measurement now, not a counter that must stay exact).
 */
export function sparkplugTypeOf(type: TagType, scale = 1, offset = 0): SparkplugDataType {
  const scaled = scale !== 1 || offset !== 0;
  if (!scaled || type === 'bool' || type === 'string') return UNSCALED[type];
  return 'Double';
}
