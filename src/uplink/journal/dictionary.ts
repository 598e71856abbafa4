// The journal's dictionary: each source (group, node, device) and each metric (name, datatype) is written once,
// in the file, and records refer to it by a small number, as Sparkplug aliases do on the wire. Entries are
// never deleted (their number is bounded by the site's configuration), and a full dictionary makes further
// records fall back to the plain JSON format, never fail.
import { textChecksum } from './checksum.js';

export interface SourceEntry {
  kind: 's';
  key: string;
  /** `,"group":…,"node":…,"device":…,"timestamp":` as the record contract writes it. */
  head: string;
}

export interface MetricEntry {
  kind: 'm';
  /** `{"name":…,"timestamp":` */
  pre: string;
  /** `,"datatype":…` */
  mid: string;
}

export type DictEntry = SourceEntry | MetricEntry;

export interface DictRow {
  id: number;
  entry: string;
  checksum: number;
}

/** Most entries a journal's dictionary takes; records beyond it are stored in the plain format. */
export const MAX_ENTRIES = 65_536;

/** The checksum stored beside a dictionary entry. */
export function entryChecksum(entry: string): number {
  return textChecksum(entry);
}

/** An entry's text as stored: JSON, so that any name round-trips exactly. */
export function sourceText(group: string, node: string, device: string | null): string {
  return JSON.stringify(['s', group, node, device]);
}

export function metricText(name: string, datatype: string | number): string {
  return JSON.stringify(['m', name, datatype]);
}

/** Parses a stored entry; undefined when it is not one (damaged in place). */
function parse(text: string): DictEntry | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  if (v[0] === 's' && v.length === 4 && typeof v[1] === 'string' && typeof v[2] === 'string' && (v[3] === null || typeof v[3] === 'string')) {
    const [, group, node, device] = v as [string, string, string, string | null];
    const key = device === null ? `${group}/${node}` : `${group}/${node}/${device}`;
    return { kind: 's', key, head: `,"group":${JSON.stringify(group)},"node":${JSON.stringify(node)},"device":${JSON.stringify(device)},"timestamp":` };
  }
  if (v[0] === 'm' && v.length === 3 && typeof v[1] === 'string' && (typeof v[2] === 'string' || typeof v[2] === 'number')) {
    return { kind: 'm', pre: `{"name":${JSON.stringify(v[1])},"timestamp":`, mid: `,"datatype":${JSON.stringify(v[2])}` };
  }
  return undefined;
}

export class Dictionary {
  private readonly ids = new Map<string, number>();
  private readonly entries = new Map<number, DictEntry>();
  private nextId = 1;
  /** Entries given a number since the last commit: written in the same transaction as their first record. */
  private pending: DictRow[] = [];
  /** Numbers by source and by metric without building their text: the capture path asks for them per sample. */
  private sources = new Map<string, Map<string, Map<string | null, number>>>();
  private metrics = new Map<string | number, Map<string, number>>();
  /** Per source, the metrics of its last message by position: a device sends the same tags in the same order. */
  private order = new Map<number, Array<{ name: string; datatype: string | number; id: number }>>();
  /** Entries whose stored text fails its checksum or does not parse: records using them are damaged. */
  damaged = 0;

  constructor(rows: Iterable<DictRow>) {
    for (const r of rows) {
      this.nextId = Math.max(this.nextId, r.id + 1);
      const entry = entryChecksum(r.entry) === r.checksum ? parse(r.entry) : undefined;
      if (!entry) {
        this.damaged += 1;
        continue;
      }
      this.ids.set(r.entry, r.id);
      this.entries.set(r.id, entry);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** The number of an entry, given one now if it is new; undefined when the dictionary is full. */
  idOf(text: string): number | undefined {
    const known = this.ids.get(text);
    if (known !== undefined) return known;
    if (this.entries.size + this.pending.length >= MAX_ENTRIES) return undefined;
    const entry = parse(text);
    if (!entry) return undefined;
    const id = this.nextId++;
    this.ids.set(text, id);
    this.entries.set(id, entry);
    this.pending.push({ id, entry: text, checksum: entryChecksum(text) });
    return id;
  }

  sourceId(group: string, node: string, device: string | null): number | undefined {
    let byNode = this.sources.get(group);
    if (!byNode) this.sources.set(group, (byNode = new Map()));
    let byDevice = byNode.get(node);
    if (!byDevice) byNode.set(node, (byDevice = new Map()));
    const known = byDevice.get(device);
    if (known !== undefined) return known;
    const id = this.idOf(sourceText(group, node, device));
    if (id !== undefined) byDevice.set(device, id);
    return id;
  }

  metricId(name: string, datatype: string | number): number | undefined {
    let byName = this.metrics.get(datatype);
    if (!byName) this.metrics.set(datatype, (byName = new Map()));
    const known = byName.get(name);
    if (known !== undefined) return known;
    const id = this.idOf(metricText(name, datatype));
    if (id !== undefined) byName.set(name, id);
    return id;
  }

  /** metricId for the metric at `index` of a message from `source`, compared with that source's last message. */
  metricIdAt(source: number, index: number, name: string, datatype: string | number): number | undefined {
    let list = this.order.get(source);
    const cached = list?.[index];
    if (cached && cached.name === name && cached.datatype === datatype) return cached.id;
    const id = this.metricId(name, datatype);
    if (id === undefined || index > 4096) return id;
    if (!list) this.order.set(source, (list = []));
    list[index] = { name, datatype, id };
    return id;
  }

  /** The Kafka key of a source entry. */
  keyOf(id: number): string | undefined {
    const e = this.entries.get(id);
    return e?.kind === 's' ? e.key : undefined;
  }

  get(id: number): DictEntry | undefined {
    return this.entries.get(id);
  }

  /** The entries to write with the transaction now being committed. */
  takePending(): DictRow[] {
    const rows = this.pending;
    this.pending = [];
    return rows;
  }

  /** A transaction that failed: the entries it would have written are forgotten (their numbers are not reused). */
  forget(rows: readonly DictRow[]): void {
    for (const r of rows) {
      this.ids.delete(r.entry);
      this.entries.delete(r.id);
    }
    if (rows.length > 0) {
      this.sources = new Map();
      this.metrics = new Map();
      this.order = new Map();
    }
  }
}
