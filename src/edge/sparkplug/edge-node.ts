// The Sparkplug B edge node: one MQTT session to the site broker, births, data, deaths and commands.
// Every message it makes is handed to `capture` first (the journal), then published when the session is up.
// Data captured while the session is down (or the primary host is offline) is held and published after the next
// birth sequence, marked historical. This file routes between the parts: session.ts, births.ts, commands.ts.
import type { Logger } from 'pino';
import type { AliasTable } from './aliases.js';
import { Births } from './births.js';
import type { Metric, MetricValue } from './codec.js';
import { Commands, nodeControls } from './commands.js';
import { PrimaryHost } from './host-state.js';
import type { DeviceMetricDef, EdgeMessage } from './messages.js';
import { Session, type SessionOptions, type SessionState } from './session.js';
import { parseTopic } from './topics.js';

export type { DeviceMetricDef, EdgeMessage, MessageKind } from './messages.js';
export type { SessionState } from './session.js';

/** The edge node's options: the session's (its servers, login, bdSeq file, capture) and the node's own. */
export interface EdgeNodeOptions extends SessionOptions {
  devices: ReadonlyMap<string, readonly DeviceMetricDef[]>;
  /** Present when `sparkplug.aliases` is on: data messages then carry aliases instead of names. */
  aliases?: AliasTable;
  /** `sparkplug.primary_host`: births wait until this host application's STATE says it is online. */
  primaryHost?: string;
  /** Most metrics held for historical publishing while the session is down; the oldest go first beyond it. */
  holdMax?: number;
  /** Where held data is kept across restarts (data_dir/held.db); memory only without it. */
  heldFile?: string;
  /** A DCMD for a writable tag; resolves once the PLC took it. */
  write?(device: string, tag: string, value: MetricValue): Promise<void>;
}

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

export class EdgeNode {
  private readonly session: Session;
  private readonly births: Births;
  private readonly commands: Commands;

  constructor(private readonly o: EdgeNodeOptions) {
    const host = o.primaryHost === undefined ? undefined : new PrimaryHost(o.primaryHost, o.log);
    this.session = new Session(o, host, {
      message: (topic, bytes, retained) => this.route(topic, bytes, retained),
      born: () => this.births.born(),
      unborn: () => this.births.unborn(),
    });
    this.births = new Births(o, this.session);
    this.commands = new Commands({
      log: o.log,
      defOf: (device, m) => this.births.defOf(device, m),
      write: o.write,
      answer: (device, tags) => this.births.answer(device, tags),
      nodeControl: nodeControls({
        rebirth: () => this.births.rebirth(),
        ...(o.servers.length > 1 ? { nextServer: () => this.session.nextServerRequested() } : {}),
      }),
    });
  }

  start(): void {
    this.session.start();
  }

  /** Resolves true once the session has been born, false after `timeoutMs`. */
  async waitOnline(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.session.state !== 'online' && this.session.running && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.session.state === 'online';
  }

  status(): EdgeNodeStatus {
    const { session, births } = this;
    const { published, rebirths, rebirthsIgnored, historicalPublished } = births.counters;
    const { retainedCommandsIgnored, ...commands } = this.commands.status();
    return {
      state: session.state, bdSeq: session.bdSeq, published, rebirths, rebirthsIgnored, retainedCommandsIgnored, historicalPublished, ...session.counters,
      ...commands, held: births.held.size, heldDropped: births.held.dropped, primaryHost: session.host?.status() ?? null, server: session.server, servers: this.o.servers,
    };
  }

  /** First good poll, or the first after an outage: DBIRTH with every metric's current value. */
  deviceOnline(device: string, metrics: Metric[]): void {
    this.births.deviceOnline(device, metrics);
  }

  /** Changed metrics of an online device. */
  deviceData(device: string, metrics: Metric[]): void {
    this.births.deviceData(device, metrics);
  }

  /** The PLC stopped answering: DDEATH. */
  deviceOffline(device: string): void {
    this.births.deviceOffline(device);
  }

  /**
   * A reload changed the devices: commands resolve against the new definitions. A device whose tags changed is
   * stopped (DDEATH) and started again by the caller, so its next DBIRTH declares the new metrics.
   */
  reconfigure(devices: ReadonlyMap<string, readonly DeviceMetricDef[]>, aliases: AliasTable | undefined): void {
    this.births.reconfigure(devices, aliases);
  }

  isOnline(device: string): boolean {
    return this.births.isOnline(device);
  }

  /** NDEATH, then DISCONNECT. */
  async stop(): Promise<void> {
    await this.session.stop();
    this.births.close();
    this.session.state = 'stopped';
  }

  /** An incoming message to the part it is for: the primary host's STATE to the session, commands to Commands. */
  private route(topic: string, bytes: Buffer, retained: boolean): void {
    if (this.session.host !== undefined && topic === this.session.host.topic) this.session.onHostState(bytes);
    else if (retained) this.commands.onRetained(topic);
    else {
      const parsed = parseTopic(topic);
      if (!parsed || parsed.group !== this.o.group || parsed.node !== this.o.node) return;
      if (parsed.verb === 'NCMD') this.commands.onNodeCommand(bytes);
      else if (parsed.verb === 'DCMD' && parsed.device !== undefined) void this.commands.onDeviceCommand(parsed.device, bytes);
    }
  }
}
