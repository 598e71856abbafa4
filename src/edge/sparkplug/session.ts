// The edge node's MQTT session to the site broker: one server at a time from the list, CONNECT with the NDEATH
// will and the session's bdSeq, the subscriptions, reconnecting with backoff, and going on to the next server
// when one cannot be reached or the primary host is offline on it.
import { MqttClient } from 'mqtt';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { BdSeqStore } from './bdseq.js';
import { encodePayload, type Payload } from './codec.js';
import type { PrimaryHost } from './host-state.js';
import type { EdgeMessage } from './messages.js';
import { openTcp } from './tcp.js';
import { deviceTopic, edgeNodeClientId, nodeTopic } from './topics.js';

export type SessionState = 'connecting' | 'waiting_for_host' | 'online' | 'offline' | 'stopped';

/** What the session needs of the edge node's options. */
export interface SessionOptions {
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
  log: Logger;
  /**
   * Called for every message, also while the session is down. `publish` must be called once the message is
   * handed to the journal, after `capture` returned, in the order the messages were captured.
   */
  capture(message: EdgeMessage, publish: () => void): void;
}

/** What the session tells the rest of the node. */
export interface SessionHooks {
  /** A message on the session's subscriptions (commands, the primary host's STATE). */
  message(topic: string, bytes: Buffer, retained: boolean): void;
  /** The node is born on this session: the births go out. */
  born(): void;
  /** The node stops being born (the session ends or is lost, or the node stops), while the state still says which. */
  unborn(): void;
}

type Outcome = 'connected' | 'unreachable' | 'no_password';

export class Session {
  state: SessionState = 'stopped';
  bdSeq: number | null = null;
  client: MqttClient | undefined;
  readonly counters = { serverSwitches: 0, connectFailures: 0 };
  private active = false;
  private readonly bdSeqStore: BdSeqStore;
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

  constructor(private readonly o: SessionOptions, readonly host: PrimaryHost | undefined, private readonly hooks: SessionHooks) {
    this.bdSeqStore = new BdSeqStore(o.bdSeqFile);
  }

  /** Between start() and stop(). */
  get running(): boolean {
    return this.active;
  }

  /** True while the node is born on the session. */
  get online(): boolean {
    return this.state === 'online';
  }

  /** The MQTT server of the current (or the next) session. */
  get server(): string {
    return this.o.servers[this.serverIndex]!;
  }

  start(): void {
    this.active = true;
    this.loop = this.sessionLoop();
  }

  /** [tck-id-operational-behavior-edge-node-intentional-disconnect-ndeath] NDEATH, then DISCONNECT. */
  async stop(): Promise<void> {
    this.active = false;
    const client = this.client;
    const connected = this.state === 'online' || this.state === 'waiting_for_host';
    this.hooks.unborn();
    const death = deathPayload(this.bdSeq ?? 0);
    this.o.capture({ kind: 'NDEATH', payload: death }, () => undefined);
    if (client && connected) {
      // [tck-id-payloads-ndeath-will-message-publisher-disconnect-mqtt311] NDEATH is published before DISCONNECT.
      await new Promise<void>((resolve) => client.publish(this.ndeathTopic, Buffer.from(encodePayload(death)), { qos: 1, retain: false }, () => resolve()));
    }
    this.abortConnect?.();
    this.closeSession?.();
    this.wakeLoop?.();
    if (client) await client.endAsync().catch(() => undefined);
    await this.loop;
  }

  /**
   * [tck-id-message-flow-edge-node-birth-publish-phid-wait] [tck-id-operational-behavior-edge-node-birth-sequence-wait]
   * births only once connected and, with a primary host, once it is online.
   */
  goOnline(why: string): void {
    this.state = 'online';
    this.hooks.born();
    this.o.log.info({ broker: this.server, bdSeq: this.bdSeq, why }, 'Sparkplug session online.');
  }

  /** A STATE message of the primary host: births once it is online, the session ended or left when it is offline. */
  onHostState(bytes: Buffer): void {
    const host = this.host;
    if (!host || !host.read(bytes)) return;
    // [tck-id-message-flow-edge-node-birth-publish-phid-wait-online] births once it says online.
    if (host.online && this.state === 'waiting_for_host') this.goOnline('primary host online');
    // [tck-id-message-flow-edge-node-birth-publish-phid-offline] [tck-id-operational-behavior-edge-node-termination-host-offline]
    // NDEATH, disconnect, and a new session that waits for the host; data meanwhile is held.
    if (!host.online && this.state === 'online') this.endSession('the primary host application went offline on it', true);
    // Not born here yet, and the host is offline on this server: with other servers to try, go on to the next one.
    else if (!host.online && this.state === 'waiting_for_host' && this.o.servers.length > 1) {
      this.walkOn = { why: 'the primary host application is offline on it', failed: true };
      this.client?.end();
    }
  }

  /** Node Control/Next Server from a host application: honoured while the node is born. */
  nextServerRequested(): void {
    if (this.state !== 'online') return;
    this.o.log.info('A host application asked the edge node to go on to the next MQTT server.');
    this.endSession('a host application sent Node Control/Next Server', false);
  }

  private get ndeathTopic(): string {
    return nodeTopic(this.o.group, 'NDEATH', this.o.node);
  }

  /** NDEATH, disconnect; the session loop goes on to the next server. */
  private endSession(why: string, failed: boolean): void {
    const client = this.client!;
    const death = deathPayload(this.bdSeq ?? 0);
    this.hooks.unborn();
    this.state = 'offline';
    this.walkOn = { why, failed };
    this.o.capture({ kind: 'NDEATH', payload: death }, () => undefined);
    client.publish(this.ndeathTopic, Buffer.from(encodePayload(death)), { qos: 1, retain: false }, () => client.end());
  }

  /**
   * Sessions one after the other. A server that cannot be reached, or on which the primary host went offline, gives
   * way to the next one in the list; the loop waits (with growing backoff) only after a whole round failed.
   */
  private async sessionLoop(): Promise<void> {
    let backoff = 500;
    let failedInRow = 0;
    while (this.active) {
      const outcome = await this.runSession();
      if (!this.active) break;
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
    this.host?.newServer();
    this.o.log.warn({ from, to: this.server, why }, `Leaving MQTT server ${from} (${why}); trying ${this.server}.`);
  }

  /** One MQTT session from CONNECT to close. */
  private async runSession(): Promise<Outcome> {
    this.state = 'connecting';
    let password: string | undefined;
    try {
      password = typeof this.o.password === 'function' ? this.o.password() : this.o.password;
    } catch (err) {
      this.o.log.error({ broker: this.server, err: (err as Error).message }, 'The edge node\'s MQTT password cannot be read; retrying.');
      this.state = 'offline';
      return 'no_password';
    }
    this.host?.newSession();
    const connection = await this.connect(password);
    if (!connection) {
      this.state = 'offline';
      return 'unreachable';
    }
    const { client, closed } = connection;
    await this.subscribe(client);
    await closed;
    if ((this.state as SessionState) === 'online' && this.active) this.o.log.warn({ broker: this.server }, 'Sparkplug session lost; reconnecting. Data is held and sent as historical after the next birth.');
    this.hooks.unborn();
    this.state = 'offline';
    client.removeAllListeners('message');
    return 'connected';
  }

  /** TCP, the session's bdSeq, CONNECT; undefined when any of them failed (or the node stopped meanwhile). */
  private async connect(password: string | undefined): Promise<{ client: MqttClient; closed: Promise<void> } | undefined> {
    const connecting = new AbortController();
    this.abortConnect = () => connecting.abort();
    const socket = await openTcp(this.server, 5000, connecting.signal);
    this.abortConnect = undefined;
    if (socket instanceof Error || !this.active) {
      if (!(socket instanceof Error)) socket.destroy();
      else if (this.active) this.counters.connectFailures += 1;
      return undefined;
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
      return undefined;
    }
    const client = this.mqttClient(socket, password, bdSeq);
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
    if (!connected || !this.active) {
      if (this.active) this.counters.connectFailures += 1;
      client.end(true);
      return undefined;
    }
    this.bdSeq = bdSeq;
    return { client, closed };
  }

  /**
   * [tck-id-message-flow-edge-node-birth-publish-connect] the MQTT session comes before any birth;
   * [tck-id-operational-behavior-primary-application-state-with-multiple-servers-single-server] one server at a time.
   */
  private mqttClient(socket: Socket, password: string | undefined, bdSeq: number): MqttClient {
    return new MqttClient(() => socket, {
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
        topic: this.ndeathTopic,
        // [tck-id-message-flow-edge-node-birth-publish-will-message-payload]
        payload: Buffer.from(encodePayload(deathPayload(bdSeq))),
        qos: 1, // [tck-id-message-flow-edge-node-birth-publish-will-message-qos] [tck-id-payloads-ndeath-will-message-qos]
        retain: false, // [tck-id-message-flow-edge-node-birth-publish-will-message-will-retained] [tck-id-payloads-ndeath-will-message-retain]
      },
    });
  }

  /** The subscriptions, then the births, or the wait for the primary host. */
  private async subscribe(client: MqttClient): Promise<void> {
    try {
      client.on('message', (topic, payload, packet) => this.hooks.message(topic, payload, packet.retain));
      const topics = [
        // [tck-id-message-flow-edge-node-ncmd-subscribe] NCMD at QoS 1 before NBIRTH;
        nodeTopic(this.o.group, 'NCMD', this.o.node),
        // [tck-id-message-flow-device-dcmd-subscribe] DCMD at QoS 1 before any DBIRTH.
        deviceTopic(this.o.group, 'DCMD', this.o.node, '+'),
      ];
      // [tck-id-operational-behavior-primary-application-state-with-multiple-servers-state-subs] the host's STATE.
      if (this.host) topics.push(this.host.topic);
      await client.subscribeAsync(topics, { qos: 1 });
      if (!this.host || this.host.online) this.goOnline('session up');
      else {
        this.state = 'waiting_for_host';
        this.o.log.info({ primaryHost: this.host.id, bdSeq: this.bdSeq }, 'Connected; waiting for the primary host application to be online before the births.');
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, 'Sparkplug session failed before birth.');
      this.walkOn = { why: `the session failed before birth (${(err as Error).message})`, failed: true };
      client.end(true);
    }
  }
}

function deathPayload(bdSeq: number): Payload {
  // [tck-id-topics-ndeath-payload] only bdSeq, named; [tck-id-topics-ndeath-seq] no seq.
  return { timestamp: Date.now(), metrics: [{ name: 'bdSeq', datatype: 'Int64', value: bdSeq }] };
}
