// Sparkplug commands to this edge node (NCMD, DCMD): decoded against our own birth, type-checked, then carried
// out or refused. Everything here arrived from the network, so whatever a command holds (50,000 metrics, a
// 16 MB string, a datatype code that does not exist) gives at most one log line of bounded length per command,
// and refusal lines beyond a few a minute are counted instead of written.
import type { Logger } from 'pino';
import { bounded, LogLimiter } from '../log-text.js';
import { decodePayload, type DecodedMetric, type DecodedPayload, type MetricValue } from './codec.js';
import { checkCommandValue } from './command-values.js';
import type { SparkplugDataType } from './datatypes.js';

export interface CommandDef {
  name: string;
  datatype: SparkplugDataType;
  writable: boolean;
}

export interface CommandTarget {
  log: Logger;
  /** [tck-id-operational-behavior-data-commands-dcmd-metric-name] a metric resolved by alias or name from our birth. */
  defOf(device: string, m: { name?: string; alias?: number }): CommandDef | undefined;
  /** A DCMD value for a writable tag; resolves once the PLC took it. */
  write?(device: string, tag: string, value: MetricValue): Promise<void>;
  /** Republishes the real values of tags whose write was refused, so that no host keeps a wrong one. */
  answer(device: string, tags: readonly string[]): void;
  /** A node control metric (Node Control/…) this node offers; false when it offers no such metric. */
  nodeControl(m: DecodedMetric): boolean;
}

/** The node controls this node offers, declared in its NBIRTH. */
export const REBIRTH = 'Node Control/Rebirth';
/** Offered with more than one server: a host application can send the node to the next one. */
export const NEXT_SERVER = 'Node Control/Next Server';

/** What the node does on its controls; `nextServer` only where it offers it (more than one server). */
export interface NodeControlActions {
  rebirth(): void;
  nextServer?(): void;
}

/** The `nodeControl` of a CommandTarget for the controls this node offers. */
export function nodeControls(actions: NodeControlActions): (m: DecodedMetric) => boolean {
  return (m) => {
    // [tck-id-operational-behavior-data-commands-ncmd-rebirth-verb] [tck-id-operational-behavior-data-commands-ncmd-rebirth-name]
    // [tck-id-operational-behavior-data-commands-ncmd-rebirth-value]
    if (m.name === REBIRTH) {
      if (m.value === true) actions.rebirth();
      return true;
    }
    if (m.name === NEXT_SERVER && actions.nextServer) {
      if (m.value === true) actions.nextServer();
      return true;
    }
    return false;
  };
}

export interface CommandCounters {
  writes: number;
  /** Metrics of commands refused (unknown, not writable, wrong value or datatype, failed write), and undecodable commands. */
  commandsRefused: number;
  /** Refusal log lines left out by the rate limit. */
  refusalLinesSuppressed: number;
  /** NCMD/DCMD messages that arrived retained and were ignored. */
  retainedCommandsIgnored: number;
}

/** Examples named per reason in a refusal line. */
const EXAMPLES = 3;
/** Reasons named apart in one refusal line; the rest are counted together. */
const MAX_REASONS = 8;

/** The refusals of one command, grouped by reason, for its one log line. */
class Refusals {
  count = 0;
  private readonly byReason = new Map<string, { n: number; examples: string[] }>();

  add(reason: string, what: string): void {
    this.count += 1;
    // Reasons quote the value: 50,000 different bad values must not make 50,000 groups to print.
    const key = this.byReason.has(reason) || this.byReason.size < MAX_REASONS ? reason : 'other reasons';
    const entry = this.byReason.get(key) ?? { n: 0, examples: [] };
    entry.n += 1;
    if (entry.examples.length < EXAMPLES) entry.examples.push(what);
    this.byReason.set(key, entry);
  }

  summary(): string {
    return [...this.byReason].map(([reason, { n, examples }]) => `${n} × ${reason} (${examples.join(', ')}${n > examples.length ? ', …' : ''})`).join('; ');
  }
}

function metricLabel(m: { name?: string; alias?: number }): string {
  return m.name !== undefined ? JSON.stringify(bounded(m.name, 80)) : `alias ${m.alias ?? '?'}`;
}

export class Commands {
  readonly counters = { writes: 0, commandsRefused: 0, retainedCommandsIgnored: 0 };
  private readonly limiter = new LogLimiter(10, 60_000);

  constructor(private readonly t: CommandTarget) {}

  status(): CommandCounters {
    return { ...this.counters, refusalLinesSuppressed: this.limiter.suppressed };
  }

  /**
   * [tck-id-payloads-ncmd-retain] [tck-id-payloads-dcmd-retain] commands are never retained. One that was (a host
   * publishing with the retain flag) would be delivered again at every subscribe: a retained rebirth request
   * would rebirth the node on every connect, a retained write repeat itself. Ignored, counted, logged once.
   */
  onRetained(topic: string): void {
    this.counters.retainedCommandsIgnored += 1;
    if (this.counters.retainedCommandsIgnored === 1) {
      this.t.log.warn({ topic: bounded(topic) }, 'Ignored a retained Sparkplug command: commands must not be retained (the host application that sent it should publish with retain off; clear it with an empty retained message on that topic). Further ones are counted, not logged.');
    }
  }

  onNodeCommand(bytes: Buffer): void {
    const payload = this.decode(bytes);
    if (!payload) return;
    const refused = new Refusals();
    for (const m of payload.metrics) {
      if (!this.t.nodeControl(m)) refused.add('no such node metric', metricLabel(m));
    }
    if (refused.count > 0) {
      this.counters.commandsRefused += refused.count;
      this.warn({ metrics: payload.metrics.length, refused: refused.count }, `Ignored ${refused.count} of ${payload.metrics.length} metrics of a node command: ${refused.summary()}.`);
    }
  }

  async onDeviceCommand(device: string, bytes: Buffer): Promise<void> {
    const payload = this.decode(bytes, device);
    if (!payload) return;
    const refused = new Refusals();
    const answer = new Set<string>();
    const written: string[] = [];
    const deviceName = bounded(device, 80);
    for (const m of payload.metrics) {
      const def = this.t.defOf(device, m);
      if (!def) {
        refused.add(`no such metric on device "${deviceName}"`, metricLabel(m));
        continue;
      }
      const refuse = (reason: string) => {
        refused.add(reason, JSON.stringify(def.name));
        answer.add(def.name);
      };
      if (m.unreadableDatatype !== undefined) {
        // [tck-id-payloads-metric-datatype-value] a datatype that is not one of the enumerated values is no datatype.
        refuse(`datatype code ${m.unreadableDatatype} is not a Sparkplug datatype this tag can take (it is ${def.datatype})`);
        continue;
      }
      if (!def.writable || !this.t.write) {
        refuse('the tag is not marked writable');
        continue;
      }
      const checked = checkCommandValue(m.value, def.datatype);
      if (!checked.ok) {
        refuse(checked.reason);
        continue;
      }
      try {
        await this.t.write(device, def.name, checked.value);
        this.counters.writes += 1;
        written.push(def.name);
      } catch (err) {
        refuse(`the write failed: ${bounded((err as Error).message)}`);
      }
    }
    if (written.length > 0) {
      this.t.log.info({ device: deviceName, tags: written.slice(0, EXAMPLES), written: written.length }, `Wrote ${written.length} command value${written.length === 1 ? '' : 's'} to device "${deviceName}".`);
    }
    if (refused.count > 0) {
      this.counters.commandsRefused += refused.count;
      this.warn({ device: deviceName, metrics: payload.metrics.length, refused: refused.count }, `Refused ${refused.count} of ${payload.metrics.length} metrics of a write to device "${deviceName}": ${refused.summary()}.`);
    }
    if (answer.size > 0) this.t.answer(device, [...answer]);
  }

  private decode(bytes: Buffer, device?: string): DecodedPayload | undefined {
    try {
      return decodePayload(bytes, device === undefined ? undefined : (m) => this.t.defOf(device, m)?.datatype);
    } catch (err) {
      this.counters.commandsRefused += 1;
      this.warn({ device: device === undefined ? undefined : bounded(device, 80), bytes: bytes.length, err: bounded((err as Error).message) }, 'Ignored a command that is not a Sparkplug payload.');
      return undefined;
    }
  }

  private warn(fields: Record<string, unknown>, message: string): void {
    const take = this.limiter.take();
    if (!take.log) return;
    const line = bounded(message, 1000);
    this.t.log.warn(take.leftOut > 0 ? { ...fields, refusalLinesLeftOut: take.leftOut } : fields, take.leftOut > 0 ? `${line} (${take.leftOut} earlier refusal lines were left out by the rate limit.)` : line);
  }
}
