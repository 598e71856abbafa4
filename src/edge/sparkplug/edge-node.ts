// The Sparkplug B edge node: one MQTT session to the site broker, births, data, deaths and commands.
// Every message it makes is handed to `capture` first (the journal), then published when the session is up.
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { BdSeqStore } from './bdseq.js';
import { decodePayload, encodePayload, type Metric, type MetricValue, type Payload } from './codec.js';
import type { SparkplugDataType } from './datatypes.js';
import { deviceTopic, nodeTopic, parseTopic } from './topics.js';

export type MessageKind = 'NBIRTH' | 'NDEATH' | 'DBIRTH' | 'DDATA' | 'DDEATH';

export interface EdgeMessage {
  kind: MessageKind;
  device?: string;
  payload: Payload;
}

export interface DeviceMetricDef {
  name: string;
  datatype: SparkplugDataType;
  writable: boolean;
}

export interface EdgeNodeOptions {
  group: string;
  node: string;
  brokerUrl: string;
  bdSeqFile: string;
  devices: ReadonlyMap<string, readonly DeviceMetricDef[]>;
  log: Logger;
  /**
   * Called for every message, also while the session is down. `publish` must be called once the message is
   * captured (its journal transaction committed), in the order the messages were captured.
   */
  capture(message: EdgeMessage, publish: () => void): void;
  /** A DCMD for a writable tag; resolves once the PLC took it. */
  write?(device: string, tag: string, value: MetricValue): Promise<void>;
}

export type SessionState = 'connecting' | 'online' | 'offline' | 'stopped';

export interface EdgeNodeStatus {
  state: SessionState;
  bdSeq: number | null;
  published: number;
  rebirths: number;
  commandsRefused: number;
}

const REBIRTH = 'Node Control/Rebirth';

export class EdgeNode {
  private client: MqttClient | undefined;
  private running = false;
  private seq = 0;
  /** Counts sessions, so that a message captured for one session is never published in the next. */
  private session = 0;
  private bdSeq: number | null = null;
  private state: SessionState = 'stopped';
  private readonly bdSeqStore: BdSeqStore;
  /** Latest value of every metric of a device that is online; births repeat them. */
  private readonly online = new Map<string, Map<string, Metric>>();
  private readonly counters = { published: 0, rebirths: 0, commandsRefused: 0 };
  private loop: Promise<void> | undefined;
  private closeSession: (() => void) | undefined;
  private wakeLoop: (() => void) | undefined;

  constructor(private readonly o: EdgeNodeOptions) {
    this.bdSeqStore = new BdSeqStore(o.bdSeqFile);
  }

  start(): void {
    this.running = true;
    this.loop = this.sessionLoop();
  }

  /** Resolves true once the session has been born, false after `timeoutMs`. */
  async waitOnline(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.state !== 'online' && this.running && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.state === 'online';
  }

  status(): EdgeNodeStatus {
    return { state: this.state, bdSeq: this.bdSeq, ...this.counters };
  }

  /** First good poll, or the first after an outage: DBIRTH with every metric's current value. */
  deviceOnline(device: string, metrics: Metric[]): void {
    this.online.set(device, new Map(metrics.map((m) => [m.name!, m])));
    this.emit({ kind: 'DBIRTH', device, payload: { timestamp: Date.now(), metrics: this.birthMetrics(device) } });
  }

  /** Changed metrics of an online device. [tck-id-topics-ddata-payload] only what changed. */
  deviceData(device: string, metrics: Metric[]): void {
    const known = this.online.get(device);
    if (!known || metrics.length === 0) return;
    for (const m of metrics) known.set(m.name!, m);
    this.emit({ kind: 'DDATA', device, payload: { timestamp: Date.now(), metrics } });
  }

  /** [tck-id-operational-behavior-device-ddeath] the PLC stopped answering. */
  deviceOffline(device: string): void {
    if (!this.online.delete(device)) return;
    this.emit({ kind: 'DDEATH', device, payload: { timestamp: Date.now(), metrics: [] } });
  }

  isOnline(device: string): boolean {
    return this.online.has(device);
  }

  /** [tck-id-operational-behavior-edge-node-intentional-disconnect-ndeath] NDEATH, then DISCONNECT. */
  async stop(): Promise<void> {
    this.running = false;
    const client = this.client;
    const death = this.deathPayload(this.bdSeq ?? 0);
    this.o.capture({ kind: 'NDEATH', payload: death }, () => undefined);
    if (client && this.state === 'online') {
      // [tck-id-payloads-ndeath-will-message-publisher-disconnect-mqtt311] NDEATH is published before DISCONNECT.
      await new Promise<void>((resolve) => client.publish(nodeTopic(this.o.group, 'NDEATH', this.o.node), Buffer.from(encodePayload(death)), { qos: 1, retain: false }, () => resolve()));
    }
    this.closeSession?.();
    this.wakeLoop?.();
    if (client) await client.endAsync().catch(() => undefined);
    await this.loop;
    this.state = 'stopped';
  }

  private async sessionLoop(): Promise<void> {
    let backoff = 500;
    while (this.running) {
      const ok = await this.runSession();
      if (!this.running) break;
      if (ok) backoff = 500;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff / 2 + Math.random() * (backoff / 2));
        this.wakeLoop = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      backoff = Math.min(backoff * 2, 10_000);
    }
  }

  /** One MQTT session from CONNECT to close; true when it reached NBIRTH. */
  private async runSession(): Promise<boolean> {
    this.state = 'connecting';
    // [tck-id-message-flow-edge-node-birth-publish-will-message-payload-bdSeq] +1 on every CONNECT, persisted.
    const bdSeq = this.bdSeqStore.next();
    const client = mqtt.connect(this.o.brokerUrl, {
      clientId: `edge-gateway:${this.o.group}:${this.o.node}`,
      protocolVersion: 4,
      clean: true, // [tck-id-principles-persistence-clean-session-311]
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: 15,
      will: {
        // [tck-id-message-flow-edge-node-birth-publish-will-message-topic]
        topic: nodeTopic(this.o.group, 'NDEATH', this.o.node),
        // [tck-id-message-flow-edge-node-birth-publish-will-message-payload]
        payload: Buffer.from(encodePayload(this.deathPayload(bdSeq))),
        qos: 1, // [tck-id-message-flow-edge-node-birth-publish-will-message-qos]
        retain: false, // [tck-id-message-flow-edge-node-birth-publish-will-message-will-retained]
      },
    });
    this.client = client;
    client.on('error', () => undefined); // reported through 'close' below
    const closed = new Promise<void>((resolve) => {
      client.once('close', resolve);
      this.closeSession = resolve;
    });
    const connected = await Promise.race([
      new Promise<boolean>((resolve) => client.once('connect', () => resolve(true))),
      closed.then(() => false),
    ]);
    if (!connected || !this.running) {
      client.end(true);
      this.state = 'offline';
      return false;
    }
    this.bdSeq = bdSeq;
    try {
      client.on('message', (topic, payload) => this.onCommand(topic, payload));
      // [tck-id-message-flow-edge-node-ncmd-subscribe] NCMD at QoS 1 before NBIRTH;
      // [tck-id-message-flow-device-dcmd-subscribe] DCMD at QoS 1 before any DBIRTH.
      await client.subscribeAsync(
        [nodeTopic(this.o.group, 'NCMD', this.o.node), deviceTopic(this.o.group, 'DCMD', this.o.node, '+')],
        { qos: 1 },
      );
      this.state = 'online';
      this.session += 1;
      this.birth();
      this.o.log.info({ broker: this.o.brokerUrl, bdSeq }, 'Sparkplug session online.');
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'Sparkplug session failed before birth.');
      client.end(true);
    }
    await closed;
    if (this.state === 'online' && this.running) this.o.log.warn({ broker: this.o.brokerUrl }, 'Sparkplug session lost; reconnecting.');
    this.state = 'offline';
    client.removeAllListeners('message');
    return true;
  }

  /** NBIRTH then every online device's DBIRTH, with the session's bdSeq. */
  private birth(): void {
    const now = Date.now();
    // [tck-id-topics-nbirth-seq-num] NBIRTH seq is 0; the counter restarts with it.
    this.emit({
      kind: 'NBIRTH',
      payload: {
        timestamp: now, // [tck-id-topics-nbirth-timestamp]
        metrics: [
          // [tck-id-topics-nbirth-bdseq-included] [tck-id-topics-nbirth-bdseq-matching]
          { name: 'bdSeq', datatype: 'Int64', value: this.bdSeq!, timestamp: now },
          // [tck-id-topics-nbirth-rebirth-metric] Boolean, false, never aliased.
          { name: REBIRTH, datatype: 'Boolean', value: false, timestamp: now },
        ],
      },
    });
    // [tck-id-payloads-dbirth-order] DBIRTHs right after NBIRTH, before any data.
    for (const device of this.online.keys()) {
      this.emit({ kind: 'DBIRTH', device, payload: { timestamp: now, metrics: this.birthMetrics(device) } });
    }
  }

  private birthMetrics(device: string): Metric[] {
    return [...(this.online.get(device)?.values() ?? [])];
  }

  private deathPayload(bdSeq: number): Payload {
    // [tck-id-topics-ndeath-payload] only bdSeq; [tck-id-topics-ndeath-seq] no seq.
    return { timestamp: Date.now(), metrics: [{ name: 'bdSeq', datatype: 'Int64', value: bdSeq }] };
  }

  private emit(message: EdgeMessage): void {
    const session = this.session;
    this.o.capture(message, () => this.publish(message, session));
  }

  /** Publishes a captured message, unless the session it was made for has ended meanwhile. */
  private publish(message: EdgeMessage, session: number): void {
    const client = this.client;
    if (this.state !== 'online' || !client || session !== this.session) return;
    // [tck-id-payloads-sequence-num-incrementing] one counter for node and devices, allocated only on publish;
    // [tck-id-topics-nbirth-seq-num] NBIRTH is 0 and restarts it.
    const seq = message.kind === 'NBIRTH' ? (this.seq = 0) : (this.seq = (this.seq + 1) % 256);
    const topic = message.device === undefined
      ? nodeTopic(this.o.group, message.kind as 'NBIRTH', this.o.node)
      : deviceTopic(this.o.group, message.kind as 'DBIRTH' | 'DDATA' | 'DDEATH', this.o.node, message.device);
    // [tck-id-topics-nbirth-mqtt] [tck-id-topics-dbirth-mqtt] [tck-id-topics-ddata-mqtt] QoS 0, not retained.
    client.publish(topic, Buffer.from(encodePayload({ ...message.payload, seq })), { qos: 0, retain: false });
    this.counters.published += 1;
  }

  private onCommand(topic: string, bytes: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.group !== this.o.group || parsed.node !== this.o.node) return;
    let payload: Payload;
    try {
      payload = decodePayload(bytes);
    } catch (err) {
      this.counters.commandsRefused += 1;
      this.o.log.warn({ topic, err: (err as Error).message }, 'Ignored a command that is not a Sparkplug payload.');
      return;
    }
    if (parsed.verb === 'NCMD') {
      // [tck-id-operational-behavior-data-commands-ncmd-rebirth-verb] [tck-id-operational-behavior-data-commands-rebirth-action-3]
      if (payload.metrics.some((m) => m.name === REBIRTH && m.value === true)) {
        this.counters.rebirths += 1;
        this.o.log.info('Rebirth requested by a host application.');
        this.birth();
      }
      return;
    }
    if (parsed.verb === 'DCMD' && parsed.device) void this.onDeviceCommand(parsed.device, payload);
  }

  private async onDeviceCommand(device: string, payload: Payload): Promise<void> {
    const defs = this.o.devices.get(device);
    for (const m of payload.metrics) {
      const def = defs?.find((d) => d.name === m.name);
      if (!def || !def.writable || !this.o.write) {
        this.counters.commandsRefused += 1;
        this.o.log.warn({ device, tag: m.name }, `Refused a write to "${m.name}" of device "${device}": the tag is not marked writable.`);
        continue;
      }
      try {
        await this.o.write(device, def.name, m.value);
        this.o.log.info({ device, tag: def.name }, 'Wrote a command value to the device.');
      } catch (err) {
        this.counters.commandsRefused += 1;
        this.o.log.warn({ device, tag: def.name, err: (err as Error).message }, 'A command write failed.');
      }
    }
  }
}
