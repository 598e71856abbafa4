// Type checking of a value a host application wants written, against the datatype our own birth declared.
import { boundedValue } from '../log-text.js';
import type { MetricValue } from './codec.js';
import type { SparkplugDataType } from './datatypes.js';

const INTEGER_RANGES: Partial<Record<SparkplugDataType, readonly [bigint, bigint]>> = {
  Int8: [-(2n ** 7n), 2n ** 7n - 1n],
  Int16: [-(2n ** 15n), 2n ** 15n - 1n],
  Int32: [-(2n ** 31n), 2n ** 31n - 1n],
  Int64: [-(2n ** 63n), 2n ** 63n - 1n],
  UInt8: [0n, 2n ** 8n - 1n],
  UInt16: [0n, 2n ** 16n - 1n],
  UInt32: [0n, 2n ** 32n - 1n],
  UInt64: [0n, 2n ** 64n - 1n],
};

export type Checked = { ok: true; value: MetricValue } | { ok: false; reason: string };

/**
 * [tck-id-operational-behavior-data-commands-dcmd-metric-value] the value must suit the metric's datatype:
 * a boolean for Boolean, an integer within range for integer types, a finite number for Float and Double, text
 * for String. 64-bit values beyond 2^53 stay bigints.
 */
export function checkCommandValue(value: MetricValue, datatype: SparkplugDataType): Checked {
  if (value === null) return { ok: false, reason: 'the command carries no value (is_null)' };
  const range = INTEGER_RANGES[datatype];
  if (range) {
    let big: bigint;
    if (typeof value === 'bigint') big = value;
    else if (typeof value === 'number' && Number.isInteger(value)) big = BigInt(value);
    else return { ok: false, reason: `${describe(value)} is not an integer (${datatype})` };
    if (big < range[0] || big > range[1]) return { ok: false, reason: `${big} is out of range for ${datatype} (${range[0]}..${range[1]})` };
    return { ok: true, value: Number.isSafeInteger(Number(big)) ? Number(big) : big };
  }
  switch (datatype) {
    case 'Float':
    case 'Double': {
      const n = typeof value === 'bigint' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) return { ok: false, reason: `${describe(value)} is not a finite number (${datatype})` };
      return { ok: true, value: n };
    }
    case 'Boolean':
      return typeof value === 'boolean' ? { ok: true, value } : { ok: false, reason: `${describe(value)} is not a boolean` };
    case 'String':
    case 'Text':
      return typeof value === 'string' ? { ok: true, value } : { ok: false, reason: `${describe(value)} is not text` };
    default:
      return { ok: false, reason: `datatype ${datatype} cannot be written` };
  }
}

/** Received values are quoted bounded: a 16 MB string must not become a 16 MB log line. */
function describe(value: MetricValue): string {
  return typeof value === 'string' ? boundedValue(value, 100) : `${typeof value} ${boundedValue(value, 100)}`;
}
