// mqtt-json: devices that publish JSON on the site broker. The driver subscribes and keeps every tag's latest
// value; the edge still polls it on its own schedule, so report by exception, the journal and Sparkplug work as
// for a PLC. A device that sends nothing for `stale_after` is down.
import { randomBytes } from 'node:crypto';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import type { MqttJsonDeviceConfig } from './config.js';
import type { Driver, DriverContext, Sample } from '../types.js';
import { applyMessage, logOutcome, sampleOf, tagStates, type MqttJsonEvent, type TagState } from './message.js';
import { topicMatches } from './topic.js';

export type MqttJsonDevice = MqttJsonDeviceConfig;
export type { MqttJsonEvent } from './message.js';

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${Math.round(ms / 100) / 10} s` : `${Math.round(ms / 60_000)} min`;
}

export function createMqttJsonDriver(device: MqttJsonDevice, ctx: DriverContext): Driver {
  return new MqttJsonDriver(device, ctx);
}

/** One device's subscription on its broker, the latest value of each of its tags, and its last sign of life. */
class MqttJsonDriver implements Driver {
  readonly listens = true;
  private readonly url: string;
  private readonly where: string;
  private readonly subscriptions: string[];
  private readonly states: TagState[];
  private readonly counts: Record<MqttJsonEvent, number> = { messages: 0, invalid_json: 0, missing_field: 0, wrong_type: 0, bad_timestamp: 0 };
  private client: MqttClient | undefined;
  /** When the first subscription was granted: the start of the wait for a first message. */
  private subscribedAt: number | undefined;
  /** When the last live (not retained) message arrived: the device's last sign of life. */
  private lastHeard: number | undefined;
  private linkError: string | undefined;
  private linkLostLogged = false;
  private firstPoll = true;
  /** Why the device's password cannot be read, while it cannot: it explains the broker's refusals. */
  private passwordError: string | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly device: MqttJsonDevice,
    private readonly ctx: DriverContext,
  ) {
    const url = device.broker ?? ctx.siteBrokerUrl;
    if (!url) throw new Error(`configuration invalid for device "${device.name}": no broker to listen on (set broker: HOST:PORT on the device)`);
    this.url = url;
    this.where = `device "${device.name}" (${device.topic.join(', ')} on ${url})`;
    this.subscriptions = [...new Set([...device.topic, ...device.tags.flatMap((t) => (t.topic ? [t.topic] : []))])];
    this.states = tagStates(device);
  }

  async connect(): Promise<void> {
    this.client ??= this.start();
    if (this.subscribedAt !== undefined) return; // from now on, silence is judged by stale_after, not here
    const end = Date.now() + this.device.timeout;
    while (this.subscribedAt === undefined && this.client && Date.now() < end) await this.nextEvent(end - Date.now());
    if (this.subscribedAt === undefined) {
      throw new Error(`${this.where}: cannot subscribe: ${this.linkError ?? `no answer from the broker within ${this.device.timeout} ms`}`);
    }
  }

  async poll(signal: AbortSignal): Promise<Sample[]> {
    const { device, where } = this;
    if (!this.client || this.subscribedAt === undefined) throw new Error(`${where}: not subscribed (connect() first)`);
    // Right after subscribing, give a device that publishes often the chance to be born with its values
    // (half a poll interval from the subscription, so that the first poll still fits in its interval).
    const wait = this.subscribedAt + device.poll / 2 - Date.now();
    if (this.firstPoll && this.counts.messages === 0 && wait > 0) await this.nextEvent(wait, signal);
    this.firstPoll = false;
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(`${where}: poll aborted`);
    const now = Date.now();
    if (now - (this.lastHeard ?? this.subscribedAt) > device.stale_after) throw new Error(this.silence(now));
    return this.states.map(sampleOf);
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.subscribedAt = undefined;
    this.firstPoll = true;
    this.wake();
    if (c) await c.endAsync(true).catch(() => undefined);
  }

  counters(): Readonly<Record<string, number>> {
    return { ...this.counts };
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** Resolves on the next message, subscription or close, or after `ms`. */
  private nextEvent(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    // The edge node's own traffic, when a filter is that wide (plant/# does not reach it; # would).
    if (topic.startsWith('spBv1.0/')) return;
    const targets = this.states.filter((s) => s.filters.some((f) => topicMatches(f, topic)));
    if (targets.length === 0) return;
    this.counts.messages += 1;
    const at = Date.now();
    // A retained message is delivered on subscribing, however old it is: it gives values, not a sign of life.
    if (!packet.retain) this.lastHeard = at;
    logOutcome(this.ctx.log, this.device.name, topic, applyMessage(targets, topic, payload, at, this.counts));
    this.wake();
  }

  /** The device's login, its password read afresh for every connection so that a changed one is picked up. */
  private password(): string | undefined {
    const { device, ctx, url } = this;
    if (device.password_file === undefined && device.password_env === undefined) return undefined;
    try {
      if (!ctx.readSecret) throw new Error('passwords cannot be read here');
      const value = ctx.readSecret(device, `device "${device.name}"`);
      if (this.passwordError !== undefined) ctx.log.info({ broker: url }, `${device.name}: its password can be read again.`);
      this.passwordError = undefined;
      return value;
    } catch (err) {
      const problem = `its password cannot be read: ${(err as Error).message}`;
      if (problem !== this.passwordError) ctx.log.error({ broker: url }, `${this.where}: ${problem}; retrying every second (logged once).`);
      this.passwordError = this.linkError = problem;
      return undefined;
    }
  }

  private start(): MqttClient {
    const { device, ctx, url, where } = this;
    const c = mqtt.connect(url, {
      ...(device.username === undefined ? {} : { username: device.username, password: this.password() }),
      clientId: `edge-gateway-${device.name}-${randomBytes(4).toString('hex')}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: device.timeout,
      keepalive: 30,
      resubscribe: false, // subscribed on every 'connect' below
    });
    c.on('connect', () => {
      if (this.linkLostLogged) ctx.log.info({ broker: url }, `${device.name}: connected to the MQTT broker again.`);
      this.linkLostLogged = false;
      this.linkError = undefined;
      c.subscribe(this.subscriptions, { qos: 1 }, (err, granted) => {
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (err || refused.length > 0) {
          this.linkError = err ? `subscribing failed: ${err.message}` : `the broker refused the subscription to ${refused.join(', ')}`;
          ctx.log.error({ broker: url }, `${where}: ${this.linkError}.`);
        } else {
          this.subscribedAt ??= Date.now();
        }
        this.wake();
      });
    });
    c.on('reconnect', () => {
      if (device.username !== undefined) c.options.password = this.password();
    });
    c.on('error', (err) => {
      this.linkError = this.linkErrorOf(err);
      this.wake();
    });
    c.on('close', () => {
      if (this.subscribedAt !== undefined && !this.linkLostLogged && this.client === c) {
        this.linkLostLogged = true;
        ctx.log.warn({ broker: url, err: this.linkError }, `${device.name}: lost the MQTT broker${this.linkError ? ` (${this.linkError})` : ''}; reconnecting every second. The device counts as down once nothing came for stale_after (${duration(device.stale_after)}).`);
      }
      this.wake();
    });
    c.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet));
    return c;
  }

  /** The connection's failure in the operator's words: no broker, a refused login, or the client's own message. */
  private linkErrorOf(err: Error): string {
    const { device, url } = this;
    const code = (err as { code?: unknown }).code;
    return code === 'ECONNREFUSED' ? `connection refused (no MQTT broker listens at ${url})`
      : (code === 4 || code === 5) && this.passwordError !== undefined ? this.passwordError
      : code === 4 || code === 5 ? `the broker refused the login${device.username === undefined ? ' of an anonymous client: set username and password_file on the device' : ` of user "${device.username}"`} (${err.message})`
      : err.message;
  }

  private silence(now: number): string {
    const { device, where, lastHeard, linkError } = this;
    const link = this.client?.connected ? '' : `; the connection to the broker is down${linkError ? ` (${linkError})` : ''}`;
    if (lastHeard === undefined) return `${where}: no message for ${duration(now - this.subscribedAt!)} since subscribing (stale_after ${duration(device.stale_after)})${link}`;
    return `${where}: no message for ${duration(now - lastHeard)} (stale_after ${duration(device.stale_after)}); the last came at ${new Date(lastHeard).toISOString()}${link}`;
  }
}
