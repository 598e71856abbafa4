// The Sparkplug B edge node: one MQTT session to the site broker, births, data, deaths and commands.
// Every message it makes is handed to `capture` first (the journal), then published when the session is up.
// Data captured while the session is down (or the primary host is offline) is held and published after the next
// birth sequence, marked historical.
import { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { AliasTable } from './aliases.js';
import { BdSeqStore } from './bdseq.js';
import { encodePayload, type DecodedMetric, type Metric, type MetricValue, type Payload } from './codec.js';
import { bounded } from '../log-text.js';
import { Commands } from './commands.js';
import type { SparkplugDataType } from './datatypes.js';
import { HeldStore } from './held-store.js';
import { judgeHostState, parseHostState, stateTopic } from './host-state.js';
import { openTcp } from './tcp.js';
import { deviceTopic, edgeNodeClientId, nodeTopic, parseTopic } from './topics.js';

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
  /** The engineering unit, declared in every DBIRTH as the metric's engUnit property. */
  unit?: string | undefined;
}

export interface EdgeNodeOptions {
  group: string;
  node: string;
  /**
   * The MQTT servers, in the order they are tried: one at a time, the next when a server cannot be reached or
   * when the primary host goes offline on it. Usually one: the site broker.
   */
  servers: readonly string[];
  /** The MQTT login on the broker (broker.node_user, or the embedded broker's internal credential). */
  username?: string;
  /** A function is called before every CONNECT, so that a password changed on disk is used at the next login. */
  password?: string | (() => string);
  bdSeqFile: string;
  devices: ReadonlyMap<string, readonly DeviceMetricDef[]>;
  /** Present when `sparkplug.aliases` is on: data messages then carry aliases instead of names. */
  aliases?: AliasTable;
  /** `sparkplug.primary_host`: births wait until this host application's STATE says it is online. */
  primaryHost?: string;
  /** Most metrics held for historical publishing while the session is down; the oldest go first beyond it. */
  holdMax?: number;
  /** Where held data is kept across restarts (data_dir/held.db); memory only without it. */
  heldFile?: string;
  log: Logger;
  /**
   * Called for every message, also while the session is down. `publish` must be called once the message is
   * handed to the journal, after `capture` returned, in the order the messages were captured.
   */
  capture(message: EdgeMessage, publish: () => void): void;
  /** A DCMD for a writable tag; resolves once the PLC took it. */
  write?(device: string, tag: string, value: MetricValue): Promise<void>;
}

export type SessionState = 'connecting' | 'waiting_for_host' | 'online' | 'offline' | 'stopped';

export interface EdgeNodeStatus {
  state: SessionState;
  bdSeq: number | null;
  published: number;
  rebirths: number;
  rebirthsIgnored: number;
  writes: number;
  commandsRefused: number;
  /** Refusal log lines left out by the rate limit (the refusals themselves are in commandsRefused). */
  refusalLinesSuppressed: number;
  /** NCMD/DCMD messages that arrived retained and were ignored. */
  retainedCommandsIgnored: number;
  held: number;
  heldDropped: number;
  historicalPublished: number;
  primaryHost: { id: string; online: boolean; timestamp: number | null } | null;
  /** The MQTT server of the current (or the next) session. */
  server: string;
  servers: readonly string[];
  /** Times the node went on to the next server in the list. */
  serverSwitches: number;
  /** Connection attempts that did not end in a session: no TCP connection, or the CONNECT refused or unanswered. */
  connectFailures: number;
}

const REBIRTH = 'Node Control/Rebirth';
/** Offered with more than one server: a host application can send the node to the next one. */
const NEXT_SERVER = 'Node Control/Next Server';
/** Metrics per historical payload. */
const HISTORY_CHUNK = 500;

export class EdgeNode {
  private client: MqttClient | undefined;
  private running = false;
  private seq = 0;
  /**
   * Changes whenever the node is born or stops being born, so that a message captured in one period is never
   * published live in another: DATA captured before a birth is held, never sent ahead of it.
   */
  private epoch = 0;
  private bdSeq: number | null = null;
  private state: SessionState = 'stopped';
  private readonly bdSeqStore: BdSeqStore;
  /** Latest value of every metric of a device that is online; births repeat them. */
  private readonly deviceMetrics = new Map<string, Map<string, Metric>>();
  private readonly defs = new Map<string, Map<string, DeviceMetricDef>>();
  /** The last message of the birth sequence under way; a rebirth request is ignored until it went out. */
  private birthUnderway: EdgeMessage | undefined;
  private readonly held: HeldStore;
  /** Devices that had a DBIRTH since the last NBIRTH. */
  private readonly announced = new Set<string>();
  private hostOnline: boolean;
  private hostTimestamp: number | undefined;
  private readonly counters = { published: 0, rebirths: 0, rebirthsIgnored: 0, retainedCommandsIgnored: 0, historicalPublished: 0, serverSwitches: 0, connectFailures: 0 };
  private readonly commands: Commands;
  /** Index in `servers` of the server of the current (or the next) session. */
  private serverIndex = 0;
  /**
   * Why the next session goes to the next server: the primary host is offline here (counts as a failed session, so
   * a host that is offline everywhere is looked for with growing backoff), or a host application asked for it.
   */
  private walkOn: { why: string; failed: boolean } | undefined;
  private loop: Promise<void> | undefined;
  private closeSession: (() => void) | undefined;
  /** Gives up the TCP connection under way, when the node stops while connecting. */
  private abortConnect: (() => void) | undefined;
  private wakeLoop: (() => void) | undefined;

  constructor(private readonly o: EdgeNodeOptions) {
    this.bdSeqStore = new BdSeqStore(o.bdSeqFile);
    this.hostOnline = o.primaryHost === undefined;
    for (const [device, metrics] of o.devices) this.defs.set(device, new Map(metrics.map((m) => [m.name, m])));
    this.held = HeldStore.open(o.heldFile, o.holdMax ?? 100_000, o.log);
    this.commands = new Commands({
      log: o.log,
      defOf: (device, m) => this.defOf(device, m),
      write: o.write,
      answer: (device, tags) => this.answerRefused(device, tags),
      nodeControl: (m) => this.nodeControl(m),
    });
    this.forgetUnknownHeld();
  }

  /** Held data of devices or tags that are no longer configured has no birth to follow. */
  private forgetUnknownHeld(): void {
    const gone = this.held.retain((device, m) => m.name !== undefined && this.defs.get(device)?.get(m.name)?.datatype === m.datatype);
    if (gone > 0) this.o.log.warn({ metrics: gone }, 'Dropped held data of devices or tags no longer in the config (the journal and Kafka have it).');
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
    const primaryHost = this.o.primaryHost === undefined ? null : { id: this.o.primaryHost, online: this.hostOnline, timestamp: this.hostTimestamp ?? null };
    return { state: this.state, bdSeq: this.bdSeq, ...this.counters, ...this.commands.status(), held: this.held.size, heldDropped: this.held.dropped, primaryHost, server: this.server, servers: this.o.servers };
  }

  /** First good poll, or the first after an outage: DBIRTH with every metric's current value. */
  deviceOnline(device: string, metrics: Metric[]): void {
    this.deviceMetrics.set(device, new Map(metrics.map((m) => [m.name!, m])));
    // With aliases, a device that returns within the node's session gets a whole birth sequence rather than a
    // lone DBIRTH: some hosts (Eclipse Tahu 1.0) keep a dead device's aliases and reject a DBIRTH that declares
    // them again, then ask for a rebirth; an NBIRTH resets every host's alias table for the node.
    if (this.o.aliases && this.state === 'online' && this.announced.has(device) && !this.birthUnderway) {
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

  /**
   * A reload changed the devices: commands resolve against the new definitions. A device whose tags changed is
   * stopped (DDEATH) and started again by the caller, so its next DBIRTH declares the new metrics.
   */
  reconfigure(devices: ReadonlyMap<string, readonly DeviceMetricDef[]>, aliases: AliasTable | undefined): void {
    this.defs.clear();
    for (const [device, metrics] of devices) this.defs.set(device, new Map(metrics.map((m) => [m.name, m])));
    if (aliases) this.o.aliases = aliases;
    this.forgetUnknownHeld();
  }

  isOnline(device: string): boolean {
    return this.deviceMetrics.has(device);
  }

  /** [tck-id-operational-behavior-edge-node-intentional-disconnect-ndeath] NDEATH, then DISCONNECT. */
  async stop(): Promise<void> {
    this.running = false;
    const client = this.client;
    const connected = this.state === 'online' || this.state === 'waiting_for_host';
    this.leaveOnline();
    const death = this.deathPayload(this.bdSeq ?? 0);
    this.o.capture({ kind: 'NDEATH', payload: death }, () => undefined);
    if (client && connected) {
      // [tck-id-payloads-ndeath-will-message-publisher-disconnect-mqtt311] NDEATH is published before DISCONNECT.
      await new Promise<void>((resolve) => client.publish(nodeTopic(this.o.group, 'NDEATH', this.o.node), Buffer.from(encodePayload(death)), { qos: 1, retain: false }, () => resolve()));
    }
    this.abortConnect?.();
    this.closeSession?.();
    this.wakeLoop?.();
    if (client) await client.endAsync().catch(() => undefined);
    await this.loop;
    this.held.close();
    this.state = 'stopped';
  }

  private get server(): string {
    return this.o.servers[this.serverIndex]!;
  }

  /**
   * Sessions one after the other. A server that cannot be reached, or on which the primary host went offline, gives
   * way to the next one in the list; the loop waits (with growing backoff) only after a whole round failed.
   */
  private async sessionLoop(): Promise<void> {
    let backoff = 500;
    let failedInRow = 0;
    while (this.running) {
      const outcome = await this.runSession();
      if (!this.running) break;
      // [tck-id-operational-behavior-edge-node-termination-host-offline-reconnect]
      // [tck-id-operational-behavior-primary-application-state-with-multiple-servers-walk] on to the next server.
      const walk = outcome === 'unreachable' ? { why: 'it cannot be reached', failed: true } : this.walkOn;
      this.walkOn = undefined;
      const failed = outcome !== 'connected' || walk?.failed === true;
      failedInRow = failed ? failedInRow + 1 : 0;
      if (walk !== undefined && this.o.servers.length > 1) this.nextServer(walk.why);
      if (!failed) backoff = 500;
      // A server that failed while others are left to try is followed by the next one at once.
      if (failed && walk !== undefined && failedInRow % this.o.servers.length !== 0) continue;
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

  private nextServer(why: string): void {
    const from = this.server;
    this.serverIndex = (this.serverIndex + 1) % this.o.servers.length;
    this.counters.serverSwitches += 1;
    // The host's STATE is read afresh on the next server: its retained STATE there is taken as it is.
    if (this.o.primaryHost !== undefined) {
      this.hostOnline = false;
      this.hostTimestamp = undefined;
    }
    this.o.log.warn({ from, to: this.server, why }, `Leaving MQTT server ${from} (${why}); trying ${this.server}.`);
  }

  /** One MQTT session from CONNECT to close. */
  private async runSession(): Promise<'connected' | 'unreachable' | 'no_password'> {
    this.state = 'connecting';
    let password: string | undefined;
    try {
      password = typeof this.o.password === 'function' ? this.o.password() : this.o.password;
    } catch (err) {
      this.o.log.error({ broker: this.server, err: (err as Error).message }, 'The edge node\'s MQTT password cannot be read; retrying.');
      this.state = 'offline';
      return 'no_password';
    }
    // [tck-id-message-flow-edge-node-birth-publish-phid-wait] what the host's STATE said in an earlier session is
    // no longer known: births in this session wait for a STATE read in it. The last accepted timestamp stays,
    // so an older retained STATE is still recognised as stale.
    if (this.o.primaryHost !== undefined) this.hostOnline = false;
    const connecting = new AbortController();
    this.abortConnect = () => connecting.abort();
    const socket = await openTcp(this.server, 5000, connecting.signal);
    this.abortConnect = undefined;
    if (socket instanceof Error || !this.running) {
      if (!(socket instanceof Error)) socket.destroy();
      else if (this.running) this.counters.connectFailures += 1;
      this.state = 'offline';
      return 'unreachable';
    }
    // [tck-id-message-flow-edge-node-birth-publish-will-message-payload-bdSeq] +1 for every CONNECT actually sent,
    // written to disk before it: the will below carries it, and the session's NBIRTH repeats it.
    let bdSeq: number;
    try {
      bdSeq = this.bdSeqStore.next();
    } catch (err) {
      // A bdSeq that cannot be persisted is not sent: no CONNECT without it (a full or read-only data_dir).
      socket.destroy();
      this.counters.connectFailures += 1;
      this.o.log.error({ err: (err as Error).message }, 'The edge node cannot write its bdSeq to data_dir; it does not connect until it can.');
      this.state = 'offline';
      return 'unreachable';
    }
    // [tck-id-message-flow-edge-node-birth-publish-connect] the MQTT session comes before any birth;
    // [tck-id-operational-behavior-primary-application-state-with-multiple-servers-single-server] one server at a time.
    const client = new MqttClient(() => socket, {
      clientId: edgeNodeClientId(this.o.group, this.o.node),
      username: this.o.username,
      password,
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true, // [tck-id-principles-persistence-clean-session-311]
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: 15,
      will: {
        // [tck-id-message-flow-edge-node-birth-publish-will-message] [tck-id-payloads-ndeath-will-message]
        // [tck-id-message-flow-edge-node-birth-publish-will-message-topic]
        topic: nodeTopic(this.o.group, 'NDEATH', this.o.node),
        // [tck-id-message-flow-edge-node-birth-publish-will-message-payload]
        payload: Buffer.from(encodePayload(this.deathPayload(bdSeq))),
        qos: 1, // [tck-id-message-flow-edge-node-birth-publish-will-message-qos] [tck-id-payloads-ndeath-will-message-qos]
        retain: false, // [tck-id-message-flow-edge-node-birth-publish-will-message-will-retained] [tck-id-payloads-ndeath-will-message-retain]
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
      if (this.running) this.counters.connectFailures += 1;
      client.end(true);
      this.state = 'offline';
      return 'unreachable';
    }
    this.bdSeq = bdSeq;
    try {
      client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
      const topics = [
        // [tck-id-message-flow-edge-node-ncmd-subscribe] NCMD at QoS 1 before NBIRTH;
        nodeTopic(this.o.group, 'NCMD', this.o.node),
        // [tck-id-message-flow-device-dcmd-subscribe] DCMD at QoS 1 before any DBIRTH.
        deviceTopic(this.o.group, 'DCMD', this.o.node, '+'),
      ];
      // [tck-id-operational-behavior-primary-application-state-with-multiple-servers-state-subs] the host's STATE.
      if (this.o.primaryHost !== undefined) topics.push(stateTopic(this.o.primaryHost));
      await client.subscribeAsync(topics, { qos: 1 });
      if (this.o.primaryHost === undefined || this.hostOnline) this.goOnline('session up');
      else {
        this.state = 'waiting_for_host';
        this.o.log.info({ primaryHost: this.o.primaryHost, bdSeq }, 'Connected; waiting for the primary host application to be online before the births.');
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'Sparkplug session failed before birth.');
      this.walkOn = { why: `the session failed before birth (${(err as Error).message})`, failed: true };
      client.end(true);
    }
    await closed;
    if ((this.state as SessionState) === 'online' && this.running) this.o.log.warn({ broker: this.server }, 'Sparkplug session lost; reconnecting. Data is held and sent as historical after the next birth.');
    this.leaveOnline();
    this.state = 'offline';
    client.removeAllListeners('message');
    return 'connected';
  }

  /**
   * [tck-id-message-flow-edge-node-birth-publish-phid-wait] [tck-id-operational-behavior-edge-node-birth-sequence-wait]
   * births only once connected and, with a primary host, once it is online.
   */
  private goOnline(why: string): void {
    this.state = 'online';
    this.epoch += 1;
    this.birth();
    this.o.log.info({ broker: this.server, bdSeq: this.bdSeq, why }, 'Sparkplug session online.');
  }

  private leaveOnline(): void {
    if (this.state === 'online') this.epoch += 1;
    this.birthUnderway = undefined;
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
          { name: 'bdSeq', datatype: 'Int64', value: this.bdSeq!, timestamp: now },
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

  private deathPayload(bdSeq: number): Payload {
    // [tck-id-topics-ndeath-payload] only bdSeq, named; [tck-id-topics-ndeath-seq] no seq.
    return { timestamp: Date.now(), metrics: [{ name: 'bdSeq', datatype: 'Int64', value: bdSeq }] };
  }

  private emit(message: EdgeMessage): EdgeMessage {
    const epoch = this.epoch;
    this.o.capture(message, () => this.publish(message, epoch));
    return message;
  }

  /** Publishes a captured message, unless the node stopped being born since it was made: then data is held. */
  private publish(message: EdgeMessage, epoch: number): void {
    if (message === this.birthUnderway) this.birthUnderway = undefined;
    const client = this.client;
    if (this.state !== 'online' || !client || epoch !== this.epoch) {
      if (message.kind === 'DDATA' && message.device !== undefined) this.hold(message.device, message.payload.metrics);
      return;
    }
    this.send(client, message.kind, message.device, this.onWire(message));
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

  /** Names become aliases: births carry both, data carries the alias only. */
  private onWire(message: EdgeMessage): Payload {
    const aliases = this.o.aliases;
    const device = message.device;
    if (!aliases || device === undefined) return message.payload;
    if (message.kind === 'DBIRTH') {
      // [tck-id-payloads-alias-birth-requirement] name and alias in births.
      return { ...message.payload, metrics: message.payload.metrics.map((m) => ({ ...m, alias: aliases.aliasOf(device, m.name!) })) };
    }
    if (message.kind === 'DDATA') return { ...message.payload, metrics: this.aliased(device, message.payload.metrics) };
    return message.payload;
  }

  /** [tck-id-payloads-alias-data-cmd-requirement] data carries the alias only, no name. */
  private aliased(device: string, metrics: Metric[]): Metric[] {
    const aliases = this.o.aliases;
    if (!aliases) return metrics;
    return metrics.map(({ name, ...rest }) => ({ ...rest, alias: aliases.aliasOf(device, name!) }));
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
      this.send(client, 'DDATA', device, { timestamp: Date.now(), metrics: this.aliased(device, mine.slice(i, i + HISTORY_CHUNK)) });
    }
    this.counters.historicalPublished += mine.length;
    this.o.log.info({ device, metrics: mine.length }, 'Published data held during the outage, marked historical.');
  }

  private onMessage(topic: string, bytes: Buffer, retained: boolean): void {
    if (this.o.primaryHost !== undefined && topic === stateTopic(this.o.primaryHost)) this.onHostState(bytes);
    else if (retained) this.onRetainedCommand(topic);
    else this.onCommand(topic, bytes);
  }

  /**
   * [tck-id-payloads-ncmd-retain] [tck-id-payloads-dcmd-retain] commands are never retained. One that was (a host
   * publishing with the retain flag) would be delivered again at every subscribe: a retained rebirth request
   * would rebirth the node on every connect, a retained write repeat itself. Ignored, counted, logged once.
   */
  private onRetainedCommand(topic: string): void {
    this.counters.retainedCommandsIgnored += 1;
    if (this.counters.retainedCommandsIgnored === 1) {
      this.o.log.warn({ topic: bounded(topic) }, 'Ignored a retained Sparkplug command: commands must not be retained (the host application that sent it should publish with retain off; clear it with an empty retained message on that topic). Further ones are counted, not logged.');
    }
  }

  private onHostState(bytes: Buffer): void {
    // [tck-id-message-flow-edge-node-birth-publish-phid-wait-id] the subscription is to our host id's topic only.
    const state = parseHostState(bytes);
    if (typeof state === 'string') {
      this.o.log.warn({ primaryHost: this.o.primaryHost, reason: state }, 'Ignored a STATE message of the primary host that is not Sparkplug 3.0 JSON.');
      return;
    }
    const verdict = judgeHostState(state, this.hostTimestamp);
    if (verdict === 'ignored') {
      this.o.log.info({ primaryHost: this.o.primaryHost, timestamp: state.timestamp, last: this.hostTimestamp }, 'Ignored a stale STATE of the primary host (older than the last one).');
      return;
    }
    this.hostTimestamp = state.timestamp;
    const wasOnline = this.hostOnline;
    this.hostOnline = verdict === 'online';
    if (wasOnline !== this.hostOnline) this.o.log.info({ primaryHost: this.o.primaryHost, online: this.hostOnline }, `The primary host application is ${this.hostOnline ? 'online' : 'offline'}.`);
    // [tck-id-message-flow-edge-node-birth-publish-phid-wait-online] births once it says online.
    if (this.hostOnline && this.state === 'waiting_for_host') this.goOnline('primary host online');
    // [tck-id-message-flow-edge-node-birth-publish-phid-offline] [tck-id-operational-behavior-edge-node-termination-host-offline]
    // NDEATH, disconnect, and a new session that waits for the host; data meanwhile is held.
    if (!this.hostOnline && this.state === 'online') this.endSession('the primary host application went offline on it', true);
    // Not born here yet, and the host is offline on this server: with other servers to try, go on to the next one.
    else if (!this.hostOnline && this.state === 'waiting_for_host' && this.o.servers.length > 1) {
      this.walkOn = { why: 'the primary host application is offline on it', failed: true };
      this.client?.end();
    }
  }

  /** NDEATH, disconnect; the session loop goes on to the next server. */
  private endSession(why: string, failed: boolean): void {
    const client = this.client!;
    const death = this.deathPayload(this.bdSeq ?? 0);
    this.leaveOnline();
    this.state = 'offline';
    this.walkOn = { why, failed };
    this.o.capture({ kind: 'NDEATH', payload: death }, () => undefined);
    client.publish(nodeTopic(this.o.group, 'NDEATH', this.o.node), Buffer.from(encodePayload(death)), { qos: 1, retain: false }, () => client.end());
  }

  private onCommand(topic: string, bytes: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.group !== this.o.group || parsed.node !== this.o.node) return;
    if (parsed.verb === 'NCMD') this.commands.onNodeCommand(bytes);
    else if (parsed.verb === 'DCMD' && parsed.device !== undefined) void this.commands.onDeviceCommand(parsed.device, bytes);
  }

  /** The node controls this node offers; false for any other node metric. */
  private nodeControl(m: DecodedMetric): boolean {
    // [tck-id-operational-behavior-data-commands-ncmd-rebirth-verb] [tck-id-operational-behavior-data-commands-ncmd-rebirth-name]
    // [tck-id-operational-behavior-data-commands-ncmd-rebirth-value]
    if (m.name === REBIRTH) {
      if (m.value === true) this.onRebirth();
      return true;
    }
    if (m.name === NEXT_SERVER && this.o.servers.length > 1) {
      if (m.value === true && this.state === 'online') {
        this.o.log.info('A host application asked the edge node to go on to the next MQTT server.');
        this.endSession('a host application sent Node Control/Next Server', false);
      }
      return true;
    }
    return false;
  }

  /**
   * [tck-id-operational-behavior-data-commands-rebirth-action-1] [tck-id-operational-behavior-data-commands-rebirth-action-2]
   * [tck-id-operational-behavior-data-commands-rebirth-action-3] NBIRTH and every DBIRTH again, same bdSeq, no NDEATH.
   * Requests that arrive while a birth sequence is still going out are duplicates and ignored.
   */
  private onRebirth(): void {
    if (this.state !== 'online') {
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

  private defOf(device: string, m: { name?: string; alias?: number }): DeviceMetricDef | undefined {
    const defs = this.defs.get(device);
    if (!defs) return undefined;
    // [tck-id-operational-behavior-data-commands-dcmd-metric-name] resolved against our own birth, by alias or name.
    const name = m.alias !== undefined && this.o.aliases ? this.o.aliases.nameOf(device, m.alias) : m.name;
    return name === undefined ? undefined : defs.get(name);
  }

  /** A refused or failed write is answered with the tags' real values, so that no host keeps a wrong one. */
  private answerRefused(device: string, tags: readonly string[]): void {
    const known = this.deviceMetrics.get(device);
    const current = tags.map((t) => known?.get(t)).filter((m): m is Metric => m !== undefined);
    if (current.length > 0) this.emit({ kind: 'DDATA', device, payload: { timestamp: Date.now(), metrics: current } });
  }
}
