// One message from an MQTT device, applied to the tags it carries: each tag takes its value, or reads bad with the
// reason in words; the operator hears of a tag turning bad, or reading again, once per spell, not per message.
import type { Logger } from 'pino';
import type { MqttJsonDeviceConfig } from './config.js';
import type { RawReading, Sample, TagValue } from '../types.js';
import { toTagValue, toTimestamp } from './convert.js';
import { parsePath, readPath, type JsonPath } from './path.js';

type MqttJsonTag = MqttJsonDeviceConfig['tags'][number];

/** Counted per message (`messages`, `invalid_json`) or per tag and message (the others); see README.md. */
export type MqttJsonEvent = 'messages' | 'invalid_json' | 'missing_field' | 'wrong_type' | 'bad_timestamp';

export interface TagState {
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

/** What one message changed, for the log. */
export interface MessageOutcome {
  turnedBad: TagState[];
  recovered: TagState[];
  /** One line per tag whose timestamp_path could not be read, the first time in a row. */
  badTimestamps: string[];
}

/** A message as it arrived: its JSON document, or why it is not JSON. */
interface Message {
  topic: string;
  text: string;
  at: number;
  doc: unknown;
  notJson: string | undefined;
}

const SNIPPET = 60;

function parsed(path: string): JsonPath {
  const p = parsePath(path);
  if (typeof p === 'string') throw new Error(p); // the schema refuses bad paths first
  return p;
}

/** Every tag of the device, bad until its first message comes. */
export function tagStates(device: MqttJsonDeviceConfig): TagState[] {
  return device.tags.map((tag) => ({
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
}

export function sampleOf(s: TagState): Sample {
  return { tag: s.tag.name, value: s.value, timestamp: s.timestamp, quality: s.problem === undefined ? 'good' : 'bad', ...(s.raw ? { raw: s.raw } : {}), ...(s.problem ? { problem: s.problem } : {}) };
}

/** Applies the message on `topic`, which arrived `at`, to the tags it carries (`targets`), counting what went wrong. */
export function applyMessage(targets: readonly TagState[], topic: string, payload: Buffer, at: number, counts: Record<MqttJsonEvent, number>): MessageOutcome {
  const text = payload.toString('utf8');
  let doc: unknown;
  let notJson: string | undefined;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    notJson = (err as Error).message;
    counts.invalid_json += 1;
  }
  const outcome: MessageOutcome = { turnedBad: [], recovered: [], badTimestamps: [] };
  const message: Message = { topic, text, at, doc, notJson };
  for (const s of targets) applyToTag(s, message, counts, outcome);
  return outcome;
}

function applyToTag(s: TagState, m: Message, counts: Record<MqttJsonEvent, number>, outcome: MessageOutcome): void {
  const { topic, at } = m;
  const wasBad = s.problem !== undefined && s.raw !== undefined;
  const bad = (problem: string, raw: RawReading) => {
    s.value = null;
    s.timestamp = at;
    s.raw = raw;
    s.problem = problem;
    if (!wasBad) s.logged = false;
    if (!s.logged) outcome.turnedBad.push(s);
  };
  if (m.notJson !== undefined) {
    bad(`the message on "${topic}" is not JSON (${m.notJson})`, { topic, text: m.text.length > SNIPPET ? `${m.text.slice(0, SNIPPET)}…` : m.text });
    return;
  }
  const found = readPath(m.doc, s.path);
  if (!found.found) {
    counts.missing_field += 1;
    bad(`"${s.tag.path}" is not in the message on "${topic}": ${found.why}`, { topic });
    return;
  }
  const converted = toTagValue(found.value, s.tag);
  if ('problem' in converted) {
    counts.wrong_type += 1;
    bad(`"${s.tag.path}" in the message on "${topic}" ${converted.problem}`, { topic, json: found.value });
    return;
  }
  const timestamp = s.timestampPath ? tagTimestamp(s, s.timestampPath, m, counts, outcome) : at;
  s.value = converted.value;
  s.timestamp = timestamp;
  s.raw = { topic, json: found.value };
  s.problem = undefined;
  if (wasBad) outcome.recovered.push(s);
}

/** The device's own time for the tag's value, or the arrival time when the message does not give a usable one. */
function tagTimestamp(s: TagState, path: JsonPath, m: Message, counts: Record<MqttJsonEvent, number>, outcome: MessageOutcome): number {
  const t = readPath(m.doc, path);
  const ts = t.found ? toTimestamp(t.value) : { problem: `is not in the message (${t.why})` };
  if ('ms' in ts) {
    s.timestampLogged = false;
    return ts.ms;
  }
  counts.bad_timestamp += 1;
  if (!s.timestampLogged) outcome.badTimestamps.push(`tag "${s.tag.name}": timestamp_path "${s.tag.timestamp_path}" ${ts.problem}`);
  s.timestampLogged = true;
  return m.at;
}

/** Logs what the message on `topic` changed for device `name`: one line per kind of change, not one per tag. */
export function logOutcome(log: Logger, name: string, topic: string, { turnedBad, recovered, badTimestamps }: MessageOutcome): void {
  if (turnedBad.length > 0) {
    // One line per message, tags with the same problem (a message that is not JSON) together.
    const byProblem = new Map<string, string[]>();
    for (const s of turnedBad) byProblem.set(s.problem!, [...(byProblem.get(s.problem!) ?? []), `"${s.tag.name}"`]);
    const what = [...byProblem].map(([problem, names]) => `${names.length === 1 ? 'tag' : 'tags'} ${names.join(', ')}: ${problem}`).join('; ');
    log.warn({ topic, tags: turnedBad.map((s) => s.tag.name) }, `${name}: ${what}. Quality bad; logged once, until the tag reads again.`);
    for (const s of turnedBad) s.logged = true;
  }
  if (recovered.length > 0) log.info({ topic, tags: recovered.map((s) => s.tag.name) }, `${name}: ${recovered.map((s) => `tag "${s.tag.name}"`).join(', ')} read${recovered.length === 1 ? 's' : ''} again.`);
  if (badTimestamps.length > 0) log.warn({ topic }, `${name}: ${badTimestamps.join('; ')}; using the arrival time instead (logged once per tag).`);
}
