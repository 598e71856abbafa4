// Reads the YAML file and its drop-ins (conf.d/*.yaml, drop-ins.ts) and turns every problem into
// `FILE:LINE:COL path.to.key: message`, FILE being the file the key is written in.
import { Document, isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parse as parseYaml, parseDocument, Scalar, visit, type DocumentOptions, type Node, type ParseOptions, type SchemaOptions, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { configSchema, type GatewayConfig } from './schema.js';
import { dropInDevices, listDropIns } from './drop-ins.js';
import { dottedPath, type ValueProblem } from './value-error.js';
import { aliasProblems, aliasSource, MAX_EXPANDED_VALUES, MAX_FILE_BYTES, nestingProblem, readConfigText, type EarlyProblem } from './yaml-guard.js';

export interface ConfigProblem {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Control characters of a key or value written as escapes: a problem stays one printable line. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col} ${printable(p.path) || '(file)'}: ${printable(p.message)}`;
}

/**
 * The problems as `validate` prints them, and as `run` and `broker` print them before they give up. loadConfig
 * turns every bad file into a ConfigError; anything else is a fault of ours, still told as a problem with the file
 * rather than as a stack trace.
 */
export function configErrorText(file: string, err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  return `${file}:1:1 (file): the file cannot be checked: ${(err as Error)?.message ?? String(err)}`;
}

/** Whatever the file and its drop-ins hold, this returns the config or throws a ConfigError; nothing else escapes it. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfigWithDropIns(file, env).config;
}

/** Text to parse: the main config or one of its drop-ins. */
export interface ConfigText {
  file: string;
  text: string;
}

/**
 * The config from `file` and the drop-ins in `conf.d` beside it (drop-ins.ts), and the drop-ins read. Every file is
 * read and parsed before the schema runs, so that one answer names the problems of all of them.
 */
export function loadConfigWithDropIns(file: string, env: NodeJS.ProcessEnv = process.env): { config: GatewayConfig; dropIns: string[] } {
  const problems: ConfigProblem[] = [];
  const read = (path: string): ConfigText | undefined => {
    const r = readConfigText(path);
    if ('text' in r) return { file: path, text: r.text };
    problems.push({ file: path, line: r.problem.line ?? 1, col: r.problem.col ?? 1, path: '', message: r.problem.message });
    return undefined;
  };
  const main = read(file);
  const listed = listDropIns(file);
  if ('problem' in listed) problems.push({ file: listed.problem.file, line: 1, col: 1, path: '', message: listed.problem.message });
  const dropIns = 'files' in listed ? listed.files.map(read) : [];
  if (!main) {
    // The drop-ins' own problems still count: one answer for everything wrong.
    for (const d of dropIns) if (d) problems.push(...problemsOf(() => parseSource(d, env)));
    throw new ConfigError(problems);
  }
  const config = parseConfigs(main, dropIns.filter((d) => d !== undefined), env, problems);
  return { config, dropIns: dropIns.map((d) => d!.file) };
}

/** Merge keys (`<<: *defaults`) as YAML 1.1 had them: a block of settings written once, repeated per device or tag. */
const YAML_OPTIONS: ParseOptions & DocumentOptions & SchemaOptions = { prettyErrors: false, uniqueKeys: true, merge: true };

export function parseConfig(text: string, file = '<config>', env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return parseConfigs({ file, text }, [], env);
}

/**
 * The main file's text and its drop-ins' texts as one config: the drop-ins' devices appended in their order.
 * `earlier` holds problems found before (a drop-in that could not be read), thrown with the rest.
 */
export function parseConfigs(main: ConfigText, dropIns: readonly ConfigText[], env: NodeJS.ProcessEnv = process.env, earlier: readonly ConfigProblem[] = []): GatewayConfig {
  const problems = [...earlier];
  const sources: Source[] = [];
  for (const t of [main, ...dropIns]) {
    const found = problemsOf(() => sources.push(parseSource(t, env)));
    problems.push(...found);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  try {
    return validateMerged(sources[0]!, sources.slice(1));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([{ file: main.file, line: 1, col: 1, path: '', message: `the file cannot be read as a configuration: ${(err as Error).message}` }]);
  }
}

/** The problems `parse` throws as a ConfigError, none when it returns. */
function problemsOf(parse: () => unknown): ConfigProblem[] {
  try {
    parse();
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

/** One file parsed: its document (variables substituted), how offsets in it become lines and columns, its data. */
interface Source {
  file: string;
  doc: Document;
  at: (offset: number) => { line: number; col: number };
  data: unknown;
}

function parseSource({ text, file }: ConfigText, env: NodeJS.ProcessEnv): Source {
  try {
    return parseChecked(text, file, env);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    // Every bound is checked before the work it protects; an error that still gets here names the file, not a stack.
    throw new ConfigError([{ file, line: 1, col: 1, path: '', message: `the file cannot be read as a configuration: ${(err as Error).message}` }]);
  }
}

function parseChecked(text: string, file: string, env: NodeJS.ProcessEnv): Source {
  const lineCounter = new LineCounter();
  const at = (offset: number) => lineCounter.linePos(offset);
  const early = (problems: EarlyProblem[]) =>
    new ConfigError(problems.map((p) => {
      const pos = p.offset === undefined ? { line: p.line ?? 1, col: p.col ?? 1 } : at(p.offset);
      return { file, line: pos.line, col: pos.col, path: p.path, message: p.message };
    }));
  if (text.length > MAX_FILE_BYTES) throw early([{ line: 1, col: 1, path: '', message: `the file is larger than ${MAX_FILE_BYTES} bytes; a configuration is at most ${MAX_FILE_BYTES / 1024 / 1024} MiB` }]);
  const tooDeep = nestingProblem(text);
  if (tooDeep) {
    // The parser, which would count lines, must not run on this text.
    lineCounter.addNewLine(0);
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineCounter.addNewLine(i + 1);
    throw early([tooDeep]);
  }
  const doc = parseDocument(text, { ...YAML_OPTIONS, lineCounter });

  if (doc.errors.length > 0) throw new ConfigError(syntaxProblems(doc.errors, text, file, at));
  const badAliases = aliasProblems(doc, keyPath);
  if (badAliases.length > 0) throw early(badAliases);
  const unset = substituteVariables(doc, env);
  if (unset.length > 0) {
    throw new ConfigError(unset.map(({ node, name, path }) => {
      const pos = at(node.range?.[0] ?? 0);
      return { file, line: pos.line, col: pos.col, path, message: `environment variable "${name}" is not set (write \${${name}:-default} to give a default)` };
    }));
  }
  // Turned into data here, so that a failure inside the library (a merge key of a scalar) names this file.
  return { file, doc, at, data: doc.toJS({ maxAliasCount: MAX_EXPANDED_VALUES }) };
}

/** Where device N of the merged list is written: its file and its index in that file's `devices`. */
interface DeviceOrigin {
  source: Source;
  index: number;
}

/** The sources' data as one config, through the schema; each problem placed in the file its value comes from. */
function validateMerged(main: Source, dropIns: readonly Source[]): GatewayConfig {
  const data: unknown = main.data ?? {};
  const origins: DeviceOrigin[] = [];
  const problems: ConfigProblem[] = [];
  const mainDevices = isRecord(data) ? data.devices : undefined;
  if (Array.isArray(mainDevices)) mainDevices.forEach((_, index) => origins.push({ source: main, index }));
  // A main file whose `devices` is no list is refused at that key; drop-ins are not appended to it.
  const appendable = isRecord(data) && (mainDevices === undefined || Array.isArray(mainDevices));
  const devices: unknown[] = Array.isArray(mainDevices) ? [...(mainDevices as unknown[])] : [];
  for (const source of dropIns) {
    const own = dropInDevices(source.data, main.file);
    for (const p of own.problems) {
      const node = p.key === undefined ? deepestNode(source.doc, p.path).node : findKeyNode(source.doc, p.path, p.key);
      const pos = source.at(node?.range?.[0] ?? 0);
      problems.push({ file: source.file, line: pos.line, col: pos.col, path: dotted(p.key === undefined ? p.path : [...p.path, p.key]), message: p.message });
    }
    if (!appendable) continue;
    own.devices.forEach((device, index) => {
      devices.push(device);
      origins.push({ source, index });
    });
  }
  if (appendable && dropIns.length > 0) (data as Record<string, unknown>).devices = devices;

  const result = configSchema.safeParse(data);
  if (result.success && problems.length === 0) return result.data;
  const place = placer(main, origins, dropIns.length > 0);
  if (!result.success) problems.push(...result.error.issues.flatMap((issue) => issueToProblems(issue, place)));
  const order = new Map([main, ...dropIns].map((s, i) => [s.file, i]));
  problems.sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line || a.col - b.col);
  throw new ConfigError(problems);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A key of the merged config in the file that holds it: `devices[N]…` of a drop-in's device in that drop-in. */
type Placer = (path: (string | number)[]) => { source: Source; path: (string | number)[] };

/**
 * `devices[N]…` goes to the file device N comes from, numbered as in that file; every other key is the main
 * file's. With drop-ins, a message naming another device (`also devices[3]`) is renumbered the same way, with
 * that device's file and place when it is in another file.
 */
function placer(main: Source, origins: readonly DeviceOrigin[], renumber: boolean): Placer & { message(text: string, here: Source): string } {
  const place = (path: (string | number)[]) => {
    const origin = path[0] === 'devices' && typeof path[1] === 'number' ? origins[path[1]] : undefined;
    return origin ? { source: origin.source, path: ['devices', origin.index, ...path.slice(2)] } : { source: main, path };
  };
  const message = (text: string, here: Source) =>
    !renumber
      ? text
      : text.replace(/\bdevices\[(\d+)\]/g, (whole, n: string) => {
          const origin = origins[Number(n)];
          if (!origin) return whole;
          const local = `devices[${origin.index}]`;
          if (origin.source === here) return local;
          const node = deepestNode(origin.source.doc, ['devices', origin.index]).node;
          const pos = origin.source.at(node?.range?.[0] ?? 0);
          return `${local} in ${origin.source.file}:${pos.line}:${pos.col}`;
        });
  return Object.assign(place, { message });
}

/**
 * Places problems found after the file was loaded (a password file that cannot be read when a reload applies it)
 * at their keys in `file` or in the drop-in that holds the device, as `validate` would print them; a key the file
 * does not hold is placed at its nearest ancestor that it does.
 */
export function locateProblems(file: string, problems: readonly ValueProblem[]): ConfigProblem[] {
  const listed = listDropIns(file);
  const [main, ...dropIns] = [file, ...('files' in listed ? listed.files : [])].map(positionsOnly);
  const origins: DeviceOrigin[] = [];
  const devicesOf = (s: Source) => (s.doc.contents ? childNode(s.doc, s.doc.contents, 'devices') : undefined);
  const mainDevices = devicesOf(main!);
  if (isSeq(mainDevices)) mainDevices.items.forEach((_, index) => origins.push({ source: main!, index }));
  if (isSeq(mainDevices) || (isMap(main!.doc.contents) && mainDevices === undefined)) {
    for (const source of dropIns) {
      const own = devicesOf(source);
      if (isMap(source.doc.contents) && isSeq(own)) own.items.forEach((_, index) => origins.push({ source, index }));
    }
  }
  const place = placer(main!, origins, dropIns.length > 0);
  return problems.map((problem) => {
    const { source, path } = place(problem.path);
    const node = deepestNode(source.doc, path).node;
    const pos = node?.range ? source.at(node.range[0]) : { line: 1, col: 1 };
    return { file: source.file, line: pos.line, col: pos.col, path: dottedPath(path), message: place.message(problem.message, source) };
  });
}

/** A file's document for placing keys only: a file that cannot be read or parsed is an empty document. */
function positionsOnly(file: string): Source {
  const lineCounter = new LineCounter();
  let doc: Document | undefined;
  try {
    const read = readConfigText(file);
    doc = 'text' in read && !nestingProblem(read.text) ? parseDocument(read.text, { ...YAML_OPTIONS, lineCounter }) : undefined;
  } catch {
    doc = undefined;
  }
  return { file, doc: doc ?? new Document(), at: (offset) => lineCounter.linePos(offset), data: undefined };
}

const VARIABLE = /\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * `${VAR}` and `${VAR:-default}` in any string value, from the environment (systemd's Environment= and
 * EnvironmentFile=); `$${VAR}` stays literally `${VAR}`. A plain scalar that is one reference and nothing else takes
 * the type its value reads as (`port: ${MQTT_PORT}` is a number). Substitution happens in the parsed document, so
 * every FILE:LINE:COL still points into the file as written. Returns the references to unset variables.
 */
function substituteVariables(doc: Document, env: NodeJS.ProcessEnv): Array<{ node: Scalar; name: string; path: string }> {
  const unset: Array<{ node: Scalar; name: string; path: string }> = [];
  visit(doc, {
    Scalar(_key, node, ancestors) {
      if (typeof node.value !== 'string' || !node.value.includes('${')) return;
      const original = node.value;
      const whole = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/.test(original) && node.type === Scalar.PLAIN;
      const value = original.replace(VARIABLE, (match, escaped: string | undefined, name: string, fallback: string | undefined) => {
        if (escaped) return match.slice(1);
        const v = env[name];
        if (v !== undefined && v !== '') return v;
        if (fallback !== undefined) return fallback;
        unset.push({ node, name, path: keyPath([...ancestors, node]) });
        return '';
      });
      node.value = whole ? typedScalar(value) : value;
    },
  });
  return unset;
}

/** The dotted key of a node from its ancestors in the document. */
function keyPath(chain: readonly unknown[]): string {
  const keys: (string | number)[] = [];
  chain.forEach((n, i) => {
    if (isPair(n) && isScalar(n.key)) keys.push(String(n.key.value));
    else if (isSeq(n)) keys.push(n.items.indexOf(chain[i + 1] as never));
  });
  return dotted(keys);
}

/** "1883" → 1883, "true" → true; anything else stays the text it is. */
function typedScalar(text: string): unknown {
  try {
    const v: unknown = parseYaml(text);
    return typeof v === 'number' || typeof v === 'boolean' ? v : text;
  } catch {
    return text;
  }
}

/**
 * YAML's parser reports a mis-indented line at the start of the construct it broke; a technician looks for the
 * line that is wrong. For an error spanning lines, point at the first character of its last line, and keep one
 * error per construct.
 */
function syntaxProblems(
  errors: readonly YAMLError[],
  text: string,
  file: string,
  at: (offset: number) => { line: number; col: number },
): ConfigProblem[] {
  const widest = new Map<number, YAMLError>();
  for (const e of errors) {
    const prev = widest.get(e.pos[0]);
    if (!prev || e.pos[1] > prev.pos[1]) widest.set(e.pos[0], e);
  }
  return [...widest.values()].map((e) => {
    let offset = e.pos[0];
    let message = firstLine(e.message);
    if (at(e.pos[1]).line > at(e.pos[0]).line) {
      const lineStart = text.lastIndexOf('\n', e.pos[1] - 1) + 1;
      offset = lineStart + (/^[ \t]*/.exec(text.slice(lineStart))?.[0].length ?? 0);
      if (e.code === 'MULTILINE_IMPLICIT_KEY') message = 'this line is indented differently from the lines around it';
    }
    const pos = at(offset);
    return { file, line: pos.line, col: pos.col, path: '', message: `YAML syntax: ${message}` };
  });
}

function issueToProblems(issue: z.core.$ZodIssue, place: ReturnType<typeof placer>): ConfigProblem[] {
  const { source, path } = place(issue.path.map((p) => (typeof p === 'symbol' ? p.toString() : p)));
  const { file, doc, at } = source;
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const keyNode = findKeyNode(doc, path, key);
      const pos = at(keyNode?.range?.[0] ?? 0);
      return { file, line: pos.line, col: pos.col, path: dotted([...path, key]), message: `unknown key "${key}"` };
    });
  }
  const { node, missing } = deepestNode(doc, path);
  const pos = at(node?.range?.[0] ?? 0);
  let message = place.message(issue.message, source);
  if (missing && issue.code === 'invalid_type') message = `required key "${path[path.length - 1]}" is missing`;
  return [{ file, line: pos.line, col: pos.col, path: dotted(path), message }];
}

/** The node at `path`, or the nearest ancestor that exists when part of the path is missing. */
function deepestNode(doc: Document, path: (string | number)[]): { node: Node | undefined; missing: boolean } {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    const next = childNode(doc, node, path[i]!);
    if (next === undefined || next === null) return { node: node as Node, missing: true };
    node = next;
  }
  return { node: node as Node, missing: false };
}

/** A key's value, also through an alias or a merge key (`<<: *defaults`): placed where it is written. */
function childNode(doc: Document, node: unknown, key: string | number, depth = 0): unknown {
  const resolve = (n: unknown) => (isAlias(n) ? aliasSource(doc, n) : n);
  const parent = resolve(node);
  if (!isMap(parent) && !isSeq(parent)) return undefined;
  const own = resolve(parent.get(key, true));
  if (own !== undefined || !isMap(parent) || depth > 8) return own;
  // With merge keys on, the parser reads the key `<<` as a symbol.
  const mergePair = parent.items.find((p) => isScalar(p.key) && (p.key.value === '<<' || (typeof p.key.value === 'symbol' && p.key.value.description === '<<')));
  const merged = resolve(mergePair?.value);
  for (const source of isSeq(merged) ? merged.items : [merged]) {
    const found = childNode(doc, source, key, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

function findKeyNode(doc: Document, path: (string | number)[], key: string): Node | undefined {
  const { node } = deepestNode(doc, path);
  if (!isMap(node)) return node;
  for (const item of node.items) {
    if (isPair(item) && isScalar(item.key) && String(item.key.value) === key) return item.key;
  }
  return node;
}

function dotted(path: (string | number)[]): string {
  return dottedPath(path);
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}
