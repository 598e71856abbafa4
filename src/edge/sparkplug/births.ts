// What the edge node declares and publishes: each device's metric definitions and current values, the birth
// sequence (NBIRTH with the session's bdSeq, then every online device's DBIRTH), data and deaths, the one seq
// counter, rebirths on request, and the data held during an outage, published after the next births as historical.
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { aliasedMetrics, aliasedPayload, type AliasTable } from './aliases.js';
import { encodePayload, type Metric, type Payload } from './codec.js';
import { NEXT_SERVER, REBIRTH } from './commands.js';
import { HeldStore } from './held-store.js';
import type { DeviceMetricDef, EdgeMessage, MessageKind } from './messages.js';
import { deviceTopic, nodeTopic } from './topics.js';

export interface BirthOptions {
  group: string;
  node: string;
  servers: readonly string[];
  devices: ReadonlyMap<string, readonly DeviceMetricDef[]>;
  aliases?: AliasTable;
  holdMax?: number;
  heldFile?: string;
  log: Logger;
  capture(message: EdgeMessage, publish: () => void): void;
}

/** The session as the births see it. */
export interface BirthWire {
  /** True while the node is born on the session. */
  readonly online: boolean;
  readonly client: MqttClient | undefined;
  readonly bdSeq: number | null;
}

/** Metrics per historical payload. */
const HISTORY_CHUNK = 500;

export class Births {
  readonly counters = { published: 0, rebirths: 0, rebirthsIgnored: 0, historicalPublished: 0 };
  private seq = 0;
  /**
   * Changes whenever the node is born or stops being born, so that a message captured in one period is never
   * published live in another: DATA captured before a birth is held, never sent ahead of it.
   */
  private epoch = 0;
  /** Latest value of every metric of a device that is online; births repeat them. */
  private readonly deviceMetrics = new Map<string, Map<string, Metric>>();
  private readonly defs = new Map<string, Map<string, DeviceMetricDef>>();
  private aliases: AliasTable | undefined;
  /** The last message of the birth sequence under way; a rebirth request is ignored until it went out. */
  private birthUnderway: EdgeMessage | undefined;
  readonly held: HeldStore;
  /** Devices that had a DBIRTH since the last NBIRTH. */
  private readonly announced = new Set<string>();

  constructor(private readonly o: BirthOptions, private readonly wire: BirthWire) {
    this.aliases = o.aliases;
    this.define(o.devices);
    this.held = HeldStore.open(o.heldFile, o.holdMax ?? 100_000, o.log);
    this.forgetUnknownHeld();
  }

  /** First good poll, or the first after an outage: DBIRTH with every metric's current value. */
  deviceOnline(device: string, metrics: Metric[]): void {
    this.deviceMetrics.set(device, new Map(metrics.map((m) => [m.name!, m])));
    // With aliases, a device that returns within the node's session gets a whole birth sequence rather than a
    // lone DBIRTH: some hosts (Eclipse Tahu 1.0) keep a dead device's aliases and reject a DBIRTH that declares
    // them again, then ask for a rebirth; an NBIRTH resets every host's alias table for the node.
    if (this.aliases && this.wire.online && this.announced.has(device) && !this.birthUnderway) {
      this.birth();
      return;
    }
    this.announced.add(device);
    this.emit({ kind: 'DBIRTH', device, payload: { timestamp: Date.now(), metrics: this.birthMetrics(device) } });
  }

  /** Changed metrics of an online device. [tck-id-topics-ddata-payload] only what changed. */
  deviceData(device: string, metrics: Metric[]): void {
    const known = this.deviceMetrics.get(device);
    if (!known || metrics.length === 0) return;
    for (const m of metrics) known.set(m.name!, m);
    this.emit({ kind: 'DDATA', device, payload: { timestamp: Date.now(), metrics } });
  }

  /** [tck-id-operational-behavior-device-ddeath] the PLC stopped answering. */
  deviceOffline(device: string): void {
    if (!this.deviceMetrics.delete(device)) return;
    this.emit({ kind: 'DDEATH', device, payload: { timestamp: Date.now(), metrics: [] } });
  }

  isOnline(device: string): boolean {
    return this.deviceMetrics.has(device);
  }

  /** New device definitions (a reload), and the alias table that goes with them when aliases are on. */
  reconfigure(devices: ReadonlyMap<string, readonly DeviceMetricDef[]>, aliases: AliasTable | undefined): void {
    this.defs.clear();
    this.define(devices);
    if (aliases) this.aliases = aliases;
    this.forgetUnknownHeld();
  }

  defOf(device: string, m: { name?: string; alias?: number }): DeviceMetricDef | undefined {
    const defs = this.defs.get(device);
    if (!defs) return undefined;
    // [tck-id-operational-behavior-data-commands-dcmd-metric-name] resolved against our own birth, by alias or name.
    const name = m.alias !== undefined && this.aliases ? this.aliases.nameOf(device, m.alias) : m.name;
    return name === undefined ? undefined : defs.get(name);
  }

  /** A refused or failed write is answered with the tags' real values, so that no host keeps a wrong one. */
  answer(device: string, tags: readonly string[]): void {
    const known = this.deviceMetrics.get(device);
    const current = tags.map((t) => known?.get(t)).filter((m): m is Metric => m !== undefined);
    if (current.length > 0) this.emit({ kind: 'DDATA', device, payload: { timestamp: Date.now(), metrics: current } });
  }

  /** The session is up (and the primary host online): a new period, and its births. */
  born(): void {
    this.epoch += 1;
    this.birth();
  }

  /** The node stops being born on the session; data from now on is held. */
  unborn(): void {
    if (this.wire.online) this.epoch += 1;
    this.birthUnderway = undefined;
  }

  /**
   * [tck-id-operational-behavior-data-commands-rebirth-action-1] [tck-id-operational-behavior-data-commands-rebirth-action-2]
   * [tck-id-operational-behavior-data-commands-rebirth-action-3] NBIRTH and every DBIRTH again, same bdSeq, no NDEATH.
   * Requests that arrive while a birth sequence is still going out are duplicates and ignored.
   */
  rebirth(): void {
    if (!this.wire.online) {
      this.counters.rebirthsIgnored += 1;
      return; // births follow by themselves once the session (or the primary host) is up
    }
    if (this.birthUnderway) {
      this.counters.rebirthsIgnored += 1;
      this.o.log.info('Ignored a rebirth request: a birth sequence is going out right now.');
      return;
    }
    this.counters.rebirths += 1;
    this.o.log.info('Rebirth requested by a host application.');
    this.birth();
  }

  close(): void {
    this.held.close();
  }

  private define(devices: ReadonlyMap<string, readonly DeviceMetricDef[]>): void {
    for (const [device, metrics] of devices) this.defs.set(device, new Map(metrics.map((m) => [m.name, m])));
  }

  /** Held data of devices or tags that are no longer configured has no birth to follow. */
  private forgetUnknownHeld(): void {
    const gone = this.held.retain((device, m) => m.name !== undefined && this.defs.get(device)?.get(m.name)?.datatype === m.datatype);
    if (gone > 0) this.o.log.warn({ metrics: gone }, 'Dropped held data of devices or tags no longer in the config (the journal and Kafka have it).');
  }

  /** NBIRTH then every online device's DBIRTH, with the session's bdSeq. */
  private birth(): void {
    const now = Date.now();
    // [tck-id-topics-nbirth-seq-num] NBIRTH seq is 0; the counter restarts with it.
    // [tck-id-principles-birth-certificates-order] births are the first messages of a session.
    let last = this.emit({
      kind: 'NBIRTH',
      payload: {
        timestamp: now, // [tck-id-topics-nbirth-timestamp] [tck-id-payloads-nbirth-timestamp]
        metrics: [
          // [tck-id-topics-nbirth-bdseq-included] [tck-id-topics-nbirth-bdseq-matching] named, never aliased.
          { name: 'bdSeq', datatype: 'Int64', value: this.wire.bdSeq!, timestamp: now },
          // [tck-id-topics-nbirth-rebirth-metric] Boolean, false; [tck-id-operational-behavior-data-commands-rebirth-name-aliases] no alias.
          { name: REBIRTH, datatype: 'Boolean', value: false, timestamp: now },
          // Optional control, declared in NBIRTH since it is supported (with more than one server).
          ...(this.o.servers.length > 1 ? [{ name: NEXT_SERVER, datatype: 'Boolean' as const, value: false, timestamp: now }] : []),
        ],
      },
    });
    // [tck-id-payloads-dbirth-order] DBIRTHs right after NBIRTH, before any data.
    this.announced.clear();
    for (const device of this.deviceMetrics.keys()) {
      this.announced.add(device);
      last = this.emit({ kind: 'DBIRTH', device, payload: { timestamp: now, metrics: this.birthMetrics(device) } });
    }
    this.birthUnderway = last;
  }

  /** [tck-id-topics-dbirth-metric-reqs] every metric of the device with name, datatype, value and timestamp. */
  private birthMetrics(device: string): Metric[] {
    const defs = this.defs.get(device);
    // The current values are the last data's metrics; the unit, a birth's alone, comes from the tag's definition.
    return [...(this.deviceMetrics.get(device)?.values() ?? [])].map((m) => {
      const unit = m.name === undefined ? undefined : defs?.get(m.name)?.unit;
      return unit === undefined ? m : { ...m, unit };
    });
  }

  private emit(message: EdgeMessage): EdgeMessage {
    const epoch = this.epoch;
    this.o.capture(message, () => this.publish(message, epoch));
    return message;
  }

  /** Publishes a captured message, unless the node stopped being born since it was made: then data is held. */
  private publish(message: EdgeMessage, epoch: number): void {
    if (message === this.birthUnderway) this.birthUnderway = undefined;
    const client = this.wire.client;
    if (!this.wire.online || !client || epoch !== this.epoch) {
      if (message.kind === 'DDATA' && message.device !== undefined) this.hold(message.device, message.payload.metrics);
      return;
    }
    this.send(client, message.kind, message.device, aliasedPayload(this.aliases, message));
    // Data held for this device goes out right after its birth, in payloads of its own.
    if (message.kind === 'DBIRTH' && message.device !== undefined) this.publishHeld(client, message.device);
  }

  private send(client: MqttClient, kind: MessageKind, device: string | undefined, payload: Payload): void {
    // [tck-id-payloads-sequence-num-incrementing] one counter for node and devices, allocated only on publish;
    // [tck-id-topics-nbirth-seq-num] NBIRTH is 0 and restarts it; [tck-id-payloads-sequence-num-always-included].
    const seq = kind === 'NBIRTH' ? (this.seq = 0) : (this.seq = (this.seq + 1) % 256);
    const topic = device === undefined
      ? nodeTopic(this.o.group, kind as 'NBIRTH', this.o.node)
      : deviceTopic(this.o.group, kind as 'DBIRTH' | 'DDATA' | 'DDEATH', this.o.node, device);
    // [tck-id-topics-nbirth-mqtt] [tck-id-topics-dbirth-mqtt] [tck-id-topics-ddata-mqtt] [tck-id-topics-ddeath-mqtt] QoS 0, not retained.
    client.publish(topic, Buffer.from(encodePayload({ ...payload, seq })), { qos: 0, retain: false });
    this.counters.published += 1;
  }

  private hold(device: string, metrics: Metric[]): void {
    const before = this.held.dropped;
    this.held.push(device, metrics);
    if (before === 0 && this.held.dropped > 0) this.o.log.warn({ holdMax: this.o.holdMax ?? 100_000 }, 'Too much data held for historical publishing on MQTT; the oldest goes first (the journal and Kafka keep everything).');
  }

  /**
   * Data held back by an outage of the session or of the primary host, after the device's fresh DBIRTH: each
   * metric with is_historical and its original timestamp, in payloads separate from live data.
   */
  private publishHeld(client: MqttClient, device: string): void {
    const mine = this.held.take(device);
    if (mine.length === 0) return;
    for (let i = 0; i < mine.length; i += HISTORY_CHUNK) {
      this.send(client, 'DDATA', device, { timestamp: Date.now(), metrics: aliasedMetrics(this.aliases, device, mine.slice(i, i + HISTORY_CHUNK)) });
    }
    this.counters.historicalPublished += mine.length;
    this.o.log.info({ device, metrics: mine.length }, 'Published data held during the outage, marked historical.');
  }
}
