import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

const shipped = readFileSync('config/gateway.yaml');
const scratch = mkdtempSync(join(tmpdir(), 'validate-'));
/** A config file in a scratch folder; `validate` prints problems with the path as given. */
function file(name: string, content: string | Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
}
/** validate's whole answer: exit code and stderr lines, with no stack trace anywhere. */
function validate(path: string) {
  const r = runCli(['validate', '--config', path]);
  expect(`${r.stdout}${r.stderr}`).not.toMatch(/^\s+at /m);
  return { code: r.code, lines: r.stderr.trimEnd().split('\n'), stdout: r.stdout };
}

describe('edge-gateway validate', () => {
  it('accepts the shipped config/gateway.yaml', () => {
    const r = runCli(['validate', '--config', 'config/gateway.yaml']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid (1 devices, 2 tags)');
  });

  it('names a typo\'d key at its line and column', () => {
    const r = runCli(['validate', '--config', 'test/configs/typo-key.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('test/configs/typo-key.yaml:11:46 devices[0].tags[0].adress: unknown key "adress"');
    expect(r.stderr).toContain('test/configs/typo-key.yaml:11:9 devices[0].tags[0].address: required key "address" is missing');
  });

  it('names a value of the wrong type at its line and column', () => {
    const r = runCli(['validate', '--config', 'test/configs/wrong-type.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^test\/configs\/wrong-type\.yaml:6:11 devices\[0\]\.port: .*expected number/);
  });

  it('points a bad YAML indent at the mis-indented line', () => {
    const r = runCli(['validate', '--config', 'test/configs/bad-indent.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('test/configs/bad-indent.yaml:5:6 (file): YAML syntax: this line is indented differently from the lines around it');
  });

  it('names a bad redundant MQTT server, and servers that the embedded broker would make pointless', () => {
    const bad = runCli(['validate', '--config', 'test/configs/servers-bad.yaml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe('test/configs/servers-bad.yaml:6:46 sparkplug.servers[2]: "mqtt-b" is not HOST:PORT (example: 127.0.0.1:1883)');
    const embedded = runCli(['validate', '--config', 'test/configs/servers-embedded.yaml']);
    expect(embedded.code).toBe(2);
    expect(embedded.stderr.trim()).toMatch(/^test\/configs\/servers-embedded\.yaml:5:12 sparkplug\.servers: .*broker\.embedded: false/);
  });

  it('reports a missing file as a problem with the file, not a crash', () => {
    const r = runCli(['validate', '--config', 'test/configs/no-such-file.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^test\/configs\/no-such-file\.yaml:1:1 \(file\): cannot read the file/);
  });

  it('names an alias without an anchor at its place, as any other problem', () => {
    const f = file('nope.yaml', `${shipped}log_level: *nope\n`);
    expect(validate(f)).toMatchObject({ code: 2, lines: [`${f}:19:12 log_level: YAML alias *nope names no anchor &nope set before it`] });
    const loop = file('loop.yaml', `${shipped}x: &x\n  y: *x\n`);
    expect(validate(loop)).toMatchObject({ code: 2, lines: [`${loop}:20:6 x.y: YAML alias *x sits inside the node it repeats (&x), which would never end`] });
  });

  it('refuses aliases that multiply the file, and says where and by how much', () => {
    const levels = ['lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]', ...Array.from({ length: 9 }, (_, i) => `lol${i + 1}: &l${i + 1} [${Array(9).fill(`*l${i}`).join(', ')}]`)];
    const f = file('laughs.yaml', `${shipped}${levels.join('\n')}\n`);
    const r = validate(f);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual([expect.stringMatching(new RegExp(`^${f}:28:12 lol9\\[0\\]: YAML aliases expand this file to \\d+ values, more than the 100000 allowed`))]);
  });

  it('takes merge keys, and places a problem of a merged value where it is written', () => {
    const tags = (bad: string) => `site: { group: g, node: n }\ndevices:\n  - name: p\n    driver: modbus-tcp\n    host: 127.0.0.1\n    tags:\n      - &t { name: a, table: holding, address: 0, type: ${bad} }\n      - { <<: *t, name: b, address: 2 }\n`;
    expect(validate(file('merge.yaml', tags('float32')))).toMatchObject({ code: 0, stdout: expect.stringContaining('valid (1 devices, 2 tags)') });
    const f = file('merge-bad.yaml', tags('floaty'));
    const r = validate(f);
    expect(r.code).toBe(2);
    expect(r.lines).toEqual([expect.stringMatching(new RegExp(`^${f}:7:57 devices\\[0\\]\\.tags\\[0\\]\\.type: `)), expect.stringMatching(new RegExp(`^${f}:7:57 devices\\[0\\]\\.tags\\[1\\]\\.type: `))]);
  });

  it('answers with a positioned problem for files that are no YAML config at all', () => {
    const deep = file('deep.yaml', `a:\n${'- '.repeat(300_000)}1\n`);
    expect(validate(deep)).toMatchObject({ code: 2, lines: [`${deep}:2:129 (file): YAML nests deeper than 64 levels here; a configuration needs fewer than ten`] });
    const latin1 = file('latin1.yaml', Buffer.from(shipped.toString('latin1').replace('press-01', 'pr\xe9ss-01'), 'latin1'));
    expect(validate(latin1)).toMatchObject({ code: 2, lines: [`${latin1}:7:13 (file): the file is not UTF-8 text: byte 0xE9 cannot start or continue a character (save the file as UTF-8)`] });
    const control = file('control.yaml', shipped.toString().replace('devices:', '\fdevices:'));
    expect(validate(control).lines).toContain(`${control}:6:1 \\u000cdevices: unknown key "\\u000cdevices"`);
    const firstByte = file('first-byte.yaml', Buffer.concat([Buffer.from([0xdc]), shipped]));
    expect(validate(firstByte)).toMatchObject({ code: 2, lines: [`${firstByte}:1:1 (file): the file is not UTF-8 text: byte 0xDC cannot start or continue a character (save the file as UTF-8)`] });
    expect(validate(scratch)).toMatchObject({ code: 2, lines: [`${scratch}:1:1 (file): cannot read the file: EISDIR: illegal operation on a directory, read`] });
    expect(validate('/dev/zero')).toMatchObject({ code: 2, lines: ['/dev/zero:1:1 (file): the file is larger than 4194304 bytes; a configuration is at most 4 MiB'] });
    const tabs = file('tabs.yaml', shipped.toString().replace('    host:', '\thost:'));
    const t = validate(tabs);
    expect(t.code).toBe(2);
    expect(t.lines[0]).toBe(`${tabs}:9:1 (file): YAML syntax: Tabs are not allowed as indentation`);
    for (const line of t.lines) expect(line.startsWith(`${tabs}:`)).toBe(true);
  });
});
