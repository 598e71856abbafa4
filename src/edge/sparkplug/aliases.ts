// Metric aliases: small integers that replace names in data messages once a birth has announced them.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Metric, Payload } from './codec.js';
import type { EdgeMessage } from './messages.js';

interface AliasFile {
  version: 1;
  /** device → metric name → alias. Entries of removed tags stay, so a number never changes meaning. */
  devices: Record<string, Record<string, number>>;
}

/**
 * The alias of every device metric of this edge node, kept in `data_dir` so that a restart, a config change or
 * a reordered tag list never gives an existing metric another number, and never reuses a number a host may still
 * have cached for another metric.
 * [tck-id-payloads-alias-uniqueness] one counter for the node and all its devices: unique across all of them.
 */
export class AliasTable {
  private readonly byName = new Map<string, Map<string, number>>();
  private readonly byAlias = new Map<string, Map<number, string>>();

  private constructor(private readonly data: AliasFile) {
    for (const [device, metrics] of Object.entries(data.devices)) {
      for (const [name, alias] of Object.entries(metrics)) this.remember(device, name, alias);
    }
  }

  /** Loads the table, gives every metric of `devices` an alias (new ones after the highest ever used), saves it. */
  static open(file: string, devices: ReadonlyMap<string, readonly { name: string }[]>): AliasTable {
    const table = new AliasTable(readAliasFile(file));
    let next = Math.max(0, ...table.allAliases()) + 1;
    let changed = false;
    for (const [device, metrics] of devices) {
      for (const m of metrics) {
        if (table.aliasOf(device, m.name) !== undefined) continue;
        (table.data.devices[device] ??= {})[m.name] = next;
        table.remember(device, m.name, next++);
        changed = true;
      }
    }
    if (changed) writeAliasFile(file, table.data);
    return table;
  }

  aliasOf(device: string, name: string): number | undefined {
    return this.byName.get(device)?.get(name);
  }

  /** The metric name of a device's alias, for a command that names its metric by alias only. */
  nameOf(device: string, alias: number): string | undefined {
    return this.byAlias.get(device)?.get(alias);
  }

  private *allAliases(): Iterable<number> {
    for (const m of this.byName.values()) yield* m.values();
  }

  private remember(device: string, name: string, alias: number): void {
    let names = this.byName.get(device);
    if (!names) this.byName.set(device, (names = new Map()));
    names.set(name, alias);
    let aliases = this.byAlias.get(device);
    if (!aliases) this.byAlias.set(device, (aliases = new Map()));
    aliases.set(alias, name);
  }
}

function readAliasFile(file: string): AliasFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, devices: {} };
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<AliasFile>;
  if (parsed.version !== 1 || typeof parsed.devices !== 'object' || parsed.devices === null) {
    throw new Error(`${file} is not an alias table of this gateway (version 1)`);
  }
  const seen = new Set<number>();
  for (const metrics of Object.values(parsed.devices)) {
    for (const alias of Object.values(metrics)) {
      if (!Number.isSafeInteger(alias) || alias < 0 || seen.has(alias)) throw new Error(`${file}: alias ${alias} is invalid or used twice`);
      seen.add(alias);
    }
  }
  return parsed as AliasFile;
}

function writeAliasFile(file: string, data: AliasFile): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, null, 1)}\n`);
  renameSync(tmp, file);
}

/** Names become aliases on the wire: births carry both, data carries the alias only. */
export function aliasedPayload(aliases: AliasTable | undefined, message: EdgeMessage): Payload {
  const device = message.device;
  if (!aliases || device === undefined) return message.payload;
  if (message.kind === 'DBIRTH') {
    // [tck-id-payloads-alias-birth-requirement] name and alias in births.
    return { ...message.payload, metrics: message.payload.metrics.map((m) => ({ ...m, alias: aliases.aliasOf(device, m.name!) })) };
  }
  if (message.kind === 'DDATA') return { ...message.payload, metrics: aliasedMetrics(aliases, device, message.payload.metrics) };
  return message.payload;
}

/** [tck-id-payloads-alias-data-cmd-requirement] data carries the alias only, no name. */
export function aliasedMetrics(aliases: AliasTable | undefined, device: string, metrics: Metric[]): Metric[] {
  if (!aliases) return metrics;
  return metrics.map(({ name, ...rest }) => ({ ...rest, alias: aliases.aliasOf(device, name!) }));
}
