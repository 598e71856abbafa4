import type { TagType } from '../config/schema.js';

export type SparkplugDataType =
  | 'Int8' | 'Int16' | 'Int32' | 'Int64' | 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64'
  | 'Float' | 'Double' | 'Boolean' | 'String' | 'DateTime' | 'Text';

/** How a tag is declared in births: its own integer type unless scaling can make it fractional. */
export function sparkplugTypeOf(type: TagType, scale = 1, offset = 0): SparkplugDataType {
  const scaled = scale !== 1 || offset !== 0;
  switch (type) {
    case 'bool':
      return 'Boolean';
    case 'float32':
      return scaled ? 'Double' : 'Float';
    case 'int16':
      return scaled ? 'Double' : 'Int16';
    case 'uint16':
      return scaled ? 'Double' : 'UInt16';
    case 'int32':
      return scaled ? 'Double' : 'Int32';
    case 'uint32':
      return scaled ? 'Double' : 'UInt32';
  }
}
