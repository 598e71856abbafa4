// Which samples become Sparkplug metrics, one module for every driver: report by exception with an absolute or
// percent deadband, a heartbeat that republishes unchanged values, and the quality published with each value.
//
// A value is reported when, compared with what was last *reported* for its tag (not merely last read):
// - its quality changed (good, stale, bad: a transition is always a change, even with the value unchanged);
// - the heartbeat is due: at least `heartbeatMs` passed (by acquisition time) since the tag was last reported;
// - its value changed by more than the deadband. For numbers the deadband is the larger of `deadband` (absolute)
//   and `deadbandPercent` % of the last reported value's magnitude; 0 for both reports every change. Anything
//   else (booleans, text, a number becoming NaN or infinite, a type change) is reported on every change.
import type { Quality, Sample, TagValue } from '../drivers/types.js';
import type { Metric } from './sparkplug/codec.js';
import type { SparkplugDataType } from './sparkplug/datatypes.js';
import { QUALITY_CODE, QUALITY_PROPERTY } from './sparkplug/quality.js';
import type { TagModelKeys } from '../drivers/config/tag-model-keys.js';

export interface TagModelSettings {
  /** Absolute deadband, engineering units; 0: any change. */
  deadband: number;
  /** Deadband in percent of the last reported value; 0: off. */
  deadbandPercent: number;
  /** Republish an unchanged value after this long; undefined: never. */
  heartbeatMs?: number | undefined;
}

/** A tag's settings for the tag model, its device's defaults filled in. */
export function tagModelSettings(device: Omit<TagModelKeys, 'deadband'>, tag: TagModelKeys): TagModelSettings {
  return {
    deadband: tag.deadband ?? 0,
    deadbandPercent: tag.deadband_percent ?? device.deadband_percent ?? 0,
    heartbeatMs: tag.heartbeat ?? device.heartbeat,
  };
}

export interface TagDef extends Partial<TagModelSettings> {
  name: string;
  datatype: SparkplugDataType;
  writable: boolean;
  /** The tag's `unit`: declared in births (engUnit), not carried by data. */
  unit?: string | undefined;
}

interface Reported {
  value: TagValue;
  quality: Quality;
  /** Acquisition time of the report, ms. */
  at: number;
}

export class DeviceTagModel {
  private readonly defs: Map<string, TagDef>;
  private readonly last = new Map<string, Reported>();

  constructor(defs: readonly TagDef[]) {
    this.defs = new Map(defs.map((d) => [d.name, d]));
  }

  /** Every tag with its current value and quality, for a birth; remembers them as reported. */
  birth(samples: readonly Sample[]): Metric[] {
    this.last.clear();
    return samples.flatMap((s) => {
      const def = this.defs.get(s.tag);
      if (!def) return [];
      return [this.report(def, s)];
    });
  }

  /** The tags that are to be reported now (see the top of this file). */
  changes(samples: readonly Sample[]): Metric[] {
    const out: Metric[] = [];
    for (const s of samples) {
      const def = this.defs.get(s.tag);
      if (!def) continue;
      const last = this.last.get(s.tag);
      if (last && !mustReport(def, last, s)) continue;
      out.push(this.report(def, s));
    }
    return out;
  }

  /**
   * The device missed a poll but is not declared down yet: every tag reported good so far is reported again with
   * its last value and quality stale, time-stamped `at`. A tag already stale or bad is left as it is.
   */
  stale(at: number): Metric[] {
    const out: Metric[] = [];
    for (const [tag, last] of this.last) {
      if (last.quality !== 'good') continue;
      out.push(this.report(this.defs.get(tag)!, { tag, value: last.value, timestamp: at, quality: 'stale' }));
    }
    return out;
  }

  /** Forget what was reported: the device died, and its next report is a birth. */
  reset(): void {
    this.last.clear();
  }

  private report(def: TagDef, s: Sample): Metric {
    this.last.set(s.tag, { value: s.value, quality: s.quality, at: s.timestamp });
    return {
      name: def.name,
      datatype: def.datatype,
      value: s.quality === 'bad' ? null : s.value,
      timestamp: s.timestamp,
      properties: { [QUALITY_PROPERTY]: QUALITY_CODE[s.quality] },
    };
  }
}

function mustReport(def: TagDef, last: Reported, s: Sample): boolean {
  if (s.quality !== last.quality) return true;
  if (def.heartbeatMs !== undefined && s.timestamp - last.at >= def.heartbeatMs) return true;
  // A bad value is null whatever the driver read: nothing to compare.
  if (s.quality === 'bad') return false;
  return beyondDeadband(last.value, s.value, def.deadband ?? 0, def.deadbandPercent ?? 0);
}

export function beyondDeadband(last: TagValue, next: TagValue, deadband: number, percent: number): boolean {
  if (sameValue(last, next)) return false;
  if (!isNumeric(last) || !isNumeric(next)) return true;
  const a = Number(last);
  const b = Number(next);
  // NaN and the infinities cannot be measured against a deadband: any change to or from them is reported.
  if (!Number.isFinite(a) || !Number.isFinite(b)) return true;
  // Strictly more than the deadband, so that 5 and 5n (the same count, read twice) are no change.
  return distance(last, next) > Math.max(deadband, (Math.abs(a) * percent) / 100);
}

function isNumeric(v: TagValue): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

/** |a − b|, exact for 64-bit integers (two counters beyond 2^53 that differ by 1 are 1 apart, not 0). */
function distance(a: number | bigint, b: number | bigint): number {
  const integral = (v: number | bigint) => typeof v === 'bigint' || Number.isInteger(v);
  if ((typeof a === 'bigint' || typeof b === 'bigint') && integral(a) && integral(b)) {
    const d = BigInt(a) - BigInt(b);
    return Number(d < 0n ? -d : d);
  }
  return Math.abs(Number(a) - Number(b));
}

function sameValue(a: TagValue, b: TagValue): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));
}
