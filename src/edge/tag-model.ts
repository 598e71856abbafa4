// Report by exception: which samples become Sparkplug metrics. One module for every driver.
import type { Sample, TagValue } from '../drivers/types.js';
import type { Metric } from './sparkplug/codec.js';
import type { SparkplugDataType } from './sparkplug/datatypes.js';

export interface TagDef {
  name: string;
  datatype: SparkplugDataType;
  writable: boolean;
}

export class DeviceTagModel {
  private readonly defs: Map<string, TagDef>;
  private readonly last = new Map<string, TagValue>();

  constructor(defs: readonly TagDef[]) {
    this.defs = new Map(defs.map((d) => [d.name, d]));
  }

  /** Every tag with its current value, for a birth; remembers them as reported. */
  birth(samples: readonly Sample[]): Metric[] {
    this.last.clear();
    return samples.flatMap((s) => {
      const def = this.defs.get(s.tag);
      if (!def) return [];
      this.last.set(s.tag, s.value);
      return [toMetric(def, s)];
    });
  }

  /** Only the tags whose value changed since they were last reported. */
  changes(samples: readonly Sample[]): Metric[] {
    const out: Metric[] = [];
    for (const s of samples) {
      const def = this.defs.get(s.tag);
      if (!def) continue;
      if (this.last.has(s.tag) && sameValue(this.last.get(s.tag)!, s.value)) continue;
      this.last.set(s.tag, s.value);
      out.push(toMetric(def, s));
    }
    return out;
  }

  reset(): void {
    this.last.clear();
  }
}

function toMetric(def: TagDef, s: Sample): Metric {
  return { name: def.name, datatype: def.datatype, value: s.quality === 'bad' ? null : s.value, timestamp: s.timestamp };
}

function sameValue(a: TagValue, b: TagValue): boolean {
  return a === b || (typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b));
}
