// The quality of a value, as Sparkplug carries it: the metric property "Quality", an Int32 with the codes of
// the specification (OPC-style): [tck-id-payloads-propertyset-quality-value-type] Int32,
// [tck-id-payloads-propertyset-quality-value-value] 0 BAD, 192 GOOD or 500 STALE.
import type { Quality } from '../../drivers/types.js';

export const QUALITY_CODE: Readonly<Record<Quality, number>> = { bad: 0, good: 192, stale: 500 };

/** The property name. */
export const QUALITY_PROPERTY = 'Quality';

/** A Quality code as our word for it; an unknown code is bad, and no code at all is good. */
export function qualityOfCode(code: number | undefined): Quality {
  if (code === undefined || code === QUALITY_CODE.good) return 'good';
  return code === QUALITY_CODE.stale ? 'stale' : 'bad';
}
