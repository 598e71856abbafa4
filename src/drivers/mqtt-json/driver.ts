// mqtt-json: devices that publish JSON on the site broker. The driver subscribes and keeps every tag's latest
// value; the edge still polls it on its own schedule, so report by exception, the journal and Sparkplug work as
// for a PLC. A device that sends nothing for `stale_after` is down.
import { randomBytes } from 'node:crypto';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import type { MqttJsonDeviceConfig } from './config.js';
import type { Driver, DriverContext, RawReading, Sample, TagValue } from '../types.js';
import { toTagValue, toTimestamp } from './convert.js';
import { parsePath, readPath, type JsonPath } from './path.js';
import { topicMatches } from './topic.js';

export type MqttJsonDevice = MqttJsonDeviceConfig;
type MqttJsonTag = MqttJsonDevice['tags'][number];

/** Counted per message (`messages`, `invalid_json`) or per tag and message (the others); see README.md. */
export type MqttJsonEvent = 'messages' | 'invalid_json' | 'missing_field' | 'wrong_type' | 'bad_timestamp';

interface TagState {
  tag: MqttJsonTag;
  path: JsonPath;
  timestampPath: JsonPath | undefined;
  /** The topic filters whose messages carry this tag. */
  filters: readonly string[];
  value: TagValue;
  timestamp: number;
  raw: RawReading | undefined;
  /** Why the tag reads bad; undefined while it reads well. */
  problem: string | undefined;
  /** The current bad spell was logged (once per spell, not per message). */
  logged: boolean;
  timestampLogged: boolean;
}

const SNIPPET = 60;

function parsed(path: string): JsonPath {
  const p = parsePath(path);
  if (typeof p === 'string') throw new Error(p); // the schema refuses bad paths first
  return p;
}

function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${Math.round(ms / 100) / 10} s` : `${Math.round(ms / 60_000)} min`;
}

export function createMqttJsonDriver(device: MqttJsonDevice, ctx: DriverContext): Driver {
  const url = device.broker ?? ctx.siteBrokerUrl;
  if (!url) throw new Error(`configuration invalid for device "${device.name}": no broker to listen on (set broker: HOST:PORT on the device)`);
  const where = `device "${device.name}" (${device.topic.join(', ')} on ${url})`;
  const subscriptions = [...new Set([...device.topic, ...device.tags.flatMap((t) => (t.topic ? [t.topic] : []))])];
  const states: TagState[] = device.tags.map((tag) => ({
    tag,
    path: parsed(tag.path),
    timestampPath: tag.timestamp_path === undefined ? undefined : parsed(tag.timestamp_path),
    filters: tag.topic ? [tag.topic] : device.topic,
    value: null,
    timestamp: Date.now(),
    raw: undefined,
    problem: `no message on ${tag.topic ?? device.topic.join(', ')} yet`,
    logged: true, // nothing to report until a message came
    timestampLogged: false,
  }));
  const counts: Record<MqttJsonEvent, number> = { messages: 0, invalid_json: 0, missing_field: 0, wrong_type: 0, bad_timestamp: 0 };

  let client: MqttClient | undefined;
  /** When the first subscription was granted: the start of the wait for a first message. */
  let subscribedAt: number | undefined;
  /** When the last live (not retained) message arrived: the device's last sign of life. */
  let lastHeard: number | undefined;
  let linkError: string | undefined;
  let linkLostLogged = false;
  let firstPoll = true;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  /** Resolves on the next message, subscription or close, or after `ms`. */
  const nextEvent = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });

  function onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    // The edge node's own traffic, when a filter is that wide (plant/# does not reach it; # would).
    if (topic.startsWith('spBv1.0/')) return;
    const targets = states.filter((s) => s.filters.some((f) => topicMatches(f, topic)));
    if (targets.length === 0) return;
    counts.messages += 1;
    const at = Date.now();
    // A retained message is delivered on subscribing, however old it is: it gives values, not a sign of life.
    if (!packet.retain) lastHeard = at;
    const text = payload.toString('utf8');
    let doc: unknown;
    let notJson: string | undefined;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      notJson = (err as Error).message;
      counts.invalid_json += 1;
    }
    const turnedBad: TagState[] = [];
    const recovered: TagState[] = [];
    const badTimestamps: string[] = [];
    for (const s of targets) {
      const wasBad = s.problem !== undefined && s.raw !== undefined;
      const bad = (problem: string, raw: RawReading) => {
        s.value = null;
        s.timestamp = at;
        s.raw = raw;
        s.problem = problem;
        if (!wasBad) s.logged = false;
        if (!s.logged) turnedBad.push(s);
      };
      if (notJson !== undefined) {
        bad(`the message on "${topic}" is not JSON (${notJson})`, { topic, text: text.length > SNIPPET ? `${text.slice(0, SNIPPET)}…` : text });
        continue;
      }
      const found = readPath(doc, s.path);
      if (!found.found) {
        counts.missing_field += 1;
        bad(`"${s.tag.path}" is not in the message on "${topic}": ${found.why}`, { topic });
        continue;
      }
      const converted = toTagValue(found.value, s.tag);
      if ('problem' in converted) {
        counts.wrong_type += 1;
        bad(`"${s.tag.path}" in the message on "${topic}" ${converted.problem}`, { topic, json: found.value });
        continue;
      }
      let timestamp = at;
      if (s.timestampPath) {
        const t = readPath(doc, s.timestampPath);
        const ts = t.found ? toTimestamp(t.value) : { problem: `is not in the message (${t.why})` };
        if ('ms' in ts) {
          timestamp = ts.ms;
          s.timestampLogged = false;
        } else {
          counts.bad_timestamp += 1;
          if (!s.timestampLogged) badTimestamps.push(`tag "${s.tag.name}": timestamp_path "${s.tag.timestamp_path}" ${ts.problem}`);
          s.timestampLogged = true;
        }
      }
      s.value = converted.value;
      s.timestamp = timestamp;
      s.raw = { topic, json: found.value };
      s.problem = undefined;
      if (wasBad) recovered.push(s);
    }
    if (turnedBad.length > 0) {
      // One line per message, tags with the same problem (a message that is not JSON) together.
      const byProblem = new Map<string, string[]>();
      for (const s of turnedBad) byProblem.set(s.problem!, [...(byProblem.get(s.problem!) ?? []), `"${s.tag.name}"`]);
      const what = [...byProblem].map(([problem, names]) => `${names.length === 1 ? 'tag' : 'tags'} ${names.join(', ')}: ${problem}`).join('; ');
      ctx.log.warn({ topic, tags: turnedBad.map((s) => s.tag.name) }, `${device.name}: ${what}. Quality bad; logged once, until the tag reads again.`);
      for (const s of turnedBad) s.logged = true;
    }
    if (recovered.length > 0) ctx.log.info({ topic, tags: recovered.map((s) => s.tag.name) }, `${device.name}: ${recovered.map((s) => `tag "${s.tag.name}"`).join(', ')} read${recovered.length === 1 ? 's' : ''} again.`);
    if (badTimestamps.length > 0) ctx.log.warn({ topic }, `${device.name}: ${badTimestamps.join('; ')}; using the arrival time instead (logged once per tag).`);
    wake();
  }

  /** Why the device's password cannot be read, while it cannot: it explains the broker's refusals. */
  let passwordError: string | undefined;
  /** The device's login, its password read afresh for every connection so that a changed one is picked up. */
  function password(): string | undefined {
    if (device.password_file === undefined && device.password_env === undefined) return undefined;
    try {
      if (!ctx.readSecret) throw new Error('passwords cannot be read here');
      const value = ctx.readSecret(device, `device "${device.name}"`);
      if (passwordError !== undefined) ctx.log.info({ broker: url }, `${device.name}: its password can be read again.`);
      passwordError = undefined;
      return value;
    } catch (err) {
      const problem = `its password cannot be read: ${(err as Error).message}`;
      if (problem !== passwordError) ctx.log.error({ broker: url }, `${where}: ${problem}; retrying every second (logged once).`);
      passwordError = linkError = problem;
      return undefined;
    }
  }

  function start(): MqttClient {
    const c = mqtt.connect(url!, {
      ...(device.username === undefined ? {} : { username: device.username, password: password() }),
      clientId: `edge-gateway-${device.name}-${randomBytes(4).toString('hex')}`,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: device.timeout,
      keepalive: 30,
      resubscribe: false, // subscribed on every 'connect' below
    });
    c.on('connect', () => {
      if (linkLostLogged) ctx.log.info({ broker: url }, `${device.name}: connected to the MQTT broker again.`);
      linkLostLogged = false;
      linkError = undefined;
      c.subscribe(subscriptions, { qos: 1 }, (err, granted) => {
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (err || refused.length > 0) {
          linkError = err ? `subscribing failed: ${err.message}` : `the broker refused the subscription to ${refused.join(', ')}`;
          ctx.log.error({ broker: url }, `${where}: ${linkError}.`);
        } else {
          subscribedAt ??= Date.now();
        }
        wake();
      });
    });
    c.on('reconnect', () => {
      if (device.username !== undefined) c.options.password = password();
    });
    c.on('error', (err) => {
      const code = (err as { code?: unknown }).code;
      linkError = code === 'ECONNREFUSED' ? `connection refused (no MQTT broker listens at ${url})`
        : (code === 4 || code === 5) && passwordError !== undefined ? passwordError
        : code === 4 || code === 5 ? `the broker refused the login${device.username === undefined ? ' of an anonymous client: set username and password_file on the device' : ` of user "${device.username}"`} (${err.message})`
        : err.message;
      wake();
    });
    c.on('close', () => {
      if (subscribedAt !== undefined && !linkLostLogged && client === c) {
        linkLostLogged = true;
        ctx.log.warn({ broker: url, err: linkError }, `${device.name}: lost the MQTT broker${linkError ? ` (${linkError})` : ''}; reconnecting every second. The device counts as down once nothing came for stale_after (${duration(device.stale_after)}).`);
      }
      wake();
    });
    c.on('message', onMessage);
    return c;
  }

  function sample(s: TagState): Sample {
    return { tag: s.tag.name, value: s.value, timestamp: s.timestamp, quality: s.problem === undefined ? 'good' : 'bad', ...(s.raw ? { raw: s.raw } : {}), ...(s.problem ? { problem: s.problem } : {}) };
  }

  function silence(now: number): string {
    const link = client?.connected ? '' : `; the connection to the broker is down${linkError ? ` (${linkError})` : ''}`;
    if (lastHeard === undefined) return `${where}: no message for ${duration(now - subscribedAt!)} since subscribing (stale_after ${duration(device.stale_after)})${link}`;
    return `${where}: no message for ${duration(now - lastHeard)} (stale_after ${duration(device.stale_after)}); the last came at ${new Date(lastHeard).toISOString()}${link}`;
  }

  return {
    listens: true,

    async connect() {
      client ??= start();
      if (subscribedAt !== undefined) return; // from now on, silence is judged by stale_after, not here
      const end = Date.now() + device.timeout;
      while (subscribedAt === undefined && client && Date.now() < end) await nextEvent(end - Date.now());
      if (subscribedAt === undefined) {
        throw new Error(`${where}: cannot subscribe: ${linkError ?? `no answer from the broker within ${device.timeout} ms`}`);
      }
    },

    async poll(signal) {
      if (!client || subscribedAt === undefined) throw new Error(`${where}: not subscribed (connect() first)`);
      // Right after subscribing, give a device that publishes often the chance to be born with its values
      // (half a poll interval from the subscription, so that the first poll still fits in its interval).
      const wait = subscribedAt + device.poll / 2 - Date.now();
      if (firstPoll && counts.messages === 0 && wait > 0) await nextEvent(wait, signal);
      firstPoll = false;
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(`${where}: poll aborted`);
      const now = Date.now();
      if (now - (lastHeard ?? subscribedAt) > device.stale_after) throw new Error(silence(now));
      return states.map(sample);
    },

    async close() {
      const c = client;
      client = undefined;
      subscribedAt = undefined;
      firstPoll = true;
      wake();
      if (c) await c.endAsync(true).catch(() => undefined);
    },

    counters: () => ({ ...counts }),
  };
}
