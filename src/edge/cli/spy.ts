// `edge-gateway spy`: the site's Sparkplug B traffic, decoded, one line per message: what a technician opens when
// an HMI shows something odd. It only listens: it subscribes (QoS 0) and never publishes, so it cannot disturb
// the site. Metrics sent by alias are named from the births seen (per edge node, bounded in memory); a payload
// that does not decode is one line saying why, and spy goes on.
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { decodePayload, type DecodedMetric, type MetricValue, type TypeResolver } from '../sparkplug/codec.js';
import type { SparkplugDataType } from '../sparkplug/datatypes.js';
import { QUALITY_CODE, QUALITY_PROPERTY } from '../sparkplug/quality.js';
import { NAMESPACE } from '../sparkplug/topics.js';
import { readSecret } from '../config/secrets.js';

export interface AliasLimits {
  /** Edge nodes whose births are remembered; the least recently heard is forgotten first. */
  nodes: number;
  /** Metric definitions (name, datatype, alias) remembered over all nodes. */
  metrics: number;
}

export const DEFAULT_LIMITS: Readonly<AliasLimits> = { nodes: 100, metrics: 100_000 };

interface Definition {
  name: string;
  datatype?: SparkplugDataType;
  alias?: number;
}

interface NodeTable {
  /** device ('' for the node itself) → metric name → definition, from the births. */
  devices: Map<string, Map<string, Definition>>;
  /** [tck-id-payloads-alias-uniqueness] aliases are unique per edge node, over the node and all its devices. */
  byAlias: Map<number, Definition>;
  size: number;
}

/**
 * What the births told about each edge node's metrics: names, datatypes and aliases. An NBIRTH starts the node's
 * table afresh, a DBIRTH replaces its device's part. Bounded: `limits.nodes` tables, `limits.metrics` definitions
 * in all; what a cap drops is said in a note.
 */
export class AliasState {
  private readonly nodes = new Map<string, NodeTable>();
  private total = 0;

  constructor(readonly limits: Readonly<AliasLimits> = DEFAULT_LIMITS) {}

  /** Counted afresh from the tables (for tests and notes): nodes, metric definitions, aliases. */
  stats(): { nodes: number; metrics: number; aliases: number } {
    let metrics = 0;
    let aliases = 0;
    for (const t of this.nodes.values()) {
      for (const d of t.devices.values()) metrics += d.size;
      aliases += t.byAlias.size;
    }
    return { nodes: this.nodes.size, metrics, aliases };
  }

  /** The definitions of a birth: `device` undefined for an NBIRTH. */
  birth(node: string, device: string | undefined, metrics: readonly DecodedMetric[], notes: string[]): void {
    const table = this.table(node, notes);
    if (device === undefined) {
      this.total -= table.size;
      table.devices.clear();
      table.byAlias.clear();
      table.size = 0;
    } else {
      const old = table.devices.get(device);
      for (const def of old?.values() ?? []) if (def.alias !== undefined && table.byAlias.get(def.alias) === def) table.byAlias.delete(def.alias);
      this.total -= old?.size ?? 0;
      table.size -= old?.size ?? 0;
      table.devices.delete(device);
    }
    const defs = new Map<string, Definition>();
    table.devices.set(device ?? '', defs);
    let notKept = 0;
    let evicted: string[] = [];
    for (const m of metrics) {
      if (m.name === undefined) continue; // a birth names every metric; one without a name defines nothing
      if (!defs.has(m.name) && this.total >= this.limits.metrics) {
        evicted = evicted.concat(this.evictFor(node));
        if (this.total >= this.limits.metrics) {
          notKept += 1;
          continue;
        }
      }
      const def: Definition = { name: m.name };
      if (m.datatype !== undefined) def.datatype = m.datatype;
      if (m.alias !== undefined) def.alias = m.alias;
      const replaced = defs.get(m.name); // a name twice in one birth: the last one counts
      if (replaced === undefined) {
        this.total += 1;
        table.size += 1;
      } else if (replaced.alias !== undefined && table.byAlias.get(replaced.alias) === replaced) {
        table.byAlias.delete(replaced.alias);
      }
      defs.set(m.name, def);
      if (def.alias !== undefined) table.byAlias.set(def.alias, def);
    }
    if (evicted.length > 0) notes.push(`spy keeps at most ${this.limits.metrics} metric definitions: forgot the births of ${evicted.join(', ')} (learned again at their next birth)`);
    if (notKept > 0) notes.push(`spy keeps at most ${this.limits.metrics} metric definitions: ${notKept} metrics of this birth of ${device === undefined ? node : `${node}/${device}`} not kept; sent by alias, they show as "no birth seen"`);
  }

  /** The birth's definition of a metric named, or sent by alias only. */
  lookup(node: string, device: string | undefined, metric: { name?: string; alias?: number }): Definition | undefined {
    const table = this.nodes.get(node);
    if (!table) return undefined;
    if (metric.name !== undefined) return table.devices.get(device ?? '')?.get(metric.name);
    return metric.alias === undefined ? undefined : table.byAlias.get(metric.alias);
  }

  /** Datatypes from the births, for data and commands that leave them out (as Sparkplug recommends). */
  resolver(node: string, device: string | undefined): TypeResolver {
    return (m) => this.lookup(node, device, m)?.datatype;
  }

  /** Marks the node as heard now, for the least-recently-heard order in which tables are forgotten. */
  heard(node: string): void {
    const table = this.nodes.get(node);
    if (!table) return;
    this.nodes.delete(node);
    this.nodes.set(node, table);
  }

  private table(node: string, notes: string[]): NodeTable {
    let table = this.nodes.get(node);
    if (table) {
      this.heard(node);
      return table;
    }
    while (this.nodes.size >= Math.max(1, this.limits.nodes)) {
      const [oldest] = this.nodes.keys();
      this.forget(oldest!);
      notes.push(`spy keeps the births of at most ${this.limits.nodes} edge nodes: forgot those of ${oldest} (learned again at its next birth)`);
    }
    table = { devices: new Map(), byAlias: new Map(), size: 0 };
    this.nodes.set(node, table);
    return table;
  }

  /** Forgets the least recently heard tables other than `keep` until one definition fits; returns their nodes. */
  private evictFor(keep: string): string[] {
    const gone: string[] = [];
    for (const node of [...this.nodes.keys()]) {
      if (this.total < this.limits.metrics) break;
      if (node === keep) continue;
      this.forget(node);
      gone.push(node);
    }
    return gone;
  }

  private forget(node: string): void {
    this.total -= this.nodes.get(node)?.size ?? 0;
    this.nodes.delete(node);
  }
}

/** One metric as spy shows it; `value` as decoded (64-bit integers beyond 2^53 as bigint). */
export interface SpyMetric {
  /** The name sent, or the one the birth gave its alias; absent when neither is known. */
  name?: string;
  alias?: number;
  /** False when spy has seen no birth defining the metric (a metric sent by alias is then shown by its number). */
  birthSeen?: boolean;
  datatype?: SparkplugDataType;
  /** The datatype code of a type spy does not decode (DataSet, Template, arrays…). */
  unreadableDatatype?: number;
  value: MetricValue;
  timestamp?: number;
  historical?: boolean;
  transient?: boolean;
  /** The Quality property when it is not GOOD (192): 'bad' (0), 'stale' (500), or another code. */
  quality?: 'bad' | 'stale' | number;
}

/** One message as spy saw it: the JSON object of `--json`, and what the text line is made from. */
export interface SpyRecord {
  /** When spy received it, ISO 8601 UTC. */
  time: string;
  topic: string;
  /** NBIRTH, DDATA, NCMD, STATE…; '?' for a topic outside the Sparkplug B namespace's structure. */
  type: string;
  group?: string;
  node?: string;
  device?: string;
  /** STATE: the host application's id. */
  host?: string;
  retained?: boolean;
  bytes: number;
  seq?: number;
  bdSeq?: number | bigint;
  /** The payload's own timestamp, UTC ms. */
  timestamp?: number;
  metrics?: SpyMetric[];
  state?: { online: boolean; timestamp?: number; legacy?: boolean };
  /** Why the payload (or the topic) could not be read. */
  undecodable?: string;
}

const NODE_VERBS = new Set(['NBIRTH', 'NDEATH', 'NDATA', 'NCMD']);
const DEVICE_VERBS = new Set(['DBIRTH', 'DDEATH', 'DDATA', 'DCMD']);

/** Sparkplug 3.0's datatype codes that the codec leaves unread, for a line that says what the metric is. */
const OTHER_DATATYPES: Record<number, string> = {
  0: 'Unknown', 15: 'UUID', 16: 'DataSet', 17: 'Bytes', 18: 'File', 19: 'Template', 20: 'PropertySet', 21: 'PropertySetList',
  22: 'Int8Array', 23: 'Int16Array', 24: 'Int32Array', 25: 'Int64Array', 26: 'UInt8Array', 27: 'UInt16Array', 28: 'UInt32Array',
  29: 'UInt64Array', 30: 'FloatArray', 31: 'DoubleArray', 32: 'BooleanArray', 33: 'StringArray', 34: 'DateTimeArray',
};

export interface SpyLineOptions {
  json?: boolean;
  /** When the message arrived, UTC ms; now by default. */
  receivedAt?: number;
  retained?: boolean;
}

/**
 * One message as one line of text (or of JSON), learning and using aliases in `aliases`. Pure but for `aliases`;
 * never throws: whatever cannot be read is said in the line. `notes`: what the memory caps dropped, for stderr.
 */
export function spyLine(topic: string, payload: Uint8Array, aliases: AliasState, options: SpyLineOptions = {}): { line: string; record: SpyRecord; notes: string[] } {
  const notes: string[] = [];
  const receivedAt = options.receivedAt ?? Date.now();
  let record: SpyRecord;
  try {
    record = describeMessage(topic, payload, aliases, receivedAt, notes);
  } catch (err) {
    record = { time: isoTime(receivedAt), topic, type: '?', bytes: payload.length, undecodable: reasonOf(err) };
  }
  if (options.retained) record.retained = true;
  let line: string;
  try {
    line = options.json ? JSON.stringify(record, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) : textLine(record);
  } catch (err) {
    // Not expected; a line is printed all the same.
    line = `${record.time} ${record.type} ${topic} undecodable (${payload.length} bytes): ${reasonOf(err)}`;
  }
  return { line: printable(line), record, notes };
}

function describeMessage(topic: string, payload: Uint8Array, aliases: AliasState, receivedAt: number, notes: string[]): SpyRecord {
  const base = { time: isoTime(receivedAt), topic, bytes: payload.length };
  const parts = topic.split('/');
  // Sparkplug 3.0: spBv1.0/STATE/<host_id>; Sparkplug 2.2 hosts published STATE/<host_id> with ONLINE/OFFLINE.
  if ((parts[0] === NAMESPACE && parts[1] === 'STATE' && parts.length === 3) || (parts[0] === 'STATE' && parts.length === 2)) {
    const host = parts[parts.length - 1]!;
    const state = readState(payload);
    return typeof state === 'string' ? { ...base, type: 'STATE', host, undecodable: state } : { ...base, type: 'STATE', host, state };
  }
  const [namespace, group, verb, node, device] = parts;
  const shaped = namespace === NAMESPACE && group && node && parts.length <= 5 && (device === undefined ? NODE_VERBS.has(verb!) : DEVICE_VERBS.has(verb!) && device !== '');
  if (!shaped) return { ...base, type: '?', undecodable: `not a Sparkplug B topic (${NAMESPACE}/GROUP/TYPE/NODE[/DEVICE] with a known TYPE)` };
  const record: SpyRecord = { ...base, type: verb!, group, node, ...(device === undefined ? {} : { device }) };
  const nodeKey = `${group}/${node}`;
  let decoded;
  try {
    decoded = decodePayload(payload, aliases.resolver(nodeKey, device));
  } catch (err) {
    return { ...record, undecodable: reasonOf(err) };
  }
  if (decoded.timestamp) record.timestamp = decoded.timestamp;
  if (decoded.seq !== undefined) record.seq = decoded.seq;
  if (verb === 'NBIRTH' || verb === 'DBIRTH') aliases.birth(nodeKey, device, decoded.metrics, notes);
  else aliases.heard(nodeKey);
  record.metrics = decoded.metrics.map((m) => spyMetric(m, aliases.lookup(nodeKey, device, m)));
  if (verb === 'NBIRTH' || verb === 'NDEATH') {
    const bdSeq = record.metrics.find((m) => m.name === 'bdSeq')?.value;
    if (typeof bdSeq === 'number' || typeof bdSeq === 'bigint') record.bdSeq = bdSeq;
  }
  return record;
}

function spyMetric(m: DecodedMetric, def: Definition | undefined): SpyMetric {
  const out: SpyMetric = { value: m.value };
  const name = m.name ?? def?.name;
  if (name !== undefined) out.name = name;
  if (m.alias !== undefined) out.alias = m.alias;
  if (def === undefined) out.birthSeen = false;
  if (m.datatype !== undefined) out.datatype = m.datatype;
  if (m.unreadableDatatype !== undefined) out.unreadableDatatype = m.unreadableDatatype;
  if (m.timestamp !== undefined) out.timestamp = m.timestamp;
  if (m.isHistorical) out.historical = true;
  if (m.isTransient) out.transient = true;
  const quality = m.properties?.[QUALITY_PROPERTY];
  if (quality !== undefined && quality !== QUALITY_CODE.good) out.quality = quality === QUALITY_CODE.stale ? 'stale' : quality === QUALITY_CODE.bad ? 'bad' : quality;
  return out;
}

/** A STATE payload: Sparkplug 3.0's JSON, or 2.2's ONLINE/OFFLINE text; a string says why it is neither. */
function readState(payload: Uint8Array): NonNullable<SpyRecord['state']> | string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return 'not UTF-8 text, so not the JSON {"online":…,"timestamp":…} of a STATE message';
  }
  if (text === 'ONLINE' || text === 'OFFLINE') return { online: text === 'ONLINE', legacy: true };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message}), so not the {"online":…,"timestamp":…} of a STATE message`;
  }
  const o = json as { online?: unknown; timestamp?: unknown };
  if (typeof json !== 'object' || json === null || typeof o.online !== 'boolean') return `JSON without a boolean "online", so not a STATE message: ${text.length > 120 ? `${text.slice(0, 120)}…` : text}`;
  return typeof o.timestamp === 'number' && Number.isFinite(o.timestamp) ? { online: o.online, timestamp: o.timestamp } : { online: o.online };
}

/** `2025-06-01T10:15:42.120Z DDATA test-plant/gw-test/plc-1 seq=2 | level=101, pump=true` */
function textLine(r: SpyRecord): string {
  const head = [r.time, r.type];
  if (r.type === 'STATE') head.push(r.host ?? '');
  else if (r.type === '?') head.push(r.topic);
  else head.push([r.group, r.node, r.device].filter((x) => x !== undefined).join('/'));
  if (r.retained) head.push('(retained)');
  if (r.undecodable !== undefined) return `${head.join(' ')} undecodable (${r.bytes} bytes): ${r.undecodable}`;
  if (r.state) {
    head.push(`online=${r.state.online}`);
    if (r.state.timestamp !== undefined) head.push(`timestamp=${isoTime(r.state.timestamp)}`);
    if (r.state.legacy) head.push('(Sparkplug 2.2 text)');
    return head.join(' ');
  }
  if (r.seq !== undefined) head.push(`seq=${r.seq}`);
  if (r.bdSeq !== undefined) head.push(`bdSeq=${r.bdSeq}`);
  const birth = r.type === 'NBIRTH' || r.type === 'DBIRTH';
  // bdSeq is in the head already.
  const metrics = (r.metrics ?? []).filter((m) => !(r.bdSeq !== undefined && m.name === 'bdSeq'));
  if (metrics.length === 0) return head.join(' ');
  return `${head.join(' ')} | ${metrics.map((m) => metricText(m, birth)).join(', ')}`;
}

function metricText(m: SpyMetric, birth: boolean): string {
  const name = m.name !== undefined ? nameText(m.name) : m.alias !== undefined ? `alias ${m.alias} (no birth seen)` : '(no name, no alias)';
  const extras: string[] = [];
  let value: string;
  if (m.unreadableDatatype !== undefined) {
    value = '?';
    extras.push(`${OTHER_DATATYPES[m.unreadableDatatype] ?? `datatype ${m.unreadableDatatype}`}, not decoded`);
  } else {
    value = valueText(m.value, m.datatype);
    // The datatype where it tells something: in births, and where no birth told it.
    if (m.datatype !== undefined && (birth || m.birthSeen === false)) extras.push(m.datatype);
  }
  if (birth && m.alias !== undefined) extras.push(`alias ${m.alias}`);
  if (m.historical) extras.push(`historical${m.timestamp !== undefined ? ` ${isoTime(m.timestamp)}` : ''}`);
  if (m.transient) extras.push('transient');
  if (m.value === null && m.unreadableDatatype === undefined) extras.push('is_null');
  if (m.quality !== undefined) extras.push(typeof m.quality === 'number' ? `quality ${m.quality}` : m.quality);
  return `${name}=${value}${extras.length > 0 ? ` (${extras.join(', ')})` : ''}`;
}

/** Names as sent; quoted only where they would be misread in the line. */
function nameText(name: string): string {
  return name === '' || /[=,|"\n\r]|^\s|\s$/.test(name) ? JSON.stringify(name) : name;
}

function valueText(v: MetricValue, datatype: SparkplugDataType | undefined): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v);
  if (typeof v === 'number' && datatype === 'Float' && Number.isFinite(v)) return String(Number(v.toPrecision(7)));
  if (typeof v === 'number' && datatype === 'DateTime' && Math.abs(v) <= 8.64e15) return `${v} (${new Date(v).toISOString()})`;
  return String(v);
}

/**
 * One line, safe for a terminal: line ends, escape sequences and other control characters that a topic, a name or
 * a payload carries are written as \n, \u001b… (inside JSON strings too, where they stay valid JSON).
 */
function printable(line: string): string {
  return line.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

function isoTime(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function reasonOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim() || 'unknown error';
}

export interface SpyOptions {
  url: string;
  topic: string;
  user?: string | undefined;
  passwordFile?: string | undefined;
  /** Exit 0 after this many messages. */
  count?: number | undefined;
  json?: boolean | undefined;
}

const PROTOCOLS = new Set(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:']);
const CONNECT_TIMEOUT_MS = 5000;
const RECONNECT_MS = 2000;

/**
 * Subscribes to `topic` on the broker at `url` and prints every message until `count` messages, SIGINT or
 * SIGTERM (exit 0). Exit 1 when the broker cannot be reached or refuses the login or the subscription; 2 for a
 * bad option. A connection lost once subscribed is retried every 2 s.
 */
export async function spy(o: SpyOptions): Promise<number> {
  const login = checkedLogin(o);
  if (typeof login === 'number') return login;
  const where = o.url;
  const aliases = new AliasState();
  const client = connectSpy(o, login.password);

  return new Promise<number>((resolve) => {
    let done = false;
    let subscribed = false;
    let seen = 0;
    let lastError: Error | undefined;
    let lostSaid = false;
    let retry: NodeJS.Timeout | undefined;

    const finish = (code: number) => {
      if (done) return;
      done = true;
      clearTimeout(retry);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.off('error', onStdoutError);
      client.end(true, () => resolve(code));
    };
    const stop = () => finish(0);
    // `spy | head`: the reader went away, so spy is done.
    const onStdoutError = (err: NodeJS.ErrnoException) => finish(err.code === 'EPIPE' ? 0 : 1);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.stdout.on('error', onStdoutError);

    client.on('connect', () => {
      client.subscribe(o.topic, { qos: 0 }, (err, granted) => {
        if (done) return;
        if (err) {
          process.stderr.write(`cannot subscribe to ${o.topic} on ${where}: ${reasonOf(err)}\n`);
          return finish(1);
        }
        if ((granted ?? []).some((g) => g.qos === 128)) {
          process.stderr.write(`the MQTT broker at ${where} refused the subscription to ${o.topic}${o.user === undefined ? ' for an anonymous client' : ` for user "${o.user}"`}\n`);
          return finish(1);
        }
        process.stderr.write(subscribed ? `spy: connected to ${where} again\n` : `spy: listening to ${o.topic} on ${where}${o.count === undefined ? ' (Ctrl-C to stop)' : ''}\n`);
        subscribed = true;
        lostSaid = false;
      });
    });
    client.on('error', (err) => {
      lastError = err;
    });
    client.on('close', () => {
      if (done) return;
      if (!subscribed) {
        // The refusal ('error') may come right after the socket closed.
        setImmediate(() => {
          if (done) return;
          process.stderr.write(`${connectFailure(where, lastError, o.user)}\n`);
          finish(1);
        });
        return;
      }
      if (!lostSaid) process.stderr.write(`spy: lost the connection to ${where}${lastError ? ` (${reasonOf(lastError)})` : ''}; reconnecting every ${RECONNECT_MS / 1000} s\n`);
      lostSaid = true;
      lastError = undefined;
      clearTimeout(retry);
      retry = setTimeout(() => {
        if (!done) client.reconnect();
      }, RECONNECT_MS);
    });
    client.on('message', (topic, payload, packet) => {
      if (done) return;
      const { line, notes } = spyLine(topic, payload, aliases, { json: o.json, retained: packet.retain });
      for (const note of notes) process.stderr.write(`spy: ${note}\n`);
      process.stdout.write(`${line}\n`);
      seen += 1;
      if (o.count !== undefined && seen >= o.count) finish(0);
    });
  });
}

/**
 * Spy's options checked before it connects: the password to log in with (read from --password-file or
 * EDGE_GATEWAY_PASSWORD), or exit code 2 once stderr said what is wrong.
 */
function checkedLogin(o: SpyOptions): { password: string | undefined } | number {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    process.stderr.write(`--url: "${o.url}" is not a URL such as mqtt://127.0.0.1:1883\n`);
    return 2;
  }
  if (!PROTOCOLS.has(url.protocol)) {
    process.stderr.write(`--url: "${o.url}" is not an MQTT URL (mqtt://, mqtts://, ws:// or wss://)\n`);
    return 2;
  }
  if (o.passwordFile !== undefined && o.user === undefined) {
    process.stderr.write('--password-file needs --user NAME\n');
    return 2;
  }
  let password: string | undefined;
  if (o.user !== undefined) {
    try {
      password = o.passwordFile !== undefined ? readSecret({ password_file: o.passwordFile }, '--password-file') : readSecret({ password_env: 'EDGE_GATEWAY_PASSWORD' }, '--user');
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
  }
  return { password };
}

/** A clean MQTT 3.1.1 session under a client id of its own, so that spy never takes the place of another client. */
function connectSpy(o: SpyOptions, password: string | undefined): mqtt.MqttClient {
  return mqtt.connect(o.url, {
    ...(o.user === undefined ? {} : { username: o.user, password }),
    clientId: `edge-gateway-spy-${randomBytes(4).toString('hex')}`,
    protocolVersion: 4,
    clean: true,
    // The first connection fails at once with a sentence; a lost one is retried by spy's 'close' handler.
    reconnectPeriod: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    keepalive: 30,
    resubscribe: false, // spy subscribes on every 'connect'
  });
}

/** One sentence, naming the URL, for a first connection that failed. */
function connectFailure(url: string, err: Error | undefined, user: string | undefined): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === 4 || code === 134) return `the MQTT broker at ${url} refused the login${user === undefined ? '' : ` of "${user}"`}: wrong user name or password`;
  if (code === 5 || code === 135) {
    return user === undefined
      ? `the MQTT broker at ${url} refuses anonymous clients: pass --user NAME, with the password in EDGE_GATEWAY_PASSWORD or --password-file FILE`
      : `the MQTT broker at ${url} refused the login of "${user}": not authorized (a wrong password, or a user it does not let in)`;
  }
  if (code === 'ECONNREFUSED') return `cannot connect to ${url}: connection refused (no MQTT broker listens there)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot connect to ${url}: the host name is not known`;
  if (err === undefined) return `cannot connect to ${url}: no answer within ${CONNECT_TIMEOUT_MS / 1000} s`;
  return `cannot connect to ${url}: ${reasonOf(err)}`;
}
