// config/site/gateway.yaml is the template a package installs as /etc/edge-gateway/gateway.yaml, and
// config/site/conf.d/ what it installs beside it. The template must validate as shipped, explain every key the
// config's JSON Schema knows, point at nothing of the demo, and its examples must validate when taken into use.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from './helpers/cli.js';

const TEMPLATE = join(ROOT, 'config/site/gateway.yaml');
const EXAMPLE = join(ROOT, 'config/site/conf.d/example-modbus.yaml.disabled');
const CONF_D_README = join(ROOT, 'config/site/conf.d/README');
const template = readFileSync(TEMPLATE, 'utf8');
const schema = JSON.parse(readFileSync(join(ROOT, 'config/gateway.schema.json'), 'utf8')) as JsonSchema;

interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  deprecated?: boolean;
  items?: JsonSchema | JsonSchema[];
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  const?: unknown;
}

/** A scratch directory holding `gateway.yaml` (and conf.d/ when given); validate does not write to data_dir. */
function site(config: string, dropIns: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'site-template-'));
  writeFileSync(join(dir, 'gateway.yaml'), config);
  if (Object.keys(dropIns).length > 0) mkdirSync(join(dir, 'conf.d'));
  for (const [name, text] of Object.entries(dropIns)) writeFileSync(join(dir, 'conf.d', name), text);
  return join(dir, 'gateway.yaml');
}

function validate(file: string) {
  const r = runCli(['validate', '--config', file]);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** `key:` as a YAML key on a line of its own (after `#`, spaces, `- `), or inside a flow map `{ a: 1, key: 2 }`. */
function mentionsKey(lines: readonly string[], key: string): boolean {
  const block = new RegExp(`^[#\\s]*(?:-\\s+)?${key}:(?:\\s|$)`);
  const flow = new RegExp(`[{,]\\s*${key}:\\s`);
  return lines.some((line) => block.test(line) || flow.test(line));
}

/** A top-level key of the file, live or commented out: `key:` or `# key:` at column 0. */
const TOP_LEVEL = /^(?:# )?([a-z_]+):(?:\s|$)/;

/** The lines of each top-level section, from its key's line to the next top-level key. */
function sections(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    const m = TOP_LEVEL.exec(line);
    if (m) {
      current = [];
      out.set(m[1]!, current);
    }
    current?.push(line);
  }
  return out;
}

/** The example devices in the devices section, by driver: from each device's `- name:` to the next device's. */
function deviceExamples(lines: readonly string[]): Map<string, string[]> {
  const starts = lines.map((l, i) => ({ i, m: /^([#\s]*)- name:/.exec(l) })).filter((s) => s.m);
  const indent = Math.min(...starts.map((s) => s.m![1]!.length));
  const top = starts.filter((s) => s.m![1]!.length === indent).map((s) => s.i);
  const out = new Map<string, string[]>();
  top.forEach((start, n) => {
    const chunk = lines.slice(start, top[n + 1] ?? lines.length);
    const driver = chunk.map((l) => /^[#\s]*driver:\s*([\w-]+)/.exec(l)?.[1]).find((d) => d !== undefined);
    if (driver) out.set(driver, chunk);
  });
  return out;
}

/**
 * Every property of the schema at every level, with the lines of the template it must appear in: its top-level
 * section, and for a device or tag key the example device of its driver. Returns the key paths not found there.
 */
function missingKeys(text: string): string[] {
  const bySection = sections(text);
  const missing: string[] = [];
  const walk = (node: JsonSchema | undefined, path: string, scope: readonly string[] | undefined): void => {
    if (!node) return;
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      if (child.deprecated) continue; // an earlier spelling (log_level for log.level): the template teaches the current one
      const keyPath = path ? `${path}.${key}` : key;
      // A top-level key's scope is its own section; it must exist.
      const own = path === '' ? bySection.get(key) : scope;
      if (!own || !mentionsKey(own, key)) missing.push(keyPath);
      walk(child, keyPath, own);
    }
    if (path === 'devices') {
      const examples = deviceExamples(scope ?? []);
      const variants = (node.items as JsonSchema | undefined)?.oneOf ?? [];
      expect(variants.length).toBeGreaterThan(0);
      for (const variant of variants) {
        const driver = String(variant.properties?.driver?.const);
        const example = examples.get(driver);
        if (!example) missing.push(`devices[driver: ${driver}] (no example device)`);
        walk(variant, `devices[driver: ${driver}]`, example ?? []);
      }
      return;
    }
    const items = Array.isArray(node.items) ? node.items : node.items ? [node.items] : [];
    for (const child of items) walk(child, `${path}[]`, scope);
    for (const child of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) walk(child, path, scope);
    if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}.*`, scope);
  };
  walk(schema, '', undefined);
  return [...new Set(missing)];
}

/**
 * The template with its commented-out top-level sections taken into use: each run of lines from `# key:` at column
 * 0 through the lines that continue it (`#` followed by two spaces or more, or a bare `#`) loses its first "# ".
 * The explanations inside such a section are written `#   # …`, so they stay comments.
 */
function uncommentSections(text: string): string {
  let inSection = false;
  return text
    .split('\n')
    .map((line) => {
      if (/^# [a-z_]+:(?:\s|$)/.test(line)) inSection = true;
      else if (!(inSection && (/^# {2,}/.test(line) || line === '#'))) inSection = false;
      return inSection ? line.replace(/^# ?/, '') : line;
    })
    .join('\n');
}

describe('config/site/gateway.yaml, the site template', () => {
  it('validates as shipped, in a directory of its own and in place (where conf.d holds nothing that is read)', () => {
    // validate measures data_dir's disk (its nearest existing parent) and writes nothing there: no rewrite needed.
    const copy = validate(site(template));
    expect(copy.stderr).toBe('');
    expect(copy.code).toBe(0);
    expect(copy.stdout).toMatch(/: valid \(0 devices, 0 tags\)/);
    const inPlace = validate(TEMPLATE);
    expect(inPlace.stderr).toBe('');
    expect(inPlace.code).toBe(0);
    expect(inPlace.stdout).toMatch(/: valid \(0 devices, 0 tags\)\n/); // README and *.disabled are not drop-ins
  });

  it('says what it is and how to check it, names its schema, and sets the site values', () => {
    const [first, second] = template.split('\n');
    expect(first).toMatch(/^# .*edge-gateway validate --config \/etc\/edge-gateway\/gateway\.yaml/);
    expect(second).toBe('# yaml-language-server: $schema=./gateway.schema.json');
    const live = parse(template);
    expect(Object.keys(live).sort()).toEqual(['broker', 'data_dir', 'http', 'site', 'uplink']);
    expect(live.site.group).toMatch(/CHANGE-ME/);
    expect(live.site.node).toMatch(/CHANGE-ME/);
    expect(live.data_dir).toBe('/var/lib/edge-gateway');
    expect(live.broker).toEqual({ listen: '127.0.0.1:1883', embedded: false });
    expect(live.http).toEqual({ listen: '127.0.0.1:8080' });
    expect(live.uplink.kafka.brokers).toEqual(['kafka.example.com:9093']);
  });

  it('names every key of config/gateway.schema.json, device and tag keys in the example of each driver', () => {
    const missing = missingKeys(template);
    expect(missing, `keys of config/gateway.schema.json the template does not mention:\n  ${missing.join('\n  ')}`).toEqual([]);
  });

  it('points at nothing of the demo', () => {
    for (const [file, text] of [[TEMPLATE, template], [EXAMPLE, readFileSync(EXAMPLE, 'utf8')], [CONF_D_README, readFileSync(CONF_D_README, 'utf8')]] as const) {
      expect(text, file).not.toContain('127.0.0.1:5020');
      expect(text, file).not.toMatch(/demo/i);
    }
  });

  it('conf.d/example-modbus.yaml.disabled, copied as the drop-in conf.d/plc.yaml beside the template, validates', () => {
    const example = readFileSync(EXAMPLE, 'utf8');
    expect(Object.keys(parse(example))).toEqual(['devices']);
    const r = validate(site(template, { 'plc.yaml': example }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/: valid \(1 devices, 2 tags\)/);
  });

  it('the README shows the same device as the example file', () => {
    const readme = readFileSync(CONF_D_README, 'utf8');
    const block = readme.slice(readme.indexOf('  devices:')).split('\n\n')[0]!;
    const fromReadme = parse(block.replace(/^ {2}/gm, ''));
    expect(fromReadme).toEqual(parse(readFileSync(EXAMPLE, 'utf8')));
  });

  it('its commented-out sections, taken into use as the comments say (remove the first "# "), validate: one example device per driver', () => {
    const used = uncommentSections(template);
    const config = parse(used);
    expect(Object.keys(config)).toEqual(expect.arrayContaining(['log', 'sparkplug', 'devices', 'buffer']));
    const drivers = (schema.properties!.devices!.items as JsonSchema).oneOf!.map((v) => v.properties!.driver!.const);
    expect((config.devices as Array<{ driver: string }>).map((d) => d.driver).sort()).toEqual([...drivers].sort());
    const r = validate(site(used));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`: valid \\(${drivers.length} devices, \\d+ tags\\)`));
  });

  it('the key check finds a key that is missing (so that it can fail)', () => {
    const withoutBit = template.replace(/^#\s+bit: 0\b.*\n/m, '');
    expect(withoutBit).not.toBe(template);
    expect(missingKeys(withoutBit)).toEqual(['devices[driver: modbus-rtu].tags[].bit']);
    const withoutReplayRate = template.replace(/^#\s+replay_rate:.*\n/m, '');
    expect(missingKeys(withoutReplayRate)).toEqual(['buffer.replay_rate']);
  });
});
