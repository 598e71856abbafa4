// A JSON value to a tag value, strictly: what does not fit the tag's type is a problem, never a guess.
import type { TagType } from '../config/keys.js';
import type { TagValue } from '../types.js';
import { describeJson } from './path.js';

const INTEGER_RANGE: Partial<Record<TagType, readonly [number, number]>> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x8000_0000, 0x7fff_ffff],
  uint32: [0, 0xffff_ffff],
  // JSON numbers are doubles: beyond 2^53 they are not exact any more, whatever the device meant.
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

export type Converted = { value: TagValue } | { problem: string };

/** `json` as a value of `type`, scaled (engineering = raw × scale + offset) when it is a number. */
export function toTagValue(json: unknown, tag: { type: TagType; scale: number; offset: number }): Converted {
  const got = describeJson(json);
  switch (tag.type) {
    case 'bool':
      if (typeof json === 'boolean') return { value: json };
      if (json === 0 || json === 1) return { value: json === 1 };
      return { problem: `is ${got}, not true/false (or 1/0)` };
    case 'string':
      if (typeof json === 'string') return { value: json };
      return { problem: `is ${got}, not text` };
    case 'float32':
    case 'float64':
      if (typeof json !== 'number') return { problem: `is ${got}, not a number` };
      return { value: scaled(json, tag.scale, tag.offset) };
    default: {
      if (typeof json !== 'number') return { problem: `is ${got}, not a number` };
      if (!Number.isInteger(json)) return { problem: `is ${got}, not a whole number (type ${tag.type}; use float for fractions)` };
      const [min, max] = INTEGER_RANGE[tag.type]!;
      if (json < min || json > max) {
        return { problem: Number.isSafeInteger(json) ? `is ${got}, outside the ${tag.type} range ${min}..${max}` : `is ${got}, beyond 2^53, where JSON numbers are not exact` };
      }
      return { value: scaled(json, tag.scale, tag.offset) };
    }
  }
}

function scaled(raw: number, scale: number, offset: number): number {
  return scale === 1 && offset === 0 ? raw : raw * scale + offset;
}

/**
 * A timestamp from the message, as ms since the epoch: a number of milliseconds (1700000000000), or of seconds
 * when below 1e11 (1700000000, fractions allowed); or an ISO 8601 text with its zone ("2026-05-01T12:00:00Z").
 */
export function toTimestamp(json: unknown): { ms: number } | { problem: string } {
  if (typeof json === 'number' && Number.isFinite(json) && json > 0) return { ms: Math.round(json < 1e11 ? json * 1000 : json) };
  if (typeof json === 'string' && /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(json) && /(Z|[+-]\d{2}:?\d{2})$/.test(json)) {
    const ms = Date.parse(json);
    if (Number.isFinite(ms)) return { ms };
  }
  return { problem: `is ${describeJson(json)}, not a time (epoch seconds or milliseconds, or ISO 8601 with a zone)` };
}
