import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listDropIns } from './drop-ins.js';
import { ConfigError, loadConfig, loadConfigWithDropIns, locateProblems } from './load.js';

const root = mkdtempSync(join(tmpdir(), 'drop-ins-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let sites = 0;
/** A config folder: gateway.yaml and, for each entry, conf.d/NAME holding that text. Returns the main file's path. */
function site(main: string, dropIns: Record<string, string> = {}): string {
  const dir = join(root, `site-${++sites}`);
  mkdirSync(join(dir, 'conf.d'), { recursive: true });
  writeFileSync(join(dir, 'gateway.yaml'), main);
  for (const [name, text] of Object.entries(dropIns)) writeFileSync(join(dir, 'conf.d', name), text);
  return join(dir, 'gateway.yaml');
}
const conf = (main: string, name: string) => join(main, '..', 'conf.d', name);

const HEAD = 'site: { group: g, node: n }\n';
/** One Modbus TCP device as a list item, two spaces in, over five lines. */
const device = (name: string, extra = '') => `  - name: ${name}\n    driver: modbus-tcp\n    host: 127.0.0.1\n    tags:\n      - { name: t, table: holding, address: 0${extra} }\n`;

/** What `validate` prints for the folder, one line per problem (none when valid). */
function problems(main: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    loadConfig(main, env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.message.split('\n');
    throw err;
  }
}

describe('which drop-ins are read', () => {
  it('reads *.yaml and *.yml in byte order of their names, and nothing else', () => {
    const main = site(HEAD, { 'line2.yaml': '', 'line10.yml': '', 'B.yaml': '', 'a.yaml': '', '.hidden.yaml': '', README: '', 'x.yaml.disabled': '', 'x.yaml.dpkg-dist': '', 'x.yaml~': '', 'x.json': '' });
    mkdirSync(conf(main, 'folder.yaml'));
    expect('files' in listDropIns(main) && listDropIns(main)).toEqual({ files: ['B.yaml', 'a.yaml', 'line10.yml', 'line2.yaml'].map((n) => conf(main, n)) });
  });

  it('takes a missing conf.d as no drop-ins, and refuses a conf.d that is not a directory', () => {
    const dir = join(root, 'no-conf-d');
    mkdirSync(dir);
    writeFileSync(join(dir, 'gateway.yaml'), `${HEAD}devices:\n${device('a')}`);
    expect(loadConfigWithDropIns(join(dir, 'gateway.yaml'), {})).toMatchObject({ dropIns: [], config: { devices: [{ name: 'a' }] } });
    writeFileSync(join(dir, 'conf.d'), 'devices: []\n');
    expect(problems(join(dir, 'gateway.yaml'))).toEqual([`${join(dir, 'conf.d')}:1:1 (file): cannot read the drop-in directory: ${join(dir, 'conf.d')} is not a directory (drop-in device files go in a directory conf.d beside the config)`]);
  });

  it('names the drop-ins it merged, relative paths staying relative', () => {
    const main = site(HEAD, { 'b.yaml': `devices:\n${device('b')}`, 'a.yml': '' });
    expect(loadConfigWithDropIns(main, {}).dropIns).toEqual([conf(main, 'a.yml'), conf(main, 'b.yaml')]);
    const cwd = process.cwd();
    try {
      process.chdir(join(main, '..'));
      expect(loadConfigWithDropIns('gateway.yaml', {}).dropIns).toEqual(['conf.d/a.yml', 'conf.d/b.yaml']);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('merging drop-ins', () => {
  it('appends their devices after the main file\'s, in file order', () => {
    const main = site(`${HEAD}devices:\n${device('main-1')}`, { 'line2.yaml': `devices:\n${device('l2-a')}${device('l2-b')}`, 'line1.yaml': `# line 1\ndevices:\n${device('l1-a')}` });
    expect(loadConfig(main, {}).devices.map((d) => d.name)).toEqual(['main-1', 'l1-a', 'l2-a', 'l2-b']);
  });

  it('takes a main file without devices, an empty drop-in and a drop-in of comments; no device anywhere stays valid', () => {
    const main = site(HEAD, { 'a.yaml': '', 'b.yaml': '# nothing yet\n', 'c.yaml': `devices:\n${device('c')}`, 'd.yaml': 'devices: []\n' });
    expect(loadConfig(main, {}).devices.map((d) => d.name)).toEqual(['c']);
    expect(loadConfig(site(`${HEAD}devices: []\n`, { 'a.yaml': '' }), {}).devices).toEqual([]);
  });

  it('substitutes ${VAR} in a drop-in from the same environment, and names an unset one in the drop-in', () => {
    const main = site(HEAD, { 'a.yaml': `devices:\n${device('a').replace('127.0.0.1', '${PLC_HOST}')}` });
    expect(loadConfig(main, { PLC_HOST: '10.0.0.9' }).devices[0]).toMatchObject({ host: '10.0.0.9' });
    expect(problems(main)).toEqual([`${conf(main, 'a.yaml')}:4:11 devices[0].host: environment variable "PLC_HOST" is not set (write \${PLC_HOST:-default} to give a default)`]);
  });

  it('picks up drop-ins added, changed and removed since the last load, as a reload reads them', () => {
    const main = site(`${HEAD}devices:\n${device('m')}`);
    expect(loadConfig(main, {}).devices.map((d) => d.name)).toEqual(['m']);
    writeFileSync(conf(main, 'new.yaml'), `devices:\n${device('n')}`);
    expect(loadConfig(main, {}).devices.map((d) => d.name)).toEqual(['m', 'n']);
    writeFileSync(conf(main, 'new.yaml'), `devices:\n${device('n2')}`);
    expect(loadConfig(main, {}).devices.map((d) => d.name)).toEqual(['m', 'n2']);
    rmSync(conf(main, 'new.yaml'));
    expect(loadConfig(main, {}).devices.map((d) => d.name)).toEqual(['m']);
  });
});

describe('problems in a drop-in are named at the drop-in', () => {
  it('places a schema problem of a drop-in\'s device at its line and column there, numbered as in that file', () => {
    const main = site(`${HEAD}devices:\n${device('m')}`, { 'a.yaml': `devices:\n${device('a')}${device('b', ', adress: 3')}` });
    const a = conf(main, 'a.yaml');
    expect(problems(main)).toEqual([`${a}:11:48 devices[1].tags[0].adress: unknown key "adress"`]);
    writeFileSync(a, `devices:\n${device('a').replace('127.0.0.1', '{ ip: 1 }')}`);
    expect(problems(main)).toEqual([expect.stringMatching(new RegExp(`^${a}:4:11 devices\\[0\\]\\.host: .*expected string`))]);
  });

  it('places a duplicate device name at the later one, naming the file and place of the first', () => {
    const main = site(`${HEAD}devices:\n${device('press-01')}`, { 'a.yaml': `devices:\n${device('other')}${device('Press-01')}`, 'b.yaml': `devices:\n${device('x')}${device('X')}` });
    expect(problems(main)).toEqual([
      `${conf(main, 'a.yaml')}:7:11 devices[1].name: duplicate device name (also devices[0] in ${main}:3:5; names must differ in more than upper/lower case)`,
      `${conf(main, 'b.yaml')}:7:11 devices[1].name: duplicate device name (also devices[0]; names must differ in more than upper/lower case)`,
    ]);
  });

  it('refuses any key but devices, at that key, and does not apply it', () => {
    const main = site(HEAD, { 'a.yaml': `devices:\n${device('a')}log_level: debug\nuplink:\n  kafka: { brokers: [k:9092] }\n` });
    const a = conf(main, 'a.yaml');
    expect(problems(main)).toEqual([
      `${a}:7:1 log_level: a drop-in in conf.d holds "devices" only; this key belongs in ${main}`,
      `${a}:8:1 uplink: a drop-in in conf.d holds "devices" only; this key belongs in ${main}`,
    ]);
  });

  it('refuses a drop-in that is no map, and devices that are no list', () => {
    const main = site(HEAD, { 'a.yaml': `${device('a')}`, 'b.yaml': '# b\ndevices:\n', 'c.yaml': 'devices: { name: c }\n' });
    expect(problems(main)).toEqual([
      `${conf(main, 'a.yaml')}:1:3 (file): a drop-in in conf.d is a map holding "devices:", a list of devices as in ${main}`,
      `${conf(main, 'b.yaml')}:2:9 devices: expected a list of devices (- name: …), as under "devices:" in ${main}`,
      `${conf(main, 'c.yaml')}:1:10 devices: expected a list of devices (- name: …), as under "devices:" in ${main}`,
    ]);
  });

  it('names YAML syntax, alias and size problems at the drop-in, together with those of the main file', () => {
    const main = site(`${HEAD}log_level: *nope\n`, {
      'a.yaml': `devices:\n${device('a').replace('    host:', '\thost:')}`,
      'b.yaml': `devices:\n${device('b').replace('host: 127.0.0.1', 'host: *h')}`,
      'c.yaml': `devices:\n  - ${'['.repeat(100)}${']'.repeat(100)}\n`,
      'd.yaml': `devices:\n${device('d')}`,
    });
    expect(problems(main)).toEqual([
      `${main}:2:12 log_level: YAML alias *nope names no anchor &nope set before it`,
      `${conf(main, 'a.yaml')}:4:1 (file): YAML syntax: Tabs are not allowed as indentation`,
      `${conf(main, 'a.yaml')}:5:5 (file): YAML syntax: this line is indented differently from the lines around it`,
      `${conf(main, 'b.yaml')}:4:11 devices[0].host: YAML alias *h names no anchor &h set before it`,
      `${conf(main, 'c.yaml')}:2:68 (file): YAML nests deeper than 64 levels here; a configuration needs fewer than ten`,
    ]);
  });

  it('names a merge key the YAML library refuses while it builds the data (<<: of a scalar) at the drop-in', () => {
    const main = site(`${HEAD}devices:\n${device('m')}`, { 'a.yaml': `devices:\n${device('a', ', <<: *h').replace('host: 127.0.0.1', 'host: &h 127.0.0.1')}` });
    expect(problems(main)).toEqual([`${conf(main, 'a.yaml')}:1:1 (file): the file cannot be read as a configuration: Merge sources must be maps or map aliases`]);
  });

  it('names a drop-in that cannot be read, also when the main file cannot be read either', () => {
    const main = site(`${HEAD}devices:\n${device('m')}`, { 'b.yaml': 'devices: [\n' });
    symlinkSync(join(root, 'nowhere.yaml'), conf(main, 'a.yaml'));
    expect(problems(main)).toEqual([`${conf(main, 'a.yaml')}:1:1 (file): cannot read the file: ENOENT: no such file or directory, open '${conf(main, 'a.yaml')}'`, expect.stringMatching(new RegExp(`^${conf(main, 'b.yaml')}:\\d+:\\d+ \\(file\\): YAML syntax: `))]);
    rmSync(main);
    expect(problems(main).map((p) => p.split(' ')[0])).toEqual([`${main}:1:1`, `${conf(main, 'a.yaml')}:1:1`, expect.stringMatching(new RegExp(`^${conf(main, 'b.yaml')}:`))]);
  });
});

describe('locateProblems with drop-ins', () => {
  it('places devices[N]… in the file that holds device N, every other key in the main file', () => {
    const main = site(`${HEAD}broker: { listen: 127.0.0.1:1883 }\ndevices:\n${device('m')}`, { 'a.yaml': '', 'b.yaml': `devices:\n${device('b0')}${device('b1')}` });
    const b = conf(main, 'b.yaml');
    expect(locateProblems(main, [
      { path: ['devices', 2, 'password_file'], message: 'cannot read /nowhere' },
      { path: ['devices', 0, 'host'], message: 'x' },
      { path: ['broker', 'listen'], message: 'y' },
      { path: ['devices', 1, 'name'], message: 'like devices[0]' },
    ])).toEqual([
      { file: b, line: 7, col: 5, path: 'devices[1].password_file', message: 'cannot read /nowhere' },
      { file: main, line: 6, col: 11, path: 'devices[0].host', message: 'x' },
      { file: main, line: 2, col: 19, path: 'broker.listen', message: 'y' },
      { file: b, line: 2, col: 11, path: 'devices[0].name', message: `like devices[0] in ${main}:4:5` },
    ]);
  });
});
